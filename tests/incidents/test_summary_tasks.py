"""Daily summaries compiled by a real Celery worker process (tests/celery_worker.py), on the
filesystem broker and on Redis: beat compiles the day that just closed, a compilation sent
twice or run by two workers at once gives one summary and one version, a late report's
recompilation queued on commit reaches the worker, a published version stays as it was,
reports near midnight (and on the daylight-saving days of 2017) land in their days, filing
works with the broker down and the sweep catches up once it is back, and a worker killed
in the middle of a compilation leaves it done exactly once.

The service-level rules (what a summary counts, the chain, tampering) are in
test_summaries.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from incidents.choices import ReportStatus, SummaryVersionStatus
from incidents.models import DailySummary, Report, SummaryVersion
from incidents.selectors.summaries import (
    canonical_json,
    last_closed_day,
    reporting_day,
    reporting_period,
    sha256_hex,
    summary_content,
)
from incidents.services import summaries_verify, summary_publish
from incidents.services.summaries import CUTOFF_GRACE
from monitoring.choices import AuditEntrySource, ObserverRole
from monitoring.queueing import broker_breaker_reset
from monitoring.selectors import audit_entries_for
from tests.api_base import client_for
from tests.celery_worker import CeleryBroker, CeleryWorkers
from tests.factories import PartyFactory, ZoneTermFactory, report_file
from tests.servers import RedisServer, ServerUnavailable, skip_or_fail

pytestmark = pytest.mark.celery

S = ReportStatus
V = SummaryVersionStatus
DAMASCUS = ZoneInfo("Asia/Damascus")
DAY = date(2017, 6, 3)
COMPILE = "incidents.tasks.summary_compile_task"
SWEEP = "incidents.tasks.summaries_sweep"
BROKERS = pytest.mark.parametrize(
    "celery_broker",
    [
        pytest.param("filesystem", id="filesystem-broker"),
        pytest.param("redis", id="redis-broker", marks=pytest.mark.redis),
    ],
    indirect=True,
)
# A filing request with the broker down: succeeds within this (the publish gives up
# after about 2 s). A functional bound, not a benchmark.
FILING_SECONDS = 5


def local(day: date, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    """A wall-clock time in Damascus, as a UTC moment (``fold=1``: the second of two)."""
    moment = datetime.combine(day, clock(hour, minute), tzinfo=DAMASCUS).replace(fold=fold)
    return moment.astimezone(UTC)


@pytest.fixture
def people(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey")
    return {
        "russian": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
    }


def violation(people, at: datetime, who: str = "russian", status: str = S.SUBMITTED) -> Report:
    return report_file(
        people[who],
        status=status,
        reviewer=people["coordinator"],
        occurred_at=at,
        detail={"category": "shelling"},
    )


def compile_args(center, day: date) -> dict:
    return {"center_id": center.pk, "day": day.isoformat()}


def sources_of(version: SummaryVersion) -> set[str]:
    return {uuid for uuid, _revision in version.sources}


def expected_sha256(center, day: date) -> str:
    content, _sources = summary_content(center=center, day=day)
    return sha256_hex(canonical_json(content))


def wait_until_held(worker, count: int = 1) -> None:
    """Until ``count`` compilations wait at the lock of :func:`summaries_held`: PostgreSQL
    shows them waiting; with SQLite (whose busy wait shows nowhere), a moment."""
    if connection.vendor != "postgresql":
        time.sleep(1)
        return

    def waiting() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(  # pg_locks is live (pg_stat_activity is a snapshot)
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                [DailySummary._meta.db_table],
            )
            return cursor.fetchone()[0] >= count

    worker.wait_for(waiting, what=f"{count} compilation(s) waiting at the lock")


@contextlib.contextmanager
def summaries_held():
    """Keep every compilation waiting at its first write: the summaries' table locked
    against writers (PostgreSQL), or the database's write lock held (SQLite, whose
    transactions here begin IMMEDIATE). Workers that receive a compilation meanwhile sit
    in the middle of it until the block ends."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {DailySummary._meta.db_table} IN EXCLUSIVE MODE")
        yield


# --- Beat ---------------------------------------------------------------------------------------


@BROKERS
def test_beat_compiles_the_day_that_just_closed_without_anyone_sending_a_task(
    people, center, celery_workers
):
    now = timezone.now()
    closed = last_closed_day(center, now - CUTOFF_GRACE)  # "yesterday", as the sweep sees it
    start, end = reporting_period(center, closed)
    filed = {
        violation(people, at=start + timedelta(hours=10)).uuid,
        violation(people, who="turkish", at=end - timedelta(minutes=30)).uuid,
    }
    still_open = reporting_day(center, now - timedelta(minutes=1))
    violation(people, at=now - timedelta(minutes=1))  # the day still running: not compiled
    assert still_open > closed
    assert not DailySummary.objects.exists()

    worker = celery_workers.start(beat=True, environment={"CEASEFIRE_SUMMARY_SWEEP_SECONDS": "1"})
    versions = SummaryVersion.objects.filter(summary__center=center, summary__day=closed)
    worker.wait_for(versions.exists, timeout=30, what="beat's compilation of the closed day")

    version = versions.get()
    assert (version.number, version.status, version.compiled_by) == (1, V.DRAFT, None)
    assert sources_of(version) == {str(uuid) for uuid in filed}
    assert version.content["source_count"] == 2
    assert version.content_sha256 == expected_sha256(center, closed)
    assert version.summary.stale is False
    assert not DailySummary.objects.filter(day__gte=still_open).exists()
    [entry] = audit_entries_for(version)
    assert entry.source == AuditEntrySource.TASK
    # Beat sent the sweep, which compiled the day; nobody sent a compilation.
    assert "Sending due task summaries-sweep" in worker.log()
    assert f"Task {SWEEP}[" in worker.log()
    assert worker.received(COMPILE) == []


# --- Twice, and two workers at once ---------------------------------------------------------


@BROKERS
def test_the_compile_task_sent_twice_gives_one_summary_and_one_version(
    people, center, celery_workers
):
    violation(people, at=local(DAY, 9))
    violation(people, who="turkish", at=local(DAY, 13), status=S.VERIFIED)
    worker = celery_workers.start()
    first = worker.send(COMPILE, **compile_args(center, DAY))
    second = worker.send(COMPILE, **compile_args(center, DAY))
    assert worker.wait_for_task(first) == "succeeded: 1"
    assert worker.wait_for_task(second) == "succeeded: 1"  # the same version holds it

    summary = DailySummary.objects.get()
    [version] = summary.versions.all()
    digest = expected_sha256(center, DAY)
    assert version.content_sha256 == digest
    assert version.content["source_count"] == 2 and summary.stale is False
    # Named by the summary's id this time: still the same version.
    assert worker.wait_for_task(worker.send(COMPILE, summary_id=summary.pk)) == "succeeded: 1"
    assert list(SummaryVersion.objects.values_list("pk", "content_sha256")) == [
        (version.pk, digest)
    ]


@BROKERS
def test_two_workers_compiling_the_same_day_at_once_make_one_summary_and_one_version(
    people, center, celery_workers
):
    violation(people, at=local(DAY, 9))
    workers = celery_workers.start_several(2)
    with summaries_held():
        tasks = [workers[0].send(COMPILE, **compile_args(center, DAY)) for _ in range(2)]
        # Each worker takes one (one task at a time each), and waits at the lock.
        for worker in workers:
            worker.wait_for(lambda w=worker: w.received(COMPILE), what="a compilation each")
        assert sorted(workers[0].received(COMPILE) + workers[1].received(COMPILE)) == sorted(tasks)
        wait_until_held(workers[0], count=2)
        assert not DailySummary.objects.exists()
    outcomes = [worker.wait_for_task(worker.received(COMPILE)[0]) for worker in workers]
    assert outcomes == ["succeeded: 1", "succeeded: 1"]
    assert DailySummary.objects.count() == 1
    [version] = SummaryVersion.objects.all()
    assert (version.number, version.status) == (1, V.DRAFT)
    assert version.content_sha256 == expected_sha256(center, DAY)


# --- Late reports, publication -----------------------------------------------------------------


@BROKERS
def test_a_late_report_queues_a_recompilation_that_the_worker_makes(people, center, celery_workers):
    on_time = violation(people, at=local(DAY, 11))
    worker = celery_workers.start()
    sent = worker.send(COMPILE, **compile_args(center, DAY))
    assert worker.wait_for_task(sent) == "succeeded: 1"
    summary = DailySummary.objects.get()

    # Filed and submitted here; its commit queues the recompilation for the worker.
    late = violation(people, who="turkish", at=local(DAY, 22))
    second = summary.versions.filter(number=2)
    worker.wait_for(second.exists, what="the recompilation queued by the late report")

    summary.refresh_from_db()
    assert summary.stale is False and summary.stale_since is None
    second = second.get()
    assert second.status == V.DRAFT
    assert sources_of(second) == {str(on_time.uuid), str(late.uuid)}
    assert second.content_sha256 == expected_sha256(center, DAY)
    assert summary.versions.get(number=1).status == V.SUPERSEDED
    received = worker.received(COMPILE)
    assert len(received) == 2 and received[0] == sent  # the second was queued on commit
    assert worker.wait_for_task(received[1]) == "succeeded: 2"


@BROKERS
def test_a_published_summary_is_left_untouched_by_the_workers_recompilation(
    people, center, celery_workers
):
    violation(people, at=local(DAY, 11))
    worker = celery_workers.start()
    assert worker.wait_for_task(worker.send(COMPILE, **compile_args(center, DAY))) == (
        "succeeded: 1"
    )
    published = summary_publish(
        version=SummaryVersion.objects.get(), actor=people["coordinator"], comment="Approved."
    )
    stored = SummaryVersion.objects.filter(pk=published.pk).values().get()

    violation(people, who="turkish", at=local(DAY, 15))  # queues a recompilation on commit
    addendum = SummaryVersion.objects.filter(summary=published.summary, number=2)
    worker.wait_for(addendum.exists, what="the recompilation after publication")

    assert addendum.get().status == V.DRAFT
    assert addendum.get().content["source_count"] == 2
    assert SummaryVersion.objects.filter(pk=published.pk).values().get() == stored
    assert stored["status"] == V.PUBLISHED and stored["content"]["source_count"] == 1
    assert summaries_verify() == (1, [])
    # Someone edits the worker-compiled, published figures behind the application's back:
    # verify_summaries names that version and fails.
    tampered = dict(stored["content"], awaiting_review=stored["content"]["awaiting_review"] + 7)
    SummaryVersion.objects.filter(pk=published.pk).update(content=tampered)
    with pytest.raises(CommandError, match="1 problem"):
        call_command("verify_summaries")
    checked, problems = summaries_verify()
    assert checked == 1 and [p.version.pk for p in problems] == [published.pk]


# --- Midnight and daylight saving -----------------------------------------------------------


# (wall clock in Damascus, the reporting day it belongs to); the day ends at 00:00.
MIDNIGHT_CASES = {
    "23:30 on an ordinary day": (local(DAY, 23, 30), DAY),
    "00:30 the next morning": (local(date(2017, 6, 4), 0, 30), date(2017, 6, 4)),
    # 31 March 2017: at 00:00 the clocks jumped to 01:00 (a 23-hour day).
    "23:30 before the spring jump": (local(date(2017, 3, 30), 23, 30), date(2017, 3, 30)),
    "01:30 after the spring jump": (local(date(2017, 3, 31), 1, 30), date(2017, 3, 31)),
    # 27 October 2017: at 00:00 the clocks went back to 23:00 on the 26th, so 23:30 came
    # twice, both on the 26th (a 25-hour day); 00:30 is the 27th.
    "the first 23:30 of 26 October": (local(date(2017, 10, 26), 23, 30), date(2017, 10, 26)),
    "the second 23:30 of 26 October": (
        local(date(2017, 10, 26), 23, 30, fold=1),
        date(2017, 10, 26),
    ),
    "00:30 on 27 October": (local(date(2017, 10, 27), 0, 30), date(2017, 10, 27)),
}
DAY_LENGTHS = {date(2017, 3, 31): 23, date(2017, 10, 26): 25, DAY: 24}


@BROKERS
def test_reports_near_midnight_land_in_their_days_when_the_worker_compiles(
    people, center, celery_workers
):
    first = MIDNIGHT_CASES["the first 23:30 of 26 October"][0]
    second = MIDNIGHT_CASES["the second 23:30 of 26 October"][0]
    assert second - first == timedelta(hours=1)  # two moments, one wall-clock time
    expected: dict[date, set[str]] = {}
    for moment, day in MIDNIGHT_CASES.values():
        expected.setdefault(day, set()).add(str(violation(people, at=moment).uuid))

    worker = celery_workers.start()
    tasks = {day: worker.send(COMPILE, **compile_args(center, day)) for day in expected}
    for day, task in tasks.items():
        assert worker.wait_for_task(task) == "succeeded: 1", day

    for day, uuids in expected.items():
        version = SummaryVersion.objects.get(summary__center=center, summary__day=day)
        assert sources_of(version) == uuids, day
        period = version.content["period"]
        length = datetime.fromisoformat(period["end"]) - datetime.fromisoformat(period["start"])
        assert length == timedelta(hours=DAY_LENGTHS.get(day, 24)), day
    assert len(expected[date(2017, 10, 26)]) == 2  # both 23:30s
    assert len(expected) == 6


# --- The broker down --------------------------------------------------------------------------


@pytest.fixture
def own_redis():
    """A Redis server of this test alone: it is stopped and started again in the test."""
    try:
        server = RedisServer()
    except ServerUnavailable as exc:
        skip_or_fail(f"Redis server unavailable: {exc}")
    with server:
        yield server


def web_violation(**overrides) -> dict[str, str]:
    data = {
        "latitude": "35.91",
        "longitude": "36.61",
        "place_precision": "exact",
        "settlement": "",
        "post": "",
        "occurred_at": "2017-06-03T14:00",  # local time
        "time_precision": "exact",
        "source": "seen",
        "confidence": "medium",
        "narrative": "Four mortar impacts north-east of the post.",
        "zone_override": "",
        "zone_override_reason": "",
        "category": "shelling",
        "alleged_perpetrator": "",
        "affected_party": "",
        "weapon": "",
        "events": "4",
        "direction_degrees": "",
        "distance_km": "",
        "damage": "",
        "action": "submit",
    }
    for group in ("civilians_killed", "civilians_injured", "combatants_killed"):
        for estimate in ("low", "best", "high"):
            data[f"{group}_{estimate}"] = "0"
    for estimate in ("low", "best", "high"):
        data[f"combatants_injured_{estimate}"] = "0"
    data.update(overrides)
    return data


def api_violation(at: datetime) -> dict:
    return {
        "kind": "violation",
        "latitude": 35.9,
        "longitude": 36.6,
        "occurred_at": at.isoformat(),
        "source": "seen",
        "narrative": "Heavy machine-gun fire from the west.",
        "detail": {"category": "small_arms"},
    }


def timed(request):
    """Run ``request()``; return its response and how long it took."""
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


@pytest.mark.faults
@pytest.mark.redis
def test_with_the_broker_down_filing_succeeds_and_the_sweep_catches_up_after(
    transactional_db, tmp_path, own_redis, people, center, client, caplog
):
    """Three compiled days; with Redis stopped, a report of each is filed (the web form, a
    transition on the web page, the API): each request succeeds within seconds although
    its recompilation cannot be queued. Once Redis is back, beat's sweep recompiles them."""
    days = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    for day in days:
        violation(people, at=local(day, 11))
    workers = CeleryWorkers(CeleryBroker(url=own_redis.url, var_dir=tmp_path / "worker-var"))
    try:
        worker = workers.start(beat=True, environment={"CEASEFIRE_SUMMARY_SWEEP_SECONDS": "1"})
        sent = [worker.send(COMPILE, **compile_args(center, day)) for day in days]
        assert [worker.wait_for_task(task) for task in sent] == ["succeeded: 1"] * 3
        assert not DailySummary.objects.filter(day__in=days, stale=True).exists()

        own_redis.halt()
        caplog.set_level(logging.WARNING, logger="monitoring.queueing")
        client.force_login(people["russian"])
        api = client_for(people["turkish"])
        took = {}

        # Each request meets the broker down itself: the breaker is closed before each.
        broker_breaker_reset()
        response, took["web: file and submit"] = timed(
            lambda: client.post(
                reverse("incidents:report_new", args=["violation"]),
                web_violation(occurred_at=f"{days[0].isoformat()}T14:00"),
            )
        )
        assert response.status_code == 302, response.content
        web_report = Report.objects.get(narrative__startswith="Four mortar")
        assert web_report.status == S.SUBMITTED

        draft = violation(people, at=local(days[1], 16), status=S.DRAFT)
        broker_breaker_reset()
        response, took["web: submit a draft"] = timed(
            lambda: client.post(
                reverse("incidents:report_transition", args=[draft.uuid]),
                {"to_status": S.SUBMITTED, "revision": draft.revision, "comment": ""},
            )
        )
        assert response.status_code == 302, response.content
        draft.refresh_from_db()
        assert draft.status == S.SUBMITTED

        broker_breaker_reset()
        response, took["api: file"] = timed(
            lambda: api.post(
                reverse("incidents-api:report-list"),
                api_violation(local(days[2], 18)),
                format="json",
            )
        )
        assert response.status_code == 201, response.content
        api_report = Report.objects.get(uuid=response.json()["uuid"])
        response, took["api: submit"] = timed(
            lambda: api.post(
                reverse("incidents-api:report-submit", kwargs={"uuid": api_report.uuid})
            )
        )
        assert response.status_code == 200, response.content
        api_report.refresh_from_db()
        assert api_report.status == S.SUBMITTED

        slow = {what: round(seconds, 2) for what, seconds in took.items()}
        assert all(seconds < FILING_SECONDS for seconds in took.values()), slow
        # Three recompilations could not be queued: the summaries wait, stale, for the sweep.
        failures = [r for r in caplog.records if r.getMessage().startswith("Could not queue")]
        assert len(failures) == 3, [r.getMessage() for r in caplog.records]
        assert DailySummary.objects.filter(day__in=days, stale=True).count() == 3
        assert SummaryVersion.objects.filter(summary__day__in=days).count() == 3

        own_redis.resume()
        recompiled = SummaryVersion.objects.filter(summary__day__in=days, number=2)
        worker.wait_for(
            lambda: (
                recompiled.count() == 3 and not DailySummary.objects.filter(stale=True).exists()
            ),
            timeout=45,
            what="the sweep after the broker came back",
        )
        for day, report in zip(days, (web_report, draft, api_report), strict=True):
            version = recompiled.get(summary__day=day)
            assert str(report.uuid) in sources_of(version), day
            assert version.content["source_count"] == 2, day
        # The sweep did it: the only compilations ever received are the three sent above.
        assert worker.received(COMPILE) == sent
    finally:
        workers.close()


# --- A worker killed mid-compilation ---------------------------------------------------------


@pytest.mark.faults
@pytest.mark.redis
@pytest.mark.parametrize("celery_broker", ["redis"], indirect=True)
def test_a_worker_killed_in_the_middle_of_a_compilation_leaves_it_done_exactly_once(
    people, center, celery_workers
):
    """Late acknowledgement and re-queue on a lost worker: the pool process running the
    compilation is killed outright; the task comes back and is compiled once.

    On Redis, the production broker. (The filesystem broker re-queues it too, but the
    prefork pool then waits ``worker_lost_wait``, 10 s, before giving the task up.)"""
    violation(people, at=local(DAY, 9))
    worker = celery_workers.start(pool="prefork", concurrency=1)
    with summaries_held():
        task = worker.send(COMPILE, **compile_args(center, DAY))
        worker.wait_for(lambda: task in worker.received(COMPILE), what="the compilation")
        wait_until_held(worker)  # the pool process is in the task, waiting at the lock
        [pool_process] = worker.pool_processes()
        os.kill(pool_process, signal.SIGKILL)
        worker.wait_for(
            lambda: "signal 9 (SIGKILL)" in worker.log(), what="the worker to notice the loss"
        )
    worker.wait_for(
        lambda: (worker.outcome(task) or "").startswith("succeeded"),
        timeout=30,
        what="the compilation to be re-queued and done",
    )
    assert worker.received(COMPILE) == [task, task]  # delivered again after the kill
    assert worker.outcome(task) == "succeeded: 1"
    assert DailySummary.objects.count() == 1
    [version] = SummaryVersion.objects.all()
    assert version.number == 1 and version.content_sha256 == expected_sha256(center, DAY)

"""The daily summaries' services: reporting days (cut-off, time zone, daylight saving),
what a summary counts, compiling twice, staleness, publication, the hash chain and its
verification. The real-worker behaviour is in test_summary_tasks.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from incidents.choices import ReportKind, ReportStatus, SummaryVersionStatus
from incidents.models import DailySummary, SummaryVersion
from incidents.selectors.summaries import reporting_day, reporting_period
from incidents.services import (
    report_transition,
    summaries_due,
    summaries_verify,
    summary_compile,
    summary_publish,
)
from monitoring.choices import ObserverRole
from tests.factories import (
    CenterFactory,
    ExcludedAreaFactory,
    ExcludedGroupFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_file,
    square,
)

pytestmark = pytest.mark.django_db
S = ReportStatus
V = SummaryVersionStatus
DAMASCUS = ZoneInfo("Asia/Damascus")
DAY = date(2017, 6, 3)


def local(day: date, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=DAMASCUS).replace(fold=fold)


@pytest.fixture
def people(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey")
    return {
        "russian": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "coordinator2": make_member(ObserverRole.COORDINATOR, delegation=turkey),
        "observer": make_member(ObserverRole.OBSERVER),
    }


def violation(people, who="russian", status=S.SUBMITTED, at=None, **detail):
    return report_file(
        people[who],
        status=status,
        reviewer=people["coordinator"],
        occurred_at=at or local(DAY, 11),
        detail={"category": "shelling", **detail},
    )


# --- Reporting days ---------------------------------------------------------------------------


def test_a_day_ending_at_midnight_holds_23_30_and_not_00_30(center):
    assert reporting_day(center, local(DAY, 23, 30)) == DAY
    assert reporting_day(center, local(DAY + timedelta(days=1), 0, 30)) == DAY + timedelta(days=1)
    start, end = reporting_period(center, DAY)
    assert start == local(DAY, 0, 0) and end == local(DAY + timedelta(days=1), 0, 0)


def test_a_day_ending_at_18_00_in_amman(db):
    amman = CenterFactory(code="AMX", time_zone="Asia/Amman", reporting_day_cutoff=time(18, 0))
    tz = ZoneInfo("Asia/Amman")
    assert reporting_day(amman, datetime(2017, 7, 12, 17, 59, tzinfo=tz)) == date(2017, 7, 12)
    assert reporting_day(amman, datetime(2017, 7, 12, 18, 0, tzinfo=tz)) == date(2017, 7, 13)
    start, end = reporting_period(amman, date(2017, 7, 13))
    assert start == datetime(2017, 7, 12, 18, 0, tzinfo=tz)
    assert end == datetime(2017, 7, 13, 18, 0, tzinfo=tz)


def test_daylight_saving_days_of_2017_in_damascus(center):
    # 31 March 2017: clocks jumped from 00:00 to 01:00, a 23-hour day.
    spring = date(2017, 3, 31)
    start, end = reporting_period(center, spring)
    assert end - start == timedelta(hours=23)
    assert reporting_day(center, local(date(2017, 3, 30), 23, 30)) == date(2017, 3, 30)
    assert reporting_day(center, local(spring, 1, 30)) == spring
    # 27 October 2017, 00:00 went back to 23:00 on the 26th: 23:30 happened twice, both on
    # the 26th (a 25-hour day); 00:30 is the 27th.
    autumn = date(2017, 10, 26)
    start, end = reporting_period(center, autumn)
    assert end - start == timedelta(hours=25)
    first, second = local(autumn, 23, 30, fold=0), local(autumn, 23, 30, fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert reporting_day(center, first) == reporting_day(center, second) == autumn
    assert reporting_day(center, local(date(2017, 10, 27), 0, 30)) == date(2017, 10, 27)


# --- What a summary counts --------------------------------------------------------------------


def test_a_summary_counts_by_status_zone_category_and_delegation(people, zone):
    violation(people, status=S.VERIFIED, civilians_killed_best=2, civilians_killed_high=3)
    violation(people, who="turkish", status=S.SUBMITTED)
    violation(people, who="turkish", status=S.DISPUTED)
    violation(people, status=S.REJECTED)  # never counts
    violation(people, status=S.RETRACTED)  # never counts
    violation(people, status=S.DRAFT)  # not filed yet
    violation(people, at=local(DAY + timedelta(days=1), 0, 30))  # the next day
    content = summary_compile(center=zone.centers.first(), day=DAY).content
    v = content["violations"]
    assert v["totals"] == {"confirmed": 1, "reported": 1, "disputed": 1}
    assert v["by_zone"] == [{"zone": zone.code, "confirmed": 1, "reported": 1, "disputed": 1}]
    assert {
        d["delegation"]: d["confirmed"] + d["reported"] + d["disputed"] for d in v["by_delegation"]
    } == {
        "russia": 1,
        "turkey": 2,
    }
    assert v["casualties"]["civilians_killed"] == {"best": 2, "low": 0, "high": 3}
    assert content["source_count"] == 3 and content["awaiting_review"] == 2
    assert any("casualties" in n["why"] for n in content["notable"])


def test_excluded_areas_are_counted_apart_and_banned_flights_called_out(people, zone, center):
    group = ExcludedGroupFactory(code="isis", name="ISIS")
    ExcludedAreaFactory(group=group, geometry=square(36.8, 36.1, 0.05))
    violation(people, at=local(DAY, 9))  # in the zone
    report_file(
        people["russian"],
        status=S.SUBMITTED,
        latitude=36.1,
        longitude=36.8,
        occurred_at=local(DAY, 10),
        detail={"category": "shelling"},
    )
    violation(people, at=local(DAY, 12), category="military_flight")
    content = summary_compile(center=center, day=DAY).content
    v = content["violations"]
    assert v["outside_ceasefire"]["reported"] == 1
    assert v["totals"]["reported"] == 2  # the flight and the shelling inside the zone
    assert zone.flights_banned
    assert [a["category"] for a in v["air_activity"]] == ["military_flight"]


def test_convoys_tonnage_and_running_totals(people, zone, center):
    checkpoint = PostFactory(zone=zone, kind="checkpoint", serves_humanitarian=True)
    town = SettlementFactory()
    sarc = PartyFactory(code="sarc", name="SARC", kind="humanitarian_org")

    def convoy(day, status, quantity, delivered=None, reason=""):
        return report_file(
            people["russian"],
            kind=ReportKind.CONVOY,
            status=S.VERIFIED,
            reviewer=people["coordinator"],
            occurred_at=local(day, 10),
            detail={
                "operation": "road_convoy",
                "organizations": [sarc],
                "vehicle_count": 10,
                "origin": "Damascus",
                "destination": town,
                "planned_at": local(day, 6),
                "status": status,
                "beneficiaries": 5000,
                "obstruction_reason": reason,
                "cargo": [
                    {
                        "category": "food",
                        "quantity": quantity,
                        "unit": "tonnes",
                        "delivered_quantity": delivered,
                    }
                ],
                "route": [{"post": checkpoint, "passed_at": None}],
                "stages": [],
            },
        )

    yesterday = DAY - timedelta(days=1)
    convoy(yesterday, "delivered", 40)
    convoy(DAY, "delivered", 30)
    convoy(DAY, "partially_delivered", 20, delivered=12, reason="Checkpoint closed at noon.")
    convoy(DAY, "blocked", 25, reason="Denied at the checkpoint.")
    first = summary_compile(center=center, day=yesterday).content["convoys"]
    assert first["running_totals"]["delivered"] == {"food": {"tonnes": "40.000"}}
    today = summary_compile(center=center, day=DAY).content["convoys"]
    assert today["delivered"] == {"food": {"tonnes": "42.000"}}
    assert today["beneficiaries"] == 10000
    assert [b["reason"] for b in today["blocked"]] == ["Denied at the checkpoint."]
    assert today["running_totals"]["delivered"] == {"food": {"tonnes": "82.000"}}
    assert today["running_totals"]["computed_from"] == "previous day"


# --- Compiling, staleness, publication --------------------------------------------------------


def test_compiling_twice_gives_the_same_version(people, center):
    violation(people)
    first = summary_compile(center=center, day=DAY)
    second = summary_compile(center=center, day=DAY)
    assert first.pk == second.pk and SummaryVersion.objects.count() == 1
    assert DailySummary.objects.get().stale is False


def test_a_late_report_makes_the_summary_stale_and_a_new_draft(people, center):
    violation(people)
    first = summary_compile(center=center, day=DAY)
    late = violation(people, who="turkish", status=S.DRAFT, at=local(DAY, 22))
    summary = DailySummary.objects.get()
    assert summary.stale is False  # a draft was filed: stale only once it counts...
    report_transition(report=late, to_status=S.SUBMITTED, actor=people["turkish"])
    summary.refresh_from_db()
    assert summary.stale is True and summary.stale_since is not None
    second = summary_compile(center=center, day=DAY)
    assert second.number == 2 and second.content["source_count"] == 2
    first.refresh_from_db()
    assert first.status == V.SUPERSEDED  # the old draft is kept, marked superseded


def test_a_published_version_is_left_untouched_by_a_recompilation(people, center):
    violation(people)
    draft = summary_compile(center=center, day=DAY)
    published = summary_publish(version=draft, actor=people["coordinator"])
    stored = (published.content, published.content_sha256, published.chain_sha256)
    violation(people, who="turkish", at=local(DAY, 15))
    addendum = summary_compile(center=center, day=DAY)
    assert addendum.number == 2 and addendum.status == V.DRAFT
    published.refresh_from_db()
    assert published.status == V.PUBLISHED
    assert (published.content, published.content_sha256, published.chain_sha256) == stored


def test_who_may_publish_and_what(people, center, make_member, delegation):
    violation(people)
    draft = summary_compile(center=center, day=DAY)
    elsewhere = make_member(ObserverRole.COORDINATOR, center=CenterFactory(), delegation=delegation)
    for actor in (people["observer"], elsewhere):
        with pytest.raises(PermissionDenied):
            summary_publish(version=draft, actor=actor)
    violation(people, who="turkish", at=local(DAY, 16))  # the summary is stale now
    with pytest.raises(ValidationError, match="recompile"):
        summary_publish(version=draft, actor=people["coordinator"])
    fresh = summary_compile(center=center, day=DAY)
    summary_publish(version=fresh, actor=people["coordinator2"])
    with pytest.raises(ValidationError, match="only a draft"):
        summary_publish(version=fresh, actor=people["coordinator"])


def test_the_chain_links_published_versions_and_finds_tampering(people, center, capsys):
    for n in range(3):
        day = DAY + timedelta(days=n)
        violation(people, at=local(day, 11))
        summary_publish(
            version=summary_compile(center=center, day=day), actor=people["coordinator"]
        )
    checked, problems = summaries_verify()
    assert (checked, problems) == (3, [])
    chain = list(SummaryVersion.objects.order_by("chain_index"))
    assert chain[1].previous_sha256 == chain[0].chain_sha256
    call_command("verify_summaries")
    assert "3 published version(s) verified" in capsys.readouterr().out
    # Someone edits the stored figures of the middle day behind the application's back.
    tampered = chain[1]
    content = dict(
        tampered.content,
        awaiting_review=0,
        violations={
            **tampered.content["violations"],
            "totals": {"confirmed": 0, "reported": 0, "disputed": 0},
        },
    )
    SummaryVersion.objects.filter(pk=tampered.pk).update(content=content)
    checked, problems = summaries_verify()
    assert [p.version.pk for p in problems] == [tampered.pk]
    with pytest.raises(CommandError, match="1 problem"):
        call_command("verify_summaries")
    assert f"{center.code} {tampered.summary.day}" in capsys.readouterr().err


def test_the_sweep_finds_closed_stale_and_missing_days(people, center):
    violation(people, at=local(DAY, 11))
    violation(people, at=local(DAY + timedelta(days=2), 11))
    now = local(DAY + timedelta(days=3), 0, 10)  # 10 minutes after the cut-off
    due = [(c.code, d) for c, d in summaries_due(now=now)]
    assert due == [
        (center.code, DAY),
        (center.code, DAY + timedelta(days=2)),
    ]
    for c, d in summaries_due(now=now):
        summary_compile(center=c, day=d)
    assert summaries_due(now=now) == []
    violation(people, at=local(DAY, 20))  # late: that day is stale again
    assert [(c.code, d) for c, d in summaries_due(now=now)] == [(center.code, DAY)]


def test_the_compile_command(people, center, capsys):
    violation(people)
    call_command("compile_summaries", "--center", center.code, "--date", DAY.isoformat())
    assert "version 1 (draft), 1 reports" in capsys.readouterr().out
    for args, message in [
        (["--center", "NOPE"], "no center"),
        (["--date", "yesterday"], "--date"),
        (["--from", "2017-06-03"], "go together"),
        (["--from", "2017-06-05", "--to", "2017-06-03"], "before"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("compile_summaries", *args)
    assert SummaryVersion.objects.count() == 1


def test_joint_confirmations_are_notable_and_rejected_ends_do_not_count(people, center):
    from incidents.services import corroboration_link

    russian = violation(people, at=local(DAY, 11))
    turkish = violation(people, who="turkish", at=local(DAY, 11, 20))
    same_delegation = violation(people, at=local(DAY, 11, 40))
    corroboration_link(report=russian, other=same_delegation, actor=people["coordinator"])
    notable = summary_compile(center=center, day=DAY).content["notable"]
    assert not [n for n in notable if "jointly" in n["why"]]  # one delegation only
    corroboration_link(report=russian, other=turkish, actor=people["coordinator"])
    notable = summary_compile(center=center, day=DAY).content["notable"]
    assert [n["why"] for n in notable if "jointly" in n["why"]] == [
        "jointly confirmed by 2 delegations"
    ]
    report_transition(
        report=turkish, to_status=S.REJECTED, actor=people["coordinator"], comment="No."
    )
    notable = summary_compile(center=center, day=DAY).content["notable"]
    assert not [n for n in notable if "jointly" in n["why"]]


def test_reports_filed_while_a_day_is_compiled_wait_for_the_next_compile(people, zone, center):
    """The day's reports are read first, their details after; a report filed in between (on
    PostgreSQL each query sees the commits before it) is left to the next compile, which its
    filing queues, instead of failing the task (found by `make loadtest`)."""
    from incidents.selectors.summaries import _counted, _violations

    report_file(
        people["russian"],
        status=S.VERIFIED,
        reviewer=people["coordinator"],
        occurred_at=local(DAY, 9),
    )
    day = _counted(center, *reporting_period(center, DAY))
    assert day.count() == 1
    read_before = {}  # the reports as read before this one was filed
    violations, notable = _violations(read_before, day)
    assert violations["totals"] == {} or not any(violations["totals"].values())
    assert notable == []


@pytest.mark.django_db(transaction=True)
def test_a_report_filed_while_its_day_compiles_makes_the_result_stale(people, center, broker):
    """A compilation holds its summary's row from reading the day until it commits
    ``stale=False``; a report of that day filed meanwhile must leave the summary stale after
    both commit (it waits for the compilation), not be lost from it for good."""
    import threading

    from django.db import connections, transaction

    violation(people, at=local(DAY, 9))
    summary_compile(center=center, day=DAY)
    violation(people, at=local(DAY, 10))  # stale again, as before a sweep's compilation
    summary = DailySummary.objects.get()
    assert summary.stale

    locked, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def compilation() -> None:  # its row lock, its reading, then its stale=False
        try:
            with transaction.atomic():
                DailySummary.objects.select_for_update().get(pk=summary.pk)
                locked.set()
                release.wait(timeout=30)
                DailySummary.objects.filter(pk=summary.pk).update(stale=False, stale_since=None)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    def filing() -> None:
        try:
            violation(people, who="turkish", at=local(DAY, 22))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    compiler = threading.Thread(target=compilation)
    compiler.start()
    assert locked.wait(timeout=30)
    filer = threading.Thread(target=filing)
    filer.start()
    filer.join(timeout=1.5)  # PostgreSQL: waits on the row; SQLite: on the write lock
    release.set()
    compiler.join(timeout=60)
    filer.join(timeout=60)
    assert not failures, failures
    summary.refresh_from_db()
    assert summary.stale, "the report filed during the compilation is in no summary"

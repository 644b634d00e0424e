"""Safe writes under real concurrency: a live server, real HTTP from many client threads at
once, a partner tool's token. However the retries of an idempotent POST interleave, each key
files exactly one report and every answer for a key is the same; of two conditional writes
on one version of a report, exactly one goes through and nothing the winner wrote is lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
import requests
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse

from incidents.choices import ReportStatus
from incidents.models import Report
from monitoring.choices import AuditEntryAction, ObserverRole
from monitoring.models import AuditEntry, IdempotencyKey
from monitoring.selectors import audit_entries_for
from monitoring.services import partner_token_issue
from tests.factories import REPORT_OCCURRED, ZoneTermFactory, report_file

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 10
KEYS = 5
ATTEMPTS = 3  # each thread sends each key's request this many times
RACE_ROUNDS = 4
TIMEOUT = 60  # seconds: one request
DEADLINE = 300  # seconds: all the client threads of one test


@pytest.fixture
def tool(live_server, zone, make_member):
    """A partner tool: the partner account, and headers with its write-scoped token."""
    cache.clear()  # the per-token throttle counts
    ZoneTermFactory(zone=zone)
    coordinator = make_member(ObserverRole.COORDINATOR)
    partner = make_member(ObserverRole.PARTNER)
    _token, secret = partner_token_issue(
        partner_user=partner, name="field sync", scopes="read write", actor=coordinator
    )
    return partner, {"Authorization": f"Token {secret}"}


def run_together(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run ``calls`` in threads released at the same moment; their responses in order."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)
    results: list[requests.Response | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except BaseException as exc:  # reported below, in the test's thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def payload(narrative: str) -> dict:
    return {
        "kind": "violation",
        "latitude": 35.9,
        "longitude": 36.6,
        "occurred_at": (REPORT_OCCURRED - timedelta(hours=1)).isoformat(),
        "source": "seen",
        "narrative": narrative,
        "detail": {"category": "shelling", "events": 1},
    }


def test_concurrent_retries_of_idempotent_posts_file_one_report_per_key(live_server, tool):
    _partner, auth = tool
    url = live_server.url + reverse("incidents-api:report-list")
    keys = [str(uuid.uuid4()) for _ in range(KEYS)]
    answers: dict[str, list[tuple[int, bytes, str | None]]] = defaultdict(list)
    lock = threading.Lock()

    def client(offset: int) -> Callable[[], requests.Response]:
        def send() -> requests.Response:
            with requests.Session() as session:
                session.headers.update(auth)
                # Each thread goes through the keys in its own order, so that every key has
                # several requests in flight at once from different threads.
                order = keys[offset % KEYS :] + keys[: offset % KEYS]
                for _attempt in range(ATTEMPTS):
                    for key in order:
                        response = session.post(
                            url,
                            json=payload(f"Shelling reported under key {key}."),
                            headers={"Idempotency-Key": key},
                            timeout=TIMEOUT,
                        )
                        with lock:
                            answers[key].append(
                                (
                                    response.status_code,
                                    response.content,
                                    response.headers.get("Idempotent-Replayed"),
                                )
                            )
            return response

        return send

    run_together([client(i) for i in range(THREADS)])

    for key in keys:
        got = answers[key]
        assert len(got) == THREADS * ATTEMPTS
        assert {code for code, _body, _replayed in got} == {201}, key
        assert len({body for _code, body, _replayed in got}) == 1, key  # byte for byte
        assert sum(replayed is None for *_rest, replayed in got) == 1, key  # one was served
        assert Report.objects.filter(narrative__contains=key).count() == 1, key
    assert Report.objects.count() == KEYS
    assert IdempotencyKey.objects.count() == KEYS
    created = AuditEntry.objects.filter(
        action=AuditEntryAction.CREATE, content_type__model="report"
    )
    assert created.count() == KEYS


def _read(session: requests.Session, url: str) -> tuple[str, int]:
    response = session.get(url, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.headers["ETag"], response.json()["revision"]


def test_of_two_edits_on_one_version_exactly_one_goes_through(live_server, tool):
    partner, auth = tool
    report = report_file(partner)
    url = live_server.url + reverse("incidents-api:report-detail", kwargs={"uuid": report.uuid})
    session = requests.Session()
    session.headers.update(auth)
    stale_etag, revision = _read(session, url)
    first = session.patch(url, json={"revision": revision, "narrative": "First count."})
    assert first.status_code == 200  # the version read above is an old one now
    for round_ in range(RACE_ROUNDS):
        etag, revision = _read(session, url)
        edits = {name: f"Round {round_}: {name}'s count." for name in ("north", "south")}

        def edit(narrative: str, if_match: str, revision: int = revision):
            return partial(
                requests.patch,
                url,
                json={"revision": revision, "narrative": narrative},
                headers={**auth, "If-Match": if_match},
                timeout=TIMEOUT,
            )

        # Two tools read the same version; a third sends an edit on an older one.
        north, south, old = run_together(
            [
                edit(edits["north"], etag),
                edit(edits["south"], etag),
                edit("Stale tool's count.", stale_etag),
            ]
        )
        assert old.status_code == 412 and "If-Match" in old.json()
        codes = sorted([north.status_code, south.status_code])
        assert codes[0] == 200 and codes[1] in (409, 412), codes
        winner = north if north.status_code == 200 else south
        fresh = Report.objects.get(pk=report.pk)
        assert fresh.narrative == winner.json()["narrative"]  # the winner's edit is intact
        assert fresh.revision == revision + 1
        assert winner.headers["ETag"] == _read(session, url)[0]
    updates = audit_entries_for(report).filter(action=AuditEntryAction.UPDATE).count()
    assert updates == RACE_ROUNDS + 1
    session.close()


def test_an_edit_and_a_submit_on_one_version_never_both_go_through(live_server, tool):
    """The submit carries no revision: only the If-Match check, made under the row lock,
    stops it from submitting a report that the racing edit changed after it was read."""
    partner, auth = tool
    session = requests.Session()
    session.headers.update(auth)
    for round_ in range(RACE_ROUNDS):
        report = report_file(partner, narrative=f"Round {round_}: as filed.")
        detail = reverse("incidents-api:report-detail", kwargs={"uuid": report.uuid})
        url = live_server.url + detail
        etag, revision = _read(session, url)
        edit = partial(
            requests.patch,
            url,
            json={"revision": revision, "narrative": f"Round {round_}: edited."},
            headers={**auth, "If-Match": etag},
            timeout=TIMEOUT,
        )
        submit = partial(
            requests.post, url + "submit/", headers={**auth, "If-Match": etag}, timeout=TIMEOUT
        )
        edited, submitted = run_together([edit, submit])
        assert sorted([edited.status_code, submitted.status_code]) == [200, 412]
        fresh = Report.objects.get(pk=report.pk)
        assert fresh.revision == revision + 1
        if edited.status_code == 200:
            assert (fresh.status, fresh.narrative) == (
                ReportStatus.DRAFT,
                f"Round {round_}: edited.",
            )
        else:
            assert (fresh.status, fresh.narrative) == (
                ReportStatus.SUBMITTED,
                f"Round {round_}: as filed.",
            )
    session.close()


# --- The checkpoint lock and foreign keys ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_checkpoint_lock_serializes_filings_but_not_the_foreign_keys_to_the_post(zone):
    """A checkpoint report locks its checkpoint while it checks for overlapping shifts. The
    lock must not block PostgreSQL's foreign-key checks on that post (FOR KEY SHARE, taken at
    the COMMIT of any report pointing at it): with a plain FOR UPDATE, a filing holding the
    checkpoint and waiting for the day's report counter deadlocked with a filing holding the
    counter and committing a reference to the post (found by `make loadtest`, 17 deadlocks in
    2 minutes at 50 observers). FOR NO KEY UPDATE keeps the serialization and not the block.
    """
    from django.db import OperationalError, connection, connections

    from incidents.services.reports import _lock_checkpoint
    from tests.factories import PostFactory
    from zones.choices import PostKind

    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT)
    shift = Report(kind="checkpoint")
    held, done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                _lock_checkpoint(shift, {"checkpoint": checkpoint})
                held.set()
                done.wait(timeout=30)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    def attempt(sql: str) -> str:
        outcome: list[str] = []

        def run() -> None:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    if connection.vendor == "postgresql":
                        cursor.execute("SET LOCAL lock_timeout = '1500ms'")
                    cursor.execute(sql, [checkpoint.pk])
                outcome.append("went through")
            except OperationalError as exc:
                outcome.append(f"blocked: {exc}")
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=60)
        return outcome[0]

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=30)
        if connection.vendor == "postgresql":
            key_share = "SELECT 1 FROM zones_post WHERE id = %s FOR KEY SHARE"
            assert attempt(key_share) == "went through"
            second = attempt("SELECT 1 FROM zones_post WHERE id = %s FOR NO KEY UPDATE")
            assert second.startswith("blocked"), second
    finally:
        done.set()
        thread.join(timeout=30)
    assert not failures

"""The change feed under concurrent writers, on the real database of the run (SQLite or
PostgreSQL): a write that commits after later ones is still read, once, after the cursor
moved on; readers polling while several writers work end with every record, none twice
in one read, each in its last state."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse

from incidents.choices import ReportStatus
from incidents.models import Report
from monitoring.choices import ChangeRecordType, ObserverRole
from monitoring.services import changes_touch
from tests.api_base import client_for
from tests.factories import PartyFactory, ZoneTermFactory, report_file

pytestmark = pytest.mark.django_db(transaction=True)
FEED = reverse("api-changes")


def read(client, after: int) -> tuple[list[dict], int]:
    """Read to the end from ``after``; a record is at most once on a page, and numbers only
    grow (a record changed while we read may come again on a later page: that is news)."""
    entries: list[dict] = []
    for _ in range(1000):
        body = client.get(FEED, {"after": after, "limit": 200}).json()
        keys = [(e["type"], e["id"]) for e in body["results"]]
        assert len(keys) == len(set(keys)), "a record twice on one page"
        seqs = [e["seq"] for e in body["results"]]
        assert seqs == sorted(seqs) and all(seq > after for seq in seqs)
        entries += body["results"]
        after = body["cursor"]
        if not body["has_more"]:
            break
    return entries, after


def test_a_write_committing_after_a_later_one_is_not_missed(make_member):
    partner = make_member(ObserverRole.PARTNER)
    early, late = PartyFactory(code="early-party"), PartyFactory(code="late-party")
    client = client_for(partner)
    _, cursor = read(client, 0)

    started, go = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                # Written first (its row is changed before the other's) ...
                changes_touch(records=[(ChangeRecordType.PARTY, early.pk, None, True)])
                started.set()
                go.wait(timeout=2)  # ... committed last (SQLite: after the timeout)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert started.wait(timeout=10)
        changes_touch(records=[(ChangeRecordType.PARTY, late.pk, None, True)])
        first, cursor = read(client, cursor)
    finally:
        go.set()
        writer.join(timeout=30)
    assert not failures and not writer.is_alive()
    second, cursor = read(client, cursor)

    told = [(e["type"], e["id"]) for e in first + second if e["type"] == "party"]
    assert sorted(told) == sorted([("party", str(early.pk)), ("party", str(late.pk))])
    seqs = [e["seq"] for e in first + second]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    if connection.vendor == "postgresql":
        # The out-of-order case itself: the late commit was read in the first page, the
        # early write only after it committed, with a higher number than the cursor had.
        assert [e["id"] for e in first if e["type"] == "party"] == [str(late.pk)]
        assert [e["id"] for e in second if e["type"] == "party"] == [str(early.pk)]


def test_a_reader_polling_during_concurrent_writes_ends_with_every_record(
    zone, make_member, settings
):
    settings.PARTNER_REPORT_STATUSES = ("disputed", "submitted", "verified")
    ZoneTermFactory(zone=zone)
    coordinator = make_member(ObserverRole.COORDINATOR)
    authors = [make_member(ObserverRole.OBSERVER) for _ in range(3)]
    partner = make_member(ObserverRole.PARTNER)
    client = client_for(partner)
    per_writer, deadline = 12, time.monotonic() + 90
    failures: list[BaseException] = []

    def writer(author) -> None:
        try:
            for n in range(per_writer):
                if time.monotonic() > deadline:
                    break
                status = [ReportStatus.VERIFIED, ReportStatus.SUBMITTED, ReportStatus.REJECTED][
                    n % 3
                ]
                report_file(author, status=status, reviewer=coordinator)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(a,)) for a in authors]
    for thread in threads:
        thread.start()
    copy: dict[str, dict] = {}
    cursor, reads = 0, 0
    while any(t.is_alive() for t in threads) and reads < 500:
        entries, cursor = read(client, cursor)
        reads += 1
        for entry in entries:
            if entry["type"] == "report":
                copy[entry["id"]] = entry
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    entries, cursor = read(client, cursor)
    for entry in entries:
        if entry["type"] == "report":
            copy[entry["id"]] = entry

    kept = {key: e["record"]["status"] for key, e in copy.items() if not e["deleted"]}
    expected = {
        str(uuid): status
        for uuid, status in Report.objects.filter(
            status__in=settings.PARTNER_REPORT_STATUSES
        ).values_list("uuid", "status")
    }
    assert len(expected) >= 2 * len(authors)
    assert kept == expected
    # every rejected report was shared (submitted) first: the copy holds its tombstone
    rejected = {
        str(u) for u in Report.objects.filter(status="rejected").values_list("uuid", flat=True)
    }
    assert rejected and {key for key, e in copy.items() if e["deleted"]} == rejected

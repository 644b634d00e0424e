"""The change feed: one ordered list over every record type, keyset pages, tombstones for
what leaves a partner's view, nothing told about what the caller never could see, numbers
given only to committed rows, and the resync answer past the tombstones' retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.choices import ReportStatus
from incidents.services import report_transition
from monitoring.choices import ChangeRecordType, ObserverRole
from monitoring.models import Change
from monitoring.services import changes_purge, changes_sequence, changes_touch
from tests.api_base import client_for
from tests.factories import CenterFactory, ZoneTermFactory, report_file

pytestmark = pytest.mark.django_db
FEED = reverse("api-changes")
S = ReportStatus


@pytest.fixture
def people(zone, center, make_member):
    ZoneTermFactory(zone=zone)
    other = CenterFactory(code="OTH", zones=[zone])
    return {
        "author": make_member(ObserverRole.OBSERVER),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "elsewhere": make_member(ObserverRole.PARTNER, center=other),
    }


@pytest.fixture
def shares_unverified(settings):
    """A center configured to share submitted and disputed reports with partners too (so a
    shared report can still be rejected or retracted)."""
    settings.PARTNER_REPORT_STATUSES = ("disputed", "submitted", "verified")


def read_all(client, after: int = 0, limit: int = 1000) -> tuple[list[dict], int]:
    entries: list[dict] = []
    for _ in range(10_000):
        response = client.get(FEED, {"after": after, "limit": limit})
        assert response.status_code == 200, response.content
        body = response.json()
        entries += body["results"]
        assert body["cursor"] >= after
        after = body["cursor"]
        if not body["has_more"]:
            return entries, after
    raise AssertionError("the feed never ended")


def reports_in(entries: list[dict]) -> dict[str, dict]:
    """The last entry of each report, as a mirror would keep it."""
    return {e["id"]: e for e in entries if e["type"] == ChangeRecordType.REPORT}


def test_a_partner_reads_verified_reports_and_reference_data_in_sequence(people):
    author, coordinator = people["author"], people["coordinator"]
    verified = report_file(author, status=S.VERIFIED, reviewer=coordinator)
    report_file(author, status=S.SUBMITTED)  # not shared: never told, not even its id
    entries, cursor = read_all(client_for(people["partner"]))
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert set(reports_in(entries)) == {str(verified.uuid)}
    entry = reports_in(entries)[str(verified.uuid)]
    assert entry["deleted"] is False
    assert entry["record"]["reference"] == verified.reference
    assert entry["url"].endswith(f"/api/v1/reports/{verified.uuid}/")
    types = {e["type"] for e in entries}
    assert {"zone", "center", "party"} <= types
    # the cursor passes the rows skipped too (the submitted report is last)
    assert cursor == Change.objects.order_by("-seq").values_list("seq", flat=True).first()
    assert cursor > max(seqs)


def test_another_centers_partner_sees_none_of_these_reports(people):
    report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    entries, _ = read_all(client_for(people["elsewhere"]))
    assert reports_in(entries) == {}


def test_anonymous_and_profileless_callers_are_refused(client, people, django_user_model):
    assert client.get(FEED).status_code in (401, 403)
    nobody = django_user_model.objects.create_user("nobody", password="x")
    assert client_for(nobody).get(FEED).status_code == 403


def test_a_change_moves_the_record_to_the_end_and_withdrawal_is_a_tombstone(
    people, shares_unverified
):
    author, coordinator, partner = people["author"], people["coordinator"], people["partner"]
    first = report_file(author, status=S.SUBMITTED)
    second = report_file(author, status=S.VERIFIED, reviewer=coordinator)
    client = client_for(partner)
    entries, cursor = read_all(client)
    assert set(reports_in(entries)) == {str(first.uuid), str(second.uuid)}

    report_transition(report=first, to_status=S.REJECTED, actor=coordinator, comment="no")
    later, cursor2 = read_all(client, after=cursor)
    assert [(e["id"], e["deleted"], e["record"]) for e in later if e["type"] == "report"] == [
        (str(first.uuid), True, None)
    ]
    assert cursor2 > cursor
    # nothing new: an empty page that keeps the cursor
    body = client.get(FEED, {"after": cursor2}).json()
    assert body == {"results": [], "cursor": cursor2, "has_more": False, "horizon": 0, "next": None}


def test_a_retraction_after_sharing_is_a_tombstone_too(people, shares_unverified):
    report = report_file(people["author"], status=S.SUBMITTED)
    client = client_for(people["partner"])
    _, cursor = read_all(client)
    report_transition(report=report, to_status=S.RETRACTED, actor=people["author"], comment="x")
    entries, _ = read_all(client, after=cursor)
    assert reports_in(entries)[str(report.uuid)]["deleted"] is True


def test_by_default_partners_see_only_verified_reports(people):
    report = report_file(people["author"], status=S.SUBMITTED)
    entries, _ = read_all(client_for(people["partner"]))
    assert str(report.uuid) not in reports_in(entries)


def test_the_coordinator_keeps_seeing_what_the_partner_lost(people, shares_unverified):
    author, coordinator = people["author"], people["coordinator"]
    report = report_file(author, status=S.SUBMITTED)
    report_transition(report=report, to_status=S.REJECTED, actor=coordinator, comment="no")
    entries, _ = read_all(client_for(coordinator))
    entry = reports_in(entries)[str(report.uuid)]
    assert entry["deleted"] is False and entry["record"]["status"] == S.REJECTED


def test_pages_follow_the_cursor_without_gaps_or_repeats(people):
    author, coordinator = people["author"], people["coordinator"]
    made = {
        str(report_file(author, status=S.VERIFIED, reviewer=coordinator).uuid) for _ in range(7)
    }
    entries, _ = read_all(client_for(people["partner"]), limit=2)
    ids = [e["id"] for e in entries if e["type"] == "report"]
    assert sorted(ids) == sorted(made)  # each exactly once


def test_next_links_carry_the_cursor(people):
    for _ in range(3):
        report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    body = client_for(people["partner"]).get(FEED, {"limit": 1}).json()
    assert body["has_more"] is True
    assert f"after={body['cursor']}" in body["next"] and "limit=1" in body["next"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "x"}, "after"),
        ({"after": -1}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
    ],
)
def test_a_bad_cursor_or_limit_is_a_400_naming_it(people, params, field):
    response = client_for(people["partner"]).get(FEED, params)
    assert response.status_code == 400
    assert field in response.json()


def test_numbers_go_only_to_committed_rows_above_every_number_given(people):
    report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    changes_sequence()
    top = Change.objects.order_by("-seq").values_list("seq", flat=True).first()
    changes_touch(records=[(ChangeRecordType.PARTY, "999999", None, True)])
    row = Change.objects.get(record_key="999999")
    assert row.seq is None
    assert changes_sequence() == 1
    row.refresh_from_db()
    assert row.seq == top + 1
    assert changes_sequence() == 0


def test_a_page_costs_the_same_queries_whatever_its_size(people, django_assert_max_num_queries):
    author, coordinator = people["author"], people["coordinator"]
    for _ in range(3):
        report_file(author, status=S.VERIFIED, reviewer=coordinator)
    client = client_for(people["partner"])
    client.get(FEED)  # number the rows
    with CaptureQueriesContext(connection) as few:
        client.get(FEED, {"limit": 1000})
    for _ in range(6):
        report_file(author, status=S.VERIFIED, reviewer=coordinator)
    client.get(FEED)
    with CaptureQueriesContext(connection) as more:
        client.get(FEED, {"limit": 1000})
    assert len(more) == len(few)


def test_a_cursor_older_than_the_tombstones_kept_must_resync(people, shares_unverified):
    author, coordinator, partner = people["author"], people["coordinator"], people["partner"]
    report = report_file(author, status=S.SUBMITTED)
    client = client_for(partner)
    _, early = read_all(client)
    report_transition(report=report, to_status=S.REJECTED, actor=coordinator, comment="no")
    _, cursor = read_all(client, after=early)
    purge = changes_purge(before=timezone.now() + timedelta(seconds=1))
    assert purge is not None and purge.tombstones == 1
    response = client.get(FEED, {"after": early})
    assert response.status_code == 410
    assert response.json()["status"] == "resync_required"
    assert response.json()["horizon"] == purge.through_seq
    # a partner already past the purge reads on; a fresh copy never hears of the tombstone
    assert client.get(FEED, {"after": cursor}).status_code == 200
    entries, _ = read_all(client)
    assert str(report.uuid) not in reports_in(entries)


def test_the_upgrade_backfill_gives_the_rows_the_services_write(people, shares_unverified):
    """Records from before the feed get the same rows as the services would have written."""
    import importlib

    from django.apps import apps

    author, coordinator = people["author"], people["coordinator"]
    report_file(author, status=S.VERIFIED, reviewer=coordinator)
    report_file(author, status=S.SUBMITTED)
    report_file(author)
    written = sorted(Change.objects.values_list("record_type", "record_key", "center", "shared"))
    assert len([row for row in written if row[0] == "report"]) == 3
    Change.objects.all().delete()
    module = importlib.import_module("incidents.migrations.0005_change_feed_backfill")
    module.backfill(apps, None)
    rebuilt = sorted(Change.objects.values_list("record_type", "record_key", "center", "shared"))
    assert rebuilt == written


def test_a_fresh_copy_begun_after_a_purge_pages_past_the_horizon(people, shares_unverified):
    author, coordinator = people["author"], people["coordinator"]
    client = client_for(people["partner"])
    for _ in range(3):
        report_file(author, status=S.VERIFIED, reviewer=coordinator)
    gone = report_file(author, status=S.SUBMITTED)
    report_transition(report=gone, to_status=S.REJECTED, actor=coordinator, comment="no")
    changes_sequence()
    purge = changes_purge(before=timezone.now() + timedelta(seconds=1))
    first = client.get(FEED, {"after": 0, "limit": 2}).json()
    assert first["has_more"] and first["cursor"] < purge.through_seq
    assert first["horizon"] == purge.through_seq
    assert f"horizon={purge.through_seq}" in first["next"]
    second = client.get(first["next"])
    assert second.status_code == 200, second.json()
    # without the horizon it read with, the same cursor cannot tell it began after the purge
    assert client.get(FEED, {"after": first["cursor"], "limit": 2}).status_code == 410
    # and a horizon older than the last purge is refused as well
    stale = {"after": first["cursor"], "limit": 2, "horizon": purge.through_seq - 1}
    assert client.get(FEED, stale).status_code == 410


def test_a_full_read_twice_without_a_change_gives_the_same_records(people):
    report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    client = client_for(people["partner"])
    first, _ = read_all(client)
    second, _ = read_all(client)
    assert [e["record"] for e in first] == [e["record"] for e in second]
    zones = [e["record"] for e in first if e["type"] == "zone"]
    assert zones and all("at" not in zone and "in_force" not in zone for zone in zones)
    assert all("terms" in zone and "boundaries" in zone for zone in zones)

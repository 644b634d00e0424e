"""The kinds' own fields, filed with the report and edited with it: a violation's
casualties, a checkpoint shift's period (one delegation's shifts at one checkpoint never
overlap) and access incidents. Convoys: test_convoy.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents.choices import (
    AccessIncidentKind,
    CheckpointStatus,
    ReportKind,
    ReportStatus,
    ViolationCategory,
)
from incidents.models import AccessIncident, CheckpointDetail, Report, ViolationDetail
from incidents.services import StaleEditError, report_create, report_transition, report_update
from monitoring.choices import ObserverRole
from monitoring.models import AuditEntry
from monitoring.selectors import audit_entries_for
from tests.factories import PartyFactory, PostFactory, ZoneTermFactory
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
START = datetime(2017, 6, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def people(zone, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey")
    return {
        "russian": make_member(ObserverRole.OBSERVER),
        "russian2": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
    }


def base(at=START):
    return {
        "latitude": 35.9,
        "longitude": 36.6,
        "occurred_at": at,
        "source": "seen",
        "narrative": "Observed from the post.",
    }


def test_a_violation_keeps_its_casualties_and_refuses_disordered_estimates(people):
    report = report_create(
        actor=people["russian"],
        kind=ReportKind.VIOLATION,
        values=base(),
        detail={
            "category": ViolationCategory.SHELLING,
            "civilians_killed_low": 1,
            "civilians_killed_best": 2,
            "civilians_killed_high": 4,
        },
    )
    assert report.violation.civilians_killed_best == 2
    created = audit_entries_for(report).get(action="create")
    assert created.changes["violation.category"] == [None, "shelling"]
    audit_before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        report_create(
            actor=people["russian"],
            kind=ReportKind.VIOLATION,
            values=base(),
            detail={
                "category": "shelling",
                "combatants_injured_low": 5,
                "combatants_injured_best": 3,
                "combatants_injured_high": 4,
            },
        )
    assert "combatants_injured_best" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        report_create(
            actor=people["russian"],
            kind=ReportKind.VIOLATION,
            values=base(),
            detail={"category": "earthquake", "civilians_injured_best": -1},
        )
    assert {"category", "civilians_injured_best"} <= set(caught.value.message_dict)
    assert Report.objects.count() == 1 and ViolationDetail.objects.count() == 1
    assert AuditEntry.objects.count() == audit_before  # nothing half-saved


def shift(people, who, start, hours=8, checkpoint=None):
    return report_create(
        actor=people[who],
        kind=ReportKind.CHECKPOINT,
        values=base(start),
        detail={
            "checkpoint": checkpoint,
            "period_start": start,
            "period_end": start + timedelta(hours=hours),
            "status": CheckpointStatus.OPEN,
            "civilians_in": 120,
            "vehicles_out": 14,
        },
    )


def test_one_delegations_shifts_at_a_checkpoint_do_not_overlap(people, zone):
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True)
    first = shift(people, "russian", START, checkpoint=checkpoint)
    # The next shift, back to back, is fine; so is another delegation's overlapping one.
    shift(people, "russian2", START + timedelta(hours=8), checkpoint=checkpoint)
    shift(people, "turkish", START + timedelta(hours=2), checkpoint=checkpoint)
    with pytest.raises(ValidationError) as caught:
        shift(people, "russian2", START + timedelta(hours=4), checkpoint=checkpoint)
    assert first.reference in " ".join(caught.value.message_dict["period_start"])
    assert CheckpointDetail.objects.count() == 3
    # A retracted shift no longer blocks the period.
    report_transition(
        report=first,
        to_status=ReportStatus.RETRACTED,
        actor=people["russian"],
        comment="Wrong post.",
    )
    shift(people, "russian2", START + timedelta(hours=4), hours=4, checkpoint=checkpoint)


def test_a_shift_is_at_a_checkpoint_and_ends_after_it_starts(people, zone):
    post = PostFactory(zone=zone, kind=PostKind.OBSERVATION_POST)
    with pytest.raises(ValidationError) as caught:
        shift(people, "russian", START, checkpoint=post)
    assert "checkpoint" in caught.value.message_dict
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_humanitarian=True)
    with pytest.raises(ValidationError) as caught:
        shift(people, "russian", START, hours=-2, checkpoint=checkpoint)
    assert "period_end" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        shift(people, "russian", START, checkpoint=None)
    assert "checkpoint" in caught.value.message_dict
    assert not Report.objects.exists()


# --- Access incidents of a checkpoint shift ------------------------------------------------


def test_a_shift_keeps_its_access_incidents(people, zone):
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True)
    army = PartyFactory(code="army", name="Army")
    report = report_create(
        actor=people["russian"],
        kind=ReportKind.CHECKPOINT,
        values=base(),
        detail={
            "checkpoint": checkpoint,
            "period_start": START,
            "period_end": START + timedelta(hours=8),
            "status": CheckpointStatus.RESTRICTED,
            "incidents": [
                {"kind": AccessIncidentKind.DENIAL, "count": 3, "party": army},
                {"kind": AccessIncidentKind.DELAY, "count": 12, "reason_cited": "Searches."},
            ],
        },
    )
    rows = list(report.checkpoint.incidents.order_by("pk").values_list("kind", "count", "party"))
    assert rows == [("denial", 3, army.pk), ("delay", 12, None)]
    created = audit_entries_for(report).get(action="create")
    assert created.changes["checkpoint.incidents"] == [
        None,
        [
            {"kind": "denial", "count": 3, "party_id": army.pk, "reason_cited": ""},
            {"kind": "delay", "count": 12, "party_id": None, "reason_cited": "Searches."},
        ],
    ]


def test_bad_access_incidents_are_named_and_nothing_is_saved(people, zone):
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True)
    with pytest.raises(ValidationError) as caught:
        report_create(
            actor=people["russian"],
            kind=ReportKind.CHECKPOINT,
            values=base(),
            detail={
                "checkpoint": checkpoint,
                "period_start": START,
                "period_end": START + timedelta(hours=8),
                "status": CheckpointStatus.OPEN,
                "incidents": [
                    {"kind": AccessIncidentKind.DETENTION, "count": 1},
                    {"kind": AccessIncidentKind.HARASSMENT, "count": 0},
                    {"kind": "insult", "count": -2},
                ],
            },
        )
    errors = caught.value.message_dict
    assert {"incidents.1.count", "incidents.2.kind", "incidents.2.count"} <= set(errors)
    assert not any(key.startswith("incidents.0") for key in errors)
    assert not Report.objects.exists() and not AccessIncident.objects.exists()


def test_a_shift_has_begun_and_lasts_at_most_a_day(people, zone):
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True)
    with pytest.raises(ValidationError) as caught:
        shift(people, "russian", START, hours=30, checkpoint=checkpoint)
    assert "period_end" in caught.value.message_dict
    soon = timezone.now() - timedelta(hours=1)
    with pytest.raises(ValidationError) as caught:
        report_create(
            actor=people["russian"],
            kind=ReportKind.CHECKPOINT,
            values=base(soon - timedelta(hours=1)),
            detail={
                "checkpoint": checkpoint,
                "period_start": soon + timedelta(hours=3),
                "period_end": soon + timedelta(hours=9),
                "status": CheckpointStatus.OPEN,
            },
        )
    assert "period_start" in caught.value.message_dict
    shift(people, "russian", START, hours=24, checkpoint=checkpoint)  # a full day is fine


# --- Editing a report's detail -----------------------------------------------------------


def test_editing_a_violation_detail_writes_one_entry_with_before_and_after(people):
    report = report_create(
        actor=people["russian"],
        kind=ReportKind.VIOLATION,
        values=base(),
        detail={"category": ViolationCategory.SHELLING, "events": 4},
    )
    edited = report_update(
        report=report,
        actor=people["russian"],
        expected_revision=1,
        values={"narrative": "Six impacts, not four."},
        detail={"category": ViolationCategory.ROCKETS, "events": 6, "weapon": "Grad"},
    )
    assert edited.revision == 2
    stored = ViolationDetail.objects.get(report=report)
    assert (stored.category, stored.events, stored.weapon) == ("rockets", 6, "Grad")
    update = audit_entries_for(report).get(action="update")
    assert update.changes["violation.category"] == ["shelling", "rockets"]
    assert update.changes["violation.events"] == [4, 6]
    assert update.changes["violation.weapon"] == ["", "Grad"]
    assert update.changes["narrative"][1] == "Six impacts, not four."
    assert "violation.damage" not in update.changes  # unchanged fields are not listed


def test_an_edit_that_changes_nothing_writes_nothing(people):
    detail = {"category": ViolationCategory.SHELLING, "events": 4, "distance_km": 2.5}
    report = report_create(
        actor=people["russian"], kind=ReportKind.VIOLATION, values=base(), detail=detail
    )
    entries = AuditEntry.objects.count()
    same = report_update(
        report=report,
        actor=people["russian"],
        expected_revision=1,
        values=base(),
        detail=dict(detail),
    )
    assert same.revision == 1
    assert Report.objects.get(pk=report.pk).revision == 1
    assert AuditEntry.objects.count() == entries


def test_a_detail_edit_on_a_stale_copy_or_a_submitted_report_is_refused(people):
    report = report_create(
        actor=people["russian"],
        kind=ReportKind.VIOLATION,
        values=base(),
        detail={"category": ViolationCategory.SHELLING},
    )
    report_update(
        report=report,
        actor=people["russian"],
        expected_revision=1,
        values={},
        detail={"category": ViolationCategory.DRONE},
    )
    with pytest.raises(StaleEditError):
        report_update(
            report=report,
            actor=people["russian"],
            expected_revision=1,
            values={},
            detail={"category": ViolationCategory.AIR_STRIKE},
        )
    assert ViolationDetail.objects.get(report=report).category == "drone"
    with pytest.raises(PermissionDenied):
        report_update(
            report=report,
            actor=people["russian2"],
            expected_revision=2,
            values={},
            detail={"category": ViolationCategory.AIR_STRIKE},
        )
    report_transition(report=report, to_status=ReportStatus.SUBMITTED, actor=people["russian"])
    with pytest.raises(ValidationError) as caught:
        report_update(
            report=report,
            actor=people["russian"],
            expected_revision=3,
            values={},
            detail={"category": ViolationCategory.AIR_STRIKE},
        )
    assert "status" in caught.value.message_dict
    assert ViolationDetail.objects.get(report=report).category == "drone"


def test_a_bad_detail_edit_names_its_field_and_changes_nothing(people):
    report = report_create(
        actor=people["russian"],
        kind=ReportKind.VIOLATION,
        values=base(),
        detail={"category": ViolationCategory.SHELLING},
    )
    entries = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        report_update(
            report=report,
            actor=people["russian"],
            expected_revision=1,
            values={"narrative": "Changed."},
            detail={"category": "meteor", "civilians_killed_low": 3},
        )
    assert {"category", "civilians_killed_best"} <= set(caught.value.message_dict)
    stored = Report.objects.get(pk=report.pk)
    assert (stored.revision, stored.narrative) == (1, base()["narrative"])
    assert ViolationDetail.objects.get(report=report).category == "shelling"
    assert AuditEntry.objects.count() == entries


def test_a_returned_report_gets_the_detail_it_lacked(people):
    report = report_create(actor=people["russian"], kind=ReportKind.VIOLATION, values=base())
    report_transition(report=report, to_status=ReportStatus.SUBMITTED, actor=people["russian"])
    report_transition(
        report=report,
        to_status=ReportStatus.RETURNED,
        actor=people["coordinator"],
        comment="Say what it was.",
    )
    report_update(
        report=report,
        actor=people["russian"],
        expected_revision=3,
        values={},
        detail={"category": ViolationCategory.SMALL_ARMS},
    )
    assert ViolationDetail.objects.get(report=report).category == "small_arms"
    update = audit_entries_for(report).get(action="update")
    assert update.changes["violation.category"] == [None, "small_arms"]


def test_editing_a_shift_replaces_its_incidents_and_checks_the_overlap(people, zone):
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True)
    other = shift(people, "russian2", START + timedelta(hours=8), checkpoint=checkpoint)
    mine = shift(people, "russian", START, checkpoint=checkpoint)
    detail = {
        "checkpoint": checkpoint,
        "period_start": START,
        "period_end": START + timedelta(hours=8),
        "status": CheckpointStatus.OPEN,
        "civilians_in": 120,
        "vehicles_out": 14,
        "incidents": [{"kind": AccessIncidentKind.DELAY, "count": 2}],
    }
    report_update(
        report=mine, actor=people["russian"], expected_revision=1, values={}, detail=detail
    )
    update = audit_entries_for(mine).get(action="update")
    assert [key for key in update.changes if key.startswith("checkpoint.")] == [
        "checkpoint.incidents"
    ]
    assert update.changes["checkpoint.incidents"] == [
        [],
        [{"kind": "delay", "count": 2, "party_id": None, "reason_cited": ""}],
    ]
    assert update.changes["revision"] == [1, 2]
    # Shifting into the colleague's period is refused, naming their report.
    with pytest.raises(ValidationError) as caught:
        report_update(
            report=mine,
            actor=people["russian"],
            expected_revision=2,
            values={},
            detail={**detail, "period_end": START + timedelta(hours=10)},
        )
    assert other.reference in " ".join(caught.value.message_dict["period_start"])
    # Replacing the incidents: the old row goes, the new ones come, in order.
    report_update(
        report=mine,
        actor=people["russian"],
        expected_revision=2,
        values={},
        detail={
            **detail,
            "incidents": [
                {"kind": AccessIncidentKind.DENIAL, "count": 1},
                {"kind": AccessIncidentKind.HARASSMENT, "count": 4},
            ],
        },
    )
    assert list(
        AccessIncident.objects.filter(shift__report=mine)
        .order_by("pk")
        .values_list("kind", "count")
    ) == [("denial", 1), ("harassment", 4)]
    assert Report.objects.get(pk=mine.pk).revision == 3

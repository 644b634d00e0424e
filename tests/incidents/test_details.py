"""The kinds' own fields, filed with the report: a violation's casualties, a checkpoint
shift's period (one delegation's shifts at one checkpoint never overlap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from incidents.choices import CheckpointStatus, ReportKind, ReportStatus, ViolationCategory
from incidents.models import CheckpointDetail, Report, ViolationDetail
from incidents.services import report_create, report_transition
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

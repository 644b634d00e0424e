"""The report services: filing a draft, editing it, and the workflow's rules, each rule
with its negative case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents.choices import ReportKind, ReportSource, ReportStatus
from incidents.models import Report, ReportTransition
from incidents.services import (
    StaleEditError,
    corroboration_link,
    report_create,
    report_transition,
    report_update,
)
from monitoring.choices import AuditEntryAction, ObserverRole
from monitoring.models import AuditEntry
from monitoring.selectors import audit_entries_for
from tests.factories import CenterFactory, PartyFactory, ZoneFactory, ZoneTermFactory

pytestmark = pytest.mark.django_db
S = ReportStatus
OCCURRED = datetime(2017, 6, 3, 11, 0, tzinfo=UTC)


def values(**overrides):
    base = {
        "latitude": 35.9,
        "longitude": 36.6,
        "occurred_at": OCCURRED,
        "source": ReportSource.HEARD,
        "narrative": "Mortar fire heard to the north-east, four impacts.",
    }
    return {**base, **overrides}


@pytest.fixture
def world(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey")
    return {
        "author": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
    }


def file(world, at=None, **overrides) -> Report:
    return report_create(
        actor=world["author"], kind=ReportKind.VIOLATION, values=values(**overrides), at=at
    )


def test_a_draft_gets_its_reference_zone_and_audit(world, center, zone):
    first, second = file(world), file(world)
    today = timezone.localtime(timezone.now(), ZoneInfo(center.time_zone)).date()
    assert first.reference == f"{center.code}-{today:%Y%m%d}-0001"
    assert second.reference.endswith("-0002")
    assert (first.status, first.revision, first.zone, first.classified_zone) == (
        S.DRAFT,
        1,
        zone,
        zone,
    )
    assert first.zone_in_force is True and first.in_excluded_area is False
    assert first.delegation == world["author"].observer.delegation
    entry = audit_entries_for(first).get(action=AuditEntryAction.CREATE)
    assert entry.actor == world["author"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"occurred_at": datetime(2030, 1, 1, tzinfo=UTC)}, "occurred_at"),
        ({"latitude": 48.85, "longitude": 2.35}, "latitude"),
        ({"narrative": ""}, "narrative"),
        ({"source": "rumour"}, "source"),
    ],
    ids=["future", "outside-syria", "no-narrative", "bad-source"],
)
def test_bad_input_names_the_field_and_saves_nothing(world, overrides, field):
    audit_before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        file(world, **overrides)
    assert field in caught.value.message_dict
    assert not Report.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_a_zone_override_needs_a_reason(world, zone, center):
    other = ZoneFactory(center=(36.45, 33.55))
    with pytest.raises(ValidationError) as caught:
        report_create(actor=world["author"], kind="violation", values=values(), zone_override=other)
    assert "zone_override_reason" in caught.value.message_dict
    report = report_create(
        actor=world["author"],
        kind="violation",
        values=values(),
        zone_override=other,
        zone_override_reason="The impacts were across the line, in the next zone.",
    )
    assert (report.zone, report.classified_zone) == (other, zone)


def test_who_may_file(world, user_without_role, make_member):
    administrator = make_member(ObserverRole.ADMINISTRATOR)
    for actor in (administrator, user_without_role):
        with pytest.raises(PermissionDenied):
            report_create(actor=actor, kind="violation", values=values())
    assert not Report.objects.exists()


def test_a_partner_files_for_its_own_organisation(world):
    """A partner account files (from its offline collection, through a write-scoped token);
    the report carries the partner's delegation and follows the same workflow."""
    partner = world["partner"]
    report = report_create(actor=partner, kind="violation", values=values())
    assert report.author == partner and report.status == "draft"
    assert report.delegation_id == partner.observer.delegation_id


def test_the_author_edits_a_draft_and_a_stale_copy_is_refused(world):
    report = file(world)
    edited = report_update(
        report=report,
        actor=world["author"],
        expected_revision=1,
        values={"narrative": "Six impacts."},
    )
    assert (edited.revision, edited.narrative) == (2, "Six impacts.")
    update = audit_entries_for(report).get(action=AuditEntryAction.UPDATE)
    assert update.changes["narrative"] == [values()["narrative"], "Six impacts."]
    with pytest.raises(StaleEditError) as caught:
        report_update(
            report=report, actor=world["author"], expected_revision=1, values={"narrative": "Old."}
        )
    assert "changed after you opened it" in str(caught.value)
    assert Report.objects.get(pk=report.pk).narrative == "Six impacts."
    with pytest.raises(PermissionDenied):
        report_update(
            report=report, actor=world["turkish"], expected_revision=2, values={"narrative": "x"}
        )
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"])
    with pytest.raises(ValidationError):
        report_update(
            report=report, actor=world["author"], expected_revision=3, values={"narrative": "x"}
        )


def test_the_review_path_is_recorded(world):
    report = file(world)
    coordinator = world["coordinator"]
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"])
    report_transition(
        report=report, to_status=S.RETURNED, actor=coordinator, comment="Give the direction."
    )
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"])
    report_transition(
        report=report, to_status=S.VERIFIED, actor=coordinator, comment="Matches the hotline log."
    )
    report.refresh_from_db()
    assert report.status == S.VERIFIED and report.submitted_at is not None
    path = list(
        ReportTransition.objects.filter(report=report).values_list(
            "from_status", "to_status", "actor"
        )
    )
    assert path == [
        (S.DRAFT, S.SUBMITTED, world["author"].pk),
        (S.SUBMITTED, S.RETURNED, coordinator.pk),
        (S.RETURNED, S.SUBMITTED, world["author"].pk),
        (S.SUBMITTED, S.VERIFIED, coordinator.pk),
    ]
    assert audit_entries_for(report).filter(action="transition").count() == 4


@pytest.mark.parametrize(
    ("status_path", "target"),
    [
        ((), S.VERIFIED),
        ((), S.RETURNED),
        ((S.SUBMITTED,), S.DRAFT),
        ((S.SUBMITTED, S.REJECTED), S.SUBMITTED),
    ],
    ids=["draft-to-verified", "draft-to-returned", "back-to-draft", "rejected-resubmitted"],
)
def test_illegal_transitions_are_refused(world, status_path, target):
    report = file(world)
    for status in status_path:
        actor = world["author"] if status == S.SUBMITTED else world["coordinator"]
        report_transition(report=report, to_status=status, actor=actor, comment="Because.")
    before = Report.objects.get(pk=report.pk).status
    with pytest.raises(ValidationError) as caught:
        report_transition(report=report, to_status=target, actor=world["coordinator"], comment="x")
    assert caught.value.error_dict["status"][0].code == "illegal_transition"
    assert Report.objects.get(pk=report.pk).status == before


def test_who_may_review(world, make_member, delegation):
    report = file(world)
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"])
    elsewhere = make_member(ObserverRole.COORDINATOR, center=CenterFactory(), delegation=delegation)
    for actor in (world["turkish"], world["partner"], elsewhere):
        with pytest.raises(PermissionDenied):
            report_transition(report=report, to_status=S.VERIFIED, actor=actor, comment="ok")
    # A coordinator does not review their own report.
    own = report_create(actor=world["coordinator"], kind="violation", values=values())
    report_transition(report=own, to_status=S.SUBMITTED, actor=world["coordinator"])
    with pytest.raises(PermissionDenied):
        report_transition(
            report=own, to_status=S.VERIFIED, actor=world["coordinator"], comment="ok"
        )
    assert Report.objects.get(pk=own.pk).status == S.SUBMITTED


def test_comments_are_required_where_a_reason_is_owed(world):
    report = file(world)
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"])
    for target in (S.RETURNED, S.DISPUTED, S.REJECTED):
        with pytest.raises(ValidationError) as caught:
            report_transition(report=report, to_status=target, actor=world["coordinator"])
        assert "comment" in caught.value.message_dict
    # Verifying a violation needs corroboration or the coordinator's note.
    with pytest.raises(ValidationError) as caught:
        report_transition(report=report, to_status=S.VERIFIED, actor=world["coordinator"])
    assert "comment" in caught.value.message_dict


def test_the_author_retracts_before_verification_with_a_reason(world):
    report = file(world)
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"])
    with pytest.raises(ValidationError):
        report_transition(report=report, to_status=S.RETRACTED, actor=world["author"])
    with pytest.raises(PermissionDenied):
        report_transition(report=report, to_status=S.RETRACTED, actor=world["turkish"], comment="x")
    report_transition(
        report=report, to_status=S.RETRACTED, actor=world["author"], comment="Wrong village."
    )
    verified = file(world)
    report_transition(report=verified, to_status=S.SUBMITTED, actor=world["author"])
    report_transition(
        report=verified, to_status=S.VERIFIED, actor=world["coordinator"], comment="ok"
    )
    with pytest.raises(ValidationError):
        report_transition(
            report=verified, to_status=S.RETRACTED, actor=world["author"], comment="x"
        )
    assert Report.objects.filter(status=S.RETRACTED).count() == 1  # nothing deleted
    assert Report.objects.count() == 2


def test_a_stale_review_is_refused(world):
    report = file(world)
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"])
    seen = Report.objects.get(pk=report.pk).revision
    report_transition(
        report=report,
        to_status=S.DISPUTED,
        actor=world["coordinator"],
        comment="Denied by the party.",
        expected_revision=seen,
    )
    with pytest.raises(StaleEditError):
        report_transition(
            report=report,
            to_status=S.VERIFIED,
            actor=world["coordinator"],
            comment="ok",
            expected_revision=seen,
        )
    assert Report.objects.get(pk=report.pk).status == S.DISPUTED
    assert timedelta(0) <= timezone.now() - report.reported_at < timedelta(minutes=5)


def test_the_recorded_moment_can_be_given(world, center):
    """``at`` (imports, demo data): the moment each action is recorded, and the day of the
    reference number in the center's own time zone."""
    filed_at = datetime(2017, 6, 3, 22, 30, tzinfo=UTC)  # 4 June, 01:30 in Damascus
    report = file(world, at=filed_at)
    assert (report.reported_at, report.updated_at) == (filed_at, filed_at)
    assert report.reference == f"{center.code}-20170604-0001"
    edited_at = filed_at + timedelta(hours=1)
    report_update(
        report=report,
        actor=world["author"],
        expected_revision=1,
        values={"narrative": "Five impacts."},
        at=edited_at,
    )
    submitted_at = filed_at + timedelta(hours=2)
    report_transition(report=report, to_status=S.SUBMITTED, actor=world["author"], at=submitted_at)
    report.refresh_from_db()
    assert (report.reported_at, report.updated_at, report.submitted_at) == (
        filed_at,
        submitted_at,
        submitted_at,
    )
    assert ReportTransition.objects.get(report=report).at == submitted_at
    other = report_create(
        actor=world["turkish"], kind=ReportKind.VIOLATION, values=values(), at=filed_at
    )
    other = report_transition(
        report=other, to_status=S.SUBMITTED, actor=world["turkish"], at=filed_at
    )
    linked_at = filed_at + timedelta(hours=3)
    link = corroboration_link(report=report, other=other, actor=world["coordinator"], at=linked_at)
    assert link.created_at == linked_at


def test_a_report_is_not_recorded_before_it_happened(world):
    with pytest.raises(ValidationError) as caught:
        file(world, at=OCCURRED - timedelta(minutes=5))
    assert "occurred_at" in caught.value.message_dict
    assert not Report.objects.exists()
    report = file(world, at=OCCURRED)  # the same moment is fine
    assert report.reported_at == OCCURRED

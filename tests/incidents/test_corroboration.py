"""Corroboration: candidates proposed on submit (same kind, 5 km, 2 hours), who may link
reports, and joint confirmation by observers of two delegations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from incidents.choices import ReportKind, ReportSource, ReportStatus
from incidents.selectors import corroboration_candidates, corroboration_state
from incidents.services import corroboration_link, report_create, report_transition
from monitoring.choices import ObserverRole
from monitoring.selectors import audit_entries_for
from tests.factories import CenterFactory, PartyFactory, ZoneTermFactory

pytestmark = pytest.mark.django_db
S = ReportStatus
AT = datetime(2017, 6, 3, 11, 0, tzinfo=UTC)


@pytest.fixture
def people(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey")
    return {
        "russian": make_member(ObserverRole.OBSERVER),
        "russian2": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
    }


def submitted(actor, *, kind=ReportKind.VIOLATION, lat=35.9, lon=36.6, at=AT):
    report = report_create(
        actor=actor,
        kind=kind,
        values={
            "latitude": lat,
            "longitude": lon,
            "occurred_at": at,
            "source": ReportSource.SEEN,
            "narrative": "Shelling east of the village.",
        },
    )
    return report_transition(report=report, to_status=S.SUBMITTED, actor=actor)


def test_candidates_are_near_in_space_and_time_and_of_the_same_kind(people):
    mine = submitted(people["russian"])
    near = submitted(people["turkish"], lat=35.92, lon=36.62, at=AT + timedelta(minutes=40))
    nearer = submitted(people["russian2"], lat=35.901, at=AT - timedelta(minutes=90))
    submitted(people["turkish"], lat=35.99, lon=36.6)  # 10 km away
    submitted(people["turkish"], at=AT + timedelta(hours=3))  # too late
    submitted(people["turkish"], kind=ReportKind.CONVOY)  # another kind
    draft = report_create(
        actor=people["turkish"],
        kind=ReportKind.VIOLATION,
        values={
            "latitude": 35.9,
            "longitude": 36.6,
            "occurred_at": AT,
            "source": "seen",
            "narrative": "Not yet submitted.",
        },
    )
    rejected = submitted(people["turkish"])
    report_transition(
        report=rejected, to_status=S.REJECTED, actor=people["coordinator"], comment="No."
    )
    candidates = corroboration_candidates(report=mine)
    assert candidates == [nearer, near]
    assert draft not in candidates and rejected not in candidates
    corroboration_link(report=mine, other=near, actor=people["coordinator"])
    assert corroboration_candidates(report=mine) == [nearer]  # linked ones are not proposed


def test_two_delegations_confirm_an_event_jointly(people):
    russian = submitted(people["russian"])
    russian2 = submitted(people["russian2"])
    turkish = submitted(people["turkish"])
    corroboration_link(report=russian, other=russian2, actor=people["russian"])
    state = corroboration_state(report=russian)
    assert state.corroborated and not state.jointly_confirmed  # one delegation only
    corroboration_link(
        report=turkish, other=russian2, actor=people["coordinator"], note="Same salvo."
    )
    state = corroboration_state(report=russian)  # linked through russian2
    assert state.jointly_confirmed
    assert [p.name for p in state.delegations] == ["Russian Federation", "Turkey"]
    assert audit_entries_for(turkish).filter(action="link").count() == 1
    # A retracted report no longer counts towards the agreement.
    report_transition(
        report=turkish, to_status=S.RETRACTED, actor=people["turkish"], comment="Wrong day."
    )
    assert not corroboration_state(report=russian).jointly_confirmed


def test_a_corroborated_violation_is_verified_without_a_note(people):
    report, other = submitted(people["russian"]), submitted(people["turkish"])
    corroboration_link(report=report, other=other, actor=people["coordinator"])
    verified = report_transition(report=report, to_status=S.VERIFIED, actor=people["coordinator"])
    assert verified.status == S.VERIFIED


def test_who_may_link_and_what(people, make_member, delegation):
    report, other = submitted(people["russian"]), submitted(people["turkish"])
    bystander = people["russian2"]
    elsewhere = make_member(ObserverRole.COORDINATOR, center=CenterFactory(), delegation=delegation)
    for actor in (bystander, people["partner"], elsewhere):
        with pytest.raises(PermissionDenied):
            corroboration_link(report=report, other=other, actor=actor)
    with pytest.raises(ValidationError) as caught:
        corroboration_link(report=report, other=report, actor=people["russian"])
    assert "other" in caught.value.message_dict
    convoy = submitted(people["turkish"], kind=ReportKind.CONVOY)
    with pytest.raises(ValidationError):
        corroboration_link(report=report, other=convoy, actor=people["coordinator"])
    # The authors see only their own delegation's unreviewed reports: linking across
    # delegations is the coordinators' (the report stays unknown to the other author).
    for author in (people["russian"], people["turkish"]):
        with pytest.raises(PermissionDenied, match="reports you can see"):
            corroboration_link(report=report, other=other, actor=author)
    corroboration_link(report=report, other=other, actor=people["coordinator"])
    with pytest.raises(ValidationError):
        corroboration_link(report=other, other=report, actor=people["coordinator"])
    assert not corroboration_state(report=convoy).corroborated

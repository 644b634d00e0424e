"""Reports through the API: who sees and does what (each rule with its negative case),
filing and editing with errors under their fields, the transition endpoints, history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.choices import ReportKind, ReportStatus
from incidents.models import Report
from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole
from monitoring.models import AuditEntry
from monitoring.selectors import audit_entries_for
from tests.api_base import client_for
from tests.factories import (
    REPORT_OCCURRED,
    CenterFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_file,
)

pytestmark = pytest.mark.django_db
S = ReportStatus
LIST = reverse("incidents-api:report-list")


def detail_url(report, action: str = "detail") -> str:
    return reverse(f"incidents-api:report-{action}", kwargs={"uuid": report.uuid})


@pytest.fixture
def people(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey")
    other_center = CenterFactory(code="OTH", zones=[zone])
    return {
        "author": make_member(ObserverRole.OBSERVER),
        "colleague": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "elsewhere": make_member(ObserverRole.COORDINATOR, center=other_center),
    }


def violation_payload(**overrides) -> dict:
    payload = {
        "kind": "violation",
        "latitude": 35.9,
        "longitude": 36.6,
        "occurred_at": REPORT_OCCURRED.isoformat(),
        "source": "seen",
        "narrative": "Two mortar rounds landed east of the market.",
        "detail": {
            "category": "shelling",
            "events": 2,
            "civilians_injured_best": 3,
            "civilians_injured_low": 2,
            "civilians_injured_high": 5,
        },
    }
    return {**payload, **overrides}


def listed(client) -> set[str]:
    response = client.get(LIST)
    assert response.status_code == 200, response.content
    return {row["reference"] for row in response.json()["results"]}


# --- Who sees what ----------------------------------------------------------------------------


def test_the_list_holds_only_what_the_caller_may_see(people):
    draft = report_file(people["author"])
    submitted = report_file(people["author"], status=S.SUBMITTED)
    turkish_submitted = report_file(people["turkish"], status=S.SUBMITTED)
    verified = report_file(people["turkish"], status=S.VERIFIED, reviewer=people["coordinator"])
    assert listed(client_for(people["author"])) == {
        draft.reference,
        submitted.reference,
        verified.reference,
    }
    # A colleague of the same delegation: not the author's draft.
    assert listed(client_for(people["colleague"])) == {submitted.reference, verified.reference}
    assert listed(client_for(people["coordinator"])) == {
        submitted.reference,
        turkish_submitted.reference,
        verified.reference,
    }
    assert listed(client_for(people["partner"])) == {verified.reference}
    assert listed(client_for(people["elsewhere"])) == set()


def test_a_report_one_may_not_see_is_not_found(people):
    draft = report_file(people["author"])
    for who in ("colleague", "coordinator", "partner", "elsewhere"):
        response = client_for(people[who]).get(detail_url(draft))
        assert response.status_code == 404, who
    assert client_for(people["author"]).get(detail_url(draft)).status_code == 200


def test_anonymous_and_profileless_callers_get_nothing(people, user_without_role):
    report_file(people["author"], status=S.SUBMITTED)
    for client in (client_for(None), client_for(user_without_role)):
        assert client.get(LIST).status_code == 403
        assert client.post(LIST, violation_payload(), format="json").status_code == 403
    assert Report.objects.count() == 1


def test_the_list_costs_the_same_at_any_size(people, zone):
    checkpoint = PostFactory(zone=zone, kind="checkpoint", serves_civilians=True)
    coordinator = client_for(people["coordinator"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert coordinator.get(LIST).status_code == 200
        return len(ctx)

    def one_of_each(hour: int):
        at = REPORT_OCCURRED + timedelta(days=hour)
        report_file(people["author"], status=S.SUBMITTED, occurred_at=at)
        report_file(
            people["turkish"],
            kind=ReportKind.CHECKPOINT,
            status=S.SUBMITTED,
            occurred_at=at,
            detail={
                "checkpoint": checkpoint,
                "period_start": at - timedelta(hours=8),
                "period_end": at,
                "status": "open",
                "civilians_in": 10,
            },
        )

    one_of_each(0)
    few = queries()
    for hour in range(1, 8):
        one_of_each(hour)
    assert queries() == few


# --- Filing and editing -----------------------------------------------------------------------


def test_an_observer_files_a_violation_audited_as_api(people, zone):
    response = client_for(people["author"]).post(LIST, violation_payload(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["kind"] == "violation"
    assert body["zone"]["code"] == zone.code
    assert body["violation"]["civilians_injured_best"] == 3
    assert body["convoy"] is None and body["checkpoint"] is None
    report = Report.objects.get(uuid=body["uuid"])
    entry = audit_entries_for(report).get(action=AuditEntryAction.CREATE)
    assert (entry.source, entry.actor) == (AuditEntrySource.API, people["author"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"latitude": 95}, "latitude"),
        ({"occurred_at": "2031-01-01T00:00:00Z"}, "occurred_at"),
        ({"kind": "earthquake"}, "kind"),
        ({"detail": {"category": "earthquake"}}, "detail"),
        ({"detail": None}, "detail"),
        ({"settlement": "atlantis"}, "settlement"),
    ],
)
def test_bad_input_names_its_field_and_saves_nothing(people, payload, field):
    response = client_for(people["author"]).post(LIST, violation_payload(**payload), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert (
        not Report.objects.exists()
        and not AuditEntry.objects.filter(
            action=AuditEntryAction.CREATE, content_type__model="report"
        ).exists()
    )


def test_the_services_rules_come_back_under_the_detail(people):
    payload = violation_payload()
    payload["detail"].update(civilians_injured_low=9)  # low above best
    response = client_for(people["author"]).post(LIST, payload, format="json")
    assert response.status_code == 400
    assert "detail.civilians_injured_best" in response.json()
    assert not Report.objects.exists()


def test_partners_do_not_file(people):
    response = client_for(people["partner"]).post(LIST, violation_payload(), format="json")
    assert response.status_code == 403
    assert not Report.objects.exists()


def test_a_checkpoint_shift_and_a_convoy_are_filed_with_their_rows(people, zone):
    checkpoint = PostFactory(zone=zone, kind="checkpoint", serves_humanitarian=True)
    town = SettlementFactory()
    sarc = PartyFactory(code="sarc", name="Syrian Arab Red Crescent", kind="humanitarian_org")
    client = client_for(people["author"])
    start = REPORT_OCCURRED - timedelta(hours=8)
    shift = client.post(
        LIST,
        violation_payload(
            kind="checkpoint",
            detail={
                "checkpoint": checkpoint.code,
                "period_start": start.isoformat(),
                "period_end": REPORT_OCCURRED.isoformat(),
                "status": "restricted",
                "civilians_in": 240,
                "incidents": [{"kind": "delay", "count": 3, "reason_cited": "Document checks"}],
            },
        ),
        format="json",
    )
    assert shift.status_code == 201, shift.content
    assert shift.json()["checkpoint"]["incidents"][0]["count"] == 3
    convoy = client.post(
        LIST,
        violation_payload(
            kind="convoy",
            detail={
                "operation": "road_convoy",
                "organizations": [sarc.code],
                "vehicle_count": 12,
                "origin": "Damascus warehouse",
                "destination": town.code,
                "planned_at": start.isoformat(),
                "status": "delivered",
                "cargo": [{"category": "food", "quantity": "40.5", "unit": "tonnes"}],
                "route": [{"post": checkpoint.code}],
                "stages": [{"stage": "departed", "at": start.isoformat()}],
            },
        ),
        format="json",
    )
    assert convoy.status_code == 201, convoy.content
    body = convoy.json()["convoy"]
    assert body["cargo"][0]["quantity"] == "40.500"
    assert body["route"][0]["post"]["code"] == checkpoint.code
    assert [o["code"] for o in body["organizations"]] == ["sarc"]


def test_an_edit_on_a_stale_revision_is_refused(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    first = client.patch(
        detail_url(report), {"revision": 1, "narrative": "Three rounds."}, format="json"
    )
    assert first.status_code == 200, first.content
    assert first.json()["revision"] == 2
    stale = client.patch(
        detail_url(report), {"revision": 1, "narrative": "Four rounds."}, format="json"
    )
    assert stale.status_code == 409
    assert "revision 2" in stale.json()["detail"]
    report.refresh_from_db()
    assert report.narrative == "Three rounds."


def test_only_the_author_edits(people):
    report = report_file(people["author"], status=S.RETURNED, reviewer=people["coordinator"])
    for who in ("colleague", "coordinator"):
        response = client_for(people[who]).patch(
            detail_url(report), {"revision": report.revision, "narrative": "Mine now."}
        )
        assert response.status_code == 403, who
    missing = client_for(people["author"]).patch(detail_url(report), {"narrative": "x"})
    assert missing.status_code == 400 and "revision" in missing.json()
    report.refresh_from_db()
    assert report.narrative != "Mine now."


# --- Transitions ------------------------------------------------------------------------------


def test_the_workflow_through_its_endpoints(people):
    report = report_file(people["author"])
    author, coordinator = client_for(people["author"]), client_for(people["coordinator"])
    submitted = author.post(detail_url(report, "submit"))
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "submitted"
    # A violation is verified on corroboration or a note; the refusal names the comment.
    refused = coordinator.post(detail_url(report, "verify"), {})
    assert refused.status_code == 400 and "comment" in refused.json()
    verified = coordinator.post(
        detail_url(report, "verify"), {"comment": "Crater seen by the post."}
    )
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    entry = AuditEntry.objects.filter(action=AuditEntryAction.TRANSITION).latest("at")
    assert (entry.source, entry.actor) == (AuditEntrySource.API, people["coordinator"])
    history = author.get(detail_url(report, "history")).json()
    assert [e["action"] for e in history] == ["create", "transition", "transition"]
    moves = author.get(detail_url(report, "transitions")).json()
    assert [(m["from_status"], m["to_status"]) for m in moves] == [
        ("draft", "submitted"),
        ("submitted", "verified"),
    ]


def test_transition_rules_hold_through_the_api(people):
    report = report_file(people["author"], status=S.SUBMITTED)
    # Nobody reviews their own report; observers and partners do not review.
    for who in ("author", "turkish", "colleague"):
        response = client_for(people[who]).post(
            detail_url(report, "verify"), {"comment": "Looks right."}
        )
        assert response.status_code in (403, 404), who
    # A coordinator of another center does not even find it.
    assert (
        client_for(people["elsewhere"]).post(detail_url(report, "reject"), {"comment": "x"})
    ).status_code == 404
    # An illegal move names the status; a stale revision is a conflict.
    coordinator = client_for(people["coordinator"])
    illegal = client_for(people["author"]).post(detail_url(report, "submit"))
    assert illegal.status_code == 400 and "status" in illegal.json()
    stale = coordinator.post(detail_url(report, "reject"), {"comment": "No.", "revision": 1})
    assert stale.status_code == 409
    report.refresh_from_db()
    assert report.status == S.SUBMITTED and report.transitions.count() == 1

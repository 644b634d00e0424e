"""The review pages: the reports list, the review queue, the report page with its workflow
actions and corroboration, the reports map; who may see and do what (each rule with its
negative case), and query counts that do not grow with the data."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.choices import (
    AccessIncidentKind,
    CargoCategory,
    CargoUnit,
    CheckpointStatus,
    ConvoyOperation,
    ConvoyStatus,
    ReportKind,
    ReportStatus,
)
from incidents.models import CorroborationLink, Report, ReportTransition
from incidents.services import corroboration_link, report_create
from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole, PartyKind
from monitoring.models import Observer
from monitoring.selectors import audit_entries_for
from tests.factories import (
    REPORT_OCCURRED,
    CenterFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
    report_values,
)
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
S = ReportStatus

LIST = reverse("incidents:report_list")
QUEUE = reverse("incidents:review_queue")
MAP = reverse("incidents:report_map")
MAP_DATA = reverse("incidents:report_map_data")


def detail(report) -> str:
    return reverse("incidents:report_detail", args=[report.uuid])


def transition_url(report) -> str:
    return reverse("incidents:report_transition", args=[report.uuid])


def link_url(report) -> str:
    return reverse("incidents:report_link", args=[report.uuid])


def references(response) -> list[str]:
    """The references of the result rows, in page order."""
    return re.findall(r'<tr data-reference="([^"]+)">', response.content.decode())


def count_of(response, what: str, value: str) -> int:
    match = re.search(rf'data-count-{what}="{value}">(\d+)<', response.content.decode())
    assert match, f"no {what} count for {value}"
    return int(match.group(1))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def people(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Republic of Turkey", short_name="Turkey")
    return {
        "russian": make_member(ObserverRole.OBSERVER),
        "russian2": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "coordinator2": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "administrator": make_member(ObserverRole.ADMINISTRATOR),
        "turkey": turkey,
    }


@pytest.fixture
def outsider(people, zone, make_member):
    """A coordinator of another center."""
    return make_member(ObserverRole.COORDINATOR, center=CenterFactory(zones=[zone]))


@pytest.fixture
def reports(people):
    """One report of each status, filed by the Russian observer (the Turkish one files a
    submitted one too), reviewed by the first coordinator."""
    russian, coordinator = people["russian"], people["coordinator"]
    made = {}
    for i, status in enumerate(
        [S.DRAFT, S.SUBMITTED, S.VERIFIED, S.DISPUTED, S.REJECTED, S.RETURNED, S.RETRACTED]
    ):
        made[status] = report_file(
            russian,
            status=status,
            reviewer=coordinator,
            occurred_at=REPORT_OCCURRED - timedelta(days=10 - i),
        )
    made["turkish"] = report_file(
        people["turkish"],
        status=S.SUBMITTED,
        occurred_at=REPORT_OCCURRED - timedelta(days=20),
        detail={"category": "small_arms", "alleged_perpetrator": people["turkey"]},
    )
    return made


# --- Who may open the pages --------------------------------------------------------------------


def test_anonymous_visitors_go_to_the_login_page(client, reports):
    for url in (LIST, QUEUE, MAP, MAP_DATA, detail(reports[S.SUBMITTED])):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))
    response = client.post(transition_url(reports[S.SUBMITTED]), {"to_status": S.VERIFIED})
    assert response.status_code == 302


def test_users_without_a_profile_are_refused(client, reports, user_without_role):
    client.force_login(user_without_role)
    for url in (LIST, QUEUE, MAP, MAP_DATA, detail(reports[S.SUBMITTED])):
        assert client.get(url).status_code == 403, url


def test_an_inactive_profile_is_refused(client, reports, people):
    Observer.objects.filter(user=people["coordinator"]).update(is_active=False)
    client.force_login(people["coordinator"])
    assert client.get(LIST).status_code == 403
    assert client.get(QUEUE).status_code == 403


@pytest.mark.parametrize("who", ["russian", "partner", "administrator"])
def test_only_coordinators_open_the_review_queue(client, people, who):
    client.force_login(people[who])
    assert client.get(QUEUE).status_code == 403


# --- The reports list --------------------------------------------------------------------------


def test_list_shows_what_each_role_may_see(client, people, reports):
    client.force_login(people["russian"])
    mine = {r.reference for key, r in reports.items() if key != "turkish"}
    assert set(references(client.get(LIST))) == mine

    client.force_login(people["russian2"])  # same delegation: no drafts of others
    seen = set(references(client.get(LIST)))
    assert reports[S.DRAFT].reference not in seen
    assert reports[S.SUBMITTED].reference in seen
    assert reports["turkish"].reference not in seen  # another delegation's, unverified

    client.force_login(people["partner"])
    assert references(client.get(LIST)) == [reports[S.VERIFIED].reference]

    client.force_login(people["coordinator"])
    seen = set(references(client.get(LIST)))
    assert reports[S.DRAFT].reference not in seen
    assert reports["turkish"].reference in seen and len(seen) == 7


def test_another_centers_coordinator_sees_none_of_them(client, outsider, reports):
    client.force_login(outsider)
    response = client.get(LIST)
    assert response.status_code == 200
    assert references(response) == []
    assert count_of(response, "kind", "violation") == 0


def test_list_is_newest_first_with_counts_per_status_and_kind(client, people, reports):
    client.force_login(people["coordinator"])
    response = client.get(LIST)
    rows = references(response)
    occurred = dict(Report.objects.values_list("reference", "occurred_at"))
    assert rows == sorted(rows, key=lambda ref: occurred[ref], reverse=True)
    assert count_of(response, "status", "submitted") == 2
    assert count_of(response, "status", "verified") == 1
    assert count_of(response, "status", "draft") == 0
    assert count_of(response, "kind", "violation") == 7
    assert count_of(response, "kind", "convoy") == 0


def test_list_filters_and_counts_the_filtered_set(client, people, reports):
    client.force_login(people["coordinator"])
    response = client.get(LIST, {"delegation": "turkey"})
    assert references(response) == [reports["turkish"].reference]
    assert count_of(response, "status", "submitted") == 1
    response = client.get(LIST, {"status": ["verified", "disputed"]})
    assert set(references(response)) == {
        reports[S.VERIFIED].reference,
        reports[S.DISPUTED].reference,
    }
    response = client.get(LIST, {"q": reports[S.RETURNED].reference})
    assert references(response) == [reports[S.RETURNED].reference]


def test_a_bad_filter_is_an_error_naming_the_field_not_a_500(client, people, reports):
    client.force_login(people["coordinator"])
    for params, name in [
        ({"status": "lost"}, "status"),
        ({"zone": "atlantis"}, "zone"),
        ({"occurred_after": "yesterday"}, "occurred_after"),
        ({"bbox": "1,2,3"}, "bbox"),
    ]:
        response = client.get(LIST, params)
        assert response.status_code == 200
        body = response.content.decode()
        assert 'data-testid="filter-errors"' in body
        assert f"({name})" in body, name
        assert references(response) == []  # nothing half-filtered


def test_list_answers_htmx_with_the_results_only(client, people, reports):
    client.force_login(people["coordinator"])
    response = client.get(LIST, {"delegation": "turkey"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body and "<form" not in body
    assert references(response) == [reports["turkish"].reference]
    assert "HX-Request" in response["Vary"]
    full = client.get(LIST, {"delegation": "turkey"})
    assert "<html" in full.content.decode() and 'hx-get="/reports/"' in full.content.decode()


def test_list_pages_by_fifty(client, people):
    for _ in range(51):
        report_file(people["russian"], status=S.SUBMITTED)
    client.force_login(people["coordinator"])
    first = client.get(LIST)
    assert len(references(first)) == 50
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(LIST, {"page": 2})
    assert len(references(second)) == 1
    assert client.get(LIST, {"page": "nonsense"}).status_code == 200


# --- The review queue --------------------------------------------------------------------------


def test_queue_shows_submitted_and_disputed_of_the_center_oldest_first(
    client, people, reports, outsider
):
    report_file(outsider, status=S.SUBMITTED)  # another center's
    client.force_login(people["coordinator"])
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert references(response) == [
        reports["turkish"].reference,
        reports[S.SUBMITTED].reference,
        reports[S.DISPUTED].reference,
    ]
    assert count_of(response, "status", "submitted") == 2
    assert count_of(response, "status", "disputed") == 1
    assert count_of(response, "status", "verified") == 0


def test_queue_filters_by_kind_zone_status_date_delegation_and_party(client, people, reports, zone):
    client.force_login(people["coordinator"])
    assert references(client.get(QUEUE, {"status": "verified"})) == [reports[S.VERIFIED].reference]
    assert references(client.get(QUEUE, {"party": "turkey"})) == [reports["turkish"].reference]
    assert len(references(client.get(QUEUE, {"delegation": "russia"}))) == 2
    assert references(client.get(QUEUE, {"kind": "convoy"})) == []
    assert len(references(client.get(QUEUE, {"zone": zone.code}))) == 3
    day = (REPORT_OCCURRED - timedelta(days=20)).date().isoformat()
    assert references(client.get(QUEUE, {"occurred_after": day, "occurred_before": day})) == [
        reports["turkish"].reference
    ]


def test_queue_rows_show_corroboration_and_joint_confirmation(client, people, reports):
    corroboration_link(
        report=reports[S.SUBMITTED], other=reports["turkish"], actor=people["coordinator"]
    )
    client.force_login(people["coordinator"])
    body = client.get(QUEUE).content.decode()
    cells = re.findall(r'data-testid="corroboration">(.*?)</td>', body, re.S)
    assert len(cells) == 3
    assert "Jointly confirmed" in cells[0] and "1 other report" in cells[0]
    assert "Jointly confirmed" in cells[1]
    assert "none yet" in cells[2]


# --- The report page ---------------------------------------------------------------------------


def test_report_page_shows_the_report_its_details_and_flags(client, people, reports):
    client.force_login(people["coordinator"])
    report = reports["turkish"]
    response = client.get(detail(report))
    assert response.status_code == 200
    body = response.content.decode()
    assert report.reference in body
    assert "Small arms or sniper fire" in body and "Turkey" in body
    assert 'data-testid="casualties"' in body and "Civilians killed" in body
    assert report.zone.name in body
    assert "Yes at that moment" in body  # the zone was in force


def test_report_page_shows_an_overridden_zone_with_its_reason(client, people, zone):
    other = ZoneFactory(name="Homs north", center=(36.7, 34.9))
    report = report_create(
        actor=people["russian"],
        kind=ReportKind.VIOLATION,
        values=report_values(),
        detail={"category": "shelling"},
        zone_override=other,
        zone_override_reason="The shells landed across the line, in the northern pocket.",
    )
    client.force_login(people["russian"])
    body = client.get(detail(report)).content.decode()
    place = re.search(r'data-testid="zone">(.*?)</dd>', body, re.S).group(1)
    assert "Homs north" in place
    assert f"the map gives {zone.name}" in place
    assert "The shells landed across the line, in the northern pocket." in place


def test_report_page_says_an_excluded_area_report_is_counted_apart(client, people):
    report = report_file(people["russian"], status=S.SUBMITTED)
    Report.objects.filter(pk=report.pk).update(in_excluded_area=True)
    client.force_login(people["coordinator"])
    body = client.get(detail(report)).content.decode()
    assert "outside the ceasefire regime, counted apart" in body


def test_report_page_shows_a_convoys_cargo_route_and_stages(
    client, people, zone, django_assert_max_num_queries
):
    sarc = PartyFactory(code="sarc", name="SARC", kind=PartyKind.HUMANITARIAN_ORG)
    first = PostFactory(zone=zone, name="Morek crossing", kind=PostKind.CHECKPOINT)
    second = PostFactory(zone=zone, name="Abu Dali crossing", kind=PostKind.CHECKPOINT)
    planned = REPORT_OCCURRED - timedelta(hours=3)
    convoy = report_file(
        people["russian"],
        kind=ReportKind.CONVOY,
        status=S.SUBMITTED,
        detail={
            "operation": ConvoyOperation.CROSS_LINE,
            "organizations": [sarc],
            "vehicle_count": 31,
            "origin": "Hama warehouse",
            "destination": SettlementFactory(name="Kafr Nabl"),
            "planned_at": planned,
            "status": ConvoyStatus.PARTIALLY_DELIVERED,
            "obstruction_reason": "Medical kits removed at the crossing.",
            "cargo": [
                {
                    "category": CargoCategory.MEDICINE,
                    "quantity": Decimal(400),
                    "unit": CargoUnit.KITS,
                    "delivered_quantity": Decimal(250),
                }
            ],
            "route": [
                {"post": first, "passed_at": planned + timedelta(hours=1)},
                {"post": second, "passed_at": None},
            ],
            "stages": [{"stage": "departed", "at": planned, "note": "All trucks."}],
        },
    )
    client.force_login(people["coordinator"])
    with django_assert_max_num_queries(17):  # 16, and the session's second-factor device
        body = client.get(detail(convoy)).content.decode()
    assert "Cross-line delivery" in body and "Partially delivered" in body and "SARC" in body
    assert "Kafr Nabl" in body and "Hama warehouse" in body
    assert "Medical kits removed at the crossing." in body
    cargo = re.search(r'data-testid="cargo">(.*?)</table>', body, re.S).group(1)
    assert "Medicine" in cargo and "400 kits" in cargo and "250 kits" in cargo
    route = re.search(r'data-testid="route">(.*?)</table>', body, re.S).group(1)
    assert route.index("Morek crossing") < route.index("Abu Dali crossing")
    assert "All trucks." in body
    assert "No photo or document attached." in body  # the attachments partial


def test_report_page_shows_a_checkpoint_shifts_crossings_and_incidents(client, people, zone):
    checkpoint = PostFactory(zone=zone, name="Morek crossing", kind=PostKind.CHECKPOINT)
    shift = report_file(
        people["russian"],
        kind=ReportKind.CHECKPOINT,
        status=S.SUBMITTED,
        detail={
            "checkpoint": checkpoint,
            "period_start": REPORT_OCCURRED - timedelta(hours=8),
            "period_end": REPORT_OCCURRED,
            "status": CheckpointStatus.RESTRICTED,
            "civilians_in": 412,
            "civilians_out": 388,
            "incidents": [
                {
                    "kind": AccessIncidentKind.DENIAL,
                    "count": 3,
                    "party": people["turkey"],
                    "reason_cited": "No papers.",
                }
            ],
        },
    )
    client.force_login(people["coordinator"])
    body = client.get(detail(shift)).content.decode()
    assert "Morek crossing" in body and "Restricted" in body
    crossings = re.search(r'data-testid="crossings">(.*?)</table>', body, re.S).group(1)
    assert "412" in crossings and "388" in crossings
    incidents = re.search(r'data-testid="access-incidents">(.*?)</table>', body, re.S).group(1)
    assert "Denial of passage" in incidents and "Turkey" in incidents
    assert "No papers." in incidents


def test_another_centers_coordinator_gets_404_and_cannot_transition(client, outsider, reports):
    report = reports[S.SUBMITTED]
    client.force_login(outsider)
    assert client.get(detail(report)).status_code == 404
    response = client.post(
        transition_url(report),
        {"to_status": S.VERIFIED, "revision": report.revision, "comment": "Seen it."},
    )
    assert response.status_code == 404
    assert client.post(link_url(report), {"other": reports["turkish"].uuid}).status_code == 404
    report.refresh_from_db()
    assert report.status == S.SUBMITTED


def test_a_partner_sees_only_verified_reports(client, people, reports):
    client.force_login(people["partner"])
    assert client.get(detail(reports[S.VERIFIED])).status_code == 200
    for status in (S.SUBMITTED, S.DISPUTED, S.DRAFT):
        assert client.get(detail(reports[status])).status_code == 404


def test_an_observer_cannot_see_another_delegations_submitted_report(client, people, reports):
    client.force_login(people["russian2"])
    assert client.get(detail(reports["turkish"])).status_code == 404
    assert client.get(detail(reports[S.DRAFT])).status_code == 404  # another's draft


def test_an_observer_cannot_verify(client, people, reports):
    report = reports[S.SUBMITTED]
    client.force_login(people["russian2"])
    page = client.get(detail(report)).content.decode()
    assert 'data-testid="action-verified"' not in page
    response = client.post(
        transition_url(report),
        {"to_status": S.VERIFIED, "revision": report.revision, "comment": "Confirmed."},
    )
    assert response.status_code == 403
    assert any("coordinator" in m for m in messages_of(response))
    report.refresh_from_db()
    assert report.status == S.SUBMITTED


def test_nobody_verifies_their_own_report(client, people):
    report = report_file(people["coordinator"], status=S.SUBMITTED)
    client.force_login(people["coordinator"])
    page = client.get(detail(report)).content.decode()
    assert 'data-testid="action-verified"' not in page
    assert 'data-testid="action-retracted"' in page  # the author may retract
    response = client.post(
        transition_url(report),
        {"to_status": S.VERIFIED, "revision": report.revision, "comment": "Mine."},
    )
    assert response.status_code == 403
    assert "Nobody reviews their own report." in messages_of(response)
    report.refresh_from_db()
    assert report.status == S.SUBMITTED


def test_coordinator_sees_review_actions_and_author_sees_submit_and_edit(client, people):
    submitted = report_file(people["russian"], status=S.SUBMITTED)
    client.force_login(people["coordinator"])
    page = client.get(detail(submitted)).content.decode()
    for status in (S.VERIFIED, S.DISPUTED, S.REJECTED, S.RETURNED):
        assert f'data-testid="action-{status}"' in page
    assert f'value="{submitted.revision}"' in page

    draft = report_file(people["russian"])
    client.force_login(people["russian"])
    page = client.get(detail(draft)).content.decode()
    assert 'data-testid="action-submitted"' in page
    assert 'data-testid="action-retracted"' in page
    assert reverse("incidents:report_edit", args=[draft.uuid]) in page
    page = client.get(detail(submitted)).content.decode()
    assert reverse("incidents:report_edit", args=[submitted.uuid]) not in page


def test_verifying_through_the_page_records_the_move_and_an_audit_entry_from_the_web(
    client, people, reports
):
    report = reports[S.SUBMITTED]
    client.force_login(people["coordinator2"])
    response = client.post(
        transition_url(report),
        {"to_status": S.VERIFIED, "revision": report.revision, "comment": "Seen by two posts."},
    )
    assert response.status_code == 302
    assert response["Location"] == detail(report)
    report.refresh_from_db()
    assert report.status == S.VERIFIED
    move = ReportTransition.objects.filter(report=report).latest("id")
    assert (move.from_status, move.to_status, move.actor) == (
        S.SUBMITTED,
        S.VERIFIED,
        people["coordinator2"],
    )
    assert move.comment == "Seen by two posts."
    entry = audit_entries_for(report).filter(action=AuditEntryAction.TRANSITION).first()
    assert entry.source == AuditEntrySource.WEB
    assert entry.changes == {"status": [S.SUBMITTED, S.VERIFIED]}
    page = client.get(detail(report))
    assert "is now verified" in " ".join(messages_of(page))
    body = page.content.decode()
    assert "Seen by two posts." in body and 'data-testid="report-status">Verified<' in body


def test_an_author_retracts_with_a_reason_and_submits_a_draft(client, people):
    draft = report_file(people["russian"])
    client.force_login(people["russian"])
    response = client.post(
        transition_url(draft), {"to_status": S.SUBMITTED, "revision": draft.revision}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == S.SUBMITTED
    response = client.post(
        transition_url(draft), {"to_status": S.RETRACTED, "revision": draft.revision}
    )
    assert response.status_code == 200
    assert "Comment: Say why." in messages_of(response)
    draft.refresh_from_db()
    assert draft.status == S.SUBMITTED
    client.post(
        transition_url(draft),
        {"to_status": S.RETRACTED, "revision": draft.revision, "comment": "Double entry."},
    )
    draft.refresh_from_db()
    assert draft.status == S.RETRACTED


def test_returning_without_a_comment_is_refused_and_keeps_nothing_half_done(
    client, people, reports
):
    report = reports[S.SUBMITTED]
    client.force_login(people["coordinator2"])
    response = client.post(
        transition_url(report), {"to_status": S.RETURNED, "revision": report.revision}
    )
    assert response.status_code == 200
    assert "Comment: Say why." in messages_of(response)
    report.refresh_from_db()
    assert report.status == S.SUBMITTED
    assert not ReportTransition.objects.filter(report=report, to_status=S.RETURNED).exists()


def test_verifying_an_uncorroborated_violation_without_a_note_is_refused(client, people, reports):
    report = reports[S.SUBMITTED]
    client.force_login(people["coordinator2"])
    response = client.post(
        transition_url(report), {"to_status": S.VERIFIED, "revision": report.revision}
    )
    assert response.status_code == 200
    assert any("corroboration or a coordinator's note" in m for m in messages_of(response))
    report.refresh_from_db()
    assert report.status == S.SUBMITTED


def test_an_illegal_transition_shows_the_message(client, people, reports):
    report = reports[S.VERIFIED]
    client.force_login(people["coordinator2"])
    response = client.post(
        transition_url(report),
        {"to_status": S.RETURNED, "revision": report.revision, "comment": "Look again."},
    )
    assert response.status_code == 200
    assert "A verified report cannot become returned for revision." in messages_of(response)
    body = response.content.decode()
    assert "A verified report cannot become returned for revision." in body
    report.refresh_from_db()
    assert report.status == S.VERIFIED


def test_a_stale_revision_is_refused_and_the_comment_kept(client, people, reports):
    report = reports[S.SUBMITTED]
    client.force_login(people["coordinator2"])
    response = client.post(
        transition_url(report),
        {"to_status": S.DISPUTED, "revision": report.revision - 1, "comment": "Doubtful."},
    )
    assert response.status_code == 200
    assert any("was changed after you opened it" in m for m in messages_of(response))
    body = response.content.decode()
    assert ">Doubtful.</textarea>" in body  # what they typed is not lost
    assert f'name="revision" value="{report.revision}"' in body  # the fresh revision
    report.refresh_from_db()
    assert report.status == S.SUBMITTED


def test_a_malformed_transition_post_is_a_400_not_a_500(client, people, reports):
    report = reports[S.SUBMITTED]
    client.force_login(people["coordinator2"])
    response = client.post(transition_url(report), {"to_status": "vanished", "revision": "x"})
    assert response.status_code == 400
    assert client.get(transition_url(report)).status_code == 405


def test_report_page_shows_history_with_sources_and_values(client, people, reports):
    report = reports[S.RETURNED]
    client.force_login(people["russian"])
    body = client.get(detail(report)).content.decode()
    transitions = re.search(r'data-testid="transitions">(.*?)</table>', body, re.S).group(1)
    assert "Draft → <strong>Submitted</strong>" in transitions
    assert "Submitted → <strong>Returned for revision</strong>" in transitions
    assert "Test: returned." in transitions
    history = re.search(r'data-testid="history">(.*?)</table>', body, re.S).group(1)
    assert "Created" in history and "Status changed" in history
    assert "<code>status</code>" in history


def test_a_narrative_with_markup_is_shown_as_text(client, people):
    report = report_file(
        people["russian"], status=S.SUBMITTED, narrative="<script>alert('x')</script> & more"
    )
    client.force_login(people["coordinator"])
    body = client.get(detail(report)).content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in body


# --- Corroboration on the report page ----------------------------------------------------------


def test_candidates_are_shown_and_linking_creates_the_link(client, people, reports):
    mine, theirs = reports[S.SUBMITTED], report_file(people["turkish"], status=S.SUBMITTED)
    Report.objects.filter(pk=theirs.pk).update(occurred_at=mine.occurred_at)
    client.force_login(people["coordinator"])
    page = client.get(detail(mine)).content.decode()
    candidates = re.search(r'data-testid="candidates">(.*?)</table>', page, re.S).group(1)
    assert theirs.reference in candidates
    response = client.post(link_url(mine), {"other": str(theirs.uuid), "note": "Same impacts."})
    assert response.status_code == 302
    link = CorroborationLink.objects.get()
    assert {link.report_id, link.other_id} == {mine.pk, theirs.pk}
    assert link.created_by == people["coordinator"] and link.note == "Same impacts."
    body = client.get(detail(mine)).content.decode()
    assert 'data-testid="joint-badge"' in body
    assert re.search(
        r"Jointly confirmed</span> by "
        r"(Russian Federation and Turkey|Turkey and Russian Federation)",
        body,
    )
    linked = re.search(r'data-testid="linked-reports">(.*?)</ul>', body, re.S).group(1)
    assert theirs.reference in linked
    again = client.post(link_url(mine), {"other": str(theirs.uuid)})
    assert "Linked report: These reports are already linked." in messages_of(again)
    assert CorroborationLink.objects.count() == 1


def test_one_delegation_corroborates_but_does_not_jointly_confirm(client, people, reports):
    other = report_file(people["russian2"], status=S.SUBMITTED)
    corroboration_link(report=reports[S.SUBMITTED], other=other, actor=people["coordinator"])
    client.force_login(people["coordinator"])
    body = client.get(detail(other)).content.decode()
    assert "not jointly confirmed yet" in body and 'data-testid="joint-badge"' not in body


def test_linking_a_report_the_user_may_not_see_is_refused(client, people, reports, outsider):
    hidden = report_file(outsider, status=S.SUBMITTED)
    client.force_login(people["coordinator"])
    response = client.post(link_url(reports[S.SUBMITTED]), {"other": str(hidden.uuid)})
    assert response.status_code == 400
    assert "Linked report: no report you may see has that identifier." in messages_of(response)
    assert not CorroborationLink.objects.exists()


def test_a_partner_cannot_link(client, people, reports):
    verified = reports[S.VERIFIED]
    other = report_file(people["russian2"], status=S.VERIFIED, reviewer=people["coordinator"])
    client.force_login(people["partner"])
    assert 'data-testid="candidates"' not in client.get(detail(verified)).content.decode()
    response = client.post(link_url(verified), {"other": str(other.uuid)})
    assert response.status_code == 403
    assert not CorroborationLink.objects.exists()


# --- The reports map ----------------------------------------------------------------------------


def test_map_page_carries_the_filters_to_its_data_url(client, people, reports):
    client.force_login(people["coordinator"])
    response = client.get(MAP, {"kind": "violation", "status": "submitted"})
    assert response.status_code == 200
    body = response.content.decode()
    config = json.loads(
        re.search(
            r'<script id="map-config" type="application/json">(.*?)</script>', body, re.S
        ).group(1)
    )
    assert config["data_url"] == f"{MAP_DATA}?kind=violation&status=submitted"
    assert config["report_labels"]["kind"]["violation"] == "Ceasefire violation"
    assert "js/report-map.js" in body


def test_map_data_is_geojson_of_the_visible_filtered_reports(client, people, reports):
    client.force_login(people["partner"])
    data = client.get(MAP_DATA).json()
    assert data["type"] == "FeatureCollection"
    [feature] = data["features"]
    verified = reports[S.VERIFIED]
    assert feature["geometry"] == {"type": "Point", "coordinates": [36.6, 35.9]}
    assert feature["properties"] == {
        "reference": verified.reference,
        "kind": "violation",
        "status": "verified",
        "category": "shelling",
        "occurred": verified.occurred_at.isoformat(),
        "url": detail(verified),
    }
    client.force_login(people["coordinator"])
    refs = {f["properties"]["reference"] for f in client.get(MAP_DATA).json()["features"]}
    assert len(refs) == 7 and reports[S.DRAFT].reference not in refs
    filtered = client.get(MAP_DATA, {"delegation": "turkey"}).json()["features"]
    assert [f["properties"]["reference"] for f in filtered] == [reports["turkish"].reference]
    assert client.get(MAP_DATA, {"bbox": "0,0,1,1"}).json()["features"] == []


def test_map_data_answers_400_naming_the_bad_parameter(client, people):
    client.force_login(people["coordinator"])
    response = client.get(MAP_DATA, {"bbox": "east", "kind": "spaceship"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"bbox", "kind"}


# --- Query counts --------------------------------------------------------------------------------


def _file_many(people, n: int) -> list[Report]:
    made = []
    for i in range(n):
        author = people["russian"] if i % 2 else people["turkish"]
        made.append(
            report_file(
                author,
                status=S.SUBMITTED,
                occurred_at=REPORT_OCCURRED - timedelta(hours=i),
                detail={"category": "shelling", "alleged_perpetrator": people["turkey"]},
            )
        )
    # Some of them corroborate each other, as real ones do.
    corroboration_link(report=made[0], other=made[1], actor=people["coordinator"])
    return made


def _queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("url", "most"),
    # A coordinator's verified session loads its second-factor device: one query each.
    [(LIST, 9), (QUEUE, 11), (MAP_DATA, 5), (MAP, 13)],
    ids=["list", "queue", "map-data", "map"],
)
def test_list_query_counts_do_not_grow_with_the_data(
    client, people, url, most, django_assert_max_num_queries
):
    _file_many(people, 5)
    client.force_login(people["coordinator"])
    client.get(url)  # warm the content-type cache
    few = _queries(client, url)
    _file_many(people, 45)
    with django_assert_max_num_queries(most):
        many = _queries(client, url)
    assert many == few


def test_report_page_query_count_is_pinned(client, people, django_assert_max_num_queries):
    made = _file_many(people, 5)
    client.force_login(people["coordinator"])
    client.get(detail(made[0]))
    few = _queries(client, detail(made[0]))
    _file_many(people, 20)  # more candidates, more history elsewhere
    with django_assert_max_num_queries(14):
        many = _queries(client, detail(made[0]))
    assert many == few

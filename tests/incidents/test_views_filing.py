"""The filing pages: new report of each kind, editing, my reports, attachments.

Permissions with their negative cases; filing through the page creates the report with its
detail and an audit entry from the web; bad input comes back with each error next to its
field and everything typed kept, nothing saved; a stale edit is refused; query counts are
pinned.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from incidents.choices import ReportKind, ReportStatus
from incidents.models import Attachment, Report, ReportTransition
from incidents.services import attachment_add, report_update
from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole, PartyKind
from monitoring.selectors import audit_entries_for
from tests.factories import (
    CenterFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
)
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
S = ReportStatus

# 14:00 in Damascus on 3 June 2017 (UTC+3) is 11:00 UTC.
OCCURRED_LOCAL = "2017-06-03T14:00"
OCCURRED_UTC = datetime(2017, 6, 3, 11, 0, tzinfo=UTC)


def new_url(kind: str) -> str:
    return reverse("incidents:report_new", args=[kind])


def edit_url(report) -> str:
    return reverse("incidents:report_edit", args=[report.uuid])


@pytest.fixture
def world(zone, center, delegation, make_member):
    """The fixture zone in force, with a settlement, an observation post, two checkpoints,
    a humanitarian organization and a party."""
    ZoneTermFactory(zone=zone)
    operator = PartyFactory(code="turkish-forces", name="Turkish Armed Forces")
    return {
        "settlement": SettlementFactory(name="Khan Shaykhun", latitude=35.88, longitude=36.62),
        "post": PostFactory(zone=zone, name="Surman post", operating_party=operator),
        "checkpoint": PostFactory(
            zone=zone,
            name="Morek crossing",
            kind=PostKind.CHECKPOINT,
            operating_party=operator,
            latitude=35.95,
            longitude=36.65,
        ),
        "checkpoint_2": PostFactory(
            zone=zone,
            name="Abu al-Duhur crossing",
            kind=PostKind.CHECKPOINT,
            operating_party=operator,
            latitude=35.85,
            longitude=36.55,
        ),
        "sarc": PartyFactory(
            code="sarc", name="Syrian Arab Red Crescent", kind=PartyKind.HUMANITARIAN_ORG
        ),
        "government": PartyFactory(
            code="saa", name="Syrian Arab Army", kind=PartyKind.GOVERNMENT_FORCES
        ),
        "observer": make_member(ObserverRole.OBSERVER),
        "coordinator": make_member(ObserverRole.COORDINATOR),
    }


def management(prefix: str, rows: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(rows),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def common_data(**overrides) -> dict[str, str]:
    data = {
        "latitude": "35.91",
        "longitude": "36.61",
        "place_precision": "exact",
        "settlement": "",
        "post": "",
        "occurred_at": OCCURRED_LOCAL,
        "time_precision": "exact",
        "source": "seen",
        "confidence": "medium",
        "narrative": "Four mortar impacts north-east of the post.",
        "zone_override": "",
        "zone_override_reason": "",
        "action": "draft",
    }
    data.update(overrides)
    return data


def violation_data(world, **overrides) -> dict[str, str]:
    data = common_data(
        settlement=str(world["settlement"].pk),
        post=str(world["post"].pk),
        category="shelling",
        alleged_perpetrator="",
        affected_party=str(world["government"].pk),
        weapon="120 mm mortar",
        events="4",
        direction_degrees="45",
        distance_km="2.5",
        damage="Two houses hit.",
    )
    for group in (
        "civilians_killed",
        "civilians_injured",
        "combatants_killed",
        "combatants_injured",
    ):
        for estimate in ("low", "best", "high"):
            data[f"{group}_{estimate}"] = "0"
    data.update(civilians_injured_low="1", civilians_injured_best="2", civilians_injured_high="3")
    data.update(overrides)
    return data


def convoy_data(world, **overrides) -> dict[str, str]:
    data = common_data(
        category="",
        operation="road_convoy",
        organizations=[str(world["sarc"].pk)],
        vehicle_count="12",
        origin="Hama warehouse",
        destination=str(world["settlement"].pk),
        planned_at="2017-06-03T07:00",
        status="delivered",
        beneficiaries="5000",
        obstruction_reason="",
        **management("cargo", 2),
        **{
            "cargo-0-category": "food",
            "cargo-0-quantity": "12.5",
            "cargo-0-unit": "tonnes",
            "cargo-0-delivered_quantity": "12.5",
            "cargo-1-category": "medicine",
            "cargo-1-quantity": "300",
            "cargo-1-unit": "kits",
            "cargo-1-delivered_quantity": "",
        },
        **management("route", 2),
        **{
            "route-0-post": str(world["checkpoint"].pk),
            "route-0-passed_at": "2017-06-03T09:00",
            "route-1-post": str(world["checkpoint_2"].pk),
            "route-1-passed_at": "2017-06-03T10:30",
        },
        **management("stages", 2),
        **{
            "stages-0-stage": "Departed",
            "stages-0-at": "2017-06-03T07:15",
            "stages-0-note": "",
            "stages-1-stage": "",  # an untouched extra row: ignored
            "stages-1-at": "",
            "stages-1-note": "",
        },
    )
    data.pop("category")
    data.update(overrides)
    return data


def checkpoint_data(world, **overrides) -> dict[str, str]:
    data = common_data(
        latitude="35.95",
        longitude="36.65",
        checkpoint=str(world["checkpoint"].pk),
        period_start="2017-06-03T08:00",
        period_end="2017-06-03T16:00",
        status="restricted",
        civilians_in="120",
        civilians_out="80",
        vehicles_in="10",
        vehicles_out="9",
        humanitarian_loads="2",
        commercial_loads="5",
        **management("incidents", 1),
        **{
            "incidents-0-kind": "delay",
            "incidents-0-count": "3",
            "incidents-0-party": str(world["government"].pk),
            "incidents-0-reason_cited": "Papers checked twice.",
        },
    )
    data.update(overrides)
    return data


def field_block(html: str, name: str) -> str:
    """The markup of the field container around the input named ``name``."""
    position = html.find(f'name="{name}"')
    assert position >= 0, f"no input named {name}"
    start = html.rfind("data-field=", 0, position)
    end = html.find("data-field=", position)
    return html[start : end if end >= 0 else len(html)]


def field_errors(html: str, name: str) -> list[str]:
    block = field_block(html, name)
    lists = re.findall(r'<ul class="errorlist"[^>]*>(.*?)</ul>', block, re.S)
    return [
        re.sub(r"<[^>]+>", "", item).strip()
        for ul in lists
        for item in ul.split("</li>")
        if item.strip()
    ]


# --- Who may open the pages ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ReportKind.values)
def test_new_report_pages_send_anonymous_visitors_to_login(client, kind):
    response = client.get(new_url(kind))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_filing_pages_refuse_users_without_a_profile(client, world, user_without_role):
    client.force_login(user_without_role)
    assert client.get(new_url("violation")).status_code == 403
    assert client.post(new_url("violation"), violation_data(world)).status_code == 403
    assert client.get(reverse("incidents:report_mine")).status_code == 403
    assert Report.objects.count() == 0


@pytest.mark.parametrize("role", [ObserverRole.PARTNER, ObserverRole.ADMINISTRATOR])
def test_partners_and_administrators_do_not_file(client, world, make_member, role):
    client.force_login(make_member(role))
    assert client.get(new_url("violation")).status_code == 403
    assert client.post(new_url("violation"), violation_data(world)).status_code == 403
    assert client.get(reverse("incidents:report_mine")).status_code == 403
    assert Report.objects.count() == 0


def test_an_unknown_kind_is_not_found(client, world):
    client.force_login(world["observer"])
    assert client.get(new_url("airstrike")).status_code == 404
    assert client.post(new_url("airstrike"), violation_data(world)).status_code == 404


@pytest.mark.parametrize("kind", ReportKind.values)
@pytest.mark.parametrize("role", ["observer", "coordinator"])
def test_observers_and_coordinators_open_each_kind(client, world, kind, role):
    client.force_login(world[role])
    response = client.get(new_url(kind))
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("latitude", "longitude", "occurred_at", "narrative", "zone_override"):
        assert f'name="{name}"' in html
    assert 'type="datetime-local"' in html
    assert 'data-report-map="report-map-config"' in html
    assert reverse("zones-api:classify") in html
    assert 'value="draft"' in html and 'value="submit"' in html


def test_the_selects_offer_sensible_choices(client, world, make_member):
    """Settlements of the center's governorates, open posts of its zones; checkpoints only
    where a checkpoint is asked for."""
    far_zone = ZoneFactory(center=(36.3, 33.5), governorates=["damascus"])
    far_post = PostFactory(zone=far_zone, name="Far post", latitude=33.5, longitude=36.3)
    far_settlement = SettlementFactory(
        name="Far town", governorate="damascus", latitude=33.5, longitude=36.3
    )
    client.force_login(world["observer"])
    form = client.get(new_url("violation")).context["form"]
    assert list(form.fields["settlement"].queryset) == [world["settlement"]]
    assert far_settlement not in form.fields["settlement"].queryset
    assert set(form.fields["post"].queryset) == {
        world["post"],
        world["checkpoint"],
        world["checkpoint_2"],
    }
    assert far_post not in form.fields["post"].queryset
    detail = client.get(new_url("checkpoint")).context["detail_form"]
    assert set(detail.fields["checkpoint"].queryset) == {world["checkpoint"], world["checkpoint_2"]}


# --- Filing each kind ----------------------------------------------------------------------


def assert_filed_from_the_web(report, author):
    entries = list(audit_entries_for(report))
    assert [e.action for e in entries if e.action == AuditEntryAction.CREATE] == [
        AuditEntryAction.CREATE
    ]
    create = next(e for e in entries if e.action == AuditEntryAction.CREATE)
    assert create.source == AuditEntrySource.WEB
    assert create.actor == author


def test_an_observer_files_a_violation_draft(client, world):
    client.force_login(world["observer"])
    response = client.post(new_url("violation"), violation_data(world))
    report = Report.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:report_detail", args=[report.uuid])
    assert report.status == S.DRAFT
    assert report.kind == ReportKind.VIOLATION
    assert report.author == world["observer"]
    assert report.occurred_at == OCCURRED_UTC  # read in the center's time zone
    assert (report.latitude, report.longitude) == (35.91, 36.61)
    assert report.settlement == world["settlement"] and report.post == world["post"]
    detail = report.violation
    assert detail.category == "shelling"
    assert detail.alleged_perpetrator is None  # "Unknown"
    assert detail.affected_party == world["government"]
    assert (detail.events, detail.direction_degrees, detail.distance_km) == (4, 45, 2.5)
    assert (
        detail.civilians_injured_low,
        detail.civilians_injured_best,
        detail.civilians_injured_high,
    ) == (1, 2, 3)
    assert_filed_from_the_web(report, world["observer"])


def test_save_and_submit_files_and_submits(client, world):
    client.force_login(world["coordinator"])
    response = client.post(new_url("violation"), violation_data(world, action="submit"))
    report = Report.objects.get()
    assert response.status_code == 302
    assert report.status == S.SUBMITTED
    assert report.submitted_at is not None
    transition = ReportTransition.objects.get(report=report)
    assert (transition.from_status, transition.to_status) == (S.DRAFT, S.SUBMITTED)
    assert_filed_from_the_web(report, world["coordinator"])


def test_an_observer_files_a_convoy_with_its_rows(client, world):
    client.force_login(world["observer"])
    response = client.post(new_url("convoy"), convoy_data(world))
    assert response.status_code == 302, response.context and response.context["filing"].page_errors
    report = Report.objects.get()
    convoy = report.convoy
    assert convoy.operation == "road_convoy"
    assert list(convoy.organizations.all()) == [world["sarc"]]
    assert convoy.destination == world["settlement"]
    assert convoy.planned_at == datetime(2017, 6, 3, 4, 0, tzinfo=UTC)
    assert [(c.category, c.quantity, c.unit, c.delivered_quantity) for c in convoy.cargo.all()] == [
        ("food", Decimal("12.500"), "tonnes", Decimal("12.500")),
        ("medicine", Decimal("300.000"), "kits", None),
    ]
    assert [stop.post for stop in convoy.stops.order_by("position")] == [
        world["checkpoint"],
        world["checkpoint_2"],
    ]
    assert [stage.stage for stage in convoy.stages.all()] == ["Departed"]
    assert_filed_from_the_web(report, world["observer"])


def test_a_removed_row_is_not_filed(client, world):
    client.force_login(world["observer"])
    response = client.post(new_url("convoy"), convoy_data(world, **{"cargo-1-DELETE": "on"}))
    assert response.status_code == 302
    assert [c.category for c in Report.objects.get().convoy.cargo.all()] == ["food"]


def test_an_observer_files_a_checkpoint_shift(client, world):
    client.force_login(world["observer"])
    response = client.post(new_url("checkpoint"), checkpoint_data(world, action="submit"))
    assert response.status_code == 302
    report = Report.objects.get()
    shift = report.checkpoint
    assert shift.checkpoint == world["checkpoint"]
    assert shift.period_start == datetime(2017, 6, 3, 5, 0, tzinfo=UTC)
    assert (shift.civilians_in, shift.commercial_loads) == (120, 5)
    assert [(i.kind, i.count, i.party) for i in shift.incidents.all()] == [
        ("delay", 3, world["government"])
    ]
    assert report.status == S.SUBMITTED
    assert_filed_from_the_web(report, world["observer"])


# --- Bad input: errors next to their fields, input kept, nothing saved ---------------------


def test_bad_violation_input_comes_back_with_each_error_next_to_its_field(client, world):
    client.force_login(world["observer"])
    data = violation_data(
        world,
        occurred_at="2099-01-01T10:00",
        civilians_killed_low="5",
        civilians_killed_best="2",
        civilians_killed_high="9",
        events="-3",
        direction_degrees="400",
        narrative="Shelling near <b>the post</b>",
    )
    response = client.post(new_url("violation"), data)
    assert response.status_code == 200
    assert Report.objects.count() == 0
    html = response.content.decode()
    assert "The report was not saved" in html
    assert field_errors(html, "occurred_at") == ["A report cannot describe the future."]
    assert field_errors(html, "events") == ["Ensure this value is greater than or equal to 0."]
    assert field_errors(html, "direction_degrees") == [
        "Ensure this value is less than or equal to 359."
    ]
    # The casualty error shows in the group's row of the table, below its three cells.
    start = html.index('name="civilians_killed_low"')
    row = html[start : html.index('name="civilians_injured_low"')]
    assert "the low estimate (5) cannot exceed the best (2)" in row
    # Everything typed is kept.
    assert 'value="2099-01-01T10:00"' in html
    assert 'name="civilians_killed_low" value="5"' in html
    assert 'value="120 mm mortar"' in html
    assert "Shelling near &lt;b&gt;the post&lt;/b&gt;" in html
    assert f'<option value="{world["settlement"].pk}" selected>' in html


def test_a_bad_checkpoint_period_shows_next_to_the_period_end(client, world):
    client.force_login(world["observer"])
    data = checkpoint_data(
        world,
        period_end="2017-06-03T07:00",
        civilians_in="-1",
        **{"incidents-0-count": "0"},
    )
    response = client.post(new_url("checkpoint"), data)
    assert response.status_code == 200
    assert Report.objects.count() == 0
    html = response.content.decode()
    assert field_errors(html, "period_end") == ["The period ends after it starts."]
    assert field_errors(html, "civilians_in") == [
        "Ensure this value is greater than or equal to 0."
    ]
    assert field_errors(html, "incidents-0-count") == ["Count at least one incident."]
    assert 'value="Papers checked twice."' in html


def test_bad_convoy_rows_show_in_their_row_and_every_row_is_kept(client, world):
    client.force_login(world["observer"])
    data = convoy_data(
        world,
        status="blocked",
        **{"cargo-1-quantity": "-4", "cargo-0-delivered_quantity": "20"},
    )
    response = client.post(new_url("convoy"), data)
    assert response.status_code == 200
    assert Report.objects.count() == 0
    html = response.content.decode()
    assert field_errors(html, "obstruction_reason") == ["Say why the convoy was blocked or denied."]
    assert field_errors(html, "cargo-1-quantity") == ["The quantity is more than zero."]
    assert field_errors(html, "cargo-0-delivered_quantity") == [
        "More delivered (20) than carried (12.5)."
    ]
    assert 'name="cargo-1-quantity" value="-4"' in html
    assert 'value="Hama warehouse"' in html
    assert (
        'id="id_cargo-TOTAL_FORMS" value="2"' in html
        or 'value="2" id="id_cargo-TOTAL_FORMS"' in html
    )


def test_service_errors_land_on_the_row_they_name(client, world):
    """A rule only the service knows (a checkpoint twice on the route) comes back as
    ``route.1.post`` and shows next to that row's field."""
    client.force_login(world["observer"])
    data = convoy_data(world, **{"route-1-post": str(world["checkpoint"].pk)})
    response = client.post(new_url("convoy"), data)
    assert response.status_code == 200
    assert Report.objects.count() == 0
    html = response.content.decode()
    errors = field_errors(html, "route-1-post")
    assert errors and "already stop 1 of the route" in errors[0]
    assert field_errors(html, "route-0-post") == []


def test_service_errors_skip_removed_rows_when_mapping_back(client, world):
    """Row numbers of the service count the rows kept, not the rows on the page."""
    client.force_login(world["observer"])
    data = convoy_data(
        world,
        **management("route", 3),
        **{
            "route-0-DELETE": "on",
            "route-2-post": str(world["checkpoint_2"].pk),
            "route-2-passed_at": "",
        },
    )
    response = client.post(new_url("convoy"), data)
    html = response.content.decode()
    assert Report.objects.count() == 0
    errors = field_errors(html, "route-2-post")
    assert errors and "already stop 1 of the route" in errors[0]
    assert field_errors(html, "route-1-post") == []


def test_an_overlapping_shift_is_refused_next_to_the_period(client, world):
    client.force_login(world["observer"])
    assert client.post(new_url("checkpoint"), checkpoint_data(world)).status_code == 302
    response = client.post(
        new_url("checkpoint"),
        checkpoint_data(world, period_start="2017-06-03T12:00", period_end="2017-06-03T20:00"),
    )
    assert response.status_code == 200
    assert Report.objects.count() == 1
    errors = field_errors(response.content.decode(), "period_start")
    assert errors and "already covers" in errors[0]


def test_a_zone_override_needs_a_reason(client, world, zone):
    other = ZoneFactory(center=(36.3, 33.5))
    world["observer"].observer.center.zones.add(other)
    client.force_login(world["observer"])
    response = client.post(new_url("violation"), violation_data(world, zone_override=str(other.pk)))
    assert response.status_code == 200
    assert Report.objects.count() == 0
    html = response.content.decode()
    assert field_errors(html, "zone_override_reason") == [
        "Say why the zone differs from the one the map gives."
    ]
    response = client.post(
        new_url("violation"),
        violation_data(world, zone_override=str(other.pk), zone_override_reason="Map is late."),
    )
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.zone, report.classified_zone) == (other, zone)


def test_a_point_outside_syria_is_an_error_on_the_coordinates(client, world):
    client.force_login(world["observer"])
    response = client.post(
        new_url("violation"), violation_data(world, latitude="48.85", longitude="2.35")
    )
    assert response.status_code == 200
    assert Report.objects.count() == 0
    html = response.content.decode()
    assert field_errors(html, "latitude") or field_errors(html, "longitude")
    assert 'value="48.85"' in html


# --- Editing -------------------------------------------------------------------------------


def edit_data(world, report, **overrides):
    data = violation_data(world, revision=str(report.revision))
    data.update(overrides)
    return data


def test_the_author_edits_a_draft(client, world):
    report = report_file(world["observer"])
    client.force_login(world["observer"])
    page = client.get(edit_url(report))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'name="revision" value="{report.revision}"' in html
    assert 'name="occurred_at" value="2017-06-03T14:00"' in html  # shown in Damascus time
    response = client.post(edit_url(report), edit_data(world, report, narrative="Corrected."))
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.narrative == "Corrected."
    assert report.revision == 2
    update = audit_entries_for(report).get(action=AuditEntryAction.UPDATE)
    assert update.source == AuditEntrySource.WEB


def test_the_edit_page_starts_from_the_reports_rows(client, world):
    client.force_login(world["observer"])
    client.post(new_url("convoy"), convoy_data(world))
    report = Report.objects.get()
    form = client.get(edit_url(report)).context
    cargo = form["filing"].formsets["cargo"]
    assert cargo.initial_form_count() == 2
    assert cargo.forms[0].initial["quantity"] == Decimal("12.500")
    assert form["detail_form"].initial["organizations"] == [world["sarc"].pk]


def test_another_observer_cannot_edit_my_draft(client, world, make_member):
    report = report_file(world["observer"])
    client.force_login(make_member(ObserverRole.OBSERVER))
    # A draft is not even visible to a colleague: not found, no leak of its existence.
    assert client.get(edit_url(report)).status_code == 404
    assert client.post(edit_url(report), edit_data(world, report)).status_code == 404


def test_a_colleague_who_sees_a_returned_report_may_not_edit_it(client, world, make_member):
    report = report_file(world["observer"], status=S.RETURNED, reviewer=world["coordinator"])
    colleague = make_member(ObserverRole.OBSERVER)  # same delegation: sees it
    for user in (colleague, world["coordinator"]):
        client.force_login(user)
        assert client.get(edit_url(report)).status_code == 403
        response = client.post(edit_url(report), edit_data(world, report, narrative="Mine now."))
        assert response.status_code == 403
    report.refresh_from_db()
    assert report.narrative != "Mine now."


def test_another_centers_observer_gets_not_found(client, world, delegation):
    report = report_file(world["observer"], status=S.SUBMITTED)
    stranger = CenterFactory(zones=[])
    from tests.factories import ObserverFactory

    client.force_login(ObserverFactory(center=stranger, delegation=delegation).user)
    assert client.get(edit_url(report)).status_code == 404


def test_a_submitted_report_is_not_edited(client, world):
    report = report_file(world["observer"], status=S.SUBMITTED)
    client.force_login(world["observer"])
    response = client.get(edit_url(report))
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:report_detail", args=[report.uuid])
    response = client.post(edit_url(report), edit_data(world, report, narrative="Too late."))
    assert response.status_code == 200
    html = response.content.decode()
    assert "A submitted report cannot be edited." in html
    assert "Too late." in html
    report.refresh_from_db()
    assert report.narrative != "Too late."


def test_a_stale_edit_is_refused_with_the_input_kept(client, world):
    report = report_file(world["observer"])
    client.force_login(world["observer"])
    opened = report.revision
    # Meanwhile the same author saves from another tab.
    report_update(
        report=report,
        actor=world["observer"],
        expected_revision=opened,
        values={"narrative": "Saved from the other tab."},
    )
    response = client.post(
        edit_url(report), edit_data(world, report, narrative="Typed on the old copy.")
    )
    assert response.status_code == 200
    html = response.content.decode()
    page_errors = response.context["filing"].page_errors
    assert page_errors and "was changed after you opened it" in page_errors[0]
    assert "was changed after you opened it" in html
    assert "Typed on the old copy." in html
    report.refresh_from_db()
    assert report.narrative == "Saved from the other tab."
    assert report.revision == opened + 1


def test_a_returned_report_shows_the_coordinators_comment_and_is_resubmitted(client, world):
    report = report_file(world["observer"], status=S.RETURNED, reviewer=world["coordinator"])
    client.force_login(world["observer"])
    html = client.get(edit_url(report)).content.decode()
    assert 'data-testid="returned-comment"' in html
    assert "Test: returned." in html
    report.refresh_from_db()
    response = client.post(edit_url(report), edit_data(world, report, action="submit"))
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == S.SUBMITTED


def test_a_narrative_with_markup_is_shown_as_text(client, world):
    report = report_file(world["observer"], narrative="<script>alert(1)</script>")
    client.force_login(world["observer"])
    html = client.get(edit_url(report)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- My reports ----------------------------------------------------------------------------


def test_my_reports_lists_mine_newest_first_with_filters(client, world, make_member):
    first = report_file(world["observer"])
    second = report_file(
        world["observer"], status=S.SUBMITTED, kind=ReportKind.CHECKPOINT, detail=None
    )
    theirs = report_file(make_member(ObserverRole.OBSERVER), status=S.SUBMITTED)
    client.force_login(world["observer"])
    url = reverse("incidents:report_mine")
    response = client.get(url)
    assert list(response.context["reports"]) == [second, first]
    html = response.content.decode()
    assert theirs.reference not in html
    assert 'class="badge badge--submitted"' in html
    assert edit_url(first) in html and edit_url(second) not in html
    assert list(client.get(url, {"status": "draft"}).context["reports"]) == [first]
    assert list(client.get(url, {"kind": "checkpoint"}).context["reports"]) == [second]
    assert list(client.get(url, {"kind": "convoy"}).context["reports"]) == []


def test_my_reports_keeps_a_constant_query_count(client, world, django_assert_max_num_queries):
    client.force_login(world["observer"])
    url = reverse("incidents:report_mine")
    counts = []
    for more, status in ((5, S.DRAFT), (45, S.SUBMITTED)):
        for _ in range(more):
            report_file(world["observer"], status=status)
        with django_assert_max_num_queries(5), CaptureQueriesContext(connection) as queries:
            shown = len(client.get(url).context["reports"])
        counts.append((shown, len(queries)))
    assert [shown for shown, _ in counts] == [5, 50]
    assert counts[0][1] == counts[1][1]  # 5 reports or 50: the same queries
    report_file(world["observer"])
    assert len(client.get(url, {"page": 2}).context["reports"]) == 1


# --- Attachments ---------------------------------------------------------------------------


def png_upload(name="photo.png", colour=(200, 30, 30)):
    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def attach_url(report):
    return reverse("incidents:attachment_add", args=[report.uuid])


def download_url(attachment):
    return reverse("incidents:attachment_download", args=[attachment.report.uuid, attachment.pk])


def test_the_author_uploads_a_photo(client, world, media):
    report = report_file(world["observer"])
    client.force_login(world["observer"])
    response = client.post(attach_url(report), {"file": png_upload()})
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:report_detail", args=[report.uuid])
    attachment = Attachment.objects.get(report=report)
    assert (attachment.original_name, attachment.content_type) == ("photo.png", "image/png")
    entry = audit_entries_for(report).get(source=AuditEntrySource.WEB)
    assert (entry.action, entry.actor) == (AuditEntryAction.ATTACH, world["observer"])


def test_an_upload_through_htmx_gets_the_list_back(client, world, media):
    report = report_file(world["observer"])
    client.force_login(world["observer"])
    response = client.post(
        attach_url(report), {"file": png_upload()}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="attachments"' in html and "photo.png" in html
    bad = client.post(
        attach_url(report),
        {"file": io.BytesIO(b"MZ not a picture")},
        headers={"HX-Request": "true"},
    )
    html = bad.content.decode()
    assert bad.status_code == 200
    assert field_errors(html, "file")
    assert Attachment.objects.filter(report=report).count() == 1


def test_a_file_that_is_not_accepted_is_refused(client, world, media):
    report = report_file(world["observer"])
    client.force_login(world["observer"])
    fake = png_upload("notes.png")
    fake.file = io.BytesIO(b"#!/bin/sh\necho not an image\n")
    fake.size = len(fake.file.getvalue())
    response = client.post(attach_url(report), {"file": fake}, follow=True)
    assert Attachment.objects.count() == 0
    assert any("Attachment not added" in str(m) for m in response.context["messages"])


def test_uploads_are_refused_to_those_who_may_not_attach(client, world, media, make_member):
    report = report_file(world["observer"], status=S.SUBMITTED)
    colleague = make_member(ObserverRole.OBSERVER)  # sees it, did not write it
    client.force_login(colleague)
    assert client.post(attach_url(report), {"file": png_upload()}).status_code == 403
    draft = report_file(world["observer"])
    assert client.post(attach_url(draft), {"file": png_upload()}).status_code == 404
    client.logout()
    response = client.post(attach_url(report), {"file": png_upload()})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Attachment.objects.count() == 0
    client.force_login(world["observer"])
    assert client.get(attach_url(report)).status_code == 405


def test_a_download_is_served_as_an_attachment(client, world, media):
    report = report_file(world["observer"])
    attachment = attachment_add(
        report=report, actor=world["observer"], upload=png_upload('red "dot"; x.png')
    )
    client.force_login(world["observer"])
    response = client.get(download_url(attachment))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="red \\"dot\\"; x.png"' in disposition
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_downloads_are_refused_to_those_who_may_not_see_the_report(
    client, world, media, make_member, partner_user, delegation
):
    report = report_file(world["observer"])  # a draft: only its author sees it
    attachment = attachment_add(report=report, actor=world["observer"], upload=png_upload())
    url = download_url(attachment)
    for user in (make_member(ObserverRole.OBSERVER), world["coordinator"], partner_user):
        client.force_login(user)
        assert client.get(url).status_code == 404
    from tests.factories import ObserverFactory

    stranger = ObserverFactory(center=CenterFactory(), delegation=delegation).user
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    # Another report's UUID with this attachment's id: not found either.
    client.force_login(world["observer"])
    other = report_file(world["observer"])
    wrong = reverse("incidents:attachment_download", args=[other.uuid, attachment.pk])
    assert client.get(wrong).status_code == 404
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

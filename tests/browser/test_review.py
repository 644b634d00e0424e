"""The review pages in a real browser (Debian's Chromium): a coordinator works the queue,
links a corroborating report and verifies; the list's filters swap results with htmx; the
reports map draws the reports."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from incidents.choices import ReportStatus
from incidents.models import CorroborationLink, ReportTransition
from monitoring.choices import AuditEntrySource, ObserverRole
from monitoring.selectors import audit_entries_for
from tests.factories import (
    CenterFactory,
    ObserverFactory,
    PartyFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
)

from .signin import log_in

pytestmark = pytest.mark.browser

NARRATIVE = "<script>window.pwned = 1</script> Four mortar impacts north of the market."


@pytest.fixture
def world(transactional_db):
    zone = ZoneFactory(name="Idlib test zone")
    ZoneTermFactory(zone=zone)
    center = CenterFactory(zones=[zone])
    russia = PartyFactory(code="russia", name="Russian Federation", short_name="Russia")
    turkey = PartyFactory(code="turkey", name="Republic of Turkey", short_name="Turkey")

    def member(role, delegation):
        return ObserverFactory(role=role, center=center, delegation=delegation).user

    russian = member(ObserverRole.OBSERVER, russia)
    turkish = member(ObserverRole.OBSERVER, turkey)
    coordinator = member(ObserverRole.COORDINATOR, russia)
    mine = report_file(russian, status=ReportStatus.SUBMITTED, narrative=NARRATIVE)
    theirs = report_file(turkish, status=ReportStatus.SUBMITTED, latitude=35.91, longitude=36.61)
    return {"coordinator": coordinator, "mine": mine, "theirs": theirs}


def assert_clean(page, live_server):
    assert page.log.external_requests(live_server.url) == []
    assert page.log.errors == []


def test_a_coordinator_links_a_candidate_and_verifies_from_the_queue(page, live_server, world):
    mine, theirs = world["mine"], world["theirs"]
    log_in(page, world["coordinator"], "/reports/review/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    rows = page.locator("tr[data-reference]")
    expect(rows).to_have_count(2)
    expect(page.locator('[data-count-status="submitted"]')).to_have_text("2")

    page.get_by_role("link", name=mine.reference).click()
    expect(page).to_have_url(live_server.url + f"/reports/{mine.uuid}/")
    expect(page.get_by_test_id("report-status")).to_have_text("Submitted")
    # The narrative is text: the markup shows, no script ran.
    expect(page.get_by_test_id("narrative")).to_contain_text("<script>window.pwned = 1</script>")
    assert page.evaluate("() => window.pwned") is None

    candidates = page.get_by_test_id("candidates")
    expect(candidates).to_contain_text(theirs.reference)
    candidates.get_by_role("button", name=f"Link {theirs.reference}").click()
    expect(page.locator(".message--success")).to_contain_text("are linked")
    expect(page.get_by_test_id("joint-badge")).to_be_visible()
    expect(page.get_by_test_id("agreement")).to_contain_text("Russia")
    expect(page.get_by_test_id("agreement")).to_contain_text("Turkey")
    expect(page.get_by_test_id("linked-reports")).to_contain_text(theirs.reference)
    assert CorroborationLink.objects.count() == 1

    page.get_by_label("Note").fill("Both delegations heard the impacts; craters seen.")
    page.get_by_test_id("action-verified").get_by_role("button", name="Verify").click()
    expect(page.locator(".message--success")).to_contain_text("is now verified")
    expect(page.get_by_test_id("report-status")).to_have_text("Verified")
    transitions = page.get_by_test_id("transitions")
    expect(transitions).to_contain_text("Submitted → Verified")
    expect(transitions).to_contain_text("Both delegations heard the impacts")
    expect(page.get_by_test_id("history")).to_contain_text("Status changed")
    expect(page.get_by_test_id("action-verified")).to_have_count(0)

    move = ReportTransition.objects.filter(report=mine).latest("id")
    assert move.to_status == ReportStatus.VERIFIED and move.actor == world["coordinator"]
    entry = audit_entries_for(mine).first()
    assert entry.source == AuditEntrySource.WEB
    assert_clean(page, live_server)


def test_list_filters_swap_the_results_and_the_map_draws_them(page, live_server, world):
    theirs = world["theirs"]
    log_in(page, world["coordinator"], "/reports/")
    rows = page.locator("tr[data-reference]")
    expect(rows).to_have_count(2)

    page.get_by_role("group", name="Delegation").get_by_label("Turkey").check()
    expect(rows).to_have_count(1)  # swapped by htmx, no reload
    expect(rows.first).to_have_attribute("data-reference", theirs.reference)
    expect(page).to_have_url(re.compile(r"delegation=turkey"))
    expect(page.get_by_test_id("count-total")).to_have_text("1")

    page.goto("/reports/map/")
    markers = page.locator("path.report-marker")
    expect(markers).to_have_count(2)
    expect(page.get_by_test_id("map-status")).to_have_text("2 reports on the map.")
    page.goto("/reports/map/?delegation=turkey")
    expect(markers).to_have_count(1)
    expect(page.get_by_test_id("map-status")).to_have_text("1 report on the map.")
    expect(page.locator("[data-map='reports'].map--ready")).to_have_count(1)
    markers.first.click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(theirs.reference)
    expect(popup).to_contain_text("3 Jun 2017, 14:00")  # 11:00 UTC in Damascus (UTC+3)
    expect(popup.get_by_role("link", name="Open report")).to_have_attribute(
        "href", f"/reports/{theirs.uuid}/"
    )
    assert_clean(page, live_server)

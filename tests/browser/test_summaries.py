"""The daily summary page in a real browser (Debian's Chromium): a coordinator opens a draft
from the list, sees its tables, trend charts and map, publishes it; printed, the page keeps
the bulletin and drops the navigation, the buttons and the map's controls."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from incidents.choices import ReportKind, ReportStatus, SummaryVersionStatus
from incidents.models import SummaryVersion
from incidents.services import summary_compile
from monitoring.choices import ObserverRole
from tests.factories import (
    CenterFactory,
    ObserverFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
)

from .signin import log_in

pytestmark = pytest.mark.browser

DAY = date(2017, 6, 3)
DAMASCUS = ZoneInfo("Asia/Damascus")
REASON = "<script>window.pwned = 1</script> Denied at the checkpoint."


def local(hour: int) -> datetime:
    return datetime.combine(DAY, time(hour), tzinfo=DAMASCUS)


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
    report_file(russian, status=ReportStatus.SUBMITTED, occurred_at=local(9))
    report_file(
        turkish,
        status=ReportStatus.VERIFIED,
        reviewer=coordinator,
        occurred_at=local(13),
        latitude=35.91,
        longitude=36.61,
        detail={"category": "air_strike", "civilians_killed_best": 1, "civilians_killed_high": 2},
    )
    report_file(
        russian,
        kind=ReportKind.CONVOY,
        status=ReportStatus.VERIFIED,
        reviewer=coordinator,
        occurred_at=local(10),
        latitude=35.92,
        longitude=36.62,
        detail={
            "operation": "road_convoy",
            "organizations": [PartyFactory(code="sarc", name="SARC", kind="humanitarian_org")],
            "vehicle_count": 10,
            "origin": "Damascus",
            "destination": SettlementFactory(),
            "planned_at": local(6),
            "status": "blocked",
            "beneficiaries": 5000,
            "obstruction_reason": REASON,
            "cargo": [{"category": "food", "quantity": 25, "unit": "tonnes"}],
            "route": [{"post": PostFactory(zone=zone, kind="checkpoint"), "passed_at": None}],
            "stages": [],
        },
    )
    version = summary_compile(center=center, day=DAY)
    return {"coordinator": coordinator, "center": center, "version": version}


def test_a_coordinator_reviews_publishes_and_prints_a_summary(page, live_server, world):
    center = world["center"]
    log_in(page, world["coordinator"], "/reports/summaries/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Daily summaries")
    row = page.locator(f'tr[data-day="{DAY}"]')
    expect(row).to_have_attribute("data-state", "draft")
    row.get_by_role("link").click()
    expect(page).to_have_url(live_server.url + f"/reports/summaries/{center.code}/{DAY}/")
    expect(page.get_by_test_id("version-status")).to_have_text("Version 1 · Draft")

    # The tables, the notable reports, the reason shown as text (no script ran).
    expect(page.get_by_test_id("violation-rows")).to_contain_text("Idlib test zone")
    expect(page.get_by_test_id("by-delegation")).to_contain_text("Republic of Turkey")
    expect(page.get_by_test_id("air-activity")).to_contain_text("Air strike over Idlib test zone")
    expect(page.get_by_test_id("blocked")).to_contain_text(REASON)
    assert page.evaluate("() => window.pwned") is None
    # The trend charts are SVG drawn by the server; the map draws the day's three reports.
    expect(page.locator("svg.chart__svg rect.chart__bar").first).to_be_visible()
    expect(page.locator("path.report-marker")).to_have_count(3)
    expect(page.get_by_test_id("map-status")).to_have_text("3 reports on the map.")

    page.get_by_role("button", name="Approve and publish version 1").click()
    expect(page.locator(".message--success")).to_contain_text("is published (chain #1)")
    expect(page.get_by_test_id("version-status")).to_have_text("Version 1 · Published")
    version = SummaryVersion.objects.get(pk=world["version"].pk)
    assert version.status == SummaryVersionStatus.PUBLISHED

    # On paper: the bulletin stays, the navigation, buttons and map controls go.
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".site-footer")).to_be_hidden()
    expect(page.get_by_role("link", name="Download CSV")).to_be_hidden()
    expect(page.get_by_test_id("compile-form")).to_be_hidden()
    expect(page.locator(".leaflet-control-container")).to_be_hidden()
    expect(page.get_by_test_id("violation-rows")).to_be_visible()
    expect(page.get_by_test_id("checkpoints")).to_be_visible()
    page.emulate_media(media="screen")
    expect(page.locator(".site-header")).to_be_visible()

    assert page.log.external_requests(live_server.url) == []
    assert page.log.errors == []

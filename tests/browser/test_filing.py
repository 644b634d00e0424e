"""Filing reports through the real pages in a real browser (Debian's Chromium), on the
project's seed: an observer of the Joint Working Group files one report of each kind.

The point is placed by clicking the map, by typing coordinates, and by choosing the
checkpoint; each time the live classification appears. A narrative holding ``<script>``
comes back as text, and no dialog ever opens.
"""

from __future__ import annotations

import io
import re

import pytest
import shapely
from django.core.management import call_command
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from incidents.choices import ReportKind, ReportStatus
from incidents.models import Report
from monitoring.choices import ObserverRole
from monitoring.models import MonitoringCenter, Party
from tests.factories import ObserverFactory, UserFactory
from zones.classifier import classify_point
from zones.models import ExcludedArea, Post, Settlement, Zone

from .test_map import assert_clean, log_in

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script> Four mortar impacts near the post."
DETAIL_URL = re.compile(r"/reports/[0-9a-f-]{36}/$")


@pytest.fixture
def observer(transactional_db):
    call_command("seed", stdout=io.StringIO())
    center = MonitoringCenter.objects.get(code="JWG")
    user = UserFactory()
    ObserverFactory(
        user=user,
        role=ObserverRole.OBSERVER,
        center=center,
        delegation=Party.objects.get(code="russia"),
    )
    return user


@pytest.fixture
def dialogs(page):
    opened: list[str] = []

    def on_dialog(dialog):
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


def click_map_at(page, latitude: float, longitude: float) -> None:
    """Click the filing map where (latitude, longitude) is drawn, once the map is still (a
    typed point pans the map; a click during the pan would land elsewhere)."""
    map_js = "document.querySelector('[data-report-map]')._reportMap"
    page.wait_for_function(
        f"() => {{ const m = {map_js}; "
        "return m && !m._animatingZoom && !(m._panAnim && m._panAnim._inProgress); }"
    )
    x, y = page.evaluate(
        f"""([lat, lon]) => {{
            const map = {map_js};
            map.stop();
            map.setView([lat, lon], 9, {{ animate: false }});
            const point = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + point.x, box.top + point.y];
        }}""",
        [latitude, longitude],
    )
    page.mouse.click(x, y)
    # The click writes the point into the form: wait until it has.
    took = (
        "([lat, lon]) => Math.abs(parseFloat(document.querySelector('#id_latitude').value)"
        " - lat) < 0.05 && Math.abs(parseFloat(document.querySelector('#id_longitude').value)"
        " - lon) < 0.05"
    )
    try:
        page.wait_for_function(took, arg=[latitude, longitude], timeout=5000)
    except PlaywrightTimeoutError:
        # Seen on the loaded CI machine only (a few runs in ten): the headless browser lost
        # the physical click. Hand the same click to Leaflet, so what follows (the point
        # written into the form, its classification) is still tested end to end.
        page.evaluate(
            f"([lat, lon]) => {{ const map = {map_js}; map.fire('click', "
            "{ latlng: L.latLng(lat, lon) }); }",
            [latitude, longitude],
        )
        page.wait_for_function(took, arg=[latitude, longitude], timeout=10000)


def typed_point(page) -> tuple[float, float]:
    return (
        float(page.locator("#id_latitude").input_value()),
        float(page.locator("#id_longitude").input_value()),
    )


def save(page, button: str) -> Report:
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()
    errors = page.locator(".has-error").evaluate_all(
        "nodes => nodes.map(n => (n.dataset.field || '?') + ': ' + n.innerText)"
    )
    assert not errors, f"the page refused the report: {errors}"
    expect(page).to_have_url(DETAIL_URL)
    return Report.objects.get(uuid=page.url.rstrip("/").rsplit("/", 1)[1])


def test_an_observer_files_one_report_of_each_kind(page, live_server, observer, dialogs):
    classification = page.get_by_test_id("classification")

    # --- A violation: first a point typed inside an area Nusra held, then a click on Idlib.
    log_in(page, observer, "/reports/new/violation/")
    expect(page.get_by_role("heading", level=1)).to_have_text("New report")
    expect(page.locator("[data-report-map].map--ready")).to_be_visible()
    page.locator("#id_occurred_at").fill("2017-09-10T14:00")
    jobar = ExcludedArea.objects.get(code="nusra-jobar-irbin")
    inside = shapely.geometry.shape(jobar.geometry).representative_point()
    page.locator("#id_latitude").fill(f"{inside.y:.5f}")
    page.locator("#id_longitude").fill(f"{inside.x:.5f}")
    warning = page.get_by_test_id("classified-excluded")
    expect(warning).to_contain_text(
        "inside an area held by ISIS/Nusra: outside the ceasefire, counted apart", ignore_case=True
    )
    expect(page.get_by_test_id("classified-zone")).to_have_text(
        Zone.objects.get(code="eastern-ghouta").name
    )

    click_map_at(page, 35.80, 36.70)  # between Ariha and Saraqib
    expect(warning).to_have_count(0)
    latitude, longitude = typed_point(page)
    assert abs(latitude - 35.80) < 0.05 and abs(longitude - 36.70) < 0.05
    expected = classify_point(latitude=latitude, longitude=longitude)
    idlib = Zone.objects.get(code="idlib")
    assert expected.zone_id == idlib.pk
    expect(page.get_by_test_id("classified-zone")).to_have_text(idlib.name)
    expect(page.get_by_test_id("classified-in-force")).to_be_visible()
    expect(page.locator(".report-marker")).to_have_count(1)
    classification.get_by_role("button", name="Use as the settlement").click()
    expect(page.locator("#id_settlement")).not_to_have_value("")

    page.locator("#id_source").select_option("seen")
    page.locator("#id_category").select_option("shelling")
    page.locator("#id_civilians_injured_best").fill("2")
    page.locator("#id_civilians_injured_high").fill("3")
    page.locator("#id_narrative").fill(SCRIPT)
    violation = save(page, "Save draft")
    assert (violation.kind, violation.status) == (ReportKind.VIOLATION, ReportStatus.DRAFT)
    assert violation.zone == idlib and violation.settlement is not None
    assert violation.narrative == SCRIPT
    assert violation.violation.civilians_injured_best == 2

    # Its edit page shows the narrative as text; submitting from there.
    page.goto(f"/reports/{violation.uuid}/edit/")
    expect(page.locator("#id_narrative")).to_have_value(SCRIPT)
    expect(page.get_by_test_id("classified-zone")).to_have_text(idlib.name)
    save(page, "Save and submit")
    violation.refresh_from_db()
    assert violation.status == ReportStatus.SUBMITTED

    # --- A convoy: coordinates typed, a cargo row added, a checkpoint on the route.
    page.goto("/reports/new/convoy/")
    idlib_city = Settlement.objects.get(code="idlib-city")
    page.locator("#id_latitude").fill("35.93")
    page.locator("#id_longitude").fill("36.60")
    expect(page.get_by_test_id("classified-zone")).to_have_text(idlib.name)
    page.locator("#id_occurred_at").fill("2017-06-03T13:00")
    page.locator("#id_source").select_option("partner")
    page.locator("#id_operation").select_option("road_convoy")
    sarc = Party.objects.get(code="sarc")
    page.locator(f"input[name=organizations][value='{sarc.pk}']").check()
    page.locator("#id_vehicle_count").fill("14")
    page.locator("#id_origin").fill("Hama warehouse")
    page.locator("#id_destination").select_option(str(idlib_city.pk))
    page.locator("#id_planned_at").fill("2017-06-03T07:00")
    page.locator("#id_status").select_option("delivered")
    page.locator("#id_cargo-0-category").select_option("food")
    page.locator("#id_cargo-0-quantity").fill("10")
    page.locator("#id_cargo-0-unit").select_option("tonnes")
    page.locator("[data-formset-add=cargo]").click()
    page.locator("#id_cargo-1-category").select_option("medicine")
    page.locator("#id_cargo-1-quantity").fill("200")
    page.locator("#id_cargo-1-unit").select_option("kits")
    morek = Post.objects.get(code="cp-morek")
    page.locator("#id_route-0-post").select_option(str(morek.pk))
    page.locator("#id_narrative").fill("Convoy of 14 trucks reached Idlib city.")
    convoy = save(page, "Save and submit")
    assert (convoy.kind, convoy.status) == (ReportKind.CONVOY, ReportStatus.SUBMITTED)
    assert [c.category for c in convoy.convoy.cargo.all()] == ["food", "medicine"]
    assert [s.post for s in convoy.convoy.stops.all()] == [morek]
    assert list(convoy.convoy.organizations.all()) == [sarc]

    # --- A checkpoint shift: choosing the checkpoint places the point on it.
    page.goto("/reports/new/checkpoint/")
    page.locator("#id_occurred_at").fill("2017-06-03T16:00")
    page.locator("#id_checkpoint").select_option(str(morek.pk))
    expect(page.locator("#id_latitude")).to_have_value(str(morek.latitude))
    expect(page.get_by_test_id("classified-zone")).to_have_text(morek.zone.name)
    page.locator("#id_source").select_option("seen")
    page.locator("#id_period_start").fill("2017-06-03T08:00")
    page.locator("#id_period_end").fill("2017-06-03T16:00")
    page.locator("#id_status").select_option("restricted")
    page.locator("#id_civilians_in").fill("130")
    page.locator("#id_incidents-0-kind").select_option("delay")
    page.locator("#id_incidents-0-count").fill("3")
    page.locator("#id_narrative").fill("Crossing slowed by double checks.")
    shift = save(page, "Save draft")
    assert (shift.kind, shift.status) == (ReportKind.CHECKPOINT, ReportStatus.DRAFT)
    assert shift.checkpoint.checkpoint == morek and shift.checkpoint.civilians_in == 130
    assert [(i.kind, i.count) for i in shift.checkpoint.incidents.all()] == [("delay", 3)]

    # --- My reports: the three, newest first, the script as text nowhere executed.
    page.goto("/reports/mine/")
    rows = page.get_by_test_id("my-reports").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text(shift.reference)
    expect(rows.last).to_contain_text("Submitted")
    assert dialogs == []
    assert_clean(page, live_server)


def test_bad_input_comes_back_next_to_its_field_with_the_map_point_kept(
    page, live_server, observer, dialogs
):
    log_in(page, observer, "/reports/new/violation/")
    click_map_at(page, 35.80, 36.70)
    point = typed_point(page)
    page.locator("#id_occurred_at").fill("2099-01-01T10:00")
    page.locator("#id_source").select_option("heard")
    page.locator("#id_category").select_option("rockets")
    page.locator("#id_civilians_killed_low").fill("4")
    page.locator("#id_civilians_killed_best").fill("1")
    page.locator("#id_narrative").fill(SCRIPT)
    page.get_by_role("button", name="Save and submit").click()

    expect(page.get_by_test_id("form-errors")).to_be_visible()
    expect(page.locator("[data-field=occurred_at] .errorlist")).to_have_text(
        "A report cannot describe the future."
    )
    expect(page.get_by_test_id("casualties")).to_contain_text("cannot exceed the best")
    # Everything typed is back, the point on the map, the narrative as text.
    assert typed_point(page) == point
    expect(page.locator(".report-marker")).to_have_count(1)
    expect(page.locator("#id_narrative")).to_have_value(SCRIPT)
    expect(page.locator("#id_category")).to_have_value("rockets")
    expect(page.get_by_test_id("classified-zone")).to_have_text(Zone.objects.get(code="idlib").name)
    assert Report.objects.count() == 0
    assert dialogs == []
    assert_clean(page, live_server)

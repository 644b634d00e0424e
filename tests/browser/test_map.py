"""The map pages and the admin's map widgets in a real browser (Debian's Chromium).

The data is the project's own seed (``manage.py seed``): the five de-escalation zones of
2017 with their areas, posts and settlements.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from monitoring.choices import ObserverRole
from monitoring.models import MonitoringCenter
from tests.factories import ObserverFactory, UserFactory
from zones.choices import PostKind
from zones.models import Post, Settlement, Zone
from zones.selectors import excluded_areas_geojson, security_areas_geojson

from .signin import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(transactional_db):
    call_command("seed", stdout=io.StringIO())
    assert Zone.objects.count() == 5


def member(role: str, **user_fields):
    center = MonitoringCenter.objects.order_by("code").first()
    delegation = center.member_parties.order_by("code").first()
    user = UserFactory(**user_fields)
    ObserverFactory(user=user, role=role, center=center, delegation=delegation)
    return user


def point_on(page, selector: str) -> tuple[float, float]:
    """A point of the viewport where ``selector`` is the topmost element (a real click
    there hits it, not an area drawn over it)."""
    found = page.evaluate(
        """(selector) => {
            const target = document.querySelector(selector);
            const box = target.getBoundingClientRect();
            for (let i = 1; i < 20; i++) {
                for (let j = 1; j < 20; j++) {
                    const x = box.left + (box.width * i) / 20;
                    const y = box.top + (box.height * j) / 20;
                    if (document.elementFromPoint(x, y) === target) return [x, y];
                }
            }
            return null;
        }""",
        selector,
    )
    assert found, f"no visible point of {selector}"
    return found


def assert_clean(page, live_server):
    assert page.log.external_requests(live_server.url) == []
    assert page.log.errors == []


def test_map_page_shows_zones_areas_posts_and_leads_to_a_zone_page(page, live_server, seeded):
    user = member(ObserverRole.OBSERVER)
    security = len(security_areas_geojson()["features"])
    excluded = len(excluded_areas_geojson()["features"])
    posts = Post.objects.count()
    checkpoints = Post.objects.filter(kind=PostKind.CHECKPOINT).count()
    assert security and excluded and checkpoints and posts > checkpoints

    log_in(page, user)
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator("path.zone-shape")).to_have_count(5)
    expect(page.locator("path.security-area-shape")).to_have_count(security)
    expect(page.locator("path.excluded-area-shape")).to_have_count(excluded)
    expect(page.locator(".leaflet-marker-icon.post-marker")).to_have_count(posts)
    expect(page.locator(".leaflet-marker-icon.post-marker--checkpoint")).to_have_count(checkpoints)
    overlays = page.locator(".leaflet-control-layers-overlays")
    expect(overlays).to_contain_text("Security areas")
    expect(overlays).to_contain_text("Excluded areas")

    # Settlements are a layer of their own, off until asked for.
    expect(page.locator("path.settlement-shape")).to_have_count(0)
    overlays.get_by_label("Settlements").check()
    expect(page.locator("path.settlement-shape")).to_have_count(Settlement.objects.count())
    overlays.get_by_label("Security areas").uncheck()
    expect(page.locator("path.security-area-shape")).to_have_count(0)

    zone = Zone.objects.get(code="idlib")
    x, y = point_on(page, f"path.zone-{zone.code}")
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(zone.name)
    expect(popup).to_contain_text("In force now")
    link = popup.get_by_role("link", name="Open zone page")
    expect(link).to_have_attribute("href", f"/zones/{zone.code}/")
    # The popup pans the map into view; a click while the pane is still moving can be
    # taken for a drag, so wait until Leaflet's pan animation is over.
    page.wait_for_function("() => !document.querySelector('.leaflet-pan-anim')")
    link.click()

    expect(page).to_have_url(live_server.url + f"/zones/{zone.code}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(zone.name)
    expect(page.locator(f"path.zone-{zone.code}")).to_have_count(1)
    zone_posts = zone.posts.count()
    expect(page.locator("#zone-map .leaflet-marker-icon.post-marker")).to_have_count(zone_posts)
    expect(page.locator("[aria-labelledby=posts-heading] .count")).to_have_text(str(zone_posts))
    assert_clean(page, live_server)


def test_admin_map_widgets_show_the_lines_and_keep_errors_on_the_field(page, live_server, seeded):
    user = member(ObserverRole.ADMINISTRATOR, is_staff=True)
    post = Post.objects.filter(kind=PostKind.OBSERVATION_POST).order_by("code").first()
    where = (post.latitude, post.longitude)

    log_in(page, user, login_path="/admin/login/")
    expect(page.get_by_role("link", name="Zones").first).to_be_visible()

    # A post: a map under its latitude and longitude, with the zones behind.
    page.goto(f"/admin/zones/post/{post.pk}/change/")
    expect(page.locator(".point-picker .picker-marker")).to_be_visible()
    expect(page.locator(".point-picker path.context-shape").first).to_be_attached()
    page.locator("#id_latitude").fill("34.0")
    page.locator("#id_longitude").fill("38.0")  # the desert east of Palmyra: in no zone
    page.get_by_role("button", name="Save", exact=True).click()
    error = page.locator(".field-latitude .errorlist")
    expect(error).to_contain_text("outside every zone")
    post.refresh_from_db()
    assert (post.latitude, post.longitude) == where

    # A zone: its revisions as read-only maps; a new revision drawn on the map.
    zone = Zone.objects.get(code="eastern-ghouta")
    page.goto(f"/admin/zones/zone/{zone.pk}/change/")
    previews = page.locator(".geojson-widget--readonly")
    expect(previews).to_have_count(zone.boundaries.count())
    expect(previews.first.locator("path.leaflet-interactive")).to_have_count(1)
    page.get_by_role("button", name=re.compile("Add another New boundary revision")).click()
    widget = page.locator(".inline-related:not(.empty-form) [data-geojson-widget]").last
    expect(widget.locator(".leaflet-draw-draw-polygon")).to_be_visible()
    widget.locator(".leaflet-draw-draw-polygon").click()
    canvas = widget.locator(".geojson-widget__map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    corners = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]
    for fx, fy in corners + corners[:1]:  # back on the first corner closes the ring
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        page.wait_for_timeout(150)  # apart, so that no two clicks make a double click
    text = widget.locator("textarea")
    expect(text).to_have_value(re.compile(r'"type": "MultiPolygon"'))
    assert_clean(page, live_server)

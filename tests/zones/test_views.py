"""The zone pages: the list and one zone's page (terms, suspensions, lines, posts,
settlements, its map), with their role rules and pinned query counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring.choices import ObserverRole
from monitoring.models import Observer
from tests.factories import (
    ExcludedAreaFactory,
    PartyFactory,
    PostFactory,
    SecurityAreaFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneSuspensionFactory,
    ZoneTermFactory,
    square,
)
from zones.choices import PostKind, PostStatus, SettlementReconciliationStatus, ZoneTermKind
from zones.services import zone_boundary_add

pytestmark = pytest.mark.django_db

ROLES = [
    ObserverRole.OBSERVER,
    ObserverRole.COORDINATOR,
    ObserverRole.PARTNER,
    ObserverRole.ADMINISTRATOR,
]


def detail_url(zone) -> str:
    return reverse("zones:detail", args=[zone.code])


def map_config(response) -> dict:
    match = re.search(
        r'<script id="map-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries no map-config"
    return json.loads(match.group(1))


@pytest.fixture
def furnished_zone(zone):
    """The fixture zone (a square around 35.9 N, 36.6 E) with terms, a suspension, a second
    boundary revision, posts of both kinds, settlements inside and one outside."""
    ZoneTermFactory(
        zone=zone,
        starts_at=datetime(2017, 5, 5, 21, 0, tzinfo=UTC),  # 6 May 00:00 (UTC+3)
        ends_at=datetime(2017, 11, 5, 22, 0, tzinfo=UTC),  # 6 Nov 00:00 (UTC+2)
    )
    ZoneTermFactory(
        zone=zone,
        kind=ZoneTermKind.EXTENSION,
        starts_at=datetime(2017, 11, 5, 22, 0, tzinfo=UTC),
        ends_at=None,
        note="Extended under the memorandum",
    )
    ZoneSuspensionFactory(
        zone=zone,
        starts_at=datetime(2017, 7, 1, tzinfo=UTC),
        ends_at=datetime(2017, 7, 15, tzinfo=UTC),
        reason="Shelling along the line of contact",
    )
    zone_boundary_add(
        zone=zone,
        geometry=square(36.6, 35.9, half=0.12),
        valid_from=datetime(2017, 6, 1, tzinfo=UTC),
        source="Joint working group map of June",
        actor=None,
    )
    turkey = PartyFactory(name="Turkish Armed Forces", short_name="Turkey")
    PostFactory(zone=zone, name="Surman observation post", operating_party=turkey)
    PostFactory(
        zone=zone,
        name="Morek crossing",
        kind=PostKind.CHECKPOINT,
        status=PostStatus.PLANNED,
        serves_humanitarian=True,
        serves_economic=True,
        latitude=35.95,
        longitude=36.65,
    )
    SettlementFactory(
        name="Khan Shaykhun",
        population=52000,
        latitude=35.88,
        longitude=36.62,
        reconciliation_status=SettlementReconciliationStatus.NEGOTIATING,
    )
    SettlementFactory(name="Far Away Town", latitude=33.5, longitude=36.3, governorate="damascus")
    SecurityAreaFactory(zone=zone, name="Northern band")
    ExcludedAreaFactory(name="Nusra pocket", center=(36.62, 35.92), half=0.02)
    ExcludedAreaFactory(name="Distant ISIS area", center=(38.5, 35.0))
    return zone


@pytest.mark.parametrize("name", ["zones:list"])
def test_zone_pages_send_anonymous_visitors_to_login(client, zone, name):
    for url in (reverse(name), detail_url(zone)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_zone_pages_refuse_users_without_a_profile(client, zone, user_without_role):
    client.force_login(user_without_role)
    assert client.get(reverse("zones:list")).status_code == 403
    assert client.get(detail_url(zone)).status_code == 403


def test_zone_page_refuses_an_inactive_profile(client, zone, observer_user):
    Observer.objects.filter(user=observer_user).update(is_active=False)
    client.force_login(observer_user)
    assert client.get(detail_url(zone)).status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_zone_pages_render_for_every_role(client, make_member, furnished_zone, role):
    client.force_login(make_member(role))
    listing = client.get(reverse("zones:list"))
    assert listing.status_code == 200
    assert detail_url(furnished_zone) in listing.content.decode()
    page = client.get(detail_url(furnished_zone))
    assert page.status_code == 200
    assert furnished_zone.name in page.content.decode()


def test_unknown_zone_code_is_404(client, observer_user):
    client.force_login(observer_user)
    response = client.get(reverse("zones:detail", args=["no-such-zone"]))
    assert response.status_code == 404
    assert "No zone with that code" in response.content.decode()


def test_zone_page_shows_terms_extensions_and_suspensions(client, observer_user, furnished_zone):
    client.force_login(observer_user)
    body = client.get(detail_url(furnished_zone)).content.decode()
    # Times in the center's zone (Asia/Damascus, summer and winter time).
    assert "Initial term" in body and "6 May 2017, 00:00" in body and "6 Nov 2017, 00:00" in body
    assert "Extension" in body and "open-ended" in body and "Extended under the memorandum" in body
    assert "Shelling along the line of contact" in body
    assert "In force now" in body  # the open-ended extension runs, no suspension now


def test_zone_page_shows_boundary_revisions(client, observer_user, furnished_zone):
    client.force_login(observer_user)
    response = client.get(detail_url(furnished_zone))
    body = response.content.decode()
    assert "r1" in body and "r2" in body
    assert "Joint working group map of June" in body
    config = map_config(response)
    assert [f["properties"]["boundary_revision"] for f in config["zones"]["features"]] == [2]
    assert [f["properties"]["revision"] for f in config["revisions"]["features"]] == [1]


def test_zone_page_lists_posts_with_kind_status_party_and_purposes(
    client, observer_user, furnished_zone
):
    client.force_login(observer_user)
    response = client.get(detail_url(furnished_zone))
    body = response.content.decode()
    assert "Surman observation post" in body and "Observation post" in body
    assert "Turkey" in body and "Operating" in body
    assert "Morek crossing" in body and "Checkpoint" in body and "Planned" in body
    assert "humanitarian deliveries" in body and "economic activity" in body
    kinds = sorted(f["properties"]["kind"] for f in map_config(response)["posts"]["features"])
    assert kinds == ["checkpoint", "observation_post"]


def test_zone_page_lists_the_settlements_inside_its_lines_only(
    client, observer_user, furnished_zone
):
    client.force_login(observer_user)
    response = client.get(detail_url(furnished_zone))
    body = response.content.decode()
    assert "Khan Shaykhun" in body and "52,000" in body and "Negotiating" in body
    assert "Far Away Town" not in body
    names = [f["properties"]["name"] for f in map_config(response)["settlements"]["features"]]
    assert names == ["Khan Shaykhun"]


def test_zone_page_shows_its_areas_and_only_nearby_excluded_areas(
    client, observer_user, furnished_zone
):
    client.force_login(observer_user)
    response = client.get(detail_url(furnished_zone))
    body = response.content.decode()
    assert "Northern band" in body and "Nusra pocket" in body
    assert "Distant ISIS area" not in body
    config = map_config(response)
    assert config["zone"] == furnished_zone.code
    assert len(config["security_areas"]["features"]) == 1
    assert [f["properties"]["name"] for f in config["excluded_areas"]["features"]] == [
        "Nusra pocket"
    ]


def test_zone_page_shows_the_record_history(client, observer_user, furnished_zone):
    client.force_login(observer_user)
    body = client.get(detail_url(furnished_zone)).content.decode()
    assert "Record history" in body and "Created" in body


def test_zone_list_shows_status_and_current_term(client, observer_user, furnished_zone):
    client.force_login(observer_user)
    body = client.get(reverse("zones:list")).content.decode()
    assert furnished_zone.name in body and "Active" in body
    assert "In force" in body and "open-ended" in body


def _populate(count: int, offset: int = 0):
    zones = []
    for i in range(offset, offset + count):
        lon, lat = 36.0 + 0.4 * (i % 8), 33.0 + 0.5 * (i // 8)
        zone = ZoneFactory(center=(lon, lat), half=0.15)
        ZoneTermFactory(zone=zone, ends_at=None)
        PostFactory(zone=zone, latitude=lat, longitude=lon)
        SettlementFactory(latitude=lat - 0.01, longitude=lon)
        SecurityAreaFactory(zone=zone, center=(lon, lat), half=0.05)
        zones.append(zone)
    return zones


def test_zone_page_query_count_does_not_grow_with_rows(client, observer_user):
    client.force_login(observer_user)
    target = _populate(1)[0]
    for _ in range(4):
        PostFactory(zone=target, latitude=33.0, longitude=36.0)
        SettlementFactory(latitude=33.01, longitude=36.01)
    with CaptureQueriesContext(connection) as few:
        assert client.get(detail_url(target)).status_code == 200
    _populate(6, offset=1)
    for _ in range(6):
        PostFactory(zone=target, latitude=33.02, longitude=36.02)
        SettlementFactory(latitude=33.03, longitude=36.03)
    with CaptureQueriesContext(connection) as many:
        assert client.get(detail_url(target)).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_zone_page_query_count_is_pinned(client, observer_user, django_assert_max_num_queries):
    target = _populate(4)[0]
    client.force_login(observer_user)
    # session, user, profile; zones + boundaries + terms + suspensions; posts, settlements,
    # security areas, excluded areas, centers, history.
    with django_assert_max_num_queries(13):
        client.get(detail_url(target))


def test_zone_list_query_count_is_pinned(client, observer_user, django_assert_max_num_queries):
    _populate(6)
    client.force_login(observer_user)
    with django_assert_max_num_queries(8):
        client.get(reverse("zones:list"))

"""The web side of the monitoring app: sign-in, sign-out, the home map, role rules."""

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
    PostFactory,
    SecurityAreaFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneTermFactory,
)
from zones.choices import PostKind

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory
ROLES = [
    ObserverRole.OBSERVER,
    ObserverRole.COORDINATOR,
    ObserverRole.PARTNER,
    ObserverRole.ADMINISTRATOR,
]


def map_config(response) -> dict:
    """The map data the page hands to map.js (its json_script element)."""
    match = re.search(
        r'<script id="map-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries no map-config"
    return json.loads(match.group(1))


def populate(zones: int, offset: int = 0) -> None:
    """``zones`` zones, each with a term, a security area, posts of both kinds, a settlement
    and an excluded area: the rows whose growth must not add queries."""
    for i in range(offset, offset + zones):
        lon, lat = 36.0 + 0.4 * (i % 8), 33.0 + 0.5 * (i // 8)
        zone = ZoneFactory(center=(lon, lat), half=0.15)
        ZoneTermFactory(zone=zone, ends_at=None)
        SecurityAreaFactory(zone=zone, center=(lon, lat), half=0.05)
        PostFactory(zone=zone, latitude=lat, longitude=lon)
        PostFactory(
            zone=zone,
            kind=PostKind.CHECKPOINT,
            serves_civilians=True,
            latitude=lat + 0.01,
            longitude=lon,
        )
        SettlementFactory(latitude=lat - 0.01, longitude=lon)
        ExcludedAreaFactory(center=(lon + 0.1, lat + 0.1), half=0.02)


@pytest.mark.parametrize("name", ["home", "zones:list"], ids=["home", "zone-list"])
def test_anonymous_visitor_is_sent_to_the_login_page(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_login_page_renders_a_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert 'autocomplete="current-password"' in body


def test_logging_in_leads_to_the_map(client, observer_user):
    response = client.post(
        reverse("login"), {"username": observer_user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_wrong_password_is_refused_with_a_message(client, observer_user):
    response = client.post(
        reverse("login"), {"username": observer_user.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_signed_in_user_is_not_shown_the_login_form_again(client, observer_user):
    client.force_login(observer_user)
    response = client.get(reverse("login"))
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_logout_is_a_post(client, observer_user):
    client.force_login(observer_user)
    assert client.get(reverse("logout")).status_code == 405
    assert "_auth_user_id" in client.session
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("role", ROLES)
def test_home_renders_the_map_for_every_role(client, make_member, zone, role):
    user = make_member(role)
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert zone.name in body
    assert 'data-map="overview"' in body
    config = map_config(response)
    assert [f["properties"]["code"] for f in config["zones"]["features"]] == [zone.code]
    assert config["zone_url"] == reverse("zones:detail", args=["__code__"])


def test_home_shows_the_users_name_role_center_and_a_logout_form(client, coordinator_user):
    client.force_login(coordinator_user)
    body = client.get(reverse("home")).content.decode()
    observer = coordinator_user.observer
    assert coordinator_user.username in body
    assert "Coordinator" in body and observer.center.code in body
    assert f'action="{reverse("logout")}"' in body
    assert reverse("admin:index") not in body  # not an administrator


def test_home_links_the_admin_for_administrators_only(client, administrator_user):
    client.force_login(administrator_user)
    body = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("admin:index")}"' in body


def test_user_without_a_profile_gets_a_clear_403(client, user_without_role):
    client.force_login(user_without_role)
    response = client.get(reverse("home"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "has no active" in body and user_without_role.username in body
    assert "Log out" in body


def test_inactive_profile_gets_403(client, observer_user):
    Observer.objects.filter(user=observer_user).update(is_active=False)
    client.force_login(observer_user)
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert "no active profile" in response.content.decode()


def test_home_map_carries_areas_posts_and_settlements(client, observer_user):
    populate(2)
    client.force_login(observer_user)
    config = map_config(client.get(reverse("home")))
    assert len(config["zones"]["features"]) == 3  # the fixture's zone and two more
    assert len(config["security_areas"]["features"]) == 2
    assert len(config["excluded_areas"]["features"]) == 2
    kinds = sorted(f["properties"]["kind"] for f in config["posts"]["features"])
    assert kinds == ["checkpoint", "checkpoint", "observation_post", "observation_post"]
    assert len(config["settlements"]["features"]) == 2
    group = config["excluded_areas"]["features"][0]["properties"]["group"]
    assert config["labels"]["parties"][group]  # popups name the group


def test_home_escapes_names_in_the_page_and_the_map_data(client, observer_user):
    ZoneFactory(name="</script><script>alert(1)</script>", center=(37.5, 35.0))
    client.force_login(observer_user)
    response = client.get(reverse("home"))
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    names = [f["properties"]["name"] for f in map_config(response)["zones"]["features"]]
    assert "</script><script>alert(1)</script>" in names


def test_home_page_has_no_inline_script(client, observer_user):
    """Ready for a Content-Security-Policy: scripts are files, data is JSON."""
    client.force_login(observer_user)
    body = client.get(reverse("home")).content.decode()
    for tag in re.findall(r"<script[^>]*>", body):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", body), "inline event handler"


def test_home_query_count_does_not_grow_with_rows(client, observer_user):
    client.force_login(observer_user)
    populate(1)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("home")).status_code == 200
    populate(6, offset=1)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("home")).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_home_query_count_is_pinned(client, observer_user, django_assert_max_num_queries):
    populate(5)
    client.force_login(observer_user)
    # session, user, profile; zones + boundaries + terms + suspensions; security areas,
    # excluded areas, posts, settlements.
    with django_assert_max_num_queries(11):
        client.get(reverse("home"))


def test_times_are_shown_in_the_centers_time_zone(client, make_member, center):
    center.time_zone = "Asia/Amman"
    center.save(update_fields=["time_zone"])
    zone = ZoneFactory(effective_from=datetime(2017, 7, 8, 21, 0, tzinfo=UTC))
    user = make_member(ObserverRole.OBSERVER)
    client.force_login(user)
    body = client.get(reverse("home")).content.decode()
    assert "Asia/Amman" in body
    assert zone.name in body and "9 Jul 2017" in body  # 00:00 on 9 July, Amman time

"""The Django admin: who reaches it, saves through the services (validated, audited with
the administrator's name, source "admin"), errors next to their field, nothing deleted."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.urls import reverse

from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole
from monitoring.models import AuditEntry, Observer, Party
from tests.factories import (
    AgreementFactory,
    ExcludedGroupFactory,
    PartyFactory,
    PostFactory,
    UserFactory,
    ZoneFactory,
    square,
)
from zones.models import ExcludedArea, Post, Zone, ZoneBoundary, ZoneTerm
from zones.widgets import GeoJSONField, format_geojson

pytestmark = pytest.mark.django_db

ADMIN_URLS = [
    "admin:index",
    "admin:zones_zone_changelist",
    "admin:zones_post_add",
    "admin:monitoring_party_changelist",
    "admin:monitoring_auditentry_changelist",
]


def field_errors(response, field: str) -> list[str]:
    """The error messages the admin shows in the row of ``field``."""
    body = response.content.decode()
    row = re.search(
        rf'<div class="form-row errors[^"]*field-{field}[^"]*">\s*'
        r'<ul class="errorlist"[^>]*>(.*?)</ul>',
        body,
        re.S,
    )
    if not row:
        return []
    return [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", row.group(1), re.S)]


def management_forms(response) -> dict[str, str]:
    """Empty management-form data for every inline formset on an admin page."""
    data = {}
    for prefix in re.findall(r'name="([\w-]+)-TOTAL_FORMS"', response.content.decode()):
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return data


@pytest.fixture
def admin_client(client, administrator_user):
    client.force_login(administrator_user)
    return client


def post_data(zone, party, **overrides) -> dict:
    data = {
        "code": "op-test",
        "name": "Test observation post",
        "kind": "observation_post",
        "zone": zone.pk,
        "operating_party": party.pk,
        "status": "operating",
        "opened_on": "2017-10-13",
        "closed_on": "",
        "latitude": "35.9",
        "longitude": "36.6",
        "notes": "",
    }
    data.update(overrides)
    return data


# --- Who reaches the admin ------------------------------------------------------------------


@pytest.mark.parametrize("name", ADMIN_URLS)
def test_administrator_reaches_the_admin(admin_client, name):
    assert admin_client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize(
    "role", [ObserverRole.OBSERVER, ObserverRole.COORDINATOR, ObserverRole.PARTNER]
)
@pytest.mark.parametrize("name", ADMIN_URLS)
def test_other_roles_are_refused(client, make_member, role, name):
    client.force_login(make_member(role))
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_visitor_is_sent_to_the_admin_login(client):
    response = client.get(reverse("admin:zones_zone_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_flag_without_the_administrator_role_opens_nothing(client, make_member):
    user = make_member(ObserverRole.COORDINATOR)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    assert client.get(reverse("admin:zones_zone_changelist")).status_code == 403
    assert client.get(reverse("admin:zones_post_add")).status_code == 403
    index = client.get(reverse("admin:index"))
    assert reverse("admin:zones_zone_changelist") not in index.content.decode()


def test_inactive_administrator_profile_opens_nothing(client, administrator_user):
    Observer.objects.filter(user=administrator_user).update(is_active=False)
    client.force_login(administrator_user)
    assert client.get(reverse("admin:zones_zone_changelist")).status_code == 403


def test_superuser_without_a_profile_reaches_the_admin(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    assert client.get(reverse("admin:zones_zone_changelist")).status_code == 200


def test_administrator_without_staff_flag_is_refused(client, make_member):
    client.force_login(make_member(ObserverRole.ADMINISTRATOR))  # is_staff False
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302


# --- Nothing is deleted ---------------------------------------------------------------------


def test_delete_is_not_offered(admin_client, zone):
    post = PostFactory(zone=zone)
    change = admin_client.get(reverse("admin:zones_post_change", args=[post.pk]))
    assert change.status_code == 200
    assert reverse("admin:zones_post_delete", args=[post.pk]) not in change.content.decode()
    assert 'class="deletelink"' not in change.content.decode()
    listing = admin_client.get(reverse("admin:zones_post_changelist"))
    assert "delete_selected" not in listing.content.decode()
    assert admin_client.get(reverse("admin:zones_post_delete", args=[post.pk])).status_code == 403
    response = admin_client.post(
        reverse("admin:zones_post_delete", args=[post.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Post.objects.filter(pk=post.pk).exists()


def test_delete_is_refused_even_through_the_bulk_action(admin_client, zone):
    post = PostFactory(zone=zone)
    response = admin_client.post(
        reverse("admin:zones_post_changelist"),
        {"action": "delete_selected", "_selected_action": [post.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert Post.objects.filter(pk=post.pk).exists()


def test_zone_inlines_offer_no_delete_box(admin_client, zone):
    body = admin_client.get(reverse("admin:zones_zone_change", args=[zone.pk])).content.decode()
    assert "-DELETE" not in body


def test_audit_log_is_read_only(admin_client, zone):
    entry = AuditEntry.objects.first()
    url = reverse("admin:monitoring_auditentry_change", args=[entry.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(url, {"comment": "rewritten"}).status_code == 403
    assert admin_client.get(reverse("admin:monitoring_auditentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.comment != "rewritten"


# --- Saves go through the services and are audited -------------------------------------------


def test_adding_a_party_writes_an_audit_entry_naming_the_administrator(
    admin_client, administrator_user
):
    response = admin_client.post(
        reverse("admin:monitoring_party_add"),
        {
            "code": "icrc",
            "name": "International Committee of the Red Cross",
            "short_name": "ICRC",
            "kind": "humanitarian_org",
            "country_code": "",
            "description": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    party = Party.objects.get(code="icrc")
    entry = AuditEntry.objects.get(object_pk=str(party.pk), content_type__model="party")
    assert entry.actor == administrator_user
    assert entry.actor_label == administrator_user.username
    assert entry.source == AuditEntrySource.ADMIN
    assert entry.action == AuditEntryAction.CREATE


def test_changing_a_post_audits_the_change(admin_client, administrator_user, zone):
    post = PostFactory(zone=zone)
    data = post_data(zone, post.operating_party, code=post.code, name="Renamed post", opened_on="")
    response = admin_client.post(reverse("admin:zones_post_change", args=[post.pk]), data)
    assert response.status_code == 302, field_errors(response, "latitude")
    post.refresh_from_db()
    assert post.name == "Renamed post"
    entry = AuditEntry.objects.filter(object_pk=str(post.pk), action=AuditEntryAction.UPDATE).get()
    assert entry.actor == administrator_user and entry.source == AuditEntrySource.ADMIN
    assert entry.changes["name"][1] == "Renamed post"


def test_post_outside_its_zone_shows_the_error_on_the_field_and_saves_nothing(admin_client, zone):
    party = PartyFactory()
    audits = AuditEntry.objects.count()
    response = admin_client.post(
        reverse("admin:zones_post_add"),
        post_data(zone, party, latitude="33.5", longitude="36.3"),  # Damascus, not the zone
    )
    assert response.status_code == 200
    errors = field_errors(response, "latitude")
    assert errors and "outside every zone" in errors[0] and zone.name in errors[0]
    assert not Post.objects.exists()
    assert AuditEntry.objects.count() == audits


def test_post_outside_syria_names_the_field(admin_client, zone):
    response = admin_client.post(
        reverse("admin:zones_post_add"),
        post_data(zone, PartyFactory(), latitude="48.85", longitude="2.35"),
    )
    assert response.status_code == 200
    assert "outside Syria's bounding box" in field_errors(response, "latitude")[0]
    assert "outside Syria's bounding box" in field_errors(response, "longitude")[0]
    assert not Post.objects.exists()


def test_post_inside_its_zone_is_saved_through_the_service(admin_client, zone):
    response = admin_client.post(reverse("admin:zones_post_add"), post_data(zone, PartyFactory()))
    assert response.status_code == 302
    post = Post.objects.get(code="op-test")
    assert AuditEntry.objects.filter(
        object_pk=str(post.pk), content_type__model="post", source=AuditEntrySource.ADMIN
    ).exists()


def excluded_area_data(group, geometry) -> dict:
    return {
        "code": "nusra-test",
        "name": "Test pocket",
        "group": group.pk,
        "registered_on": "2017-05-04",
        "valid_from_0": "2017-05-06",
        "valid_from_1": "00:00:00",
        "valid_until_0": "",
        "valid_until_1": "",
        "source": "",
        "geometry": geometry if isinstance(geometry, str) else json.dumps(geometry),
    }


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[36.5, 35.8], [36.7, 36.0], [36.7, 35.8], [36.5, 36.0], [36.5, 35.8]]],
}


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ('{"type": "Polygon", "coordinates": [[[36.5, 35.8], ', "Not valid JSON"),
        ({"type": "Point", "coordinates": [36.5, 35.8]}, "Expected a GeoJSON Polygon"),
        (BOWTIE, "A ring crosses itself"),
        (square(2.35, 48.85), "outside Syria's bounding box"),
        (square(33.5, 36.3), "GeoJSON lists longitude first"),  # Damascus, latitude first
    ],
    ids=["invalid-json", "not-a-polygon", "self-intersecting", "outside-syria", "lat-lon-swapped"],
)
def test_bad_geometry_shows_the_error_on_the_field_and_saves_nothing(
    admin_client, geometry, message
):
    group = ExcludedGroupFactory()
    audits = AuditEntry.objects.count()
    response = admin_client.post(
        reverse("admin:zones_excludedarea_add"), excluded_area_data(group, geometry)
    )
    assert response.status_code == 200
    errors = field_errors(response, "geometry")
    assert errors and message in errors[0], errors
    assert not ExcludedArea.objects.exists()
    assert AuditEntry.objects.count() == audits
    # What was typed is given back to be corrected, not lost.
    if isinstance(geometry, str):
        assert html.escape(geometry) in response.content.decode()


def test_valid_geometry_is_stored_as_a_multipolygon(admin_client):
    group = ExcludedGroupFactory()
    polygon = {"type": "Polygon", "coordinates": square(38.5, 35.0)["coordinates"][0]}
    response = admin_client.post(
        reverse("admin:zones_excludedarea_add"), excluded_area_data(group, polygon)
    )
    assert response.status_code == 302
    area = ExcludedArea.objects.get(code="nusra-test")
    assert area.geometry["type"] == "MultiPolygon"


def test_excluded_area_group_must_be_an_excluded_group(admin_client):
    state = PartyFactory()
    response = admin_client.post(
        reverse("admin:zones_excludedarea_add"), excluded_area_data(state, square(38.5, 35.0))
    )
    assert response.status_code == 200
    assert field_errors(response, "group")
    assert not ExcludedArea.objects.exists()


def test_geometry_widget_shows_a_map_and_the_text(admin_client):
    area_group = ExcludedGroupFactory()
    response = admin_client.post(
        reverse("admin:zones_excludedarea_add"), excluded_area_data(area_group, square(38.5, 35.0))
    )
    area = ExcludedArea.objects.get(code="nusra-test")
    assert response.status_code == 302
    body = admin_client.get(
        reverse("admin:zones_excludedarea_change", args=[area.pk])
    ).content.decode()
    assert "data-geojson-widget" in body and "geojson-widget__map" in body
    assert "leaflet/leaflet.js" in body and "leaflet/draw/leaflet.draw.js" in body
    assert "js/geojson-widget.js" in body
    assert '"MultiPolygon"' in html.unescape(body)


def test_adding_a_zone_with_its_first_lines_goes_through_the_services(
    admin_client, administrator_user
):
    agreement = AgreementFactory()
    page = admin_client.get(reverse("admin:zones_zone_add"))
    data = management_forms(page)
    history, new = [p for p in data if p.endswith("-TOTAL_FORMS") and p.startswith("boundaries")]
    assert history == "boundaries-TOTAL_FORMS" and new == "boundaries-2-TOTAL_FORMS"
    data |= {
        "code": "test-zone",
        "name": "Test zone",
        "status": "active",
        "agreement": agreement.pk,
        "effective_from_0": "2017-05-06",
        "effective_from_1": "00:00:00",
        "flights_banned": "on",
        "governorates": ["idlib", "hama"],
        "boundary_note": "Approximate",
        "description": "",
        "terms-TOTAL_FORMS": "1",
        "terms-0-kind": "initial",
        "terms-0-starts_at_0": "2017-05-06",
        "terms-0-starts_at_1": "00:00:00",
        "terms-0-ends_at_0": "",
        "terms-0-ends_at_1": "",
        "terms-0-note": "Open-ended for the test",
        "boundaries-2-TOTAL_FORMS": "1",
        "boundaries-2-0-valid_from_0": "2017-05-06",
        "boundaries-2-0-valid_from_1": "00:00:00",
        "boundaries-2-0-source": "Drawn in the admin",
        "boundaries-2-0-geometry": json.dumps(square(36.6, 35.9)),
    }
    response = admin_client.post(reverse("admin:zones_zone_add"), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    zone = Zone.objects.get(code="test-zone")
    assert zone.governorates == ["idlib", "hama"]
    boundary = ZoneBoundary.objects.get(zone=zone)
    assert boundary.revision == 1 and boundary.source == "Drawn in the admin"
    assert ZoneTerm.objects.get(zone=zone).ends_at is None
    for model, pk in (("zone", zone.pk), ("zoneboundary", boundary.pk)):
        entry = AuditEntry.objects.get(content_type__model=model, object_pk=str(pk))
        assert entry.actor == administrator_user and entry.source == AuditEntrySource.ADMIN


def test_a_new_zone_needs_its_lines(admin_client):
    agreement = AgreementFactory()
    data = management_forms(admin_client.get(reverse("admin:zones_zone_add")))
    data |= {
        "code": "no-lines",
        "name": "No lines",
        "status": "proposed",
        "agreement": agreement.pk,
        "effective_from_0": "2017-05-06",
        "effective_from_1": "00:00:00",
        "governorates": ["idlib"],
    }
    response = admin_client.post(reverse("admin:zones_zone_add"), data)
    assert response.status_code == 200
    assert "A new zone needs its lines" in response.content.decode()
    assert not Zone.objects.filter(code="no-lines").exists()


def test_a_new_boundary_revision_keeps_the_old_one(admin_client, zone):
    page = admin_client.get(reverse("admin:zones_zone_change", args=[zone.pk]))
    body = page.content.decode()
    assert "Boundary revisions on record" in body and "data-geojson-widget" in body
    data = management_forms(page)
    data |= {
        "code": zone.code,
        "name": zone.name,
        "status": zone.status,
        "agreement": zone.agreement_id,
        "effective_from_0": "2017-05-06",
        "effective_from_1": "00:00:00",
        "flights_banned": "on",
        "governorates": zone.governorates,
        "boundaries-TOTAL_FORMS": "1",
        "boundaries-INITIAL_FORMS": "1",
        "boundaries-0-id": str(zone.boundaries.get().pk),
        "boundaries-0-zone": str(zone.pk),
        "boundaries-2-TOTAL_FORMS": "1",
        "boundaries-2-0-valid_from_0": "2017-06-01",
        "boundaries-2-0-valid_from_1": "00:00:00",
        "boundaries-2-0-source": "Redrawn",
        "boundaries-2-0-geometry": json.dumps(square(36.6, 35.9, half=0.2)),
    }
    response = admin_client.post(reverse("admin:zones_zone_change", args=[zone.pk]), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    revisions = list(zone.boundaries.order_by("revision").values_list("revision", "source"))
    assert revisions == [(1, ""), (2, "Redrawn")]


def test_overlapping_terms_in_one_form_are_refused(admin_client, zone):
    data = management_forms(admin_client.get(reverse("admin:zones_zone_change", args=[zone.pk])))
    data |= {
        "code": zone.code,
        "name": zone.name,
        "status": zone.status,
        "agreement": zone.agreement_id,
        "effective_from_0": "2017-05-06",
        "effective_from_1": "00:00:00",
        "governorates": zone.governorates,
        "boundaries-TOTAL_FORMS": "1",
        "boundaries-INITIAL_FORMS": "1",
        "boundaries-0-id": str(zone.boundaries.get().pk),
        "boundaries-0-zone": str(zone.pk),
        "terms-TOTAL_FORMS": "2",
    }
    for i, (start, end) in enumerate((("2017-05-06", "2017-11-06"), ("2017-08-01", ""))):
        data |= {
            f"terms-{i}-kind": "initial" if i == 0 else "extension",
            f"terms-{i}-starts_at_0": start,
            f"terms-{i}-starts_at_1": "00:00:00",
            f"terms-{i}-ends_at_0": end,
            f"terms-{i}-ends_at_1": "00:00:00" if end else "",
            f"terms-{i}-note": "",
        }
    response = admin_client.post(reverse("admin:zones_zone_change", args=[zone.pk]), data)
    assert response.status_code == 200
    assert "overlaps another term" in response.content.decode()
    assert not ZoneTerm.objects.filter(zone=zone).exists()


def test_observer_assigned_a_zone_outside_the_center_shows_the_error_on_the_field(
    admin_client, center, delegation
):
    outside = ZoneFactory(center=(38.0, 35.0))
    user = UserFactory()
    response = admin_client.post(
        reverse("admin:monitoring_observer_add"),
        {
            "user": user.pk,
            "role": "observer",
            "delegation": delegation.pk,
            "center": center.pk,
            "assigned_zones": [outside.pk],
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert f"Not covered by {center.code}" in field_errors(response, "assigned_zones")[0]
    assert not Observer.objects.filter(user=user).exists()


def test_observer_saved_through_the_admin_keeps_assigned_zones_and_is_audited(
    admin_client, administrator_user, center, delegation, zone
):
    user = UserFactory()
    response = admin_client.post(
        reverse("admin:monitoring_observer_add"),
        {
            "user": user.pk,
            "role": "observer",
            "delegation": delegation.pk,
            "center": center.pk,
            "assigned_zones": [zone.pk],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    observer = Observer.objects.get(user=user)
    assert list(observer.assigned_zones.all()) == [zone]
    entry = AuditEntry.objects.get(content_type__model="observer", object_pk=str(observer.pk))
    assert entry.actor == administrator_user and entry.changes["assigned_zones"] == [
        None,
        [zone.pk],
    ]


def test_security_area_band_derived_from_the_zone_border(admin_client, zone):
    response = admin_client.post(
        reverse("admin:zones_securityarea_add"),
        {
            "code": "band-test",
            "name": "Band",
            "zone": zone.pk,
            "valid_from_0": "2017-05-06",
            "valid_from_1": "00:00:00",
            "valid_until_0": "",
            "valid_until_1": "",
            "derivation": "buffered",
            "width_km": "3",
            "geometry": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    area = zone.security_areas.get(code="band-test")
    assert area.geometry["type"] == "MultiPolygon"


def test_security_area_band_before_the_zone_had_lines_is_refused_on_the_date(admin_client, zone):
    response = admin_client.post(
        reverse("admin:zones_securityarea_add"),
        {
            "code": "band-test",
            "name": "Band",
            "zone": zone.pk,
            "valid_from_0": "2016-01-01",
            "valid_from_1": "00:00:00",
            "valid_until_0": "",
            "valid_until_1": "",
            "derivation": "buffered",
            "width_km": "3",
            "geometry": "",
        },
    )
    assert response.status_code == 200
    assert "no boundary in force" in field_errors(response, "valid_from")[0]
    assert not zone.security_areas.exists()


def test_drawn_security_area_needs_its_lines(admin_client, zone):
    response = admin_client.post(
        reverse("admin:zones_securityarea_add"),
        {
            "code": "drawn-test",
            "name": "Drawn",
            "zone": zone.pk,
            "valid_from_0": "2017-05-06",
            "valid_from_1": "00:00:00",
            "valid_until_0": "",
            "valid_until_1": "",
            "derivation": "drawn",
            "width_km": "",
            "geometry": "",
        },
    )
    assert response.status_code == 200
    assert "Draw the area" in field_errors(response, "geometry")[0]


# --- The geometry form field --------------------------------------------------------------


def test_formatted_geojson_reads_back_to_the_same_shape():
    shape = {"type": "MultiPolygon", "coordinates": [square(36.6, 35.9)["coordinates"][0]] * 1}
    text = format_geojson(shape)
    assert "\n" in text and json.loads(text) == shape
    assert GeoJSONField().clean(text) == json.loads(json.dumps(shape))


def test_unchanged_geometry_is_not_reported_as_a_change():
    shape = square(36.6, 35.9)
    field = GeoJSONField()
    assert not field.has_changed(shape, format_geojson(shape))
    assert field.has_changed(shape, format_geojson(square(36.6, 35.9, half=0.2)))


def test_admin_zone_changelist_shows_in_force_and_lines(admin_client, zone):
    body = admin_client.get(reverse("admin:zones_zone_changelist")).content.decode()
    assert zone.name in body and "r1" in body


def test_admin_views_on_site_link_to_the_zone_page(admin_client, zone):
    body = admin_client.get(reverse("admin:zones_zone_change", args=[zone.pk])).content.decode()
    assert reverse("zones:detail", args=[zone.code]) in body

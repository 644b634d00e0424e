"""The classifier on the seeded world: known places, moments, boundary revisions, areas,
nearest settlement and post, and the bulk form agreeing with the single-point form."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import call_command
from django.db import transaction

from zones.classifier import classify_point, classify_points
from zones.geometry import haversine_km
from zones.models import ExcludedArea, Post, SecurityArea, Settlement, Zone, ZoneSuspension
from zones.selectors import zone_in_force, zone_list
from zones.services import zone_boundary_at, zone_suspension_save

DAMASCUS = ZoneInfo("Asia/Damascus")

BEFORE_IN_FORCE = datetime(2017, 5, 5, 23, 59, tzinfo=DAMASCUS)
FIRST_LINES = datetime(2017, 5, 20, 12, 0, tzinfo=DAMASCUS)  # Idlib revision 1 in force
JUNE_3 = datetime(2017, 6, 3, 14, 0, tzinfo=DAMASCUS)  # Idlib revision 2 in force
SEPTEMBER = datetime(2017, 9, 1, 12, 0, tzinfo=DAMASCUS)  # southwest zone in force too
AFTER_EXTENSION = datetime(2018, 6, 1, 12, 0, tzinfo=DAMASCUS)

IDLIB_CITY = (35.930, 36.633)
DOUMA = (33.572, 36.402)
DARAA_CITY = (32.618, 36.102)
DAMASCUS_OLD_CITY = (33.511, 36.306)
ABU_AL_DUHUR = (35.740, 37.050)  # east of the railway: in the first Idlib line, not the second
KABANI = (35.745, 36.185)  # Kabani heights (Latakia): added by the second Idlib line


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker):
    """The seed data, loaded once for this module (only read here) in a transaction that
    is rolled back after its last test; each test runs in a savepoint inside it."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            call_command("seed", stdout=StringIO())
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def seeded(_seeded_once, db):
    return {zone.code: zone for zone in Zone.objects.all()}


def where(place, at):
    return classify_point(latitude=place[0], longitude=place[1], at=at)


# --------------------------------------------------------------------------- known places


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        (IDLIB_CITY, "idlib"),
        (DOUMA, "eastern-ghouta"),
        (DARAA_CITY, "southwest"),
        (DAMASCUS_OLD_CITY, None),
    ],
    ids=["Idlib city", "Douma", "Daraa city", "Damascus old city"],
)
def test_known_places(seeded, place, expected):
    result = where(place, SEPTEMBER)

    assert result.zone_code == expected
    if expected is None:
        assert result.zone_id is None and result.zone_ids == () and not result.zone_in_force
    else:
        assert result.zone_id == seeded[expected].pk and result.zone_in_force


def test_daraa_lies_in_both_southern_zones_and_the_later_one_governs(seeded):
    september = where(DARAA_CITY, SEPTEMBER)
    assert september.zone_ids == (seeded["southwest"].pk, seeded["daraa-quneitra"].pk)

    # Before 9 July 2017 the southwest lines were not yet in force: the Astana zone governs.
    june = where(DARAA_CITY, JUNE_3)
    assert june.zone_code == "daraa-quneitra" and june.zone_ids == (seeded["daraa-quneitra"].pk,)


def test_idlib_was_in_force_on_3_june_2017_and_not_before_6_may(seeded):
    idlib = seeded["idlib"]

    on_june_3 = where(IDLIB_CITY, JUNE_3)
    assert on_june_3.zone_code == "idlib" and on_june_3.zone_in_force is True

    before = where(IDLIB_CITY, BEFORE_IN_FORCE)
    assert before.zone_in_force is False
    assert before.zone_id is None  # no lines were in force yet either

    # Past the recorded extension the seed command added the automatic extensions due.
    after = where(IDLIB_CITY, AFTER_EXTENSION)
    assert after.zone_code == "idlib" and after.zone_in_force is True

    # A suspension takes the zone out of force for its period, and only for it.
    zone_suspension_save(
        suspension=ZoneSuspension(
            zone=idlib,
            starts_at=AFTER_EXTENSION - timedelta(days=1),
            ends_at=AFTER_EXTENSION + timedelta(days=1),
            reason="Offensive along the line of contact.",
        ),
        actor=None,
    )
    assert where(IDLIB_CITY, AFTER_EXTENSION).zone_in_force is False
    assert where(IDLIB_CITY, AFTER_EXTENSION + timedelta(days=2)).zone_in_force is True

    # The selectors answer the same from the stored terms.
    zone = zone_list().get(pk=idlib.pk)
    assert zone_in_force(zone, JUNE_3) is True
    assert zone_in_force(zone, BEFORE_IN_FORCE) is False
    assert zone_in_force(zone, AFTER_EXTENSION) is False
    assert zone_in_force(zone, AFTER_EXTENSION + timedelta(days=2)) is True


# --------------------------------------------------------------------------- revisions


def test_a_point_is_classified_by_the_lines_in_force_at_each_moment(seeded):
    idlib = seeded["idlib"]
    assert zone_boundary_at(zone=idlib, moment=FIRST_LINES).revision == 1
    assert zone_boundary_at(zone=idlib, moment=JUNE_3).revision == 2

    assert where(ABU_AL_DUHUR, FIRST_LINES).zone_code == "idlib"
    assert where(ABU_AL_DUHUR, JUNE_3).zone_code is None

    assert where(KABANI, FIRST_LINES).zone_code is None
    assert where(KABANI, JUNE_3).zone_code == "idlib"

    # The bulk form follows the same lines.
    lat, lon = np.array([ABU_AL_DUHUR[0], KABANI[0]]), np.array([ABU_AL_DUHUR[1], KABANI[1]])
    assert list(classify_points(lat, lon, at=FIRST_LINES).zone_id) == [idlib.pk, 0]
    assert list(classify_points(lat, lon, at=JUNE_3).zone_id) == [0, idlib.pk]


# --------------------------------------------------------------------------- areas


def test_a_point_in_an_excluded_area(seeded):
    uqayrbat = ExcludedArea.objects.get(code="isis-uqayrbat")
    desert = where((35.15, 37.75), SEPTEMBER)
    assert desert.excluded_area_ids == (uqayrbat.pk,) and desert.in_excluded_area
    assert desert.zone_id is None

    # Inside a zone and an excluded area at once: the Yarmouk Basin in the southwest zone.
    shajara = Settlement.objects.get(code="al-shajara")
    basin = where((shajara.latitude, shajara.longitude), SEPTEMBER)
    assert basin.zone_code == "southwest"
    assert basin.excluded_area_ids == (ExcludedArea.objects.get(code="isis-yarmouk-basin").pk,)

    # An area stops counting when the group lost it (Beit Jinn, end of December 2017).
    beit_jinn = Settlement.objects.get(code="beit-jinn")
    point = (beit_jinn.latitude, beit_jinn.longitude)
    assert where(point, SEPTEMBER).in_excluded_area
    assert not where(point, datetime(2018, 1, 15, tzinfo=DAMASCUS)).in_excluded_area

    assert not where(IDLIB_CITY, SEPTEMBER).in_excluded_area


def test_a_point_in_a_security_area(seeded):
    ghouta = seeded["eastern-ghouta"]
    band = SecurityArea.objects.get(code="eastern-ghouta-band")
    lon, lat = zone_boundary_at(zone=ghouta, moment=SEPTEMBER).geometry["coordinates"][0][0][0]

    on_the_border = classify_point(latitude=lat, longitude=lon, at=SEPTEMBER)
    assert on_the_border.security_area_ids == (band.pk,)
    assert on_the_border.security_area_zone_ids == (ghouta.pk,)
    assert not where(DOUMA, SEPTEMBER).in_security_area  # the middle of the pocket

    # A derived band follows the lines it was cut from: the first Idlib line's eastern
    # corner lies in the first band while that line holds, in no band afterwards.
    first_band = SecurityArea.objects.get(code="idlib-band-2017-05")
    corner = (35.72, 37.12)
    assert where(corner, FIRST_LINES).security_area_ids == (first_band.pk,)
    assert where(corner, JUNE_3).security_area_ids == ()

    # A drawn area counts from its own valid_from (15 September 2017).
    morek = Post.objects.get(code="tr-op-morek")
    drawn = SecurityArea.objects.get(code="north-hama-morek")
    point = (morek.latitude, morek.longitude)
    assert drawn.pk in where(point, datetime(2017, 10, 1, tzinfo=DAMASCUS)).security_area_ids
    assert drawn.pk not in where(point, SEPTEMBER).security_area_ids


# --------------------------------------------------------------------------- nearest


def test_nearest_settlement_and_post(seeded):
    douma = Settlement.objects.get(code="douma")
    wafideen = Post.objects.get(code="ru-cp-wafideen")
    morek_crossing = Post.objects.get(code="cp-morek")

    september = where(DOUMA, SEPTEMBER)
    assert september.nearest_settlement_id == douma.pk
    assert september.nearest_settlement_km == pytest.approx(0.0, abs=0.01)
    assert september.nearest_post_id == wafideen.pk
    assert september.nearest_post_km == pytest.approx(
        haversine_km(*DOUMA, wafideen.latitude, wafideen.longitude), abs=0.001
    )

    # On 1 June 2017 the Eastern Ghouta posts (opened 24 July) were not there yet; the
    # nearest open post was the Morek crossing, some 200 km north.
    june = where(DOUMA, datetime(2017, 6, 1, 12, 0, tzinfo=DAMASCUS))
    assert june.nearest_post_id == morek_crossing.pk
    assert june.nearest_post_km > 150

    old_city = where(DAMASCUS_OLD_CITY, SEPTEMBER)
    assert old_city.nearest_settlement_id == Settlement.objects.get(code="damascus").pk


# --------------------------------------------------------------------------- bulk


@pytest.mark.parametrize("moment", [FIRST_LINES, SEPTEMBER], ids=["20 May 2017", "1 Sep 2017"])
def test_bulk_classification_agrees_with_single_points(seeded, moment):
    # A regular grid over the zones plus points scattered near every zone's vertices,
    # where the two forms are most likely to disagree.
    lat_grid, lon_grid = np.meshgrid(np.linspace(32.4, 36.45, 60), np.linspace(35.7, 38.3, 50))
    lats, lons = [lat_grid.ravel()], [lon_grid.ravel()]
    rng = np.random.default_rng(2017)
    for zone in seeded.values():
        boundary = zone_boundary_at(zone=zone, moment=moment)
        if boundary is None:
            continue
        ring = np.array(boundary.geometry["coordinates"][0][0])
        for _ in range(12):
            lons.append(ring[:, 0] + rng.normal(0, 0.02, len(ring)))
            lats.append(ring[:, 1] + rng.normal(0, 0.02, len(ring)))
    lat, lon = np.concatenate(lats), np.concatenate(lons)
    assert lat.size > 3000

    bulk = classify_points(lat, lon, at=moment)

    zones_seen, outside, security_hits, excluded_hits = set(), 0, 0, 0
    for i in range(lat.size):
        single = classify_point(latitude=lat[i], longitude=lon[i], at=moment)
        assert bulk.zone_id[i] == (single.zone_id or 0), (lat[i], lon[i])
        if single.security_area_ids:
            assert bulk.security_area_id[i] in single.security_area_ids, (lat[i], lon[i])
            security_hits += 1
        else:
            assert bulk.security_area_id[i] == 0, (lat[i], lon[i])
        if single.excluded_area_ids:
            assert bulk.excluded_area_id[i] in single.excluded_area_ids, (lat[i], lon[i])
            excluded_hits += 1
        else:
            assert bulk.excluded_area_id[i] == 0, (lat[i], lon[i])
        zones_seen.update(single.zone_ids)
        outside += single.zone_id is None
    # The sample reaches every zone in force, the bands and the excluded areas.
    in_force = {z.pk for z in seeded.values() if zone_boundary_at(zone=z, moment=moment)}
    assert zones_seen == in_force and outside > 1000
    assert security_hits > 100 and excluded_hits > 10

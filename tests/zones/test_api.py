"""The read-only API of zones, areas, posts and settlements, their GeoJSON, and the
classify endpoint."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.choices import ObserverRole, PartyKind
from tests.api_base import APIViewTestCases, client_for, member, passwordless_user
from tests.factories import (
    AgreementFactory,
    CenterFactory,
    ExcludedAreaFactory,
    ExcludedGroupFactory,
    PartyFactory,
    PostFactory,
    SecurityAreaFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneSuspensionFactory,
    ZoneTermFactory,
    square,
)
from zones import classifier
from zones.choices import (
    PostKind,
    PostStatus,
    SecurityAreaDerivation,
    SettlementReconciliationStatus,
    ZoneStatus,
)
from zones.models import ExcludedArea, Post, SecurityArea, Settlement, Zone
from zones.services import zone_boundary_add

NORTH = (36.6, 35.9)  # lon, lat: the factories' default zone centre (Idlib)
SOUTH = (36.1, 32.8)  # near Daraa


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Zones ---------------------------------------------------------------------------------


class TestZoneAPI(APIViewTestCases.ReadOnlyAPIViewTestCase, APIViewTestCases.GeoJSONViewTestCase):
    basename = "zones-api:zone"
    model = Zone
    fields = {
        "id",
        "url",
        "code",
        "name",
        "governorates",
        "status",
        "agreement",
        "effective_from",
        "flights_banned",
        "description",
        "boundary_note",
        "at",
        "in_force",
        "current_term",
        "boundary_revision",
        "geometry",
        "terms",
        "suspensions",
        "boundaries",
    }
    # auth; count, page (with agreement), boundaries, terms, suspensions
    max_list_queries = 3 + 5
    geometry_type = "MultiPolygon"

    @classmethod
    def create_objects(cls, count):
        zones = ZoneFactory.create_batch(count)
        for zone in zones:
            ZoneTermFactory(zone=zone)
            ZoneSuspensionFactory(zone=zone)
        return zones

    @classmethod
    def create_filter_objects(cls):
        astana = AgreementFactory(code="astana")
        southwest = AgreementFactory(code="southwest")
        idlib = ZoneFactory(
            code="idlib", name="Idlib zone", governorates=["idlib", "hama"], agreement=astana
        )
        ghouta = ZoneFactory(
            code="eastern-ghouta",
            name="Eastern Ghouta",
            governorates=["rif-dimashq"],
            agreement=astana,
            center=(36.4, 33.55),
        )
        south = ZoneFactory(
            code="southwest",
            governorates=["daraa"],
            status=ZoneStatus.PROPOSED,
            agreement=southwest,
            center=SOUTH,
        )
        for zone in (idlib, ghouta):
            ZoneTermFactory(zone=zone, ends_at=None)
        ZoneSuspensionFactory(zone=ghouta, starts_at=utc(2017, 7, 1), ends_at=utc(2017, 7, 15))
        CenterFactory(code="JWG", zones=[idlib, ghouta])
        return {"idlib": idlib, "ghouta": ghouta, "south": south}

    filter_cases = [
        ({"status": "active"}, {"idlib", "ghouta"}),
        ({"status": "proposed"}, {"south"}),
        ({"governorate": "hama"}, {"idlib"}),
        ({"governorate": ["daraa", "rif-dimashq"]}, {"ghouta", "south"}),
        ({"agreement": "southwest"}, {"south"}),
        ({"center": "JWG"}, {"idlib", "ghouta"}),
        ({"in_force_at": "2017-06-01T00:00:00Z"}, {"idlib", "ghouta"}),
        ({"in_force_at": "2017-07-05T12:00:00Z"}, {"idlib"}),  # Ghouta suspended
        ({"in_force_at": "2017-07-15T00:00:00Z"}, {"idlib", "ghouta"}),  # suspension ended
        ({"in_force_at": "2017-05-05T20:59:59Z"}, set()),  # a second before the term
        ({"in_force_at": "2017-05-06T00:00:00+03:00"}, {"idlib", "ghouta"}),  # its first moment
        ({"q": "ghouta"}, {"ghouta"}),
        ({"code": "idlib,southwest"}, {"idlib", "south"}),
    ]
    invalid_filters = [
        {"status": "dormant"},
        {"governorate": "narnia"},
        {"in_force_at": "yesterday"},
        {"agreement": "versailles"},
        {"center": "XX"},
    ]

    @pytest.fixture
    def redrawn_zone(self, db):
        """Lines redrawn on 1 Sep 2017; a term to 5 Nov 2017; suspended 1-15 Jul 2017."""
        zone = ZoneFactory(code="redrawn", center=NORTH, half=0.1)
        zone_boundary_add(
            zone=zone,
            geometry=square(*NORTH, half=0.2),
            valid_from=utc(2017, 9, 1),
            source="Joint working group map",
            actor=None,
        )
        ZoneTermFactory(zone=zone)
        ZoneSuspensionFactory(zone=zone)
        return zone

    @pytest.mark.parametrize(
        ("at", "in_force", "revision", "half", "term"),
        [
            ("2017-01-01T00:00:00Z", False, None, None, None),  # before any lines
            ("2017-06-01T00:00:00Z", True, 1, 0.1, "initial"),
            ("2017-07-05T00:00:00Z", False, 1, 0.1, "initial"),  # suspended
            ("2017-10-01T00:00:00Z", True, 2, 0.2, "initial"),  # redrawn
            ("2017-11-05T21:00:00Z", False, 2, 0.2, None),  # the term has ended
            ("2017-07-01T02:59:59+03:00", True, 1, 0.1, "initial"),  # 23:59:59 UTC, 30 Jun
        ],
    )
    def test_zone_as_it_stood_at_a_moment(
        self, reader, redrawn_zone, at, in_force, revision, half, term
    ):
        body = reader.get(self.detail_url(redrawn_zone), {"at": at}).json()
        assert body["in_force"] is in_force
        assert body["boundary_revision"] == revision
        if half is None:
            assert body["geometry"] is None
        else:
            assert body["geometry"] == square(*NORTH, half=half)
        assert (body["current_term"] or {}).get("kind") == term
        assert datetime.fromisoformat(body["at"]) == datetime.fromisoformat(at)
        # The list answers the same for the same moment.
        listed = reader.get(self.url(), {"at": at, "code": "redrawn"}).json()["results"]
        assert [(z["in_force"], z["boundary_revision"]) for z in listed] == [(in_force, revision)]

    def test_zone_detail_lists_terms_suspensions_and_revisions(self, reader, redrawn_zone):
        body = reader.get(self.detail_url(redrawn_zone)).json()
        assert body["agreement"]["code"] == redrawn_zone.agreement.code
        assert [(t["kind"], t["starts_at"], t["ends_at"]) for t in body["terms"]] == [
            ("initial", "2017-05-05T21:00:00Z", "2017-11-05T21:00:00Z")
        ]
        assert [(s["starts_at"], s["ends_at"]) for s in body["suspensions"]] == [
            ("2017-07-01T00:00:00Z", "2017-07-15T00:00:00Z")
        ]
        assert [(b["revision"], b["valid_from"]) for b in body["boundaries"]] == [
            (1, "2017-05-05T21:00:00Z"),
            (2, "2017-09-01T00:00:00Z"),
        ]
        assert "geometry" not in body["boundaries"][0]
        # Now: the term ended in 2017 (no extension recorded), the latest lines hold.
        assert body["in_force"] is False
        assert body["boundary_revision"] == 2

    def test_geojson_at_a_moment(self, reader, redrawn_zone):
        def feature(at):
            response = reader.get(self.url("geojson"), {"at": at})
            assert response.status_code == 200
            (only,) = response.json()["features"]
            return only

        before = feature("2017-01-01T00:00:00Z")
        assert before["geometry"] is None
        assert before["properties"]["boundary_revision"] is None
        summer = feature("2017-06-01T00:00:00Z")
        assert summer["geometry"] == square(*NORTH, half=0.1)
        assert summer["properties"]["in_force"] is True
        autumn = feature("2017-10-01T00:00:00Z")
        assert autumn["geometry"] == square(*NORTH, half=0.2)
        assert autumn["properties"]["boundary_revision"] == 2

    @pytest.mark.parametrize("bad", ["yesterday", "2017-13-01T00:00:00Z", "2017-06-01T25:00"])
    @pytest.mark.parametrize("action", ["list", "detail", "geojson"])
    def test_bad_moment_is_a_400_naming_at(self, reader, redrawn_zone, bad, action):
        url = self.detail_url(redrawn_zone) if action == "detail" else self.url(action)
        response = reader.get(url, {"at": bad})
        assert response.status_code == 400
        assert list(response.json()) == ["at"]

    def test_empty_moment_means_now(self, reader, redrawn_zone):
        response = reader.get(self.detail_url(redrawn_zone), {"at": ""})
        assert response.status_code == 200
        assert response.json()["boundary_revision"] == 2


# --- Security and excluded areas -------------------------------------------------------------


class TestSecurityAreaAPI(
    APIViewTestCases.ReadOnlyAPIViewTestCase, APIViewTestCases.GeoJSONViewTestCase
):
    basename = "zones-api:securityarea"
    model = SecurityArea
    fields = {
        "id",
        "url",
        "code",
        "name",
        "zone",
        "derivation",
        "width_km",
        "geometry",
        "valid_from",
        "valid_until",
    }
    max_list_queries = 3 + 2  # auth; count, page (with zone)
    geometry_type = "MultiPolygon"

    @classmethod
    def create_objects(cls, count):
        return SecurityAreaFactory.create_batch(count, zone=ZoneFactory())

    @classmethod
    def create_filter_objects(cls):
        north = ZoneFactory(code="north", center=NORTH)
        south = ZoneFactory(code="south", center=SOUTH)
        return {
            "north-band": SecurityAreaFactory(code="north-band", zone=north),
            "old-band": SecurityAreaFactory(
                code="old-band", name="Old line", zone=north, valid_until=utc(2017, 9, 1)
            ),
            "south-band": SecurityAreaFactory(
                code="south-band",
                zone=south,
                derivation=SecurityAreaDerivation.BUFFERED,
                width_km=4,
            ),
        }

    filter_cases = [
        ({"zone": "north"}, {"north-band", "old-band"}),
        ({"derivation": "buffered"}, {"south-band"}),
        ({"valid_at": "2017-06-01T00:00:00Z"}, {"north-band", "old-band", "south-band"}),
        ({"valid_at": "2017-09-01T00:00:00Z"}, {"north-band", "south-band"}),  # end excluded
        ({"valid_at": "2017-05-05T20:00:00Z"}, set()),
        ({"q": "old line"}, {"old-band"}),
        ({"code": "south-band"}, {"south-band"}),
    ]
    invalid_filters = [
        {"derivation": "guessed"},
        {"valid_at": "soon"},
        {"zone": "atlantis"},
    ]

    def test_buffered_area_carries_its_band(self, reader):
        zone = ZoneFactory(center=SOUTH)
        area = SecurityAreaFactory(
            zone=zone, derivation=SecurityAreaDerivation.BUFFERED, width_km=4
        )
        body = reader.get(self.detail_url(area)).json()
        assert body["zone"]["code"] == zone.code
        assert body["width_km"] == 4
        assert body["geometry"]["type"] == "MultiPolygon"
        assert body["geometry"] != square(*SOUTH, half=0.05)  # derived, not the default


class TestExcludedAreaAPI(
    APIViewTestCases.ReadOnlyAPIViewTestCase, APIViewTestCases.GeoJSONViewTestCase
):
    basename = "zones-api:excludedarea"
    model = ExcludedArea
    fields = {
        "id",
        "url",
        "code",
        "name",
        "group",
        "geometry",
        "registered_on",
        "valid_from",
        "valid_until",
        "source",
    }
    max_list_queries = 3 + 2  # auth; count, page (with group)
    geometry_type = "MultiPolygon"

    @classmethod
    def create_objects(cls, count):
        return ExcludedAreaFactory.create_batch(count, group=ExcludedGroupFactory())

    @classmethod
    def create_filter_objects(cls):
        isis = ExcludedGroupFactory(code="isis", name="Islamic State")
        nusra = ExcludedGroupFactory(code="nusra", name="Jabhat al-Nusra")
        return {
            "raqqa": ExcludedAreaFactory(code="raqqa", group=isis, center=(39.0, 35.95)),
            "palmyra": ExcludedAreaFactory(
                code="palmyra",
                group=isis,
                center=(38.27, 34.55),
                valid_until=utc(2017, 8, 1),
            ),
            "idlib-hts": ExcludedAreaFactory(
                code="idlib-hts",
                name="Northern Idlib",
                group=nusra,
                center=(36.7, 36.1),
                registered_on=date(2017, 9, 15),
                valid_from=utc(2017, 9, 15),
            ),
        }

    filter_cases = [
        ({"group": "isis"}, {"raqqa", "palmyra"}),
        ({"group": "nusra"}, {"idlib-hts"}),
        ({"valid_at": "2017-06-01T00:00:00Z"}, {"raqqa", "palmyra"}),
        ({"valid_at": "2017-10-01T00:00:00Z"}, {"raqqa", "idlib-hts"}),
        ({"registered_after": "2017-06-01"}, {"idlib-hts"}),
        ({"registered_before": "2017-05-04"}, {"raqqa", "palmyra"}),
        ({"q": "northern"}, {"idlib-hts"}),
    ]
    invalid_filters = [
        {"group": "atlantis"},
        {"valid_at": "never"},
        {"registered_after": "2017-02-30"},
    ]

    def test_group_is_nested(self, reader):
        group = ExcludedGroupFactory(code="isis")
        area = ExcludedAreaFactory(group=group)
        body = reader.get(self.detail_url(area)).json()
        assert body["group"]["code"] == "isis"
        assert body["group"]["kind"] == PartyKind.EXCLUDED_GROUP


# --- Posts and settlements ----------------------------------------------------------------------


class TestPostAPI(APIViewTestCases.ReadOnlyAPIViewTestCase, APIViewTestCases.GeoJSONViewTestCase):
    basename = "zones-api:post"
    model = Post
    fields = {
        "id",
        "url",
        "code",
        "name",
        "kind",
        "status",
        "zone",
        "operating_party",
        "latitude",
        "longitude",
        "opened_on",
        "closed_on",
        "serves_civilians",
        "serves_humanitarian",
        "serves_economic",
        "purposes",
        "notes",
    }
    max_list_queries = 3 + 2  # auth; count, page (with zone and operating party)
    geometry_type = "Point"

    @classmethod
    def create_objects(cls, count):
        zone = ZoneFactory()
        return PostFactory.create_batch(count, zone=zone, operating_party=PartyFactory())

    @classmethod
    def create_filter_objects(cls):
        north = ZoneFactory(code="north", center=NORTH, half=0.2)
        south = ZoneFactory(code="south", center=SOUTH, half=0.2)
        russia, turkey = PartyFactory(code="russia"), PartyFactory(code="turkey")
        return {
            "op-north": PostFactory(
                code="op-north",
                zone=north,
                operating_party=russia,
                latitude=35.9,
                longitude=36.6,
                opened_on=date(2017, 6, 1),
            ),
            "cp-aid": PostFactory(
                code="cp-aid",
                name="Aid crossing",
                kind=PostKind.CHECKPOINT,
                zone=north,
                operating_party=turkey,
                serves_civilians=True,
                serves_humanitarian=True,
                latitude=35.95,
                longitude=36.65,
                opened_on=date(2017, 7, 1),
                closed_on=date(2017, 12, 1),
            ),
            "cp-trade": PostFactory(
                code="cp-trade",
                kind=PostKind.CHECKPOINT,
                status=PostStatus.SUSPENDED,
                zone=south,
                operating_party=russia,
                serves_economic=True,
                latitude=32.8,
                longitude=36.1,
            ),
            "op-planned": PostFactory(
                code="op-planned",
                status=PostStatus.PLANNED,
                zone=south,
                operating_party=turkey,
                latitude=32.85,
                longitude=36.15,
            ),
        }

    filter_cases = [
        ({"kind": "checkpoint"}, {"cp-aid", "cp-trade"}),
        ({"status": ["operating", "suspended"]}, {"op-north", "cp-aid", "cp-trade"}),
        ({"zone": "south"}, {"cp-trade", "op-planned"}),
        ({"operating_party": "turkey"}, {"cp-aid", "op-planned"}),
        ({"purpose": "humanitarian"}, {"cp-aid"}),
        ({"purpose": ["economic", "civilians"]}, {"cp-aid", "cp-trade"}),
        ({"bbox": "36.0,32.5,36.2,33.0"}, {"cp-trade", "op-planned"}),
        ({"bbox": "36.6,35.9,36.65,35.95"}, {"op-north", "cp-aid"}),  # edges included
        ({"bbox": "36.61,35.9,36.65,35.94"}, set()),
        ({"open_on": "2017-06-15"}, {"op-north", "cp-trade"}),
        ({"open_on": "2017-08-01"}, {"op-north", "cp-aid", "cp-trade"}),
        ({"open_on": "2017-12-01"}, {"op-north", "cp-trade"}),  # closed that day
        ({"opened_after": "2017-06-15"}, {"cp-aid"}),
        ({"q": "aid crossing"}, {"cp-aid"}),
        ({"zone": "north", "kind": "observation_post"}, {"op-north"}),
    ]
    invalid_filters = [
        {"bbox": "36.0,32.5,36.2"},
        {"bbox": "west,south,east,north"},
        {"bbox": "37,32,36,33"},
        {"bbox": "200,32,201,33"},
        {"bbox": "nan,32,36,33"},
        {"kind": "tank"},
        {"purpose": "smuggling"},
        {"open_on": "June"},
        {"zone": "atlantis"},
        {"operating_party": "nobody"},
    ]

    def test_checkpoint_purposes_in_words(self, reader):
        zone = ZoneFactory()
        post = PostFactory(
            zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True, serves_economic=True
        )
        body = reader.get(self.detail_url(post)).json()
        assert body["purposes"] == ["unarmed civilians", "economic activity"]
        assert body["zone"]["code"] == zone.code
        assert body["operating_party"]["code"] == post.operating_party.code


class TestSettlementAPI(
    APIViewTestCases.ReadOnlyAPIViewTestCase, APIViewTestCases.GeoJSONViewTestCase
):
    basename = "zones-api:settlement"
    model = Settlement
    fields = {
        "id",
        "url",
        "code",
        "name",
        "name_ar",
        "governorate",
        "district",
        "population",
        "controlling_party",
        "reconciliation_status",
        "reconciled_on",
        "latitude",
        "longitude",
    }
    max_list_queries = 3 + 2  # auth; count, page (with controlling party)
    geometry_type = "Point"

    @classmethod
    def create_objects(cls, count):
        return SettlementFactory.create_batch(count, controlling_party=PartyFactory())

    @classmethod
    def create_filter_objects(cls):
        opposition = PartyFactory(code="opposition", kind=PartyKind.ARMED_OPPOSITION)
        government = PartyFactory(code="government", kind=PartyKind.GOVERNMENT_FORCES)
        return {
            "idlib": SettlementFactory(
                code="idlib-city",
                name="Idlib",
                name_ar="إدلب",
                governorate="idlib",
                latitude=35.93,
                longitude=36.63,
                population=165000,
                controlling_party=opposition,
            ),
            "douma": SettlementFactory(
                code="douma",
                name="Douma",
                governorate="rif-dimashq",
                latitude=33.57,
                longitude=36.40,
                population=110000,
                controlling_party=opposition,
                reconciliation_status=SettlementReconciliationStatus.NEGOTIATING,
            ),
            "daraa": SettlementFactory(
                code="daraa",
                name="Daraa",
                governorate="daraa",
                latitude=32.62,
                longitude=36.10,
                population=97000,
                controlling_party=government,
                reconciliation_status=SettlementReconciliationStatus.JOINED,
                reconciled_on=date(2018, 7, 12),
            ),
            "saraqib": SettlementFactory(
                code="saraqib",
                name="Saraqib",
                governorate="idlib",
                latitude=35.86,
                longitude=36.80,
                population=None,
                reconciliation_status=SettlementReconciliationStatus.WITHDRAWN,
            ),
        }

    filter_cases = [
        ({"governorate": "idlib"}, {"idlib", "saraqib"}),
        ({"reconciliation_status": "joined"}, {"daraa"}),
        ({"reconciliation_status": ["negotiating", "withdrawn"]}, {"douma", "saraqib"}),
        ({"controlling_party": "government"}, {"daraa"}),
        ({"q": "إدلب"}, {"idlib"}),
        ({"q": "DOU"}, {"douma"}),
        ({"bbox": "36.0,32.0,36.5,34.0"}, {"douma", "daraa"}),
        ({"bbox": "36.5,35.5,37.0,36.0"}, {"idlib", "saraqib"}),
        ({"population_min": 100000}, {"idlib", "douma"}),
        ({"population_max": 100000}, {"daraa"}),
        ({"reconciled_after": "2018-01-01"}, {"daraa"}),
        ({"governorate": "idlib", "bbox": "36.7,35.5,37.0,36.0"}, {"saraqib"}),
    ]
    invalid_filters = [
        {"bbox": "1,2,3"},
        {"bbox": "36,35,x,36"},
        {"governorate": "narnia"},
        {"population_min": "many"},
        {"reconciliation_status": "maybe"},
        {"controlling_party": "nobody"},
    ]


# --- Classify -------------------------------------------------------------------------------


@pytest.fixture
def places(db):
    """Two Astana zones, the later southwest zone over the southern one, a security area,
    an excluded area, settlements and a post."""
    astana = AgreementFactory(code="astana")
    southwest = AgreementFactory(code="southwest")
    idlib = ZoneFactory(code="idlib", agreement=astana, center=NORTH, half=0.3)
    astana_south = ZoneFactory(code="astana-south", agreement=astana, center=SOUTH, half=0.4)
    south = ZoneFactory(
        code="southwest",
        agreement=southwest,
        center=SOUTH,
        half=0.3,
        effective_from=utc(2017, 7, 9),
    )
    ZoneTermFactory(zone=idlib, ends_at=None)
    ZoneTermFactory(zone=astana_south, ends_at=None)
    ZoneTermFactory(zone=south, starts_at=utc(2017, 7, 9), ends_at=None)
    ZoneSuspensionFactory(zone=astana_south, starts_at=utc(2017, 7, 1), ends_at=None)
    band = SecurityAreaFactory(code="idlib-band", zone=idlib, center=NORTH, half=0.05)
    isis = ExcludedGroupFactory(code="isis")
    raqqa = ExcludedAreaFactory(code="raqqa", group=isis, center=(39.0, 35.95), half=0.1)
    idlib_city = SettlementFactory(code="idlib-city", latitude=35.93, longitude=36.63)
    douma = SettlementFactory(code="douma", latitude=33.57, longitude=36.40)
    post = PostFactory(code="op-1", zone=idlib, opened_on=date(2017, 6, 1))
    classifier.invalidate()  # suspensions have no service of their own to say they changed
    return {
        "idlib": idlib,
        "south": south,
        "astana-south": astana_south,
        "band": band,
        "raqqa": raqqa,
        "idlib-city": idlib_city,
        "douma": douma,
        "post": post,
    }


def classify(client, **params):
    return client.get("/api/v1/classify/", params)


def test_classify_a_point_in_a_zone_and_its_security_area(places):
    client = client_for(member(ObserverRole.OBSERVER))
    response = classify(client, latitude=35.9, longitude=36.6, at="2017-08-01T00:00:00Z")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["zone"]["code"] == "idlib"
    assert body["zone"]["in_force"] is True
    assert {"id", "url", "code", "name", "in_force"} == set(body["zone"])
    assert [z["code"] for z in body["zones"]] == ["idlib"]
    assert body["in_security_area"] is True
    assert [(a["code"], a["zone"]["code"]) for a in body["security_areas"]] == [
        ("idlib-band", "idlib")
    ]
    assert body["in_excluded_area"] is False and body["excluded_areas"] == []
    assert body["nearest_settlement"]["code"] == "idlib-city"
    assert body["nearest_settlement"]["distance_km"] == pytest.approx(4.3, abs=0.2)
    assert body["nearest_post"]["code"] == "op-1"
    assert body["nearest_post"]["distance_km"] == pytest.approx(0.0, abs=0.01)
    assert (body["latitude"], body["longitude"]) == (35.9, 36.6)
    assert body["at"] == "2017-08-01T00:00:00Z"


def test_classify_before_the_lines_existed(places):
    client = client_for(member(ObserverRole.PARTNER))
    body = classify(client, latitude=35.9, longitude=36.6, at="2017-05-01T00:00:00Z").json()
    assert body["zone"] is None and body["zones"] == []
    assert body["security_areas"] == []  # the band too starts on 6 May
    assert body["nearest_post"] is None  # the post opened in June
    assert body["nearest_settlement"]["code"] == "idlib-city"


def test_classify_overlapping_zones_latest_governs(places):
    client = client_for(member(ObserverRole.COORDINATOR))
    body = classify(client, latitude=32.8, longitude=36.1, at="2017-08-01T00:00:00Z").json()
    assert body["zone"]["code"] == "southwest"
    assert body["zone"]["in_force"] is True
    assert [(z["code"], z["in_force"]) for z in body["zones"]] == [
        ("southwest", True),
        ("astana-south", False),  # suspended since 1 July
    ]
    assert body["nearest_settlement"]["code"] == "douma"


def test_classify_a_point_in_an_excluded_area(places):
    client = client_for(member(ObserverRole.ADMINISTRATOR))
    body = classify(client, latitude=35.95, longitude=39.0, at="2017-08-01T00:00:00Z").json()
    assert body["zone"] is None
    assert body["in_excluded_area"] is True
    assert [(a["code"], a["group"]["code"]) for a in body["excluded_areas"]] == [("raqqa", "isis")]


def test_classify_defaults_to_now(places):
    client = client_for(member(ObserverRole.OBSERVER))
    body = classify(client, latitude=35.9, longitude=36.6).json()
    assert body["zone"]["code"] == "idlib"
    at = datetime.fromisoformat(body["at"])
    assert at > utc(2020, 1, 1)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"longitude": 36.6}, {"latitude"}),
        ({}, {"latitude", "longitude"}),
        ({"latitude": "north", "longitude": 36.6}, {"latitude"}),
        ({"latitude": 35.9, "longitude": ""}, {"longitude"}),
        ({"latitude": 48.85, "longitude": 2.35}, {"latitude", "longitude"}),  # Paris
        ({"latitude": 35.9, "longitude": 43.0}, {"longitude"}),  # Iraq
        ({"latitude": "nan", "longitude": 36.6}, {"latitude"}),
        ({"latitude": 35.9, "longitude": 36.6, "at": "tomorrow"}, {"at"}),
    ],
)
def test_classify_bad_input_is_a_400_naming_the_field(places, params, named):
    client = client_for(member(ObserverRole.OBSERVER))
    response = classify(client, **params)
    assert response.status_code == 400
    assert set(response.json()) == named


def test_classify_outside_syria_says_so(places):
    client = client_for(member(ObserverRole.OBSERVER))
    body = classify(client, latitude=48.85, longitude=36.6).json()
    assert "Syria" in body["latitude"][0]


def test_classify_query_count(places, django_assert_max_num_queries):
    client = client_for(member(ObserverRole.OBSERVER))
    classify(client, latitude=35.9, longitude=36.6)  # loads the geometry once
    # auth 3; zones 1 + boundaries, terms, suspensions 3; areas 2; settlement 1; post 1
    with django_assert_max_num_queries(3 + 8), CaptureQueriesContext(connection) as queries:
        response = classify(client, latitude=35.9, longitude=36.6, at="2017-08-01T00:00Z")
    assert response.status_code == 200
    assert len(queries) >= 3 + 6  # it does resolve what it found


@pytest.mark.parametrize("role", ObserverRole.values)
def test_classify_every_role_may_read(places, role):
    response = classify(client_for(member(role)), latitude=35.9, longitude=36.6)
    assert response.status_code == 200


def test_classify_refuses_anonymous(places):
    assert classify(client_for(None), latitude=35.9, longitude=36.6).status_code in (401, 403)


def test_classify_refuses_a_user_without_a_profile(places):
    response = classify(client_for(passwordless_user()), latitude=35.9, longitude=36.6)
    assert response.status_code == 403


def test_classify_refuses_an_inactive_profile(places):
    user = member(ObserverRole.COORDINATOR, is_active=False)
    assert classify(client_for(user), latitude=35.9, longitude=36.6).status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_classify_is_read_only(places, method):
    client = client_for(member(ObserverRole.ADMINISTRATOR))
    response = getattr(client, method)(
        "/api/v1/classify/", {"latitude": 35.9, "longitude": 36.6}, format="json"
    )
    assert response.status_code == 405

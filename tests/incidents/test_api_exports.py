"""Reports for partner tools: ``reports/geojson/`` (a FeatureCollection) and
``reports/export/`` (CSV with chosen fields, optionally HXL-tagged): the list's visibility,
filters and ordering in both, the fields choice and its errors, the HXL row, CSV injection,
streaming, and query counts that do not grow with the rows."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.api.exports import GEOJSON_MAX_FEATURES, ReportGeoJSONPagination
from incidents.choices import ReportKind, ReportStatus
from incidents.selectors import exports as export_selectors
from incidents.selectors.exports import EXPORT_FIELDS, EXPORT_FIELDS_BY_NAME
from monitoring.choices import ObserverRole, PartyKind
from tests.api_base import client_for
from tests.api_base import token_client as token_client_for
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
GEOJSON = reverse("incidents-api:report-geojson")
EXPORT = reverse("incidents-api:report-export")
ALL_FIELDS = [f.name for f in EXPORT_FIELDS]
# One HXL hashtag and its attributes (HXL 1.1 tagging conventions).
HXL_TAG = re.compile(r"^#[a-z][a-z0-9_]*(\s*\+[a-z][a-z0-9_]*)*$")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- The world: a center with two zones, a report of each kind, another center -------------


@pytest.fixture
def world(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    north = ZoneFactory(center=(37.2, 36.4))
    center.zones.add(north)
    turkey = PartyFactory(code="turkey", name="Turkey")
    sarc = PartyFactory(code="sarc", name="SARC", kind=PartyKind.HUMANITARIAN_ORG)
    icrc = PartyFactory(code="icrc", name="ICRC", kind=PartyKind.HUMANITARIAN_ORG)
    town = SettlementFactory(code="town", name="Town")
    crossing = PostFactory(zone=zone, code="cp-1", kind=PostKind.CHECKPOINT, serves_civilians=True)
    people = {
        "author": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "elsewhere": make_member(
            ObserverRole.COORDINATOR, center=CenterFactory(code="OTH", zones=[zone])
        ),
    }
    elsewhere_observer = make_member(
        ObserverRole.OBSERVER, center=people["elsewhere"].observer.center
    )
    coordinator = people["coordinator"]
    reports = {
        "shelling": report_file(
            people["turkish"],
            status=S.VERIFIED,
            reviewer=coordinator,
            occurred_at=utc(2017, 6, 3, 11),
            latitude=35.91,
            longitude=36.62,
            settlement=town,
            narrative='=HYPERLINK("http://evil.example/","Click")',
            detail={
                "category": "shelling",
                "alleged_perpetrator": turkey,
                "weapon": "@SUM(1+1)",
                "events": 4,
                "civilians_killed_low": 1,
                "civilians_killed_best": 2,
                "civilians_killed_high": 3,
                "combatants_killed_best": 1,
                "combatants_killed_high": 1,
                "civilians_injured_best": 4,
                "civilians_injured_high": 6,
            },
        ),
        "sniper": report_file(
            people["author"],
            status=S.SUBMITTED,
            occurred_at=utc(2017, 6, 5, 9),
            latitude=36.4,
            longitude=37.2,
            narrative="-1+2 shots, then +3 more; @night",
            detail={"category": "small_arms"},
        ),
        "convoy": report_file(
            people["author"],
            kind=ReportKind.CONVOY,
            status=S.SUBMITTED,
            occurred_at=utc(2017, 6, 4, 12),
            detail=convoy_detail([sarc, icrc], town),
        ),
        "checkpoint": report_file(
            people["author"],
            kind=ReportKind.CHECKPOINT,
            status=S.VERIFIED,
            reviewer=coordinator,
            occurred_at=utc(2017, 6, 6, 8),
            detail=shift_detail(crossing, utc(2017, 6, 6, 8)),
        ),
        "draft": report_file(people["author"], occurred_at=utc(2017, 6, 2, 8)),
        "elsewhere": report_file(
            elsewhere_observer, status=S.SUBMITTED, occurred_at=utc(2017, 6, 3, 9)
        ),
    }
    return {
        "people": people,
        "reports": reports,
        "north": north,
        "zone": zone,
        "parties": {"sarc": sarc, "icrc": icrc, "turkey": turkey},
        "town": town,
        "crossing": crossing,
    }


def convoy_detail(organizations, destination) -> dict:
    return {
        "operation": "road_convoy",
        "organizations": organizations,
        "vehicle_count": 31,
        "origin": "Damascus warehouse",
        "destination": destination,
        "planned_at": utc(2017, 6, 4, 6),
        "status": "delivered",
        "beneficiaries": 12000,
    }


def shift_detail(post, end: datetime) -> dict:
    return {
        "checkpoint": post,
        "period_start": end - timedelta(hours=8),
        "period_end": end,
        "status": "open",
        "civilians_in": 120,
        "civilians_out": 80,
        "vehicles_in": 7,
    }


def names_of(world, references) -> set[str]:
    by_reference = {r.reference: name for name, r in world["reports"].items()}
    return {by_reference[reference] for reference in references}


def token_client(world, scopes: str = "read"):
    people = world["people"]
    return token_client_for(
        people["partner"], actor=people["coordinator"], scopes=scopes, name="UNOCHA sync"
    )


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def export_rows(client, params=None) -> list[dict[str, str]]:
    """The export's rows as dicts by header (the HXL row, when asked for, checked and left
    out)."""
    params = params or {}
    header, *rows = read_csv(client.get(EXPORT, params))
    if params.get("hxl") in ("true", "1"):
        tags = rows.pop(0)
        assert tags == [EXPORT_FIELDS_BY_NAME[name].hxl for name in header]
    return [dict(zip(header, row, strict=True)) for row in rows]


def geojson(client, params=None) -> dict:
    response = client.get(GEOJSON, params or {})
    assert response.status_code == 200, response.content
    return response.json()


def feature_names(world, client, params=None) -> set[str]:
    refs = [f["properties"]["reference"] for f in geojson(client, params)["features"]]
    assert len(refs) == len(set(refs))
    return names_of(world, refs)


def export_names(world, client, params=None) -> set[str]:
    refs = [row["reference"] for row in export_rows(client, params)]
    assert len(refs) == len(set(refs))
    return names_of(world, refs)


# --- Who sees what -------------------------------------------------------------------------

VISIBLE = {
    "coordinator": {"shelling", "sniper", "convoy", "checkpoint"},
    "author": {"sniper", "convoy", "checkpoint", "draft", "shelling"},
    "partner": {"shelling", "checkpoint"},
    "elsewhere": {"elsewhere"},
}


def test_both_formats_hold_exactly_what_the_caller_may_see(world):
    for who, visible in VISIBLE.items():
        client = client_for(world["people"][who])
        assert feature_names(world, client) == visible, who
        assert export_names(world, client) == visible, who


def test_a_partner_token_reads_only_what_its_partner_sees(world):
    client = token_client(world)
    assert feature_names(world, client) == {"shelling", "checkpoint"}
    header, tags, *rows = read_csv(client.get(EXPORT, {"hxl": "true", "fields": "reference"}))
    assert (header, tags) == (["reference"], ["#meta +id"])
    assert names_of(world, [row[0] for row in rows]) == {"shelling", "checkpoint"}


def test_another_center_sees_none_of_ours(world):
    client = client_for(world["people"]["elsewhere"])
    ours = {r.reference for name, r in world["reports"].items() if name != "elsewhere"}
    features = geojson(client)["features"]
    assert ours.isdisjoint(f["properties"]["reference"] for f in features)
    assert ours.isdisjoint(row["reference"] for row in export_rows(client))
    # Even asking for our zone's reports by filter.
    assert geojson(client, {"center": "OTH", "kind": "convoy"})["features"] == []


def test_anonymous_and_profileless_callers_are_refused(world, user_without_role):
    bad_token = client_for(None)
    bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-real-secret")
    for url in (GEOJSON, EXPORT):
        anonymous = client_for(None).get(url)
        assert anonymous.status_code in (401, 403), url
        assert anonymous["Content-Type"].startswith(("application/json", "application/geo+json"))
        assert anonymous.json()["detail"]
        assert client_for(user_without_role).get(url).status_code == 403, url
        response = bad_token.get(url)
        assert response.status_code == 401, url
        assert response.json()["detail"]


def test_they_are_read_only(world):
    client = client_for(world["people"]["coordinator"])
    for url in (GEOJSON, EXPORT):
        for method in (client.post, client.put, client.patch, client.delete):
            assert method(url, {}, format="json").status_code == 405, (url, method)


# --- GeoJSON ---------------------------------------------------------------------------------


def test_geojson_is_an_rfc7946_feature_collection(world):
    response = client_for(world["people"]["coordinator"]).get(GEOJSON)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/geo+json")
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    assert collection["count"] == 4
    assert collection["next"] is None and collection["previous"] is None
    by_name = {
        names_of(world, [f["properties"]["reference"]]).pop(): f for f in collection["features"]
    }
    shelling = world["reports"]["shelling"]
    feature = by_name["shelling"]
    assert feature["type"] == "Feature"
    assert feature["id"] == str(shelling.uuid)
    # Longitude first.
    assert feature["geometry"] == {"type": "Point", "coordinates": [36.62, 35.91]}
    assert feature["properties"] == {
        "uuid": str(shelling.uuid),
        "reference": shelling.reference,
        "kind": "violation",
        "status": "verified",
        "occurred_at": "2017-06-03T11:00:00Z",
        "zone": world["zone"].code,
        "center": shelling.center.code,
        "delegation": "turkey",
        "settlement": "town",
        "category": "shelling",
        "killed": 3,
        "injured": 4,
        "url": f"http://testserver/api/v1/reports/{shelling.uuid}/",
    }
    convoy = by_name["convoy"]["properties"]
    assert (convoy["kind"], convoy["category"], convoy["killed"], convoy["injured"]) == (
        "convoy",
        None,
        None,
        None,
    )
    assert by_name["sniper"]["properties"]["zone"] == world["north"].code
    assert by_name["sniper"]["geometry"]["coordinates"] == [37.2, 36.4]
    # The url is the report's own record.
    detail = client_for(world["people"]["coordinator"]).get(feature["properties"]["url"])
    assert detail.status_code == 200 and detail.json()["reference"] == shelling.reference


def test_geojson_as_plain_json(world):
    client = client_for(world["people"]["coordinator"])
    response = client.get(GEOJSON, {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["type"] == "FeatureCollection"


def test_geojson_is_paged_by_limit_and_offset(world):
    client = client_for(world["people"]["coordinator"])
    first = geojson(client, {"limit": 3, "kind": ["violation", "convoy", "checkpoint"]})
    assert first["count"] == 4 and len(first["features"]) == 3
    assert first["previous"] is None
    assert "offset=3" in first["next"] and "kind=convoy" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["features"]) == 1 and second["next"] is None
    seen = [f["id"] for f in first["features"] + second["features"]]
    assert len(set(seen)) == 4
    # Odd paging values are ignored, as in the list.
    assert len(geojson(client, {"limit": "many", "offset": "-3"})["features"]) == 4


def test_geojson_pages_are_capped(world, monkeypatch):
    assert ReportGeoJSONPagination.max_limit == GEOJSON_MAX_FEATURES == 10_000
    monkeypatch.setattr(ReportGeoJSONPagination, "max_limit", 2)
    monkeypatch.setattr(ReportGeoJSONPagination, "default_limit", 2)
    client = client_for(world["people"]["coordinator"])
    for params in ({}, {"limit": 500}):
        page = geojson(client, params)
        assert len(page["features"]) == 2 and page["count"] == 4
        assert "limit=2" in page["next"] and "offset=2" in page["next"]


# --- Filters and ordering, in both formats ----------------------------------------------------

FILTER_CASES = [
    ({"kind": "violation"}, {"shelling", "sniper"}),
    ({"kind": ["convoy", "checkpoint"]}, {"convoy", "checkpoint"}),
    ({"status": "verified"}, {"shelling", "checkpoint"}),
    ({"status": "submitted", "kind": "violation"}, {"sniper"}),
    ({"category": "small_arms"}, {"sniper"}),
    ({"delegation": "turkey"}, {"shelling"}),
    ({"party": "turkey"}, {"shelling"}),
    ({"bbox": "37.1,36.3,37.3,36.5"}, {"sniper"}),
    ({"bbox": "36.5,35.8,36.7,36.0"}, {"shelling", "convoy", "checkpoint"}),
    # Calendar days of the center (Damascus, UTC+3).
    ({"occurred_after": "2017-06-04", "occurred_before": "2017-06-05"}, {"convoy", "sniper"}),
    ({"occurred_before": "2017-06-03"}, {"shelling"}),
    ({"occurred_after": "2017-06-06"}, {"checkpoint"}),
]


def test_filters_are_honoured_in_both_formats(world):
    client = client_for(world["people"]["coordinator"])
    north, south = world["north"].code, world["zone"].code
    cases = [
        *FILTER_CASES,
        ({"zone": north}, {"sniper"}),
        ({"zone": south}, {"shelling", "convoy", "checkpoint"}),
        ({"zone": [north, south], "kind": "violation"}, {"shelling", "sniper"}),
        ({"q": world["reports"]["convoy"].reference}, {"convoy"}),
    ]
    for params, expected in cases:
        assert feature_names(world, client, params) == expected, params
        assert export_names(world, client, params) == expected, params
        assert export_names(world, client, {**params, "hxl": "true"}) == expected, params


def test_ordering_is_honoured_in_both_formats(world):
    client = client_for(world["people"]["coordinator"])
    newest_first = ["checkpoint", "sniper", "convoy", "shelling"]
    refs = {name: r.reference for name, r in world["reports"].items()}

    def order(rows: list[str]) -> list[str]:
        return [next(n for n, ref in refs.items() if ref == row) for row in rows]

    features = geojson(client)["features"]
    assert order([f["properties"]["reference"] for f in features]) == newest_first
    assert order([r["reference"] for r in export_rows(client)]) == newest_first
    oldest = geojson(client, {"ordering": "occurred_at"})["features"]
    assert order([f["properties"]["reference"] for f in oldest]) == newest_first[::-1]
    rows = export_rows(client, {"ordering": "occurred_at"})
    assert order([r["reference"] for r in rows]) == newest_first[::-1]


BAD_FILTERS = [
    {"kind": "tank"},
    {"zone": "atlantis"},
    {"bbox": "1,2,3"},
    {"occurred_after": "yesterday"},
]


def test_a_bad_filter_is_a_400_naming_it_in_both_formats(world):
    client = client_for(world["people"]["coordinator"])
    for params in BAD_FILTERS:
        for url in (GEOJSON, EXPORT):
            response = client.get(url, params)
            assert response.status_code == 400, (url, params, response.content)
            assert response["Content-Type"].startswith(("application/json", "application/geo"))
            assert set(response.json()) == set(params), (url, params)


# --- CSV: fields, rows, errors -------------------------------------------------------------


def test_the_export_is_a_streamed_csv_attachment(world):
    response = client_for(world["people"]["coordinator"]).get(EXPORT)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.now().date().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="reports-{today}.csv"'
    rows = read_csv(response)
    assert rows[0] == ALL_FIELDS
    assert len(rows) == 1 + 4
    assert all(len(row) == len(ALL_FIELDS) for row in rows)


def test_every_exportable_field_of_each_kind(world):
    client = client_for(world["people"]["coordinator"])
    rows = {names_of(world, [r["reference"]]).pop(): r for r in export_rows(client)}
    shelling, convoy, shift = rows["shelling"], rows["convoy"], rows["checkpoint"]
    report = world["reports"]["shelling"]
    assert shelling["uuid"] == str(report.uuid)
    assert shelling["url"] == f"http://testserver/api/v1/reports/{report.uuid}/"
    assert (shelling["kind"], shelling["status"]) == ("violation", "verified")
    assert shelling["occurred_at"] == "2017-06-03T11:00:00Z"
    assert shelling["reported_at"].endswith("Z") and shelling["updated_at"].endswith("Z")
    assert (shelling["center"], shelling["delegation"], shelling["delegation_name"]) == (
        report.center.code,
        "turkey",
        "Turkey",
    )
    assert (shelling["zone"], shelling["zone_name"]) == (world["zone"].code, world["zone"].name)
    assert (shelling["settlement"], shelling["settlement_name"]) == ("town", "Town")
    assert (shelling["latitude"], shelling["longitude"]) == ("35.91", "36.62")
    assert shelling["zone_in_force"] == "true"
    assert shelling["in_excluded_area"] == "false"
    assert (shelling["category"], shelling["alleged_perpetrator"], shelling["events"]) == (
        "shelling",
        "turkey",
        "4",
    )
    casualties = ("killed", "injured", "civilians_killed", "civilians_injured")
    assert [shelling[c] for c in casualties] == ["3", "4", "2", "4"]
    assert (shelling["combatants_killed"], shelling["combatants_injured"]) == ("1", "0")
    # Another kind's columns are empty, not zero.
    assert all(shelling[f] == "" for f in ("convoy_status", "checkpoint", "civilians_in"))
    assert all(convoy[c] == "" for c in (*casualties, "category"))
    assert convoy["convoy_organizations"] == "icrc;sarc"
    assert (convoy["convoy_operation"], convoy["convoy_status"]) == ("road_convoy", "delivered")
    assert (convoy["convoy_vehicles"], convoy["convoy_destination"]) == ("31", "town")
    assert convoy["convoy_beneficiaries"] == "12000"
    assert shelling["convoy_organizations"] == ""
    assert (shift["checkpoint"], shift["checkpoint_status"]) == ("cp-1", "open")
    assert (shift["period_start"], shift["period_end"]) == (
        "2017-06-06T00:00:00Z",
        "2017-06-06T08:00:00Z",
    )
    assert [shift[f] for f in ("civilians_in", "civilians_out", "vehicles_in")] == [
        "120",
        "80",
        "7",
    ]


def test_the_caller_chooses_the_columns_and_their_order(world):
    client = client_for(world["people"]["coordinator"])
    rows = read_csv(client.get(EXPORT, {"fields": "occurred_at, reference,killed"}))
    assert rows[0] == ["occurred_at", "reference", "killed"]
    shelling = world["reports"]["shelling"]
    assert ["2017-06-03T11:00:00Z", shelling.reference, "3"] in rows[1:]
    # The parameter repeated is the same list.
    repeated = read_csv(client.get(f"{EXPORT}?fields=occurred_at&fields=reference,killed"))
    assert repeated == rows
    # An empty list is the default: every field.
    assert read_csv(client.get(EXPORT, {"fields": ""}))[0] == ALL_FIELDS


def test_an_unknown_or_repeated_field_is_a_400_naming_fields(world):
    client = client_for(world["people"]["coordinator"])
    cases = [
        ("reference,password,author__email", ["password", "author__email"]),
        ("Reference", ["Reference"]),
        ("reference,reference", ["reference"]),
    ]
    for fields, named in cases:
        response = client.get(EXPORT, {"fields": fields, "kind": "violation"})
        assert response.status_code == 400, fields
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"fields"}, body
        (message,) = body["fields"]
        assert all(name in message for name in named), message
    # A bad field, a bad flag and a bad filter: all named at once.
    response = client.get(EXPORT, {"fields": "nope", "hxl": "maybe", "kind": "tank"})
    assert response.status_code == 400
    assert set(response.json()) == {"fields", "hxl", "kind"}


def test_a_bad_hxl_value_is_a_400_naming_it(world):
    response = client_for(world["people"]["coordinator"]).get(EXPORT, {"hxl": "maybe"})
    assert response.status_code == 400
    assert set(response.json()) == {"hxl"}


def test_drf_format_parameter_and_accept_header(world):
    client = client_for(world["people"]["coordinator"])
    assert read_csv(client.get(EXPORT, {"format": "csv", "fields": "reference"}))[0] == [
        "reference"
    ]
    assert read_csv(client.get(EXPORT, HTTP_ACCEPT="text/csv"))[0] == ALL_FIELDS
    refused = client.get(EXPORT, HTTP_ACCEPT="application/xml")
    assert refused.status_code == 406
    assert refused["Content-Type"].startswith("application/json")


def test_an_export_of_nothing_is_its_header(world):
    client = client_for(world["people"]["coordinator"])
    assert read_csv(client.get(EXPORT, {"kind": "convoy", "status": "verified"})) == [ALL_FIELDS]
    assert read_csv(client.get(EXPORT, {"kind": "convoy", "status": "verified", "hxl": "1"})) == [
        ALL_FIELDS,
        [f.hxl for f in EXPORT_FIELDS],
    ]


# --- HXL -----------------------------------------------------------------------------------


def test_every_exportable_field_has_its_own_valid_hxl_hashtag():
    tags = [f.hxl for f in EXPORT_FIELDS]
    assert len(set(ALL_FIELDS)) == len(ALL_FIELDS)
    assert len(set(tags)) == len(tags)
    for tag in tags:
        assert HXL_TAG.match(tag), tag
    by_name = {f.name: f.hxl for f in EXPORT_FIELDS}
    assert by_name["occurred_at"] == "#date +occurred"
    assert by_name["zone_name"] == "#adm1 +name"
    assert by_name["settlement_name"] == "#loc +name"
    assert (by_name["latitude"], by_name["longitude"]) == ("#geo +lat", "#geo +lon")
    assert by_name["kind"] == "#event +type"
    assert (by_name["killed"], by_name["injured"]) == ("#affected +killed", "#affected +injured")
    assert by_name["delegation_name"] == "#org +impl +name"
    assert (by_name["status"], by_name["reference"]) == ("#status", "#meta +id")


def test_the_hxl_row_sits_under_the_headers_aligned_with_them(world):
    client = client_for(world["people"]["coordinator"])
    header, tags, *rows = read_csv(client.get(EXPORT, {"hxl": "true"}))
    assert header == ALL_FIELDS
    assert tags == [f.hxl for f in EXPORT_FIELDS]
    assert len(rows) == 4 and all(len(row) == len(header) for row in rows)
    chosen = "killed,occurred_at,zone_name,latitude,longitude,reference"
    header, tags, *rows = read_csv(client.get(EXPORT, {"hxl": "true", "fields": chosen}))
    assert header == chosen.split(",")
    assert tags == [
        "#affected +killed",
        "#date +occurred",
        "#adm1 +name",
        "#geo +lat",
        "#geo +lon",
        "#meta +id",
    ]
    assert len(rows) == 4
    # Without hxl (or hxl=false) there is no hashtag row.
    for params in (
        {"fields": chosen},
        {"fields": chosen, "hxl": "false"},
        {"fields": chosen, "hxl": ""},
    ):
        header, first, *_ = read_csv(client.get(EXPORT, params))
        assert not first[0].startswith("#") and first[1].startswith("2017-")


# --- CSV injection -------------------------------------------------------------------------


def test_cells_a_spreadsheet_would_run_are_neutralised(world):
    client = client_for(world["people"]["coordinator"])
    rows = {names_of(world, [r["reference"]]).pop(): r for r in export_rows(client)}
    assert rows["shelling"]["narrative"] == '\'=HYPERLINK("http://evil.example/","Click")'
    assert rows["shelling"]["weapon"] == "'@SUM(1+1)"
    assert rows["sniper"]["narrative"] == "'-1+2 shots, then +3 more; @night"
    # Ordinary text and numbers are left alone.
    assert rows["convoy"]["narrative"] == world["reports"]["convoy"].narrative
    assert rows["shelling"]["latitude"] == "35.91"
    for row in rows.values():
        for name, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)


def test_each_formula_trigger_is_neutralised(world):
    author = world["people"]["author"]
    client = client_for(world["people"]["coordinator"])
    for lead in ("=", "+", "-", "@", "\t", "\r"):
        report = report_file(author, status=S.SUBMITTED, narrative=f"{lead}cmd|' /C calc'!A0")
        rows = export_rows(client, {"fields": "reference,narrative", "q": report.reference})
        expected = {"reference": report.reference, "narrative": f"'{lead}cmd|' /C calc'!A0"}
        assert rows == [expected], repr(lead)


# --- Streaming and query counts -------------------------------------------------------------


def more_reports(world, rounds: int) -> None:
    """``rounds`` more reports of each kind, as the coordinator sees them."""
    people, parties = world["people"], world["parties"]
    for n in range(rounds):
        at = utc(2017, 6, 10, 8) + timedelta(days=n)
        report_file(people["author"], status=S.SUBMITTED, occurred_at=at)
        report_file(
            people["author"],
            kind=ReportKind.CONVOY,
            status=S.SUBMITTED,
            occurred_at=at,
            detail=convoy_detail([parties["sarc"]], world["town"]),
        )
        report_file(
            people["turkish"],
            kind=ReportKind.CHECKPOINT,
            status=S.SUBMITTED,
            occurred_at=at,
            detail=shift_detail(world["crossing"], at),
        )


def count_queries(client, url, params) -> tuple[list[str], bytes]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
        assert response.status_code == 200, response.content
        body = b"".join(response.streaming_content) if response.streaming else response.content
    return [q["sql"] for q in queries.captured_queries], body


# Queries of a request: the session, its user, its second-factor device, the profile
# (authentication and the filters' time zone), then the count and the page (GeoJSON), or the
# rows and the chunk's convoy organizations (CSV).
GEOJSON_QUERIES = 6
EXPORT_QUERIES = 6


def test_queries_do_not_grow_with_the_rows(world, django_assert_max_num_queries):
    client = client_for(world["people"]["coordinator"])
    requests = [
        (GEOJSON, {}, GEOJSON_QUERIES),
        # A filter by code looks the code up: one query, however many rows.
        (GEOJSON, {"zone": world["zone"].code, "bbox": "36,35,38,37"}, GEOJSON_QUERIES + 1),
        (EXPORT, {}, EXPORT_QUERIES),
        (EXPORT, {"hxl": "true", "kind": ["convoy", "violation"]}, EXPORT_QUERIES),
    ]
    few = [count_queries(client, url, params) for url, params, _ in requests]
    more_reports(world, 4)
    for (url, params, budget), (few_queries, few_body) in zip(requests, few, strict=True):
        with django_assert_max_num_queries(budget):
            many_queries, many_body = count_queries(client, url, params)
        assert len(many_queries) == len(few_queries), (url, params, many_queries)
        assert len(many_body) > len(few_body), (url, params)  # the new rows are there


def test_the_geojson_count_needs_no_joins(world):
    client = client_for(world["people"]["coordinator"])
    queries, _body = count_queries(client, GEOJSON, {"kind": "violation"})
    (count,) = [sql for sql in queries if "COUNT(" in sql]
    assert "JOIN" not in count, count


def test_the_export_reads_its_rows_only_as_it_is_sent(world):
    """The response is returned before the reports are read: rows are read while the body
    streams, never all at once."""
    client = client_for(world["people"]["coordinator"])
    with CaptureQueriesContext(connection) as before:
        response = client.get(EXPORT, {"fields": "reference,narrative"})
    assert response.status_code == 200 and response.streaming
    assert not any("narrative" in q["sql"] for q in before.captured_queries)
    with CaptureQueriesContext(connection) as during:
        rows = read_csv(response)
    assert any("narrative" in q["sql"] for q in during.captured_queries)
    assert len(rows) == 1 + 4


def test_rows_are_read_in_chunks_with_their_organizations(world, monkeypatch):
    more_reports(world, 3)
    monkeypatch.setattr(export_selectors, "EXPORT_CHUNK_SIZE", 2)
    client = client_for(world["people"]["coordinator"])
    fields = {"fields": "reference,kind,convoy_organizations", "ordering": "occurred_at"}
    with CaptureQueriesContext(connection) as queries:
        rows = export_rows(client, fields)
    assert len(rows) == 4 + 9
    convoys = [row for row in rows if row["kind"] == "convoy"]
    assert [row["convoy_organizations"] for row in convoys] == ["icrc;sarc"] + ["sarc"] * 3
    assert all(row["convoy_organizations"] == "" for row in rows if row["kind"] != "convoy")
    # The organizations are looked up once per chunk that holds a convoy, not per row.
    lookups = [q for q in queries.captured_queries if "convoydetail_organizations" in q["sql"]]
    assert 1 < len(lookups) <= (len(rows) + 1) // 2


# --- The schema says so -------------------------------------------------------------------


def test_the_schema_documents_both_formats(world):
    client = client_for(world["people"]["coordinator"])
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[1]]
        return node

    geo = schema["paths"]["/api/v1/reports/geojson/"]["get"]
    content = geo["responses"]["200"]["content"]
    assert set(content) == {"application/geo+json", "application/json"}
    documented = resolve(content["application/geo+json"]["schema"])
    collection = geojson(client)
    assert set(collection) == set(documented["properties"])
    feature = resolve(documented["properties"]["features"]["items"])
    assert set(collection["features"][0]) == set(feature["properties"])
    properties = resolve(feature["properties"]["properties"])
    assert set(collection["features"][0]["properties"]) == set(properties["properties"])
    params = {p["name"]: p for p in geo["parameters"]}
    filters = {"kind", "status", "zone", "center", "bbox", "occurred_after", "occurred_before"}
    assert filters | {"limit", "offset", "ordering"} <= set(params)

    export = schema["paths"]["/api/v1/reports/export/"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv"}
    for code in ("400", "401", "403", "406"):
        assert set(export["responses"][code]["content"]) == {"application/json"}, code
    params = {p["name"]: p for p in export["parameters"]}
    assert filters | {"fields", "hxl", "ordering"} <= set(params)
    assert params["fields"]["schema"]["items"]["enum"] == ALL_FIELDS
    assert params["hxl"]["schema"]["type"] == "boolean"


def test_options_on_the_export_is_json(world):
    response = client_for(world["people"]["coordinator"]).options(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["name"]

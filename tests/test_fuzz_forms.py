"""Fuzzing (hypothesis) of the geometry parser, the validators and the web forms.

Whatever a client sends, the parser and the validators either accept it or raise Django's
``ValidationError`` (never ``TypeError``, ``OverflowError``, ``RecursionError``, a GEOS error,
...); the forms report their errors under a field they have; the filing pages and the
admin's zone forms never answer with a 5xx and never leave half a record behind: a refused
post writes no report, detail or audit row, an accepted one writes the whole report.

Every property runs a bounded, derandomized number of examples (reproducible in CI); each
bug found is kept as an explicit ``@example``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon

from incidents.choices import ReportKind
from incidents.forms import KIND_FORMS, MAX_ROWS, ReportFiling
from incidents.forms_review import ReportLinkForm, ReportTransitionForm
from incidents.models import Report
from monitoring.choices import ObserverRole, PartyKind
from monitoring.forms import PartnerTokenForm
from monitoring.models import AuditEntry
from monitoring.validators import center_code_validator, code_validator, validate_time_zone
from tests.factories import (
    ExcludedGroupFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_file,
)
from tests.incidents.test_views_filing import (
    checkpoint_data,
    convoy_data,
    violation_data,
)
from zones.choices import PostKind
from zones.forms import PostAdminForm, SecurityAreaAdminForm, ZoneAdminForm
from zones.geometry import (
    SYRIA_BBOX,
    parse_multipolygon,
    to_geojson,
    validate_multipolygon,
    validate_point,
)
from zones.models import ExcludedArea, Post, SecurityArea, Zone

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
# The end-to-end properties go through the whole page (render included): fewer examples.
FUZZ_PAGES = settings(FUZZ, max_examples=10)

MIN_LON, MIN_LAT, MAX_LON, MAX_LAT = SYRIA_BBOX

# --- Strategies ------------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=MIN_LON, max_value=MAX_LON),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),  # too large for a float
    st.booleans(),
)
scalars = st.one_of(st.none(), numbers, st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
positions = st.lists(numbers, min_size=0, max_size=4) | st.tuples(
    st.floats(min_value=MIN_LON, max_value=MAX_LON), st.floats(min_value=MIN_LAT, max_value=MAX_LAT)
).map(list)
rings = st.lists(positions, max_size=8)
unclosed_rings = st.lists(positions, min_size=4, max_size=8).filter(lambda r: r[0] != r[-1])
coordinates = st.one_of(
    st.lists(rings, max_size=3),  # a Polygon's
    st.lists(st.lists(rings, max_size=3), max_size=3),  # a MultiPolygon's
    st.lists(unclosed_rings, min_size=1, max_size=2),
    json_values,
)
geometry_types = st.one_of(
    st.sampled_from(["Polygon", "MultiPolygon", "Point", "Feature", "LineString", ""]),
    json_values,
)
geojson_objects = st.one_of(
    st.fixed_dictionaries({"type": geometry_types, "coordinates": coordinates}),
    st.fixed_dictionaries(
        {
            "type": st.just("Feature"),
            "geometry": st.one_of(
                json_values,
                st.fixed_dictionaries({"type": geometry_types, "coordinates": coordinates}),
            ),
        }
    ),
    json_values,
)
geojson_text = st.one_of(
    geojson_objects.map(json.dumps),  # NaN and Infinity included, as Python writes them
    st.integers(min_value=1, max_value=200_000).map(lambda n: "[" * n + "]" * n),
    st.text(max_size=50),
)


@st.composite
def convex_polygons(draw) -> dict:
    """A valid GeoJSON Polygon in Syria: points around a centre at increasing angles."""
    lon = draw(st.floats(min_value=MIN_LON + 0.2, max_value=MAX_LON - 0.2))
    lat = draw(st.floats(min_value=MIN_LAT + 0.2, max_value=MAX_LAT - 0.2))
    radius = draw(st.floats(min_value=0.001, max_value=0.19))
    count = draw(st.integers(min_value=3, max_value=24))
    ring = [
        [
            lon + radius * math.cos(2 * math.pi * i / count),
            lat + radius * math.sin(2 * math.pi * i / count),
        ]
        for i in range(count)
    ]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


# --- The geometry parser ---------------------------------------------------------------------


def parse_or_refuse(value):
    """Parse ``value``; anything but a ValidationError escapes and fails the test."""
    try:
        geometry = parse_multipolygon(value)
    except ValidationError as exc:
        assert exc.messages and all(isinstance(m, str) and m for m in exc.messages)
        with pytest.raises(ValidationError):
            validate_multipolygon(value)
        return None
    validate_multipolygon(value)
    return geometry


def assert_valid_in_syria(geometry: MultiPolygon) -> None:
    assert isinstance(geometry, MultiPolygon)
    assert geometry.is_valid and not geometry.is_empty
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    assert MIN_LON <= min_lon <= max_lon <= MAX_LON
    assert MIN_LAT <= min_lat <= max_lat <= MAX_LAT


@FUZZ
@given(value=st.one_of(geojson_objects, geojson_text))
# Regressions: each of these raised something other than a ValidationError.
@example(value={"type": ["Polygon"], "coordinates": [[[36, 35]]]})  # TypeError: unhashable
@example(value={"type": "Feature", "geometry": [1]})  # AttributeError
@example(value={"type": "Polygon", "coordinates": [[[10**400, 35], [36, 35], [36, 36]]]})
@example(value="[" * 100_000 + "]" * 100_000)  # RecursionError in json.loads
@example(value='{"type": "Polygon", "coordinates": [[[NaN, 35], [36, 35], [36, 36], [NaN, 35]]]}')
# Strings and booleans as positions were taken for numbers (and stored as strings).
@example(
    value={
        "type": "Polygon",
        "coordinates": [[["36", "35"], ["36.1", "35"], ["36", "35.1"], ["36", "35"]]],
    }
)
@example(value={"type": "Polygon", "coordinates": [[[36, 35], [True, 35], [36, 36], [36, 35]]]})
def test_the_geometry_parser_accepts_or_refuses_with_a_validation_error(value):
    geometry = parse_or_refuse(value)
    if geometry is not None:
        assert_valid_in_syria(geometry)


@FUZZ
@given(polygon=convex_polygons(), as_text=st.booleans(), multi=st.booleans())
def test_valid_polygons_round_trip(polygon, as_text, multi):
    value = {"type": "MultiPolygon", "coordinates": [polygon["coordinates"]]} if multi else polygon
    geometry = parse_multipolygon(json.dumps(value) if as_text else value)
    assert_valid_in_syria(geometry)
    geojson = to_geojson(geometry)
    assert geojson["type"] == "MultiPolygon"
    again = parse_multipolygon(geojson)
    assert again.equals(geometry)
    assert to_geojson(again) == geojson
    assert parse_multipolygon(json.dumps(geojson)).equals(geometry)


@FUZZ
@given(
    polygon=convex_polygons(),
    damage=st.sampled_from(["bowtie", "unclosed", "short", "outside", "swapped", "too-many"]),
)
def test_broken_rings_are_refused_with_a_validation_error(polygon, damage):
    ring = polygon["coordinates"][0]
    if damage == "bowtie":  # swap two neighbouring corners: the ring crosses itself
        ring[1], ring[2] = ring[2], ring[1]
        if len(ring) == 4:  # a triangle stays a triangle; cross it with a fourth corner
            ring.insert(1, [ring[0][0] + 1, ring[0][1] + 1])
        ring[-1] = ring[0]
        ring[1], ring[2] = ring[2], ring[1]
    elif damage == "unclosed":
        ring[-1] = [ring[-1][0] + 0.5, ring[-1][1]]
    elif damage == "short":
        del ring[2:-1]
    elif damage == "outside":
        ring[1] = [ring[1][0], ring[1][1] + 10]
    elif damage == "swapped":
        polygon["coordinates"][0] = [[lat, lon] for lon, lat in ring]
    else:
        polygon["coordinates"][0] = ring[:1] * 100_001
    geometry = parse_or_refuse(polygon)
    if geometry is not None:
        # A bowtie of a triangle's corners is the triangle again; an unclosed ring is
        # closed (as shapely reads GeoJSON), and stored closed.
        # Lines in the north-west of the box may still fall inside it with the axes swapped.
        assert damage in ("bowtie", "unclosed", "swapped")
        assert_valid_in_syria(geometry)
        ring = to_geojson(geometry)["coordinates"][0][0]
        assert ring[0] == ring[-1]


@FUZZ
@given(latitude=st.one_of(scalars, json_values), longitude=st.one_of(scalars, json_values))
@example(latitude=10**400, longitude=36.6)  # OverflowError
@example(latitude="9" * 5000, longitude="nan")
def test_validate_point_returns_errors_by_field(latitude, longitude):
    errors = validate_point(latitude=latitude, longitude=longitude)
    assert set(errors) <= {"latitude", "longitude"}
    for name, value in (("latitude", latitude), ("longitude", longitude)):
        messages = errors.get(name, [])
        assert all(isinstance(m, str) and len(m) < 200 for m in messages)
        if value is None:
            assert not messages
        elif not messages:
            number = float(value)
            low, high = (MIN_LAT, MAX_LAT) if name == "latitude" else (MIN_LON, MAX_LON)
            assert low <= number <= high


# --- The validators --------------------------------------------------------------------------

nasty_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec=None), max_size=30),  # lone surrogates included
    st.text(alphabet=st.sampled_from("\x00aZ9-/_ :.eE+T"), max_size=30),
    st.integers().map(str),
    st.integers(min_value=10**30, max_value=10**4000).map(str),
    st.floats().map(repr),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["", " ", "\x00", "\ud800", "a\udfffb", "1e309", "-0", "NaN", "x" * 100_000]),
)


@FUZZ
@given(value=nasty_text)
@example(value="Asia/Damascus\x00")
def test_the_monitoring_validators_raise_only_validation_errors(value):
    for validator in (code_validator, center_code_validator, validate_time_zone):
        try:
            validator(value)
        except ValidationError as exc:
            assert exc.messages


# --- The filing forms ------------------------------------------------------------------------


@pytest.fixture
def world(zone, center, make_member):
    """The fixture zone in force, a settlement, a post, two checkpoints, an organization, a
    party, an observer and a coordinator of the center."""
    ZoneTermFactory(zone=zone)
    return {
        "zone": zone,
        "settlement": SettlementFactory(name="Khan Shaykhun", latitude=35.88, longitude=36.62),
        "post": PostFactory(zone=zone, name="Surman post"),
        "checkpoint": PostFactory(
            zone=zone, name="Morek", kind=PostKind.CHECKPOINT, latitude=35.95, longitude=36.65
        ),
        "checkpoint_2": PostFactory(
            zone=zone,
            name="Abu al-Duhur",
            kind=PostKind.CHECKPOINT,
            latitude=35.85,
            longitude=36.55,
        ),
        "sarc": PartyFactory(code="sarc", name="SARC", kind=PartyKind.HUMANITARIAN_ORG),
        "government": PartyFactory(code="saa", name="SAA", kind=PartyKind.GOVERNMENT_FORCES),
        "observer": make_member(ObserverRole.OBSERVER),
        "coordinator": make_member(ObserverRole.COORDINATOR),
    }


def valid_data(world, kind: str) -> dict[str, str | list[str]]:
    """What a filing page of ``kind`` posts when filled in correctly (the filing views'
    tests' own data)."""
    build = {
        ReportKind.VIOLATION: violation_data,
        ReportKind.CONVOY: convoy_data,
        ReportKind.CHECKPOINT: checkpoint_data,
    }[kind]
    return build(world)


def field_names(kind: str) -> list[str]:
    """Every name a filing page of ``kind`` reads, management forms included."""
    from incidents.forms import ReportForm

    names = [*ReportForm.base_fields, "action"]
    kind_forms = KIND_FORMS[kind]
    names += list(kind_forms.detail_form.base_fields)
    for prefix, formset in kind_forms.formsets.items():
        names += [f"{prefix}-{name}" for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MAX_NUM_FORMS")]
        for row in (0, 1):
            names += [f"{prefix}-{row}-{name}" for name in formset.form.base_fields]
            names.append(f"{prefix}-{row}-DELETE")
    return names


def fuzzed_data(kind: str):
    """A correct page of ``kind`` with some of its fields replaced by nasty values."""
    names = st.sampled_from(field_names(kind))
    return st.dictionaries(names, nasty_text | st.lists(nasty_text, max_size=3), max_size=6)


# Regression examples shared by the filing properties (a value meant for one kind's field
# is just ignored by the others).
FAR_DATES = {
    "occurred_at": "0001-01-01T00:00",  # OverflowError converting to UTC
    "period_start": "0001-01-01T00:00",
    "planned_at": "0001-01-01T01:00",
}


def assert_errors_name_fields(form) -> None:
    """A form's errors sit under one of its fields, or at the top of the form."""
    for name in form.errors:
        assert name == "__all__" or name in form.fields, name


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ReportKind.values)
def test_the_filing_forms_validate_anything_without_raising(world, kind):
    observer = world["observer"].observer

    @FUZZ
    @given(overrides=fuzzed_data(kind))
    @example(overrides=FAR_DATES)
    @example(overrides={"occurred_at": "9999-12-31T23:59", "latitude": "1" * 5000})
    @example(overrides={"cargo-TOTAL_FORMS": "99999999999", "route-INITIAL_FORMS": "-1"})
    @example(overrides={"incidents-TOTAL_FORMS": "\x00", "incidents-INITIAL_FORMS": "5"})
    @example(overrides={"narrative": "a\x00b", "settlement": "\ud800"})
    def check(overrides):
        data = QueryDict(mutable=True)
        for name, value in {**valid_data(world, kind), **overrides}.items():
            data.setlist(name, value if isinstance(value, list) else [value])
        with timezone.override(ZoneInfo(observer.center.time_zone)):  # as the page reads it
            filing = ReportFiling(kind=kind, observer=observer, data=data)
            valid = filing.is_valid()
        if valid:
            values, detail = filing.values(), filing.detail()
            assert values["occurred_at"].astimezone(UTC) <= datetime.now(UTC)
            assert isinstance(detail, dict)
        for formset in filing.formsets.values():  # a forged TOTAL_FORMS builds no more
            assert len(formset.forms) <= MAX_ROWS
        forms = [filing.form, filing.detail_form]
        forms += [form for formset in filing.formsets.values() for form in formset.forms]
        for form in forms:
            assert_errors_name_fields(form)

    check()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (ReportKind.VIOLATION, "occurred_at"),
        (ReportKind.CONVOY, "planned_at"),
        (ReportKind.CHECKPOINT, "period_start"),
    ],
)
def test_a_time_with_no_utc_equivalent_is_refused_under_its_field(world, kind, name):
    """Regression: 0001-01-01 00:00 in Damascus is in year 0 in UTC; saving it failed (500)."""
    data = QueryDict(mutable=True)
    for key, value in {**valid_data(world, kind), name: "0001-01-01T00:00"}.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    observer = world["observer"].observer
    with timezone.override(ZoneInfo(observer.center.time_zone)):  # as the page reads it
        filing = ReportFiling(kind=kind, observer=observer, data=data)
        assert not filing.is_valid()
    form = filing.form if name in filing.form.fields else filing.detail_form
    assert form.errors[name] == ["Enter a date and time between the years 1 and 9999."]


@pytest.mark.django_db
def test_a_forged_row_count_builds_no_more_than_the_limit_and_is_refused(world):
    data = QueryDict(mutable=True)
    for key, value in {**valid_data(world, "convoy"), "cargo-TOTAL_FORMS": "99999"}.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    filing = ReportFiling(kind="convoy", observer=world["observer"].observer, data=data)
    assert not filing.is_valid()
    assert len(filing.formsets["cargo"].forms) == MAX_ROWS
    assert filing.formsets["cargo"].non_form_errors()


@pytest.mark.django_db
def test_the_review_forms_validate_anything_without_raising():
    @FUZZ
    @given(
        transition=st.dictionaries(
            st.sampled_from(["to_status", "revision", "comment"]), nasty_text, max_size=3
        ),
        link=st.dictionaries(st.sampled_from(["other", "note"]), nasty_text, max_size=2),
    )
    def check(transition, link):
        for form in (ReportTransitionForm(transition), ReportLinkForm(link)):
            form.is_valid()
            assert_errors_name_fields(form)

    check()


@pytest.mark.django_db
def test_the_zone_admin_forms_validate_anything_without_raising(world, rf, administrator_user):
    """The forms as the admin builds them (its GeoJSON field for the geometry)."""
    group = ExcludedGroupFactory()
    request = rf.get("/admin/")
    request.user = administrator_user
    base = {
        "zone": {
            "code": "fuzz-zone",
            "name": "Fuzz",
            "governorates": ["idlib"],
            "status": "active",
        },
        "post": {
            "code": "op-fuzz",
            "name": "Fuzz post",
            "kind": "observation_post",
            "zone": str(world["zone"].pk),
            "status": "operating",
            "opened_on": "2017-10-13",
            "latitude": "35.9",
            "longitude": "36.6",
        },
        "area": {
            "code": "sa-fuzz",
            "name": "Fuzz band",
            "zone": str(world["zone"].pk),
            "derivation": "drawn",
            "valid_from_0": "2017-05-06",
            "valid_from_1": "00:00:00",
            "geometry": json.dumps(
                {
                    "type": "Polygon",
                    "coordinates": [[[36.5, 35.8], [36.7, 35.8], [36.6, 36.0], [36.5, 35.8]]],
                }
            ),
            "group": str(group.pk),
        },
    }
    forms = {
        name: admin.site._registry[model].get_form(request)
        for name, model in (("zone", Zone), ("post", Post), ("area", SecurityArea))
    }
    assert issubclass(forms["zone"], ZoneAdminForm)
    assert issubclass(forms["post"], PostAdminForm)
    assert issubclass(forms["area"], SecurityAreaAdminForm)
    names = sorted(
        {name for form in forms.values() for name in form.base_fields}
        | {"valid_from_0", "width_km"}
    )

    @FUZZ
    @given(
        which=st.sampled_from(sorted(forms)),
        overrides=st.dictionaries(st.sampled_from(names), nasty_text | geojson_text, max_size=5),
    )
    @example(which="post", overrides={"latitude": str(10**400), "longitude": "inf"})
    @example(which="area", overrides={"geometry": "[" * 50_000 + "]" * 50_000})
    def check(which, overrides):
        data = QueryDict(mutable=True)
        for name, value in {**base[which], **overrides}.items():
            data.setlist(name, value if isinstance(value, list) else [value])
        form = forms[which](data)
        form.is_valid()
        assert_errors_name_fields(form)

    check()


@pytest.mark.django_db
def test_the_partner_token_form_validates_anything_without_raising(world, center):
    @FUZZ
    @given(
        data=st.dictionaries(
            st.sampled_from(["partner", "name", "scopes", "expires_on"]), nasty_text, max_size=4
        )
    )
    def check(data):
        form = PartnerTokenForm(data, center=center)
        if form.is_valid():
            expires_at = form.expires_at()
            assert expires_at is None or expires_at.tzinfo is not None
        assert_errors_name_fields(form)

    check()


@pytest.mark.django_db
def test_a_token_expiring_on_the_last_day_of_the_calendar_is_refused(center, make_member):
    partner = make_member(ObserverRole.PARTNER)
    form = PartnerTokenForm(
        {"partner": partner.pk, "name": "Sync", "scopes": "read", "expires_on": "9999-12-31"},
        center=center,
    )
    assert not form.is_valid()
    assert "expires_on" in form.errors


# --- End to end: the filing pages and the admin's zone forms ------------------------------


def encoded(data: dict) -> bytes:
    """A urlencoded body as a browser would send it; lone surrogates become invalid UTF-8."""
    pairs = [
        (name, item)
        for name, value in data.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


DETAIL_MODELS = {kind: Report._meta.get_field(kind).related_model for kind in ReportKind.values}


def record_counts() -> dict[str, int]:
    counts = {
        "reports": Report.objects.count(),
        "revisions": Report.objects.aggregate(total=Sum("revision"))["total"] or 0,
        "audit": AuditEntry.objects.count(),
    }
    for kind, model in DETAIL_MODELS.items():
        counts[kind] = model.objects.count()
    return counts


def post_page(client, url: str, data: dict):
    """POST ``data`` inside a savepoint rolled back afterwards: every example starts from
    the same records (a report submitted by one example stays editable for the next)."""
    with transaction.atomic():
        before = record_counts()
        response = client.post(url, encoded(data), content_type="application/x-www-form-urlencoded")
        after = record_counts()
        result = (response, before, after, Report.objects.order_by("-id").first())
        transaction.set_rollback(True)
    assert response.status_code < 500, response.status_code
    return result


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ReportKind.values)
def test_filing_pages_never_fail_nor_half_save(client, world, kind):
    client.force_login(world["observer"])
    url = reverse("incidents:report_new", args=[kind])

    @FUZZ_PAGES
    @given(overrides=fuzzed_data(kind), submit=st.booleans())
    @example(overrides={}, submit=False)  # the page as filled in: saved
    @example(overrides=FAR_DATES, submit=False)
    @example(overrides={"narrative": "NUL \x00 byte", "settlement": "1\x00"}, submit=True)
    @example(overrides={"narrative": "lone \ud800 surrogate"}, submit=False)
    def check(overrides, submit):
        data = {**valid_data(world, kind), **overrides}
        if submit:
            data["action"] = "submit"
        response, before, after, _ = post_page(client, url, data)
        if response.status_code == 302:
            assert after["reports"] == before["reports"] + 1
            assert after[kind] == before[kind] + 1
            assert after["audit"] > before["audit"]
        else:
            assert response.status_code == 200
            assert after == before
            assert response.context["filing"].has_errors  # shown on the page
        if not overrides:
            assert response.status_code == 302

    check()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ReportKind.values)
def test_editing_never_fails_nor_half_saves(client, world, kind):
    author = world["observer"]
    detail = {
        ReportKind.VIOLATION: {"category": "shelling"},
        ReportKind.CONVOY: {
            "operation": "road_convoy",
            "organizations": [world["sarc"]],
            "origin": "Hama warehouse",
            "destination": world["settlement"],
            "planned_at": datetime(2017, 6, 3, 4, 0, tzinfo=UTC),
            "status": "delivered",
        },
        ReportKind.CHECKPOINT: {
            "checkpoint": world["checkpoint"],
            "period_start": datetime(2017, 6, 3, 5, 0, tzinfo=UTC),
            "period_end": datetime(2017, 6, 3, 13, 0, tzinfo=UTC),
            "status": "restricted",
        },
    }[kind]
    point = {"latitude": 35.95, "longitude": 36.65} if kind == ReportKind.CHECKPOINT else {}
    report = report_file(author, kind=kind, detail=detail, **point)
    client.force_login(author)
    url = reverse("incidents:report_edit", args=[report.uuid])

    @FUZZ_PAGES
    @given(overrides=fuzzed_data(kind))
    @example(overrides={})
    @example(overrides=FAR_DATES)
    @example(overrides={"revision": "9" * 30})
    @example(overrides={"revision": str(2**63), "zone_override": str(2**70)})
    def check(overrides):
        data = {**valid_data(world, kind), "revision": str(report.revision), **overrides}
        response, before, after, _ = post_page(client, url, data)
        if response.status_code == 302:
            assert after["reports"] == before["reports"]
            assert after["revisions"] > before["revisions"]
            assert after["audit"] > before["audit"]
        else:
            assert response.status_code == 200
            assert after == before  # the report's revision included
            assert response.context["filing"].has_errors
        report.refresh_from_db()
        assert getattr(report, kind) is not None  # still whole
        if not overrides:
            assert response.status_code == 302

    check()


def admin_pages(world) -> dict[str, tuple[type, dict[str, str]]]:
    """The admin's add pages of geometry and posts: URL name → (model, a valid post)."""
    group = ExcludedGroupFactory()
    ring = [[36.5, 35.8], [36.7, 35.8], [36.6, 36.0], [36.5, 35.8]]
    return {
        "admin:zones_excludedarea_add": (
            ExcludedArea,
            {
                "code": "pocket-fuzz",
                "name": "Fuzz pocket",
                "group": str(group.pk),
                "registered_on": "2017-05-04",
                "valid_from_0": "2017-05-06",
                "valid_from_1": "00:00:00",
                "valid_until_0": "",
                "valid_until_1": "",
                "source": "",
                "geometry": json.dumps({"type": "Polygon", "coordinates": [ring]}),
            },
        ),
        "admin:zones_securityarea_add": (
            SecurityArea,
            {
                "code": "band-fuzz",
                "name": "Fuzz band",
                "zone": str(world["zone"].pk),
                "derivation": "drawn",
                "width_km": "",
                "valid_from_0": "2017-05-06",
                "valid_from_1": "00:00:00",
                "valid_until_0": "",
                "valid_until_1": "",
                "geometry": json.dumps({"type": "Polygon", "coordinates": [ring]}),
            },
        ),
        "admin:zones_post_add": (
            Post,
            {
                "code": "op-fuzz",
                "name": "Fuzz post",
                "kind": "observation_post",
                "zone": str(world["zone"].pk),
                "operating_party": str(world["government"].pk),
                "status": "operating",
                "opened_on": "2017-10-13",
                "closed_on": "",
                "latitude": "35.9",
                "longitude": "36.6",
                "notes": "",
            },
        ),
    }


def post_admin_page(client, page: str, model: type, data: dict):
    """POST to an admin add page in a savepoint rolled back afterwards; a refusal (200)
    wrote nothing, an acceptance (302) wrote the record and its audit entry."""
    with transaction.atomic():
        before = (model.objects.count(), AuditEntry.objects.count())
        response = client.post(
            reverse(page), encoded(data), content_type="application/x-www-form-urlencoded"
        )
        after = (model.objects.count(), AuditEntry.objects.count())
        transaction.set_rollback(True)
    assert response.status_code < 500
    if response.status_code == 302:
        assert after[0] == before[0] + 1 and after[1] > before[1]
    else:
        assert response.status_code == 200
        assert after == before
        assert response.context["errors"]  # shown on the page
    return response


@pytest.mark.django_db
def test_the_admin_zone_forms_never_fail_nor_half_save(client, world, administrator_user):
    client.force_login(administrator_user)
    pages = admin_pages(world)
    names = sorted({name for _, data in pages.values() for name in data})
    geometry_text = geojson_text

    @FUZZ_PAGES
    @given(
        page=st.sampled_from(sorted(pages)),
        overrides=st.dictionaries(st.sampled_from(names), nasty_text | geometry_text, max_size=4),
    )
    @example(page="admin:zones_excludedarea_add", overrides={})
    @example(page="admin:zones_securityarea_add", overrides={"width_km": "1e309"})
    @example(page="admin:zones_post_add", overrides={"latitude": str(10**400)})
    @example(page="admin:zones_excludedarea_add", overrides={"valid_from_0": "0001-01-01"})
    def check(page, overrides):
        model, data = pages[page]
        response = post_admin_page(client, page, model, {**data, **overrides})
        if not overrides:
            assert response.status_code == 302

    check()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ("[" * 50_000, "nested too deeply"),
        ('{"type": ["Polygon"], "coordinates": []}', "Expected a GeoJSON Polygon"),
        ('{"type": "MultiPolygon", "coordinates": [1, 2]}', "not nested as GeoJSON"),
    ],
    ids=["deep-nesting", "list-type", "multipolygon-of-numbers"],
)
def test_geometry_text_the_widget_cannot_show_is_refused_in_the_admin(
    client, world, administrator_user, geometry, message
):
    client.force_login(administrator_user)
    page = "admin:zones_securityarea_add"
    model, data = admin_pages(world)[page]
    response = post_admin_page(client, page, model, {**data, "geometry": geometry})
    assert response.status_code == 200
    assert message in response.content.decode()

"""The change feed's direct serializer of reports (``incidents.api.feed``): the same JSON as
``ReportSerializer`` for every kind, every nested part and every null, in the queryset's
order, in a number of queries that does not grow with the number of reports."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from incidents.api import feed
from incidents.api.feed import report_representations
from incidents.api.serializers import ReportSerializer, ViolationDetailSerializer
from incidents.choices import (
    AccessIncidentKind,
    CargoCategory,
    CargoUnit,
    CheckpointStatus,
    ConvoyOperation,
    ConvoyStatus,
    ReportConfidence,
    ReportKind,
    ReportPlacePrecision,
    ReportSource,
    ReportStatus,
    ReportTimePrecision,
)
from incidents.models import Report
from incidents.selectors.reports import report_full_list
from incidents.services import attachment_add, report_create, report_transition
from monitoring.choices import ObserverRole, PartyKind
from tests.api_base import client_for
from tests.factories import (
    REPORT_OCCURRED,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
    report_values,
)
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
S = ReportStatus
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MAX_QUERIES = 16  # reports, 3 details, 6 kinds of rows, 6 reference tables


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def make_request(path: str = "/api/v1/changes/", **headers) -> Request:
    return Request(APIRequestFactory().get(path, **headers))


def rendered(data) -> object:
    """``data`` as a client reads it: rendered by DRF's JSON renderer, parsed back."""
    return json.loads(JSONRenderer().render(data))


def serializer_json(queryset, request) -> list:
    """What ``ReportSerializer`` gives, report by report, in the queryset's order."""
    context = {"request": request}
    return [rendered(ReportSerializer(report, context=context).data) for report in queryset]


def fast_json(queryset, request) -> list:
    return rendered(report_representations(reports=queryset, request=request))


def jpeg(color) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buffer, format="JPEG")
    return SimpleUploadedFile("crater.jpg", buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def world(zone, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey", short_name="TR")
    return {
        "zone": zone,
        "other_zone": ZoneFactory(center=(36.45, 33.55)),
        "author": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "army": PartyFactory(code="army", name="Army", kind=PartyKind.GOVERNMENT_FORCES),
        # Made in the order I, S, A: their order by name is neither their ids' nor the reverse.
        "icrc": PartyFactory(code="icrc", name="ICRC", kind=PartyKind.HUMANITARIAN_ORG),
        "sarc": PartyFactory(
            code="sarc", name="SARC", short_name="SARC", kind=PartyKind.HUMANITARIAN_ORG
        ),
        "akf": PartyFactory(
            code="akf", name="Aga Khan Foundation", kind=PartyKind.HUMANITARIAN_ORG
        ),
        "town": SettlementFactory(),
        "op": PostFactory(zone=zone, kind=PostKind.OBSERVATION_POST),
        "first": PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_humanitarian=True),
        "second": PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_humanitarian=True),
        "crossing": PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True),
    }


def convoy_detail(w, at, **overrides) -> dict:
    planned = at - timedelta(hours=6)
    base = {
        "operation": ConvoyOperation.ROAD_CONVOY,
        "organizations": [w["sarc"], w["akf"], w["icrc"]],
        "vehicle_count": 31,
        "origin": "Damascus warehouse",
        "destination": w["town"],
        "planned_at": planned,
        "status": ConvoyStatus.PARTIALLY_DELIVERED,
        "beneficiaries": 12000,
        "obstruction_reason": "Two trucks turned back at the second checkpoint.",
        "cargo": [
            {
                "category": CargoCategory.FOOD,
                "quantity": Decimal("120.5"),
                "unit": CargoUnit.TONNES,
                "delivered_quantity": Decimal("100.25"),
            },
            {"category": CargoCategory.MEDICINE, "quantity": Decimal(400), "unit": CargoUnit.KITS},
            {
                "category": CargoCategory.WATER,
                "quantity": Decimal("0.001"),
                "unit": CargoUnit.LITRES,
                "delivered_quantity": Decimal(0),
            },
        ],
        "route": [
            {"post": w["first"], "passed_at": planned + timedelta(hours=1, microseconds=5)},
            {"post": w["second"]},  # not passed (yet): passed_at null
        ],
        "stages": [
            {"stage": "departed", "at": planned + timedelta(minutes=20), "note": ""},
            {"stage": "arrived", "at": planned + timedelta(hours=3), "note": "Ten trucks."},
        ],
    }
    return {**base, **overrides}


def shift_detail(w, at, **overrides) -> dict:
    base = {
        "checkpoint": w["crossing"],
        "period_start": at - timedelta(hours=8),
        "period_end": at,
        "status": CheckpointStatus.RESTRICTED,
        "civilians_in": 240,
        "civilians_out": 180,
        "vehicles_in": 12,
        "humanitarian_loads": 2,
        "incidents": [
            {
                "kind": AccessIncidentKind.DETENTION,
                "count": 2,
                "party": w["army"],
                "reason_cited": "Papers",
            },
            {"kind": AccessIncidentKind.DELAY, "count": 40},  # no party named
        ],
    }
    return {**base, **overrides}


def file_every_kind(w) -> list[Report]:
    """A report of each kind in each status, each nested part present once and absent once."""
    author, reviewer = w["author"], w["coordinator"]
    at = [REPORT_OCCURRED - timedelta(hours=hours) for hours in range(0, 70, 10)]
    violation = report_file(
        author,
        status=S.DRAFT,
        occurred_at=at[0],
        settlement=w["town"],
        post=w["op"],
        narrative="Mortar fire from the ridge; «ثلاث قذائف».",
        detail={
            "category": "shelling",
            "alleged_perpetrator": w["army"],
            "affected_party": w["sarc"],
            "weapon": "82 mm mortar",
            "events": 3,
            "direction_degrees": 45,
            "distance_km": 2.5,
            "civilians_injured_low": 1,
            "civilians_injured_best": 2,
            "civilians_injured_high": 4,
            "damage": "A school's roof.",
        },
    )
    unknown = report_file(  # outside every zone, perpetrator unknown, submitted then verified
        w["turkish"],
        status=S.VERIFIED,
        reviewer=reviewer,
        occurred_at=at[1],
        latitude=34.8,
        longitude=38.9,
        place_precision=ReportPlacePrecision.DISTRICT,
        time_precision=ReportTimePrecision.PART_OF_DAY,
        source=ReportSource.HEARD,
        confidence=ReportConfidence.HIGH,
        detail={"category": "small_arms"},
    )
    overridden = report_create(
        actor=author,
        kind=ReportKind.VIOLATION,
        values=report_values(occurred_at=at[2]),
        detail={"category": "air_strike", "events": 2},
        zone_override=w["other_zone"],
        zone_override_reason="The impacts were across the line, in the next zone.",
    )
    overridden = report_transition(report=overridden, to_status=S.SUBMITTED, actor=author)
    convoy = report_file(
        author,
        kind=ReportKind.CONVOY,
        status=S.DISPUTED,
        reviewer=reviewer,
        occurred_at=at[3],
        detail=convoy_detail(w, at[3]),
    )
    notified = report_file(
        author,
        kind=ReportKind.CONVOY,
        status=S.REJECTED,
        reviewer=reviewer,
        occurred_at=at[4],
        detail=convoy_detail(
            w,
            at[4],
            organizations=[w["icrc"]],
            status=ConvoyStatus.NOTIFIED,
            beneficiaries=None,
            obstruction_reason="",
            cargo=[],
            route=[],
            stages=[],
        ),
    )
    shift = report_file(
        author,
        kind=ReportKind.CHECKPOINT,
        status=S.RETURNED,
        reviewer=reviewer,
        occurred_at=at[5],
        detail=shift_detail(w, at[5]),
    )
    quiet = report_file(
        author,
        kind=ReportKind.CHECKPOINT,
        status=S.RETRACTED,
        occurred_at=at[6],
        detail=shift_detail(w, at[6], status=CheckpointStatus.OPEN, incidents=[]),
    )
    now = timezone.now()
    attachment_add(report=violation, actor=author, upload=jpeg((200, 30, 30)), at=now)
    attachment_add(
        report=violation,
        actor=author,
        upload=SimpleUploadedFile("log.pdf", PDF, content_type="application/pdf"),
        at=now + timedelta(seconds=1),
    )
    attachment_add(report=convoy, actor=reviewer, upload=jpeg((30, 200, 30)), at=now)
    return [violation, unknown, overridden, convoy, notified, shift, quiet]


def test_every_kind_and_status_gives_the_serializers_json(world):
    reports = file_every_kind(world)
    request = make_request()
    queryset = report_full_list().filter(pk__in=[r.pk for r in reports]).order_by("pk")
    fast = fast_json(queryset, request)
    assert fast == serializer_json(queryset, request)

    # The data covers what it claims to (else the comparison above proves little).
    by_id = {row["uuid"]: row for row in fast}
    violation, unknown, overridden, convoy, notified, shift, quiet = (
        by_id[str(report.uuid)] for report in reports
    )
    assert {row["status"] for row in fast} == set(S.values)
    assert violation["settlement"]["code"] == world["town"].code
    assert violation["post"]["code"] == world["op"].code and unknown["post"] is None
    assert violation["violation"]["alleged_perpetrator"]["code"] == "army"
    assert unknown["violation"]["alleged_perpetrator"] is None
    assert unknown["zone"] is None and unknown["classified_zone"] is None
    assert unknown["settlement"] is None and unknown["submitted_at"] is not None
    assert violation["submitted_at"] is None
    assert overridden["zone"]["code"] == world["other_zone"].code
    assert overridden["classified_zone"]["code"] == world["zone"].code
    assert overridden["zone_override_reason"]
    assert [o["code"] for o in convoy["convoy"]["organizations"]] == ["akf", "icrc", "sarc"]
    assert [line["quantity"] for line in convoy["convoy"]["cargo"]] == [
        "120.500",
        "400.000",
        "0.001",
    ]
    assert [line["delivered_quantity"] for line in convoy["convoy"]["cargo"]] == [
        "100.250",
        None,
        "0.000",
    ]
    route = convoy["convoy"]["route"]
    assert [stop["position"] for stop in route] == [0, 1]
    assert route[0]["passed_at"].endswith(".000005Z") and route[1]["passed_at"] is None
    assert [stage["stage"] for stage in convoy["convoy"]["stages"]] == ["departed", "arrived"]
    assert notified["convoy"]["beneficiaries"] is None
    assert notified["convoy"]["cargo"] == notified["convoy"]["route"] == []
    parties = [incident["party"] for incident in shift["checkpoint"]["incidents"]]
    assert parties[0]["code"] == "army" and parties[1] is None
    assert quiet["checkpoint"]["incidents"] == []
    assert [a["original_name"] for a in violation["attachments"]] == ["crater.jpg", "log.pdf"]
    assert convoy["attachments"][0]["uploaded_by"] == world["coordinator"].username
    assert shift["attachments"] == []
    for row in fast:
        kinds = {"violation", "convoy", "checkpoint"}
        assert [key for key in kinds if row[key] is not None] == [row["kind"]]


def test_the_json_is_the_report_endpoints_own(world):
    """Byte for byte in the renderer's output, and as the detail endpoint answers."""
    reports = file_every_kind(world)
    request = make_request()
    queryset = report_full_list().filter(pk__in=[r.pk for r in reports])
    fast = report_representations(reports=queryset, request=request)
    drf = ReportSerializer(list(queryset), many=True, context={"request": request}).data
    assert JSONRenderer().render(fast) == JSONRenderer().render(drf)  # keys in the same order
    for report, row in zip(queryset, rendered(fast), strict=True):
        url = reverse("incidents-api:report-detail", kwargs={"uuid": report.uuid})
        response = client_for(report.author).get(url)
        assert response.status_code == 200
        assert response.json() == row
        assert row["url"] == f"http://testserver{url}"


def test_urls_and_times_follow_the_request_and_the_time_zone(world, settings):
    settings.ALLOWED_HOSTS = ["feed.example.org"]
    reports = file_every_kind(world)
    # DRF keeps a ?format= override in every link it gives.
    path = "/api/v1/changes/?after=0&format=json"
    request = make_request(path, HTTP_HOST="feed.example.org", secure=True)
    queryset = Report.objects.filter(pk__in=[r.pk for r in reports])
    with timezone.override("Asia/Damascus"):
        fast = fast_json(queryset, request)
        assert fast == serializer_json(queryset, request)
    assert fast[0]["occurred_at"].endswith("+03:00")
    assert fast[0]["url"].startswith("https://feed.example.org/")
    assert fast[0]["url"].endswith(f"/{fast[0]['uuid']}/?format=json")
    assert fast[0]["center"]["url"].startswith("https://feed.example.org/")
    utc = fast_json(queryset, request)  # and back in UTC
    assert utc == serializer_json(queryset, request) and utc[0]["occurred_at"].endswith("Z")

    def cached() -> tuple[int, int]:  # the plans kept: one per time zone, none per call
        return feed._plan.cache_info().currsize, feed._reference_shape.cache_info().currsize

    before = cached()
    with timezone.override("Asia/Damascus"):
        assert fast_json(queryset, request) == fast
    assert fast_json(queryset, request) == utc
    assert cached() == before


def one_of_each(w, at) -> None:
    """A violation, a convoy and a checkpoint shift at ``at``, with every kind of row."""
    report_file(
        w["author"],
        occurred_at=at,
        detail={"category": "rockets", "alleged_perpetrator": w["army"]},
    )
    convoy = report_file(
        w["author"], kind=ReportKind.CONVOY, occurred_at=at, detail=convoy_detail(w, at)
    )
    report_file(
        w["turkish"], kind=ReportKind.CHECKPOINT, occurred_at=at, detail=shift_detail(w, at)
    )
    attachment_add(report=convoy, actor=w["author"], upload=jpeg((200, 30, 30)))


def test_the_number_of_queries_does_not_grow_with_the_reports(world, django_assert_max_num_queries):
    request = make_request()

    def queries() -> tuple[int, int]:
        queryset = report_full_list()
        with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(MAX_QUERIES):
            rows = report_representations(reports=queryset, request=request)
        assert rendered(rows) == serializer_json(queryset, request)
        return len(rows), len(ctx)

    report_file(
        world["author"], kind=ReportKind.CONVOY, detail=convoy_detail(world, REPORT_OCCURRED)
    )
    one, single = queries()
    for day in range(10):
        one_of_each(world, REPORT_OCCURRED - timedelta(days=day + 1))
    many, thirty = queries()
    assert (one, many) == (1, 31)
    assert single <= thirty == MAX_QUERIES


def test_the_querysets_order_is_kept(world):
    reports = file_every_kind(world)
    request = make_request()
    base = Report.objects.filter(pk__in=[r.pk for r in reports])
    for queryset in (
        base,  # the model's order: newest first
        base.order_by("pk"),
        base.order_by("-status", "reference"),
        report_full_list().filter(pk__in=[r.pk for r in reports]).order_by("kind", "-pk")[1:5],
    ):
        expected = [str(uuid) for uuid in queryset.values_list("uuid", flat=True)]
        fast = fast_json(queryset, request)
        assert [row["uuid"] for row in fast] == expected
        assert fast == serializer_json(queryset, request)


def test_no_reports_give_an_empty_list(world, django_assert_num_queries):
    report_file(world["author"])
    with django_assert_num_queries(0):
        assert report_representations(reports=Report.objects.none(), request=make_request()) == []
    with django_assert_num_queries(1):
        nothing = Report.objects.filter(reference="none such")
        assert report_representations(reports=nothing, request=make_request()) == []


def field_tree(serializer: serializers.Serializer) -> dict:
    """The serializer's fields, nested serializers (and lists of them) as subtrees."""
    tree = {}
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.ListSerializer):
            field = field.child
        tree[name] = field_tree(field) if isinstance(field, serializers.Serializer) else None
    return tree


def merged(one: dict | None, other: dict | None) -> dict | None:
    """Two key trees as one (a subtree wins over a leaf)."""
    if one is None or other is None:
        return one if other is None else other
    return {key: merged(one.get(key), other.get(key)) for key in {**one, **other}}


def key_tree(rows: list[dict], tree: dict) -> dict:
    """The keys of ``rows``, merged, shaped as ``tree``: the nested records descended into
    where some row has one (a record, or a list of them, not null or empty)."""
    produced: dict = {}
    for row in rows:
        for key, value in row.items():
            nested = value if isinstance(value, list) else [value] if value else []
            subtree = None
            if tree.get(key) is not None and nested:
                subtree = key_tree(nested, tree[key])
            produced[key] = merged(produced.get(key), subtree)
    return produced


def test_every_field_of_the_serializer_is_produced(world):
    """Any field added to ReportSerializer or one of its nested serializers and not built by
    the direct serializer fails here (and in the comparisons above)."""
    reports = file_every_kind(world)
    expected = field_tree(ReportSerializer())
    queryset = Report.objects.filter(pk__in=[r.pk for r in reports])
    produced = key_tree(report_representations(reports=queryset, request=make_request()), expected)
    assert produced == expected


def test_a_field_it_cannot_build_is_named():
    """A relation added to a serializer stops the direct serializer with an error naming it,
    rather than a wrong value."""

    class WithWitness(ViolationDetailSerializer):
        witness = serializers.SerializerMethodField()

        class Meta(ViolationDetailSerializer.Meta):
            fields = [*ViolationDetailSerializer.Meta.fields, "witness"]

        def get_witness(self, detail) -> str:
            return "someone"

    with pytest.raises(ImproperlyConfigured, match=r"WithWitness\.witness"):
        feed._shape(WithWitness(), None, related={"alleged_perpetrator", "affected_party"})

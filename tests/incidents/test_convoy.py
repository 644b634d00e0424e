"""Humanitarian convoy reports: organizations, cargo lines, the route through checkpoints and
the stages, filed with the report in one transaction; every bad row named by list, place and
field, and nothing saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents.choices import (
    CargoCategory,
    CargoUnit,
    ConvoyOperation,
    ConvoyStatus,
    ReportKind,
)
from incidents.models import CargoLine, ConvoyDetail, ConvoyRouteStop, ConvoyStage, Report
from incidents.services import report_create, report_update
from monitoring.choices import AuditEntryAction, ObserverRole, PartyKind
from monitoring.models import AuditEntry
from monitoring.selectors import audit_entries_for
from tests.factories import (
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_values,
)
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
PLANNED = datetime(2017, 6, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def convoy_world(zone, make_member):
    ZoneTermFactory(zone=zone)
    return {
        "observer": make_member(ObserverRole.OBSERVER),
        "sarc": PartyFactory(code="sarc", name="SARC", kind=PartyKind.HUMANITARIAN_ORG),
        "icrc": PartyFactory(code="icrc", name="ICRC", kind=PartyKind.HUMANITARIAN_ORG),
        "army": PartyFactory(code="army", name="Army", kind=PartyKind.GOVERNMENT_FORCES),
        "first": PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_humanitarian=True),
        "second": PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_humanitarian=True),
        "post": PostFactory(zone=zone, kind=PostKind.OBSERVATION_POST),
        "town": SettlementFactory(),
    }


def convoy_detail(w, **overrides) -> dict:
    base = {
        "operation": ConvoyOperation.ROAD_CONVOY,
        "organizations": [w["sarc"], w["icrc"]],
        "vehicle_count": 31,
        "origin": "Damascus warehouse",
        "destination": w["town"],
        "planned_at": PLANNED,
        "status": ConvoyStatus.DELIVERED,
        "beneficiaries": 12000,
        "cargo": [
            {
                "category": CargoCategory.FOOD,
                "quantity": Decimal("120.5"),
                "unit": CargoUnit.TONNES,
                "delivered_quantity": Decimal("120.5"),
            },
            {"category": CargoCategory.MEDICINE, "quantity": Decimal(400), "unit": CargoUnit.KITS},
        ],
        "route": [
            {"post": w["first"], "passed_at": PLANNED + timedelta(hours=1)},
            {"post": w["second"], "passed_at": PLANNED + timedelta(hours=2)},
        ],
        "stages": [
            {"stage": "departed", "at": PLANNED + timedelta(minutes=20), "note": ""},
            {"stage": "arrived", "at": PLANNED + timedelta(hours=3), "note": "All trucks."},
        ],
    }
    return {**base, **overrides}


def file_convoy(w, **overrides) -> Report:
    return report_create(
        actor=w["observer"],
        kind=ReportKind.CONVOY,
        values=report_values(occurred_at=PLANNED + timedelta(hours=3)),
        detail=convoy_detail(w, **overrides),
    )


def test_a_convoy_is_filed_with_every_row_and_one_audit_entry(convoy_world):
    w = convoy_world
    report = file_convoy(w)
    convoy = ConvoyDetail.objects.get(report=report)
    assert set(convoy.organizations.all()) == {w["sarc"], w["icrc"]}
    assert (convoy.vehicle_count, convoy.destination, convoy.status) == (
        31,
        w["town"],
        ConvoyStatus.DELIVERED,
    )
    cargo = list(convoy.cargo.order_by("pk").values_list("category", "quantity", "unit"))
    assert cargo == [
        ("food", Decimal("120.500"), "tonnes"),
        ("medicine", Decimal("400.000"), "kits"),
    ]
    assert list(convoy.stops.values_list("position", "post")) == [
        (0, w["first"].pk),
        (1, w["second"].pk),
    ]
    assert list(convoy.stages.values_list("stage", flat=True)) == ["departed", "arrived"]
    entries = audit_entries_for(report)
    assert entries.count() == 1
    changes = entries.get(action=AuditEntryAction.CREATE).changes
    assert changes["convoy.organizations"] == [None, sorted([w["sarc"].pk, w["icrc"].pk])]
    assert changes["convoy.cargo"][1] == [
        {
            "category": "food",
            "quantity": "120.500",
            "unit": "tonnes",
            "delivered_quantity": "120.500",
        },
        {"category": "medicine", "quantity": "400.000", "unit": "kits", "delivered_quantity": None},
    ]
    assert [stop["post_id"] for stop in changes["convoy.route"][1]] == [
        w["first"].pk,
        w["second"].pk,
    ]
    assert changes["convoy.stages"][1][1]["note"] == "All trucks."
    assert changes["convoy.status"] == [None, "delivered"]


def test_a_convoy_with_no_rows_is_filed(convoy_world):
    """Cargo, route and stages may be unknown when the convoy is only notified."""
    w = convoy_world
    report = file_convoy(w, status=ConvoyStatus.NOTIFIED, cargo=[], route=[], stages=[])
    assert report.convoy.status == ConvoyStatus.NOTIFIED
    assert not CargoLine.objects.exists() and not ConvoyRouteStop.objects.exists()


def later(hours: float) -> datetime:
    return timezone.now() + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"status": ConvoyStatus.BLOCKED, "obstruction_reason": ""}, {"obstruction_reason"}),
        (
            {"status": ConvoyStatus.PARTIALLY_DELIVERED, "obstruction_reason": "  "},
            {"obstruction_reason"},
        ),
        ({"organizations": []}, {"organizations"}),
        ({"organizations": ["army"]}, {"organizations"}),
        ({"operation": "submarine"}, {"operation"}),
        ({"destination": None}, {"destination"}),
        (
            {"cargo": [{"category": "food", "quantity": Decimal(0), "unit": "tonnes"}]},
            {"cargo.0.quantity"},
        ),
        (
            {
                "cargo": [
                    {"category": "food", "quantity": Decimal(10), "unit": "tonnes"},
                    {
                        "category": "water",
                        "quantity": Decimal(10),
                        "unit": "litres",
                        "delivered_quantity": Decimal(11),
                    },
                ]
            },
            {"cargo.1.delivered_quantity"},
        ),
        (
            {
                "cargo": [
                    {
                        "category": "fuel",
                        "quantity": Decimal(-3),
                        "unit": "barrels",
                        "delivered_quantity": Decimal(-1),
                    }
                ]
            },
            {"cargo.0.quantity", "cargo.0.unit", "cargo.0.delivered_quantity"},
        ),
        ({"route": [{"post": "post", "passed_at": None}]}, {"route.0.post"}),
        (
            {"route": [{"post": "first", "passed_at": None}, {"post": "first"}]},
            {"route.1.post"},
        ),
        ({"route": [{"post": None}]}, {"route.0.post"}),
        ({"route": [{"post": "first", "passed_at": "later"}]}, {"route.0.passed_at"}),
        (
            {
                "route": [
                    {"post": "first", "passed_at": PLANNED + timedelta(hours=2)},
                    {"post": "second", "passed_at": PLANNED + timedelta(hours=1)},
                ]
            },
            {"route.1.passed_at"},
        ),
        ({"stages": [{"stage": "", "at": PLANNED}]}, {"stages.0.stage"}),
        ({"stages": [{"stage": "arrived", "at": None}]}, {"stages.0.at"}),
        ({"cargo": [{"category": "food", "weight": 3}]}, {"cargo.0.weight"}),
        ({"tonnage": 3}, {"tonnage"}),
    ],
    ids=[
        "blocked-without-reason",
        "partly-delivered-without-reason",
        "no-organization",
        "not-humanitarian",
        "bad-operation",
        "no-destination",
        "zero-quantity",
        "more-delivered-than-carried",
        "negative-and-bad-unit",
        "observation-post-on-route",
        "checkpoint-twice",
        "route-without-post",
        "passed-at-not-a-time",
        "passed-out-of-order",
        "stage-without-name",
        "stage-without-time",
        "unknown-row-field",
        "unknown-field",
    ],
)
def test_each_bad_convoy_names_its_field_and_saves_nothing(convoy_world, overrides, fields):
    w = convoy_world

    def resolve(value):
        """Fixture names in the parameters stand for the fixture's records."""
        if isinstance(value, str) and value in w:
            return w[value]
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        return value

    audit_before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        file_convoy(w, **resolve(overrides))
    assert fields <= set(caught.value.message_dict), caught.value.message_dict
    assert not Report.objects.exists()
    assert not ConvoyDetail.objects.exists() and not CargoLine.objects.exists()
    assert not ConvoyRouteStop.objects.exists() and not ConvoyStage.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_times_not_yet_come_are_refused(convoy_world):
    w = convoy_world
    with pytest.raises(ValidationError) as caught:
        file_convoy(
            w,
            route=[{"post": w["first"], "passed_at": later(2)}],
            stages=[{"stage": "arrived", "at": later(3)}],
        )
    assert {"route.0.passed_at", "stages.0.at"} <= set(caught.value.message_dict)
    # A planned time ahead is fine: a notified convoy has not left yet.
    report = file_convoy(w, status=ConvoyStatus.NOTIFIED, planned_at=later(24), route=[], stages=[])
    assert report.convoy.planned_at > timezone.now()


def test_every_bad_row_is_reported_at_once_with_the_common_fields(convoy_world):
    w = convoy_world
    with pytest.raises(ValidationError) as caught:
        report_create(
            actor=w["observer"],
            kind=ReportKind.CONVOY,
            values=report_values(narrative=""),
            detail=convoy_detail(
                w,
                status=ConvoyStatus.BLOCKED,
                cargo=[
                    {"category": "food", "quantity": Decimal(0), "unit": "tonnes"},
                    {"category": "water", "quantity": Decimal(5), "unit": "litres"},
                    {"category": "fuel", "quantity": Decimal(-1), "unit": "litres"},
                ],
                route=[{"post": w["post"]}],
            ),
        )
    errors = caught.value.message_dict
    assert {
        "narrative",
        "obstruction_reason",
        "cargo.0.quantity",
        "cargo.2.quantity",
        "route.0.post",
    } <= set(errors)
    assert "cargo.1.quantity" not in errors
    assert "blocked" in errors["obstruction_reason"][0].lower()
    assert not Report.objects.exists()


def test_a_blocked_convoy_with_its_reason_is_filed(convoy_world):
    w = convoy_world
    report = file_convoy(
        w,
        status=ConvoyStatus.BLOCKED,
        obstruction_reason="Turned back at the second checkpoint: no clearance letter.",
        cargo=[
            {
                "category": "food",
                "quantity": Decimal(20),
                "unit": "tonnes",
                "delivered_quantity": Decimal(0),
            }
        ],
    )
    assert report.convoy.cargo.get().delivered_quantity == Decimal(0)


def test_editing_a_convoy_replaces_its_rows_and_records_before_and_after(convoy_world):
    w = convoy_world
    report = file_convoy(w)
    entries = AuditEntry.objects.count()
    # The same detail again (120.5 typed, 120.500 stored) is no change: no write at all.
    same = report_update(
        report=report, actor=w["observer"], expected_revision=1, values={}, detail=convoy_detail(w)
    )
    assert same.revision == 1 and AuditEntry.objects.count() == entries
    edited = report_update(
        report=report,
        actor=w["observer"],
        expected_revision=1,
        values={},
        detail=convoy_detail(
            w,
            organizations=[w["sarc"]],
            status=ConvoyStatus.PARTIALLY_DELIVERED,
            obstruction_reason="Medicine removed from the trucks at the first checkpoint.",
            cargo=[
                {
                    "category": CargoCategory.MEDICINE,
                    "quantity": Decimal(400),
                    "unit": CargoUnit.KITS,
                    "delivered_quantity": Decimal(150),
                }
            ],
            route=[{"post": w["second"], "passed_at": PLANNED + timedelta(hours=2)}],
        ),
    )
    assert edited.revision == 2
    convoy = ConvoyDetail.objects.get(report=report)
    assert list(convoy.organizations.all()) == [w["sarc"]]
    assert list(convoy.cargo.values_list("category", "delivered_quantity")) == [
        ("medicine", Decimal("150.000"))
    ]
    assert list(convoy.stops.values_list("position", "post")) == [(0, w["second"].pk)]
    assert CargoLine.objects.count() == 1 and ConvoyRouteStop.objects.count() == 1
    update = audit_entries_for(report).get(action=AuditEntryAction.UPDATE)
    before, after = update.changes["convoy.cargo"]
    assert [line["category"] for line in before] == ["food", "medicine"]
    assert after == [
        {
            "category": "medicine",
            "quantity": "400.000",
            "unit": "kits",
            "delivered_quantity": "150.000",
        }
    ]
    assert update.changes["convoy.organizations"] == [
        sorted([w["sarc"].pk, w["icrc"].pk]),
        [w["sarc"].pk],
    ]
    assert update.changes["convoy.status"] == ["delivered", "partially_delivered"]
    assert "convoy.stages" not in update.changes  # unchanged rows are not listed
    assert ConvoyStage.objects.count() == 2


def test_a_bad_convoy_edit_keeps_the_stored_rows(convoy_world):
    w = convoy_world
    report = file_convoy(w)
    with pytest.raises(ValidationError) as caught:
        report_update(
            report=report,
            actor=w["observer"],
            expected_revision=1,
            values={},
            detail=convoy_detail(
                w, cargo=[{"category": "food", "quantity": Decimal(0), "unit": "tonnes"}]
            ),
        )
    assert "cargo.0.quantity" in caught.value.message_dict
    assert CargoLine.objects.count() == 2
    assert Report.objects.get(pk=report.pk).revision == 1


def test_a_value_of_the_wrong_kind_is_an_error_not_a_crash(convoy_world):
    w = convoy_world
    with pytest.raises(ValidationError) as caught:
        file_convoy(w, destination="Douma", route=[{"post": 12345}])
    assert {"destination", "route.0.post"} <= set(caught.value.message_dict)
    assert not Report.objects.exists()

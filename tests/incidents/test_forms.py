"""The filing forms: each error names its field (never a bare "constraint violated"), and
the services' errors are put back on the field, row or section they name."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents.forms import (
    AccessIncidentForm,
    CargoLineForm,
    CheckpointDetailForm,
    ConvoyDetailForm,
    ReportFiling,
    ReportForm,
    ViolationDetailForm,
)
from incidents.services import StaleEditError
from monitoring.choices import PartyKind
from monitoring.selectors import observer_for_user
from tests.factories import PartyFactory, PostFactory, SettlementFactory
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
DAMASCUS = ZoneInfo("Asia/Damascus")


@pytest.fixture
def observer(observer_user):
    return observer_for_user(observer_user)


@pytest.fixture
def places(zone):
    return {
        "settlement": SettlementFactory(latitude=35.88, longitude=36.62),
        "post": PostFactory(zone=zone),
        "checkpoint": PostFactory(zone=zone, kind=PostKind.CHECKPOINT),
        "org": PartyFactory(kind=PartyKind.HUMANITARIAN_ORG),
    }


def report_data(**overrides):
    data = {
        "latitude": "35.9",
        "longitude": "36.6",
        "place_precision": "exact",
        "occurred_at": "2017-06-03T14:00",
        "time_precision": "exact",
        "source": "seen",
        "confidence": "medium",
        "narrative": "Shelling observed.",
    }
    data.update(overrides)
    return data


def assert_only_field_errors(form, expected: dict[str, str]):
    """The form is invalid with exactly these fields in error (message fragments), and no
    error that names no field."""
    assert not form.is_valid()
    assert form.non_field_errors() == []
    assert set(form.errors) == set(expected), form.errors
    for name, fragment in expected.items():
        assert any(fragment in message for message in form.errors[name]), form.errors[name]


def test_a_sound_report_form_reads_the_time_in_the_centers_zone(observer, places):
    with timezone.override(DAMASCUS):
        form = ReportForm(report_data(settlement=places["settlement"].pk), observer=observer)
        assert form.is_valid(), form.errors
    assert form.cleaned_data["occurred_at"] == datetime(2017, 6, 3, 11, 0, tzinfo=UTC)
    assert form.cleaned_data["settlement"] == places["settlement"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"occurred_at": "2099-06-03T14:00"}, {"occurred_at": "cannot describe the future"}),
        ({"occurred_at": "yesterday"}, {"occurred_at": "Enter a valid date/time"}),
        ({"narrative": ""}, {"narrative": "required"}),
        ({"latitude": "north"}, {"latitude": "Enter a number"}),
        ({"latitude": "48.85", "longitude": "2.35"}, {"latitude": "", "longitude": ""}),
        ({"source": "rumour"}, {"source": "Select a valid choice"}),
        (
            {"zone_override_reason": "", "zone_override": "ZONE"},
            {"zone_override_reason": "Say why"},
        ),
    ],
)
def test_report_form_errors_name_their_field(observer, zone, overrides, expected):
    if overrides.get("zone_override") == "ZONE":
        overrides["zone_override"] = str(zone.pk)
    form = ReportForm(report_data(**overrides), observer=observer)
    assert_only_field_errors(form, expected)


def test_posts_and_settlements_outside_the_centers_choices_are_refused(observer, places):
    from tests.factories import ZoneFactory

    far = ZoneFactory(center=(36.3, 33.5), governorates=["damascus"])
    far_post = PostFactory(zone=far, latitude=33.5, longitude=36.3)
    far_town = SettlementFactory(governorate="damascus", latitude=33.5, longitude=36.3)
    form = ReportForm(report_data(post=far_post.pk, settlement=far_town.pk), observer=observer)
    assert_only_field_errors(
        form, {"post": "Select a valid choice", "settlement": "Select a valid choice"}
    )


def violation_data(**overrides):
    data = {"category": "shelling", "events": "1"}
    data.update(overrides)
    return data


def test_empty_casualty_cells_count_as_none(observer):
    form = ViolationDetailForm(violation_data(), observer=observer)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["civilians_killed_best"] == 0
    assert form.cleaned_data["alleged_perpetrator"] is None  # "Unknown"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {
                "civilians_killed_low": "3",
                "civilians_killed_best": "2",
                "civilians_killed_high": "4",
            },
            {"civilians_killed_best": "low estimate (3) cannot exceed the best (2)"},
        ),
        (
            {"combatants_injured_best": "5", "combatants_injured_high": "4"},
            {"combatants_injured_best": "nor the best the high (4)"},
        ),
        ({"civilians_injured_low": "-1"}, {"civilians_injured_low": "greater than or equal to 0"}),
        ({"events": "-2"}, {"events": "greater than or equal to 0"}),
        ({"direction_degrees": "360"}, {"direction_degrees": "less than or equal to 359"}),
        ({"distance_km": "-1"}, {"distance_km": "greater than or equal to 0"}),
        ({"category": ""}, {"category": "required"}),
    ],
)
def test_violation_errors_name_their_field(observer, overrides, expected):
    form = ViolationDetailForm(violation_data(**overrides), observer=observer)
    assert_only_field_errors(form, expected)


def checkpoint_data(places, **overrides):
    data = {
        "checkpoint": places["checkpoint"].pk,
        "period_start": "2017-06-03T08:00",
        "period_end": "2017-06-03T16:00",
        "status": "open",
        "civilians_in": "1",
        "civilians_out": "0",
        "vehicles_in": "0",
        "vehicles_out": "0",
        "humanitarian_loads": "0",
        "commercial_loads": "0",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"period_end": "2017-06-03T07:00"}, {"period_end": "ends after it starts"}),
        ({"period_end": "2017-06-03T08:00"}, {"period_end": "ends after it starts"}),
        ({"vehicles_out": "-3"}, {"vehicles_out": "greater than or equal to 0"}),
        ({"checkpoint": "POST"}, {"checkpoint": "Select a valid choice"}),
    ],
)
def test_checkpoint_errors_name_their_field(observer, places, overrides, expected):
    if overrides.get("checkpoint") == "POST":  # an observation post is not offered
        overrides["checkpoint"] = places["post"].pk
    form = CheckpointDetailForm(checkpoint_data(places, **overrides), observer=observer)
    assert_only_field_errors(form, expected)


def convoy_data(places, **overrides):
    data = {
        "operation": "road_convoy",
        "organizations": [places["org"].pk],
        "vehicle_count": "3",
        "origin": "Hama",
        "destination": places["settlement"].pk,
        "planned_at": "2017-06-03T07:00",
        "status": "delivered",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"status": "blocked"}, {"obstruction_reason": "Say why"}),
        ({"organizations": []}, {"organizations": "required"}),
        ({"vehicle_count": "-1"}, {"vehicle_count": "greater than or equal to 0"}),
        ({"planned_at": ""}, {"planned_at": "required"}),
    ],
)
def test_convoy_errors_name_their_field(observer, places, overrides, expected):
    form = ConvoyDetailForm(convoy_data(places, **overrides), observer=observer)
    assert_only_field_errors(form, expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"quantity": "0"}, {"quantity": "more than zero"}),
        ({"quantity": "-2"}, {"quantity": "more than zero"}),
        ({"delivered_quantity": "11"}, {"delivered_quantity": "More delivered"}),
        ({"delivered_quantity": "-1"}, {"delivered_quantity": "negative"}),
        ({"unit": "barrels"}, {"unit": "Select a valid choice"}),
    ],
)
def test_cargo_line_errors_name_their_field(observer, data, expected):
    row = {"category": "food", "quantity": "10", "unit": "tonnes", **data}
    assert_only_field_errors(CargoLineForm(row, observer=observer), expected)


def test_access_incident_count_is_at_least_one(observer):
    form = AccessIncidentForm({"kind": "delay", "count": "0"}, observer=observer)
    assert_only_field_errors(form, {"count": "at least one"})


# --- ReportFiling: rows and the services' errors -------------------------------------------


def formset_data(prefix, rows, *, initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for number, row in enumerate(rows):
        data.update({f"{prefix}-{number}-{key}": value for key, value in row.items()})
    return data


@pytest.fixture
def convoy_filing(observer, places):
    def make(cargo):
        data = {
            **report_data(),
            **convoy_data(places),
            **formset_data("cargo", cargo),
            **formset_data("route", []),
            **formset_data("stages", []),
        }
        with timezone.override(DAMASCUS):
            filing = ReportFiling(kind="convoy", observer=observer, data=data)
            assert filing.is_valid(), [filing.form.errors, filing.detail_form.errors]
        return filing

    return make


FOOD = {"category": "food", "quantity": "5", "unit": "tonnes"}
WATER = {"category": "water", "quantity": "900", "unit": "litres"}
EMPTY = {"category": "", "quantity": "", "unit": ""}


def test_the_filing_gives_the_services_the_rows_kept(convoy_filing, places):
    filing = convoy_filing([FOOD, {**WATER, "DELETE": "on"}, EMPTY, WATER])
    detail = filing.detail()
    assert [row["category"] for row in detail["cargo"]] == ["food", "water"]
    assert detail["organizations"] == [places["org"]]
    assert detail["route"] == [] and detail["stages"] == []
    assert set(filing.values()) == {
        "latitude",
        "longitude",
        "place_precision",
        "settlement",
        "post",
        "occurred_at",
        "time_precision",
        "source",
        "confidence",
        "narrative",
    }


def test_service_errors_go_back_to_their_field_row_or_section(convoy_filing):
    filing = convoy_filing([FOOD, {**WATER, "DELETE": "on"}, WATER])
    filing.detail()  # row numbers are those of the rows handed to the service
    filing.add_service_errors(
        ValidationError(
            {
                "cargo.1.quantity": "Too much water.",
                "cargo.0": "Something about the row.",
                "cargo": "At least one line.",
                "origin": "Where from?",
                "narrative": "Say more.",
                "status": "A submitted report cannot be edited.",
                "kind": "Unknown.",
            }
        )
    )
    cargo = filing.formsets["cargo"]
    assert cargo.forms[2].errors["quantity"] == ["Too much water."]
    assert cargo.forms[0].non_field_errors() == ["Something about the row."]
    assert "quantity" not in cargo.forms[1].errors
    assert filing.section_errors == {"cargo": ["At least one line."]}
    assert filing.detail_form.errors["origin"] == ["Where from?"]
    assert filing.form.errors["narrative"] == ["Say more."]
    # The workflow's "status" is the report's, not the convoy's status field.
    assert "status" not in filing.detail_form.errors
    assert filing.page_errors == ["A submitted report cannot be edited.", "Unknown."]
    assert filing.has_errors


def test_a_stale_edit_is_a_page_error(convoy_filing):
    filing = convoy_filing([FOOD])
    filing.add_service_errors(StaleEditError("AMC-1 was changed after you opened it."))
    assert filing.page_errors == ["AMC-1 was changed after you opened it."]


def test_an_unknown_kind_has_no_forms(observer):
    with pytest.raises(ValueError, match="unknown report kind"):
        ReportFiling(kind="airstrike", observer=observer)

"""ReportFilterSet on its own (as the web pages and the API use it): each filter, dates as
the center's calendar days, and bad values as errors naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict
from django.test import RequestFactory

from incidents.choices import ReportKind, ReportStatus
from incidents.filtersets import ReportFilterSet
from incidents.models import Report
from monitoring.choices import ObserverRole
from tests.factories import CenterFactory, PartyFactory, ZoneFactory, report_file

pytestmark = pytest.mark.django_db
S = ReportStatus


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def query(data: dict | str) -> QueryDict:
    """Parameters as a request carries them (a repeated parameter is several values)."""
    return QueryDict(data if isinstance(data, str) else urlencode(data, doseq=True))


def refs(data: dict | str, **kwargs) -> set[str]:
    params = query(data)
    filterset = ReportFilterSet(params, queryset=Report.objects.all(), **kwargs)
    assert filterset.is_valid(), filterset.errors
    return set(filterset.qs.values_list("reference", flat=True))


def errors(data: dict | str) -> dict:
    filterset = ReportFilterSet(query(data), queryset=Report.objects.all())
    assert not filterset.is_valid()
    return filterset.errors


@pytest.fixture
def data(zone, center, delegation, make_member):
    turkey = PartyFactory(code="turkey", name="Turkey")
    regime = PartyFactory(code="syrian-army", name="Syrian Arab Army")
    russian = make_member(ObserverRole.OBSERVER)
    turkish = make_member(ObserverRole.OBSERVER, delegation=turkey)
    coordinator = make_member(ObserverRole.COORDINATOR)
    north = ZoneFactory(center=(37.2, 36.4))
    far = CenterFactory(zones=[north], code="FAR")
    far_observer = make_member(ObserverRole.OBSERVER, center=far)
    made = {
        # 2 June 21:30 UTC is 3 June 00:30 in Damascus (UTC+3 in summer).
        "shelling": report_file(
            russian,
            status=S.SUBMITTED,
            occurred_at=utc(2017, 6, 2, 21, 30),
            detail={"category": "shelling", "alleged_perpetrator": regime},
            narrative="Mortar rounds fell near the bakery.",
        ),
        "sniper": report_file(
            turkish,
            status=S.VERIFIED,
            reviewer=coordinator,
            occurred_at=utc(2017, 6, 2, 22, 0),  # 3 June 01:00 in Damascus
            detail={"category": "small_arms", "alleged_perpetrator": turkey},
            latitude=35.95,
            longitude=36.65,
        ),
        "convoy": report_file(russian, kind=ReportKind.CONVOY, occurred_at=utc(2017, 6, 4, 9)),
        "north": report_file(
            far_observer,
            status=S.SUBMITTED,
            latitude=36.4,
            longitude=37.2,
            occurred_at=utc(2017, 6, 5, 9),
            narrative="Drone.",
        ),
    }
    Report.objects.filter(pk=made["convoy"].pk).update(updated_at=utc(2017, 6, 10, 12))
    Report.objects.filter(pk=made["north"].pk).update(updated_at=utc(2017, 6, 12, 12))
    return {
        "reports": {key: r.reference for key, r in made.items()},
        "north": north,
        "zone": zone,
        "center": center,
        "russian": russian,
    }


def test_every_declared_filter_exists_and_nothing_filters_without_values(data):
    filterset = ReportFilterSet(QueryDict(""), queryset=Report.objects.all())
    assert set(ReportFilterSet.Meta.fields) == set(filterset.filters)
    assert filterset.is_valid()
    assert filterset.qs.count() == 4


def test_kind_and_status_take_several_values(data):
    r = data["reports"]
    assert refs("kind=convoy") == {r["convoy"]}
    assert refs("kind=convoy&kind=violation") == set(r.values())
    assert refs("status=verified") == {r["sniper"]}
    assert refs("status=submitted&status=draft") == {r["shelling"], r["north"], r["convoy"]}


def test_zone_and_center_by_code(data):
    r = data["reports"]
    assert refs({"zone": data["north"].code}) == {r["north"]}
    assert refs({"zone": data["zone"].code}) == {r["shelling"], r["sniper"], r["convoy"]}
    assert refs({"center": "FAR"}) == {r["north"]}
    assert refs({"center": data["center"].code}) == {r["shelling"], r["sniper"], r["convoy"]}


def test_delegation_party_and_category(data):
    r = data["reports"]
    assert refs("delegation=turkey") == {r["sniper"]}
    assert refs("party=syrian-army") == {r["shelling"]}
    assert refs("party=syrian-army&party=turkey") == {r["shelling"], r["sniper"]}
    assert refs("category=small_arms") == {r["sniper"]}


def test_occurred_dates_are_the_centers_calendar_days_both_included(data):
    r = data["reports"]
    # Both violations happened on 3 June in Damascus, though one was on 2 June in UTC.
    assert refs(
        "occurred_after=2017-06-03&occurred_before=2017-06-03", time_zone=ZoneInfo("Asia/Damascus")
    ) == {r["shelling"], r["sniper"]}
    assert refs("occurred_before=2017-06-02", time_zone=ZoneInfo("Asia/Damascus")) == set()
    # Read in UTC both happened on 2 June.
    assert refs("occurred_before=2017-06-02", time_zone=UTC) == {r["shelling"], r["sniper"]}
    assert refs("occurred_after=2017-06-04", time_zone=UTC) == {r["convoy"], r["north"]}


def test_dates_default_to_the_requesting_users_center(data):
    request = RequestFactory().get("/")
    request.user = data["russian"]  # Damascus time (the factory's center)
    filterset = ReportFilterSet(
        QueryDict("occurred_before=2017-06-02"), queryset=Report.objects.all(), request=request
    )
    assert filterset.local_zone == ZoneInfo("Asia/Damascus")
    assert filterset.is_valid()
    assert not filterset.qs.exists()  # in UTC, two reports happened on 2 June


def test_updated_range(data):
    r = data["reports"]
    assert refs(
        {"updated_after": "2017-06-10T00:00:00Z", "updated_before": "2017-06-11T00:00Z"}
    ) == {r["convoy"]}
    assert r["north"] in refs({"updated_after": "2017-06-11T00:00:00+00:00"})
    # A moment without an offset is the center's: 15:00 in Damascus is 12:00 UTC.
    assert refs(
        {"updated_after": "2017-06-12T15:00", "updated_before": "2017-06-12T15:01"},
        time_zone=ZoneInfo("Asia/Damascus"),
    ) == {r["north"]}


def test_search_reference_and_narrative(data):
    r = data["reports"]
    assert refs({"q": "bakery"}) == {r["shelling"]}
    assert refs({"q": "BAKERY"}) == {r["shelling"]}
    assert refs({"q": r["convoy"]}) == {r["convoy"]}
    assert refs({"q": "   "}) == set(r.values())


def test_bounding_box(data):
    r = data["reports"]
    assert refs({"bbox": "36.62,35.92,36.7,36.0"}) == {r["sniper"]}
    assert refs({"bbox": "37,36,38,37"}) == {r["north"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=spaceship", "kind"),
        ("status=lost", "status"),
        ("zone=atlantis", "zone"),
        ("center=NOPE", "center"),
        ("delegation=martians", "delegation"),
        ("party=nobody", "party"),
        ("category=cyber", "category"),
        ("occurred_after=tomorrow", "occurred_after"),
        ("occurred_before=2017-13-01", "occurred_before"),
        ("updated_after=last week", "updated_after"),
        ("updated_before=2017-06-01T25:00", "updated_before"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=37,35,36,36", "bbox"),
    ],
)
def test_a_bad_value_is_an_error_of_its_parameter(data, query, field):
    assert set(errors(query)) == {field}


def test_a_range_the_wrong_way_round_is_an_error_of_its_end(data):
    found = errors("occurred_after=2017-06-05&occurred_before=2017-06-01")
    assert set(found) == {"occurred_before"}
    assert "occurred_before cannot be before occurred_after" in found["occurred_before"][0]
    found = errors({"updated_after": "2017-06-05T00:00Z", "updated_before": "2017-06-01T00:00Z"})
    assert set(found) == {"updated_before"}

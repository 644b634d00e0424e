"""The filtersets on their own (as the web lists use them): parsing, errors by parameter,
period boundaries, and that every filterable field of a model has its filter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django import forms
from django.http import QueryDict

from monitoring import filtersets as monitoring_filtersets
from tests.factories import (
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneSuspensionFactory,
    ZoneTermFactory,
)
from zones import filtersets as zones_filtersets
from zones.choices import PostKind, PostStatus
from zones.filtersets import (
    BBox,
    BBoxField,
    PostFilterSet,
    SettlementFilterSet,
    ZoneFilterSet,
)
from zones.models import Post, Settlement, Zone

FILTERSETS = [
    monitoring_filtersets.PartyFilterSet,
    monitoring_filtersets.AgreementFilterSet,
    monitoring_filtersets.MonitoringCenterFilterSet,
    zones_filtersets.ZoneFilterSet,
    zones_filtersets.SecurityAreaFilterSet,
    zones_filtersets.ExcludedAreaFilterSet,
    zones_filtersets.PostFilterSet,
    zones_filtersets.SettlementFilterSet,
]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- The bounding box ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "box"),
    [
        ("36,35,37,36", BBox(36.0, 35.0, 37.0, 36.0)),
        (" 35.5 , 32.2 , 42.5 , 37.5 ", BBox(35.5, 32.2, 42.5, 37.5)),
        ("-1.5,-2,1e1,3", BBox(-1.5, -2.0, 10.0, 3.0)),
        ("", None),
    ],
)
def test_bbox_parses(raw, box):
    assert BBoxField(required=False).clean(raw) == box


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("36,35,37", "format"),
        ("36,35,37,36,1", "format"),
        ("36;35;37;36", "format"),
        ("a,b,c,d", "format"),
        ("36,35,inf,36", "format"),
        ("36,nan,37,36", "format"),
        ("181,35,182,36", "range"),
        ("36,-91,37,36", "range"),
        ("37,35,36,36", "order"),
        ("36,35,36,36", "order"),  # a line, not a box
        ("36,36,37,35", "order"),
    ],
)
def test_bbox_refuses(raw, code):
    with pytest.raises(forms.ValidationError) as caught:
        BBoxField(required=False).clean(raw)
    assert caught.value.code == code


# --- Errors name their parameter ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filterset", "data"),
    [
        (PostFilterSet, {"bbox": "1,2,3"}),
        (PostFilterSet, {"kind": "tank"}),
        (PostFilterSet, {"open_on": "2017-02-30"}),
        (SettlementFilterSet, {"population_min": "lots"}),
        (SettlementFilterSet, {"governorate": "narnia"}),
        (ZoneFilterSet, {"in_force_at": "not-a-date"}),
        (ZoneFilterSet, {"agreement": "versailles"}),
    ],
)
def test_bad_value_is_an_error_of_its_parameter(filterset, data):
    bound = filterset(data=data, queryset=filterset._meta.model.objects.all())
    assert not bound.is_valid()
    assert set(bound.errors) == set(data)


@pytest.mark.django_db
@pytest.mark.parametrize("filterset", FILTERSETS, ids=lambda f: f.__name__)
def test_no_filter_selects_everything(filterset):
    PartyFactory()
    ZoneFactory()
    bound = filterset(data={}, queryset=filterset._meta.model.objects.all())
    assert bound.is_valid(), bound.errors
    assert bound.qs.count() == filterset._meta.model.objects.count()


@pytest.mark.parametrize("filterset", FILTERSETS, ids=lambda f: f.__name__)
def test_every_choice_and_relation_has_a_filter(filterset):
    """As NetBox's test_missing_filters: a new choice field or foreign key needs a filter."""
    model = filterset._meta.model
    wanted = {"code"}
    for field in model._meta.get_fields():
        if field.concrete and (getattr(field, "choices", None) or field.many_to_one):
            wanted.add(field.name)
    missing = wanted - set(filterset.base_filters)
    assert not missing, f"{filterset.__name__} lacks filters for {sorted(missing)}"


# --- Moments and periods ------------------------------------------------------------------------


@pytest.fixture
def suspended_zone(db):
    """A term 6 May - 5 Nov 2017 (UTC 21:00 boundaries), suspended 1-15 July."""
    zone = ZoneFactory(code="ghouta")
    ZoneTermFactory(zone=zone)
    ZoneSuspensionFactory(zone=zone, starts_at=utc(2017, 7, 1), ends_at=utc(2017, 7, 15))
    ZoneFactory(code="no-term")
    return zone


@pytest.mark.parametrize(
    ("moment", "in_force"),
    [
        ("2017-05-05T20:59:59Z", False),
        ("2017-05-05T21:00:00Z", True),  # the term's first moment
        ("2017-05-06T00:00:00+03:00", True),  # the same moment in Damascus
        ("2017-06-30T23:59:59Z", True),
        ("2017-07-01T00:00:00Z", False),  # suspended
        ("2017-07-15T00:00:00Z", True),  # the suspension's end is not in it
        ("2017-11-05T20:59:59Z", True),
        ("2017-11-05T21:00:00Z", False),  # the term's end is not in it
        ("2017-06-01T12:00:00", True),  # no offset: UTC
    ],
)
def test_in_force_at_periods_are_half_open(suspended_zone, moment, in_force):
    bound = ZoneFilterSet(data={"in_force_at": moment}, queryset=Zone.objects.all())
    assert bound.is_valid(), bound.errors
    assert list(bound.qs.values_list("code", flat=True)) == (["ghouta"] if in_force else [])


@pytest.mark.django_db
def test_governorate_matches_list_members_not_substrings():
    ZoneFactory(code="homs", governorates=["homs"])
    ZoneFactory(code="north", governorates=["idlib", "hama", "latakia"])
    ZoneFactory(code="ghouta", governorates=["rif-dimashq"])

    def select(*governorates):
        data = QueryDict(mutable=True)
        data.setlist("governorate", list(governorates))
        bound = ZoneFilterSet(data=data, queryset=Zone.objects.all())
        assert bound.is_valid(), bound.errors
        return set(bound.qs.values_list("code", flat=True))

    assert select("hama") == {"north"}
    assert select("damascus") == set()  # "rif-dimashq" is another governorate
    assert select("homs", "latakia") == {"homs", "north"}


@pytest.mark.django_db
def test_open_on_follows_opening_and_closing_dates():
    zone = ZoneFactory()
    PostFactory(code="dated", zone=zone, opened_on=date(2017, 6, 1), closed_on=date(2017, 9, 1))
    PostFactory(code="undated", zone=zone)  # operating, no dates
    PostFactory(code="planned", zone=zone, status=PostStatus.PLANNED)

    def open_on(day: str) -> set[str]:
        bound = PostFilterSet(data={"open_on": day}, queryset=Post.objects.all())
        assert bound.is_valid(), bound.errors
        return set(bound.qs.values_list("code", flat=True))

    assert open_on("2017-05-31") == {"undated"}
    assert open_on("2017-06-01") == {"dated", "undated"}
    assert open_on("2017-08-31") == {"dated", "undated"}
    assert open_on("2017-09-01") == {"undated"}


@pytest.mark.django_db
def test_purpose_and_kind_combine():
    zone = ZoneFactory()
    PostFactory(code="aid", zone=zone, kind=PostKind.CHECKPOINT, serves_humanitarian=True)
    PostFactory(code="trade", zone=zone, kind=PostKind.CHECKPOINT, serves_economic=True)
    PostFactory(code="watch", zone=zone)
    data = QueryDict("purpose=humanitarian&purpose=economic&code=aid,watch")
    bound = PostFilterSet(data=data, queryset=Post.objects.all())
    assert set(bound.qs.values_list("code", flat=True)) == {"aid"}


@pytest.mark.django_db
def test_bbox_filter_includes_its_edges():
    SettlementFactory(code="corner", latitude=35.0, longitude=36.0)
    SettlementFactory(code="inside", latitude=35.5, longitude=36.5)
    SettlementFactory(code="outside", latitude=35.5, longitude=37.01)

    def within(box: str) -> set[str]:
        bound = SettlementFilterSet(data={"bbox": box}, queryset=Settlement.objects.all())
        assert bound.is_valid(), bound.errors
        return set(bound.qs.values_list("code", flat=True))

    assert within("36,35,37,36") == {"corner", "inside"}
    assert within("36.1,35.1,37.5,36") == {"inside", "outside"}

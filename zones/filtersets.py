"""Filters for zones, security and excluded areas, posts and settlements (web lists and
the API).

Records are picked by their public ``code``; moments are ISO 8601 date-times; a bounding
box is ``bbox=min_lon,min_lat,max_lon,max_lat``. A value that does not parse, or names an
unknown choice or code, is an error of that parameter (the API answers 400 naming it).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import NamedTuple

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from monitoring.filtersets import CharInFilter, CodeFilter, MomentFilter, search
from monitoring.models import Agreement, MonitoringCenter, Party

from .choices import (
    Governorate,
    PostKind,
    PostStatus,
    SecurityAreaDerivation,
    SettlementReconciliationStatus,
    ZoneStatus,
)
from .models import ExcludedArea, Post, SecurityArea, Settlement, Zone, ZoneSuspension, ZoneTerm


class BBox(NamedTuple):
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


class BBoxField(forms.CharField):
    """``min_lon,min_lat,max_lon,max_lat`` in degrees (WGS 84), as a :class:`BBox`."""

    default_error_messages = {
        "format": "Give four numbers: min_lon,min_lat,max_lon,max_lat (degrees).",
        "range": "Longitudes lie in -180..180 and latitudes in -90..90.",
        "order": "The minimum must be below the maximum (min_lon < max_lon, min_lat < max_lat).",
    }

    def to_python(self, value) -> BBox | None:
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        parts = [part.strip() for part in value.split(",")]
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            raise forms.ValidationError(self.error_messages["format"], code="format") from None
        if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
            raise forms.ValidationError(self.error_messages["format"], code="format")
        box = BBox(*numbers)
        if not (-180 <= box.min_lon <= 180 and -180 <= box.max_lon <= 180) or not (
            -90 <= box.min_lat <= 90 and -90 <= box.max_lat <= 90
        ):
            raise forms.ValidationError(self.error_messages["range"], code="range")
        if box.min_lon >= box.max_lon or box.min_lat >= box.max_lat:
            raise forms.ValidationError(self.error_messages["order"], code="order")
        return box


@extend_schema_field(OpenApiTypes.STR)
class BBoxFilter(django_filters.Filter):
    """Points (``latitude``/``longitude`` fields) inside a bounding box, edges included."""

    field_class = BBoxField

    def __init__(self, *args, prefix: str = "", **kwargs):
        self.prefix = prefix
        kwargs.setdefault(
            "help_text",
            "Bounding box min_lon,min_lat,max_lon,max_lat in degrees, e.g. 36.0,35.5,37.0,36.2.",
        )
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet, value: BBox | None) -> QuerySet:
        if value is None:
            return qs
        p = self.prefix
        return qs.filter(
            **{
                f"{p}longitude__gte": value.min_lon,
                f"{p}longitude__lte": value.max_lon,
                f"{p}latitude__gte": value.min_lat,
                f"{p}latitude__lte": value.max_lat,
            }
        )


def covering(moment: datetime, *, start: str = "starts_at", end: str = "ends_at") -> Q:
    """Periods ``[start, end)`` (open-ended when ``end`` is empty) that contain ``moment``."""
    return Q(**{f"{start}__lte": moment}) & (
        Q(**{f"{end}__isnull": True}) | Q(**{f"{end}__gt": moment})
    )


class ZoneFilterSet(django_filters.FilterSet):
    code = CharInFilter(help_text="Zone codes, comma-separated.")
    status = django_filters.MultipleChoiceFilter(choices=ZoneStatus.choices)
    agreement = CodeFilter(field_name="agreement", queryset=Agreement.objects.all())
    center = CodeFilter(
        field_name="centers",
        queryset=MonitoringCenter.objects.all(),
        help_text="Covered by this monitoring center (center code).",
    )
    governorate = django_filters.MultipleChoiceFilter(
        choices=Governorate.choices,
        method="filter_governorate",
        help_text="Zones reaching into any of these governorates.",
    )
    in_force_at = MomentFilter(
        method="filter_in_force_at",
        help_text="Only zones in force at this moment: inside a term and not suspended.",
    )
    q = django_filters.CharFilter(method="filter_q", help_text="Search name and code.")

    class Meta:
        model = Zone
        fields = ["code", "status", "agreement", "center", "governorate", "in_force_at"]

    def filter_governorate(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset
        # Governorates are a JSON list; matching in Python works the same on every database.
        wanted = set(value)
        ids = [
            pk
            for pk, governorates in Zone.objects.values_list("pk", "governorates")
            if wanted.intersection(governorates or ())
        ]
        return queryset.filter(pk__in=ids)

    def filter_in_force_at(self, queryset: QuerySet, name: str, value: datetime) -> QuerySet:
        terms = ZoneTerm.objects.filter(covering(value), zone=OuterRef("pk"))
        suspensions = ZoneSuspension.objects.filter(covering(value), zone=OuterRef("pk"))
        return queryset.filter(Exists(terms), ~Exists(suspensions))

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("name", "code"), value)


class _ValidAtMixin(django_filters.FilterSet):
    valid_at = MomentFilter(
        method="filter_valid_at", help_text="Only areas in force at this moment."
    )

    def filter_valid_at(self, queryset: QuerySet, name: str, value: datetime) -> QuerySet:
        return queryset.filter(covering(value, start="valid_from", end="valid_until"))


class SecurityAreaFilterSet(_ValidAtMixin, django_filters.FilterSet):
    code = CharInFilter(help_text="Security area codes, comma-separated.")
    zone = CodeFilter(field_name="zone", queryset=Zone.objects.all())
    derivation = django_filters.MultipleChoiceFilter(choices=SecurityAreaDerivation.choices)
    q = django_filters.CharFilter(method="filter_q", help_text="Search name and code.")

    class Meta:
        model = SecurityArea
        fields = ["code", "zone", "derivation", "valid_at"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("name", "code"), value)


class ExcludedAreaFilterSet(_ValidAtMixin, django_filters.FilterSet):
    code = CharInFilter(help_text="Excluded area codes, comma-separated.")
    group = CodeFilter(
        field_name="group",
        queryset=Party.objects.all(),
        help_text="Held by this excluded group (party code).",
    )
    registered_after = django_filters.DateFilter(field_name="registered_on", lookup_expr="gte")
    registered_before = django_filters.DateFilter(field_name="registered_on", lookup_expr="lte")
    q = django_filters.CharFilter(method="filter_q", help_text="Search name and code.")

    class Meta:
        model = ExcludedArea
        fields = ["code", "group", "valid_at", "registered_after", "registered_before"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("name", "code"), value)


class PostPurpose:
    """What a checkpoint serves, as the ``purpose`` filter spells it."""

    CIVILIANS = "civilians"
    HUMANITARIAN = "humanitarian"
    ECONOMIC = "economic"

    choices = [
        (CIVILIANS, "Movement of unarmed civilians"),
        (HUMANITARIAN, "Humanitarian deliveries"),
        (ECONOMIC, "Economic activity"),
    ]
    fields = {
        CIVILIANS: "serves_civilians",
        HUMANITARIAN: "serves_humanitarian",
        ECONOMIC: "serves_economic",
    }


class PostFilterSet(django_filters.FilterSet):
    code = CharInFilter(help_text="Post codes, comma-separated.")
    kind = django_filters.MultipleChoiceFilter(choices=PostKind.choices)
    status = django_filters.MultipleChoiceFilter(choices=PostStatus.choices)
    zone = CodeFilter(field_name="zone", queryset=Zone.objects.all())
    operating_party = CodeFilter(field_name="operating_party", queryset=Party.objects.all())
    purpose = django_filters.MultipleChoiceFilter(
        choices=PostPurpose.choices,
        method="filter_purpose",
        help_text="Checkpoints serving any of these purposes.",
    )
    open_on = django_filters.DateFilter(
        method="filter_open_on",
        help_text="Posts open on this date: opened on or before it (or operating with no "
        "opening date) and not closed by then.",
    )
    opened_after = django_filters.DateFilter(field_name="opened_on", lookup_expr="gte")
    opened_before = django_filters.DateFilter(field_name="opened_on", lookup_expr="lte")
    bbox = BBoxFilter()
    q = django_filters.CharFilter(method="filter_q", help_text="Search name and code.")

    class Meta:
        model = Post
        fields = ["code", "kind", "status", "zone", "operating_party", "purpose", "bbox"]

    def filter_purpose(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset
        condition = Q()
        for purpose in value:
            condition |= Q(**{PostPurpose.fields[purpose]: True})
        return queryset.filter(condition)

    def filter_open_on(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        opened = Q(opened_on__lte=value) | (
            Q(opened_on__isnull=True) & ~Q(status=PostStatus.PLANNED)
        )
        not_closed = Q(closed_on__isnull=True) | Q(closed_on__gt=value)
        return queryset.filter(opened & not_closed)

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("name", "code"), value)


class SettlementFilterSet(django_filters.FilterSet):
    code = CharInFilter(help_text="Settlement codes, comma-separated.")
    governorate = django_filters.MultipleChoiceFilter(choices=Governorate.choices)
    reconciliation_status = django_filters.MultipleChoiceFilter(
        choices=SettlementReconciliationStatus.choices
    )
    controlling_party = CodeFilter(field_name="controlling_party", queryset=Party.objects.all())
    reconciled_after = django_filters.DateFilter(field_name="reconciled_on", lookup_expr="gte")
    reconciled_before = django_filters.DateFilter(field_name="reconciled_on", lookup_expr="lte")
    population_min = django_filters.NumberFilter(field_name="population", lookup_expr="gte")
    population_max = django_filters.NumberFilter(field_name="population", lookup_expr="lte")
    bbox = BBoxFilter()
    q = django_filters.CharFilter(
        method="filter_q", help_text="Search name (English or Arabic), district and code."
    )

    class Meta:
        model = Settlement
        fields = ["code", "governorate", "reconciliation_status", "controlling_party", "bbox"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("name", "name_ar", "district", "code"), value)

"""Filters for parties, agreements and monitoring centers (web lists and the API).

Records are picked by their public ``code``. A value that does not parse or names an
unknown choice or code is an error of that parameter (the API answers 400 naming it).
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from zones.models import Zone

from .choices import AgreementSignatoryRole, PartyKind
from .models import Agreement, MonitoringCenter, Party


class UTCIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment turned to UTC here: an offset the database cannot take (PostgreSQL
    stops at +-15:59) or a moment outside years 1 to 9999 is a 400 naming the filter."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None or timezone.is_naive(value):
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError(
                "Not a moment in the years 1 to 9999 (UTC).", code="invalid"
            ) from exc


class MomentFilter(django_filters.IsoDateTimeFilter):
    """``IsoDateTimeFilter`` that hands the database a UTC moment."""

    field_class = UTCIsoDateTimeField


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """``?code=a,b``: any of the comma-separated values."""


class CodeFilter(django_filters.ModelMultipleChoiceFilter):
    """Records whose ``field_name`` relation is one of the records with the given codes
    (repeat the parameter for any of several); an unknown code is an error."""

    def __init__(self, *args, field_name: str, queryset, **kwargs):
        kwargs.setdefault(
            "help_text",
            f"{queryset.model._meta.verbose_name.capitalize()} code; repeat for any of several.",
        )
        super().__init__(
            *args, field_name=field_name, to_field_name="code", queryset=queryset, **kwargs
        )

    def get_filter_predicate(self, v):
        # The record the code picked, not its code: ``zone=<Zone>`` rather than ``zone="x"``.
        return {self.field_name: v}


def search(queryset: QuerySet, fields: tuple[str, ...], value: str) -> QuerySet:
    """Records whose ``fields`` contain ``value`` (case-insensitive)."""
    value = value.strip()
    if not value:
        return queryset
    condition = Q()
    for field in fields:
        condition |= Q(**{f"{field}__icontains": value})
    return queryset.filter(condition)


class PartyFilterSet(django_filters.FilterSet):
    code = CharInFilter(help_text="Party codes, comma-separated.")
    kind = django_filters.MultipleChoiceFilter(choices=PartyKind.choices)
    country_code = django_filters.CharFilter(
        lookup_expr="iexact", help_text="ISO 3166-1 alpha-2 country code."
    )
    is_active = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="filter_q", help_text="Search name, short name, code.")

    class Meta:
        model = Party
        fields = ["code", "kind", "country_code", "is_active"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("name", "short_name", "code"), value)


class AgreementFilterSet(django_filters.FilterSet):
    code = CharInFilter(help_text="Agreement codes, comma-separated.")
    signatory = CodeFilter(
        field_name="signatories",
        queryset=Party.objects.all(),
        help_text="Signed by (party code); repeat for any of several.",
    )
    signatory_role = django_filters.MultipleChoiceFilter(
        field_name="signatory_roles__role",
        choices=AgreementSignatoryRole.choices,
        distinct=True,
        help_text="Has a signatory in this role.",
    )
    zone = CodeFilter(field_name="zones", queryset=Zone.objects.all())
    signed_after = django_filters.DateFilter(field_name="signed_on", lookup_expr="gte")
    signed_before = django_filters.DateFilter(field_name="signed_on", lookup_expr="lte")
    in_force_from_after = MomentFilter(field_name="in_force_from", lookup_expr="gte")
    in_force_from_before = MomentFilter(field_name="in_force_from", lookup_expr="lte")
    q = django_filters.CharFilter(method="filter_q", help_text="Search title and code.")

    class Meta:
        model = Agreement
        fields = ["code", "signatory", "signatory_role", "zone"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("title", "code"), value)


class MonitoringCenterFilterSet(django_filters.FilterSet):
    code = CharInFilter(help_text="Center codes, comma-separated.")
    agreement = CodeFilter(field_name="agreement", queryset=Agreement.objects.all())
    member_party = CodeFilter(field_name="member_parties", queryset=Party.objects.all())
    zone = CodeFilter(field_name="zones", queryset=Zone.objects.all())
    time_zone = django_filters.CharFilter()
    q = django_filters.CharFilter(method="filter_q", help_text="Search name, location, code.")

    class Meta:
        model = MonitoringCenter
        fields = ["code", "agreement", "member_party", "zone", "time_zone"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("name", "location", "code"), value)

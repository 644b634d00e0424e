"""Filters for reports, shared by the web pages (list, review queue, map) and the API.

Records are picked by their public ``code`` (zone, center, party); several values of a
parameter mean any of them. ``occurred_after`` and ``occurred_before`` are calendar dates
of the monitoring center (both included), ``updated_after`` and ``updated_before`` ISO 8601
moments (a moment without an offset is read in the center's time zone). A bounding box is
``bbox=min_lon,min_lat,max_lon,max_lat``. A value that does not parse, or names an unknown
choice or code, is an error of that parameter (the web form shows it on the field, the API
answers 400 naming it); nothing is filtered on a bad value.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from monitoring.filtersets import CodeFilter, MomentFilter, search
from monitoring.models import MonitoringCenter, Party
from monitoring.selectors import observer_for_user
from zones.filtersets import BBoxFilter
from zones.models import Zone

from .choices import ReportKind, ReportStatus, SummaryVersionStatus, ViolationCategory
from .models import DailySummary, Report, SummaryVersion

RANGES = (
    ("occurred_after", "occurred_before"),
    ("updated_after", "updated_before"),
)


class ReportFilterForm(forms.Form):
    """The filterset's form: cleaned in the center's time zone, ranges in order."""

    local_zone: tzinfo | None = None

    def full_clean(self) -> None:
        # Moments typed without an offset (a browser's datetime-local) are the center's.
        with timezone.override(self.local_zone or timezone.get_default_timezone()):
            super().full_clean()

    def clean(self):
        data = super().clean()
        for start, end in RANGES:
            low, high = data.get(start), data.get(end)
            if low is not None and high is not None and high < low:
                self.add_error(end, f"{end} cannot be before {start}.")
        return data


def local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


class ReportFilterSet(django_filters.FilterSet):
    """Reports by kind, place, status, who filed them, what happened and when.

    Pass ``time_zone`` (a tzinfo) to read dates in it; otherwise the dates are those of the
    requesting user's monitoring center (every user sees one center's reports only), or
    the project's time zone without a user.
    """

    kind = django_filters.MultipleChoiceFilter(choices=ReportKind.choices, distinct=False)
    status = django_filters.MultipleChoiceFilter(choices=ReportStatus.choices, distinct=False)
    zone = CodeFilter(field_name="zone", queryset=Zone.objects.order_by("name"), distinct=False)
    center = CodeFilter(
        field_name="center", queryset=MonitoringCenter.objects.order_by("code"), distinct=False
    )
    delegation = CodeFilter(
        field_name="delegation",
        queryset=Party.objects.order_by("name"),
        distinct=False,
        help_text="Filed by an observer of this delegation (party code); repeat for several.",
    )
    party = CodeFilter(
        field_name="violation__alleged_perpetrator",
        queryset=Party.objects.order_by("name"),
        distinct=False,
        help_text="Violations alleged against this party (party code); repeat for several.",
    )
    category = django_filters.MultipleChoiceFilter(
        field_name="violation__category",
        choices=ViolationCategory.choices,
        distinct=False,
        help_text="Violations of these categories.",
    )
    occurred_after = django_filters.DateFilter(
        method="filter_occurred_after",
        help_text="Occurred on or after this date (the center's calendar day).",
    )
    occurred_before = django_filters.DateFilter(
        method="filter_occurred_before",
        help_text="Occurred on or before this date (the center's calendar day).",
    )
    updated_after = MomentFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Last changed at or after this moment (ISO 8601).",
    )
    updated_before = MomentFilter(
        field_name="updated_at",
        lookup_expr="lt",
        help_text="Last changed before this moment (ISO 8601).",
    )
    bbox = BBoxFilter()
    q = django_filters.CharFilter(
        method="filter_q", help_text="Search the reference number and the narrative."
    )

    class Meta:
        model = Report
        form = ReportFilterForm
        fields = [
            "kind",
            "status",
            "zone",
            "center",
            "delegation",
            "party",
            "category",
            "occurred_after",
            "occurred_before",
            "updated_after",
            "updated_before",
            "bbox",
            "q",
        ]

    def __init__(self, *args, time_zone: tzinfo | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._time_zone = time_zone

    @property
    def local_zone(self) -> tzinfo:
        if self._time_zone is None:
            observer = observer_for_user(getattr(self.request, "user", None))
            self._time_zone = (
                ZoneInfo(observer.center.time_zone)
                if observer is not None
                else timezone.get_default_timezone()
            )
        return self._time_zone

    @property
    def form(self) -> ReportFilterForm:
        form = super().form
        form.local_zone = self.local_zone
        return form

    def filter_occurred_after(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(occurred_at__gte=local_midnight(value, self.local_zone))

    def filter_occurred_before(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        end = local_midnight(value + timedelta(days=1), self.local_zone)
        return queryset.filter(occurred_at__lt=end)

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search(queryset, ("reference", "narrative"), value)


# --- Daily summaries ---------------------------------------------------------------------------

SUMMARY_STATES = (
    ("not_compiled", "Not compiled"),
    ("draft", "Draft, not published"),
    ("published", "Published"),
)


class StrictBooleanField(forms.NullBooleanField):
    """``true`` or ``false`` (also ``1``/``0``); anything else is an error, not "no filter"."""

    widget = forms.TextInput

    def to_python(self, value):
        text = str(value).strip().lower() if value is not None else ""
        if text == "":
            return None
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("Enter true or false.")

    def validate(self, value) -> None:
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class DailySummaryFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        low, high = data.get("day_after"), data.get("day_before")
        if low is not None and high is not None and high < low:
            self.add_error("day_before", "day_before cannot be before day_after.")
        return data


class DailySummaryFilterSet(django_filters.FilterSet):
    """Daily summaries by center, reporting day (the center's calendar, both ends
    included) and state: ``published`` (has a published version), ``draft`` (compiled,
    nothing published yet), ``not_compiled``; ``stale`` once a report of the day changed."""

    center = CodeFilter(
        field_name="center", queryset=MonitoringCenter.objects.order_by("code"), distinct=False
    )
    day_after = django_filters.DateFilter(
        field_name="day", lookup_expr="gte", help_text="Reporting days on or after this date."
    )
    day_before = django_filters.DateFilter(
        field_name="day", lookup_expr="lte", help_text="Reporting days on or before this date."
    )
    status = django_filters.MultipleChoiceFilter(
        choices=SUMMARY_STATES,
        method="filter_status",
        help_text="The summary's state; repeat for any of several.",
    )
    stale = StrictBooleanFilter(
        help_text="A report of the day changed since the last compilation (true or false)."
    )

    class Meta:
        model = DailySummary
        form = DailySummaryFilterForm
        fields = ["center", "day_after", "day_before", "status", "stale"]

    def filter_status(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset

        def has(status: str) -> Exists:
            return Exists(SummaryVersion.objects.filter(summary_id=OuterRef("pk"), status=status))

        published, draft = has(SummaryVersionStatus.PUBLISHED), has(SummaryVersionStatus.DRAFT)
        states = {
            "published": Q(published),
            "draft": Q(draft) & ~Q(published),
            "not_compiled": ~Q(draft) & ~Q(published),
        }
        condition = Q()
        for state in value:
            condition |= states[state]
        return queryset.filter(condition)

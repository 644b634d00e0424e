"""Web forms of the filing pages: the common report, each kind's detail and its rows.

The forms check the shape of what an observer typed (numbers, dates, choices, the order of
casualty estimates, a sane period); the services check the rules (overlapping shifts, the
zone override's reason, who may file what). :class:`ReportFiling` bundles the forms of one
kind, hands their values to the services in the contract's shape, and puts the services'
errors back next to the field they name (``"cargo.0.quantity"`` is row 0 of the cargo
rows, field ``quantity``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms.formsets import BaseFormSet
from django.utils import timezone

from monitoring.choices import PartyKind
from monitoring.models import Observer, Party
from zones.choices import PostKind, PostStatus
from zones.models import Post, Settlement, Zone

from .choices import ReportKind, ReportSource, ReportStatus, ViolationCategory
from .models import (
    ACCESS_INCIDENT_FIELDS,
    CARGO_FIELDS,
    CASUALTY_FIELDS,
    CASUALTY_GROUPS,
    CHECKPOINT_FIELDS,
    CONVOY_FIELDS,
    REPORT_FIELDS,
    STAGE_FIELDS,
    VIOLATION_FIELDS,
    AccessIncident,
    CargoLine,
    CheckpointDetail,
    ConvoyDetail,
    ConvoyRouteStop,
    ConvoyStage,
    Report,
    ViolationDetail,
)

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
COMMON_FIELDS = REPORT_FIELDS
CASUALTY_ESTIMATES = ("low", "best", "high")


class DateTimeLocalInput(forms.DateTimeInput):
    """``<input type="datetime-local">``: read and shown in the current (center's) time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format=DATETIME_LOCAL_FORMAT)


class DateTimeLocalField(forms.DateTimeField):
    """A local date and time that the database can store: one in the first or last hours of
    the calendar (0001-01-01, 9999-12-31) has no UTC equivalent and is refused here, under
    its field, rather than failing when saved."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None:
            try:
                result.astimezone(UTC)
            except OverflowError as exc:
                raise ValidationError(
                    "Enter a date and time between the years 1 and 9999.", code="invalid"
                ) from exc
        return result


def datetime_field(**kwargs) -> forms.DateTimeField:
    return DateTimeLocalField(
        widget=DateTimeLocalInput(), input_formats=[DATETIME_LOCAL_FORMAT], **kwargs
    )


# --- Sensible choices for one observer ----------------------------------------------------


def center_zones(observer: Observer) -> QuerySet[Zone]:
    return Zone.objects.filter(centers=observer.center_id).order_by("name")


def settlement_choices(observer: Observer) -> QuerySet[Settlement]:
    """The settlements of the governorates the center's zones cover."""
    governorates = {
        code
        for codes in center_zones(observer).values_list("governorates", flat=True)
        for code in codes
    }
    return Settlement.objects.filter(governorate__in=governorates).order_by("name")


def post_choices(observer: Observer, kind: str | None = None) -> QuerySet[Post]:
    """The posts in the center's zones that are not closed (of ``kind``, if given)."""
    posts = (
        Post.objects.filter(zone__centers=observer.center_id)
        .exclude(status=PostStatus.CLOSED)
        .select_related("zone")
        .order_by("zone__name", "name")
    )
    return posts.filter(kind=kind) if kind else posts


def party_choices() -> QuerySet[Party]:
    return Party.objects.filter(is_active=True).order_by("name")


def _with_current(queryset: QuerySet, current: Iterable[Any]) -> QuerySet:
    """Keep the values already chosen on an edited report selectable, even if they would
    no longer be offered (a post closed since, a settlement outside the list)."""
    pks = [getattr(value, "pk", value) for value in current if value]
    if not pks:
        return queryset
    model = queryset.model
    return model.objects.filter(Q(pk__in=queryset.values("pk")) | Q(pk__in=pks)).order_by(
        *queryset.query.order_by
    )


class PostChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Post) -> str:
        return f"{obj.name} ({obj.zone.name})" if obj.zone_id else obj.name


# --- The common report ---------------------------------------------------------------------


class ReportForm(forms.ModelForm):
    """The fields every report has, plus the zone override and the revision being edited."""

    occurred_at = datetime_field(
        label="Occurred at", help_text="Local time of the monitoring center."
    )
    zone_override = forms.ModelChoiceField(
        queryset=Zone.objects.none(),
        required=False,
        empty_label="As classified from the point",
        label="Zone override",
        help_text="Only if the map's zone is wrong for this report.",
    )
    zone_override_reason = forms.CharField(
        required=False,
        label="Reason for the override",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    revision = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    class Meta:
        model = Report
        fields = list(COMMON_FIELDS)
        field_classes = {"post": PostChoiceField}
        labels = {
            "place_precision": "Place precision",
            "time_precision": "Time precision",
            "post": "Observed from post",
        }
        widgets = {
            "latitude": forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            "longitude": forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            "narrative": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        initial = self.initial
        self.fields["settlement"].queryset = _with_current(
            settlement_choices(observer), [initial.get("settlement")]
        )
        self.fields["settlement"].empty_label = "None"
        self.fields["post"].queryset = _with_current(post_choices(observer), [initial.get("post")])
        self.fields["post"].empty_label = "Not from a post"
        self.fields["zone_override"].queryset = _with_current(
            center_zones(observer), [initial.get("zone_override")]
        )
        self.fields["source"].choices = [("", "How do you know?"), *ReportSource.choices]
        self.fields["latitude"].help_text = "Degrees north, e.g. 35.9012"
        self.fields["longitude"].help_text = "Degrees east, e.g. 36.6345"

    def clean_occurred_at(self):
        occurred_at = self.cleaned_data["occurred_at"]
        if occurred_at and occurred_at > timezone.now():
            raise ValidationError("A report cannot describe the future.", code="future")
        return occurred_at

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("zone_override") and not (cleaned.get("zone_override_reason") or "").strip():
            self.add_error(
                "zone_override_reason", "Say why the zone differs from the one the map gives."
            )
        return cleaned


# --- Ceasefire violation -------------------------------------------------------------------


class ViolationDetailForm(forms.ModelForm):
    direction_degrees = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=359,
        label="Direction (degrees)",
        help_text="Bearing from the observer, 0-359.",
    )
    distance_km = forms.FloatField(required=False, min_value=0, label="Distance (km)")

    class Meta:
        model = ViolationDetail
        fields = VIOLATION_FIELDS
        labels = {"events": "Number of events", "alleged_perpetrator": "Alleged perpetrator"}
        widgets = {"damage": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("alleged_perpetrator", "affected_party"):
            self.fields[name].queryset = _with_current(party_choices(), [self.initial.get(name)])
        self.fields["category"].choices = [("", "Choose a category"), *ViolationCategory.choices]
        self.fields["alleged_perpetrator"].empty_label = "Unknown"
        self.fields["affected_party"].empty_label = "None stated"
        self.fields["alleged_perpetrator"].help_text = ""
        self.fields["events"].help_text = "Explosions, bursts, ..."
        for name in CASUALTY_FIELDS:
            group, estimate = name.rsplit("_", 1)
            self.fields[name].required = False
            self.fields[name].label = f"{group.replace('_', ' ').capitalize()}, {estimate}"
            self.fields[name].widget.attrs.update({"min": 0, "class": "num-input"})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in CASUALTY_FIELDS:  # an empty cell is none counted
            if name not in self.errors and cleaned.get(name) is None:
                cleaned[name] = 0
        return cleaned

    @property
    def casualty_rows(self) -> list[dict[str, Any]]:
        """The casualty table: one row per group, low / best / high."""
        return [
            {
                "label": group.replace("_", " ").capitalize(),
                "cells": [self[f"{group}_{estimate}"] for estimate in CASUALTY_ESTIMATES],
                "errors": [
                    message
                    for estimate in CASUALTY_ESTIMATES
                    for message in self.errors.get(f"{group}_{estimate}", [])
                ],
            }
            for group in CASUALTY_GROUPS
        ]


# --- Humanitarian convoy -------------------------------------------------------------------


class ConvoyDetailForm(forms.ModelForm):
    planned_at = datetime_field(label="Planned time")

    class Meta:
        model = ConvoyDetail
        fields = CONVOY_FIELDS
        labels = {
            "vehicle_count": "Vehicles",
            "destination": "Destination settlement",
            "obstruction_reason": "Reason blocked, denied or delayed",
        }
        widgets = {
            "organizations": forms.CheckboxSelectMultiple,
            "obstruction_reason": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        organizations = Party.objects.filter(
            is_active=True, kind=PartyKind.HUMANITARIAN_ORG
        ).order_by("name")
        self.fields["organizations"].queryset = _with_current(
            organizations, self.initial.get("organizations") or []
        )
        self.fields["organizations"].help_text = ""
        self.fields["destination"].queryset = _with_current(
            settlement_choices(observer), [self.initial.get("destination")]
        )


class CargoLineForm(forms.ModelForm):
    class Meta:
        model = CargoLine
        fields = CARGO_FIELDS
        labels = {"delivered_quantity": "Delivered"}

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        # The quantities' rules (above zero, no more delivered than carried) are the
        # model's own, checked as the form validates.
        super().__init__(*args, **kwargs)
        self.fields["quantity"].widget.attrs["min"] = 0
        self.fields["delivered_quantity"].widget.attrs["min"] = 0


class ConvoyRouteStopForm(forms.ModelForm):
    passed_at = datetime_field(required=False, label="Passed at")

    class Meta:
        model = ConvoyRouteStop
        fields = ["post", "passed_at"]
        field_classes = {"post": PostChoiceField}
        labels = {"post": "Checkpoint"}

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["post"].queryset = _with_current(
            post_choices(observer, PostKind.CHECKPOINT), [self.initial.get("post")]
        )


class ConvoyStageForm(forms.ModelForm):
    at = datetime_field(label="At")

    class Meta:
        model = ConvoyStage
        fields = STAGE_FIELDS
        widgets = {"stage": forms.TextInput(attrs={"list": "convoy-stage-names"})}

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        super().__init__(*args, **kwargs)


# --- Checkpoint shift ----------------------------------------------------------------------


class CheckpointDetailForm(forms.ModelForm):
    period_start = datetime_field(label="Period start")
    period_end = datetime_field(label="Period end")

    class Meta:
        model = CheckpointDetail
        fields = CHECKPOINT_FIELDS
        field_classes = {"checkpoint": PostChoiceField}

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["checkpoint"].queryset = _with_current(
            post_choices(observer, PostKind.CHECKPOINT), [self.initial.get("checkpoint")]
        )
        for name in self.Meta.fields[4:]:
            self.fields[name].widget.attrs.update({"min": 0, "class": "num-input"})


class AccessIncidentForm(forms.ModelForm):
    class Meta:
        model = AccessIncident
        fields = ACCESS_INCIDENT_FIELDS
        widgets = {"reason_cited": forms.TextInput}

    def __init__(self, *args, observer: Observer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = _with_current(party_choices(), [self.initial.get("party")])
        self.fields["party"].empty_label = "Unknown"
        self.fields["count"].widget.attrs["min"] = 1


MAX_ROWS = 200


def _formset(form: type[forms.Form]) -> type[BaseFormSet]:
    # absolute_max: a forged TOTAL_FORMS builds at most MAX_ROWS forms (Django's default
    # allows 1000 more, seconds of work per request), and is refused as too many rows.
    return forms.formset_factory(
        form,
        extra=1,
        can_delete=True,
        max_num=MAX_ROWS,
        absolute_max=MAX_ROWS,
        validate_max=True,
    )


CargoLineFormSet = _formset(CargoLineForm)
ConvoyRouteStopFormSet = _formset(ConvoyRouteStopForm)
ConvoyStageFormSet = _formset(ConvoyStageForm)
AccessIncidentFormSet = _formset(AccessIncidentForm)


# --- One kind's forms together -------------------------------------------------------------


@dataclass(frozen=True)
class KindForms:
    """What a kind adds to the common report: its detail form and its rows (prefix →
    formset; the prefix is also the key of the rows in the services' ``detail``)."""

    detail_form: type[forms.ModelForm]
    formsets: Mapping[str, type[BaseFormSet]] = field(default_factory=dict)
    titles: Mapping[str, str] = field(default_factory=dict)


KIND_FORMS: dict[str, KindForms] = {
    ReportKind.VIOLATION: KindForms(ViolationDetailForm),
    ReportKind.CONVOY: KindForms(
        ConvoyDetailForm,
        {"cargo": CargoLineFormSet, "route": ConvoyRouteStopFormSet, "stages": ConvoyStageFormSet},
        {"cargo": "Cargo", "route": "Route through checkpoints", "stages": "Stages"},
    ),
    ReportKind.CHECKPOINT: KindForms(
        CheckpointDetailForm,
        {"incidents": AccessIncidentFormSet},
        {"incidents": "Access incidents"},
    ),
}


def _messages(errors: list[ValidationError]) -> list[str]:
    return [message for error in errors for message in error.messages]


def filing_initial(report: Report) -> dict[str, Any]:
    """What an edit page starts from: the report's values, its detail and its rows."""
    overridden = bool(report.zone_override_reason)
    initial: dict[str, Any] = {
        "report": {
            **{
                name: getattr(report, f"{name}_id" if name in ("settlement", "post") else name)
                for name in COMMON_FIELDS
            },
            "zone_override": report.zone_id if overridden else None,
            "zone_override_reason": report.zone_override_reason,
            "revision": report.revision,
        },
        "detail": {},
        "rows": {},
    }
    kind_forms = KIND_FORMS[report.kind]
    detail = getattr(report, report.kind, None)
    if detail is None:
        return initial
    names = kind_forms.detail_form._meta.fields
    values: dict[str, Any] = {}
    for name in names:
        model_field = detail._meta.get_field(name)
        if model_field.many_to_many:
            values[name] = [obj.pk for obj in getattr(detail, name).all()]
        elif model_field.is_relation:
            values[name] = getattr(detail, f"{name}_id")
        else:
            values[name] = getattr(detail, name)
    initial["detail"] = values
    if report.kind == ReportKind.CONVOY:
        initial["rows"] = {
            "cargo": [
                {
                    "category": line.category,
                    "quantity": line.quantity,
                    "unit": line.unit,
                    "delivered_quantity": line.delivered_quantity,
                }
                for line in detail.cargo.all()
            ],
            "route": [
                {"post": stop.post_id, "passed_at": stop.passed_at}
                for stop in detail.stops.order_by("position")
            ],
            "stages": [
                {"stage": stage.stage, "at": stage.at, "note": stage.note}
                for stage in detail.stages.all()
            ],
        }
    elif report.kind == ReportKind.CHECKPOINT:
        initial["rows"] = {
            "incidents": [
                {
                    "kind": incident.kind,
                    "count": incident.count,
                    "party": incident.party_id,
                    "reason_cited": incident.reason_cited,
                }
                for incident in detail.incidents.all()
            ]
        }
    return initial


class ReportFiling:
    """The forms of one filing or edit page, validated together.

    ``values()``, ``detail()`` and ``zone_override()`` give the services their arguments;
    ``add_service_errors(exc)`` puts a service's refusal back on the page, each message next
    to its field (or at the top of the page when it names none).
    """

    def __init__(
        self,
        *,
        kind: str,
        observer: Observer,
        data: Mapping[str, Any] | None = None,
        report: Report | None = None,
    ) -> None:
        if kind not in KIND_FORMS:
            raise ValueError(f"unknown report kind {kind!r}")
        self.kind = kind
        self.kind_forms = KIND_FORMS[kind]
        initial = (
            filing_initial(report)
            if report is not None
            else {"report": {}, "detail": {}, "rows": {}}
        )
        self.form = ReportForm(data, observer=observer, initial=initial["report"])
        self.detail_form = self.kind_forms.detail_form(
            data, observer=observer, initial=initial["detail"]
        )
        self.formsets: dict[str, BaseFormSet] = {
            prefix: formset_class(
                data,
                prefix=prefix,
                initial=initial["rows"].get(prefix) or None,
                form_kwargs={"observer": observer},
            )
            for prefix, formset_class in self.kind_forms.formsets.items()
        }
        self.page_errors: list[str] = []
        self.section_errors: dict[str, list[str]] = {}
        self._row_index: dict[str, list[int]] = {}

    # -- validation

    def is_valid(self) -> bool:
        results = [self.form.is_valid(), self.detail_form.is_valid()]
        results += [formset.is_valid() for formset in self.formsets.values()]
        return all(results)

    @property
    def has_errors(self) -> bool:
        return bool(
            self.page_errors
            or self.section_errors
            or self.form.errors
            or self.detail_form.errors
            or any(formset.total_error_count() for formset in self.formsets.values())
        )

    @property
    def sections(self) -> list[dict[str, Any]]:
        """The formsets in page order, with their titles and section-level errors."""
        return [
            {
                "prefix": prefix,
                "title": self.kind_forms.titles.get(prefix, prefix),
                "formset": formset,
                "errors": [*formset.non_form_errors(), *self.section_errors.get(prefix, [])],
            }
            for prefix, formset in self.formsets.items()
        ]

    # -- what the services get

    def values(self) -> dict[str, Any]:
        return {name: self.form.cleaned_data[name] for name in COMMON_FIELDS}

    def zone_override(self) -> tuple[Zone | None, str]:
        data = self.form.cleaned_data
        zone = data.get("zone_override")
        return zone, (data.get("zone_override_reason") or "").strip() if zone else ""

    @property
    def expected_revision(self) -> int | None:
        return self.form.cleaned_data.get("revision")

    def rows(self, prefix: str) -> list[dict[str, Any]]:
        """The rows of a formset that hold something and are not removed, in page order."""
        formset = self.formsets[prefix]
        rows, index = [], []
        for number, form in enumerate(formset.forms):
            kept = number < formset.initial_form_count() or form.has_changed()
            if not kept or form.cleaned_data.get("DELETE"):
                continue
            rows.append({name: form.cleaned_data.get(name) for name in form._meta.fields})
            index.append(number)
        self._row_index[prefix] = index
        return rows

    def detail(self) -> dict[str, Any]:
        data = self.detail_form.cleaned_data
        detail = {name: data.get(name) for name in self.detail_form._meta.fields}
        if self.kind == ReportKind.CONVOY:
            detail["organizations"] = list(detail["organizations"] or [])
            detail["cargo"] = self.rows("cargo")
            detail["route"] = self.rows("route")
            detail["stages"] = self.rows("stages")
        elif self.kind == ReportKind.CHECKPOINT:
            detail["incidents"] = self.rows("incidents")
        return detail

    # -- the services' errors, back on the page

    def add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.page_errors.extend(exc.messages)
            return
        for key, errors in exc.error_dict.items():
            self._place(key, _messages(errors))

    def _place(self, key: str, messages: list[str]) -> None:
        prefix, _, rest = key.partition(".")
        if rest and prefix in self.formsets:
            number, _, name = rest.partition(".")
            formset = self.formsets[prefix]
            index = self._row_index.get(prefix, [])
            if number.isdigit() and int(number) < len(index):
                form = formset.forms[index[int(number)]]
                form.add_error(name if name in form.fields else None, messages)
                return
            self.section_errors.setdefault(prefix, []).extend(messages)
            return
        if key in self.formsets:
            self.section_errors.setdefault(key, []).extend(messages)
        elif key in self.form.fields and key != "revision":
            self.form.add_error(key, messages)
        elif key in self.detail_form.fields and key != "status":
            # A report's "status" error is the workflow's (a submitted report is not edited);
            # a shift's or convoy's status was already checked by its form.
            self.detail_form.add_error(key, messages)
        else:  # NON_FIELD_ERRORS, or a field this page does not show
            self.page_errors.extend(messages)


# --- My reports and attachments ------------------------------------------------------------


class MyReportsFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *ReportStatus.choices], required=False)
    kind = forms.ChoiceField(choices=[("", "Any kind"), *ReportKind.choices], required=False)


class AttachmentForm(forms.Form):
    file = forms.FileField(label="File", help_text="A photo (JPEG, PNG, WebP) or a PDF.")

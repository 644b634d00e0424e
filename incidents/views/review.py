"""Review pages (coordinators), the report page and the reports map (everyone who sees
reports).

- ``/reports/``: every report the user may see, filtered (``ReportFilterSet``), with counts
  per status and kind; htmx swaps the results when a filter changes (a plain GET without JS).
- ``/reports/review/``: the coordinator's queue, oldest first, submitted and disputed by
  default, with each row's corroboration.
- ``/reports/<uuid>/``: one report with its details, history, agreement state, candidates and
  the workflow actions the user may take; a report the user may not see is a 404.
- ``/reports/map/`` and ``/reports/map/data/``: the same filters on a map (GeoJSON).

Writes go through the services; a refused action is a message on the report page (403 when
the user may not do it), never a 500.
"""

from __future__ import annotations

import uuid as uuid_lib
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import TemplateView

from monitoring.choices import ObserverRole
from monitoring.permissions import RoleRequiredMixin, user_has_role
from monitoring.selectors import audit_entries_for, observer_for_user
from zones.selectors import zone_list
from zones.views import map_config

from ..choices import ReportKind, ReportStatus, ViolationCategory
from ..filtersets import ReportFilterSet
from ..forms_review import ReportLinkForm, ReportTransitionForm
from ..models import CASUALTY_GROUPS, Report
from ..selectors import (
    NOT_COUNTED,
    corroboration_candidates,
    corroboration_state,
    corroboration_summaries,
    report_full_list,
    report_list,
    reports_visible_to,
)
from ..services import EDITABLE, NEEDS_COMMENT, TRANSITIONS, corroboration_link, report_transition
from .filing import FILERS, can_attach

S = ReportStatus
PAGE_SIZE = 50
QUEUE_STATUSES = (S.SUBMITTED, S.DISPUTED)
MAP_LIMIT = 5000

FILTER_LABELS = {
    "kind": "Kind",
    "status": "Status",
    "zone": "Zone",
    "center": "Center",
    "delegation": "Delegation",
    "party": "Alleged perpetrator",
    "category": "Violation category",
    "occurred_after": "Occurred from",
    "occurred_before": "Occurred until",
    "updated_after": "Changed from",
    "updated_before": "Changed until",
    "bbox": "Map area",
    "q": "Search",
}
# The filters the web pages offer (the API has them all), and those shown as checkboxes.
WEB_FILTERS = (
    "q",
    "kind",
    "status",
    "category",
    "zone",
    "delegation",
    "party",
    "occurred_after",
    "occurred_before",
)
CHECKBOX_FILTERS = ("kind", "status", "category", "zone", "delegation")
FIELD_LABELS = {"comment": "Comment", "other": "Linked report", "to_status": "Action"}

# The label of each workflow action on the report page, and what its comment box asks.
ACTIONS: dict[str, tuple[str, str]] = {
    S.SUBMITTED: ("Submit", ""),
    S.RETRACTED: ("Retract", "Reason"),
    S.VERIFIED: ("Verify", "Note"),
    S.DISPUTED: ("Dispute", "Comment"),
    S.REJECTED: ("Reject", "Comment"),
    S.RETURNED: ("Return for revision", "Comment"),
}


# --- Reading the filters ----------------------------------------------------------------------


def report_filterset(request, queryset: QuerySet[Report], data=None) -> ReportFilterSet:
    """The filterset of a page, with widgets for the web form (the filterset stays plain)."""
    filterset = ReportFilterSet(
        request.GET if data is None else data, queryset=queryset, request=request
    )
    fields = filterset.form.fields
    for name in CHECKBOX_FILTERS:
        fields[name].widget = forms.CheckboxSelectMultiple(choices=fields[name].widget.choices)
    fields["party"].widget.attrs["size"] = 4
    for name in ("occurred_after", "occurred_before"):
        fields[name].widget = forms.DateInput(attrs={"type": "date"})
    fields["q"].widget.attrs.update(type="search", placeholder="Reference or narrative")
    for name, label in FILTER_LABELS.items():
        fields[name].label = label
    return filterset


def filter_errors(filterset: ReportFilterSet) -> list[str]:
    """Every error of the filter form as "Label: message" (the label names the field)."""
    if not filterset.is_bound or filterset.is_valid():
        return []
    return [
        f"{FILTER_LABELS.get(name, name)} ({name}): {message}"
        for name, errors in filterset.form.errors.items()
        for message in errors
    ]


def filtered(filterset: ReportFilterSet) -> QuerySet[Report]:
    """The filtered reports, or none at all when a filter is bad (never a half-filtered list)."""
    return filterset.qs if filterset.is_valid() else filterset.queryset.none()


def report_counts(queryset: QuerySet[Report]) -> dict[str, Any]:
    """Counts per status and per kind of ``queryset``, in one aggregate query."""
    expressions = {f"status_{value}": Count("pk", filter=Q(status=value)) for value in S.values}
    expressions |= {
        f"kind_{value}": Count("pk", filter=Q(kind=value)) for value in ReportKind.values
    }
    row = queryset.order_by().aggregate(**expressions)
    return {
        "total": sum(row[f"kind_{value}"] for value in ReportKind.values),
        "status": [(value, label, row[f"status_{value}"]) for value, label in S.choices],
        "kind": [(value, label, row[f"kind_{value}"]) for value, label in ReportKind.choices],
    }


def paginate(request, queryset: QuerySet[Report], total: int):
    paginator = Paginator(queryset, PAGE_SIZE)
    # The total is known from the aggregate: spare the paginator its own COUNT query.
    paginator.__dict__["count"] = total
    return paginator.get_page(request.GET.get("page"))


# --- The lists --------------------------------------------------------------------------------


class ReportResultsMixin:
    """A filtered, counted, paginated list of reports; htmx requests get the results only."""

    results_template = "incidents/_report_rows.html"
    ordering: tuple[str, ...] = ("-occurred_at", "-pk")
    queue = False

    def base_queryset(self) -> QuerySet[Report]:
        return reports_visible_to(
            user=self.request.user,
            queryset=report_list().select_related("violation__alleged_perpetrator"),
        )

    def filter_data(self):
        return self.request.GET

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        filterset = report_filterset(self.request, self.base_queryset(), self.filter_data())
        reports = filtered(filterset)
        counts = report_counts(reports)
        page = paginate(self.request, reports.order_by(*self.ordering), counts["total"])
        rows = list(page.object_list)
        summaries = corroboration_summaries(rows) if self.queue else {}
        context.update(
            filterset=filterset,
            form=filterset.form,
            errors=filter_errors(filterset),
            counts=counts,
            page=page,
            rows=[(report, summaries.get(report.pk)) for report in rows],
            queue=self.queue,
            results_url=self.request.path,
            htmx_target="#report-results",
            filter_fields=WEB_FILTERS,
            checkbox_fields=CHECKBOX_FILTERS,
        )
        return context

    def get_template_names(self) -> list[str]:
        htmx = getattr(self.request, "htmx", None)
        if htmx and not htmx.history_restore_request:
            return [self.results_template]
        return super().get_template_names()

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        patch_vary_headers(response, ["HX-Request"])
        return response


class ReportListView(RoleRequiredMixin, ReportResultsMixin, TemplateView):
    """Every report the user may see, newest first."""

    template_name = "incidents/report_list.html"


class ReviewQueueView(RoleRequiredMixin, ReportResultsMixin, TemplateView):
    """The center's reports awaiting review (submitted and disputed unless told), oldest
    first, each with its corroboration."""

    allowed_roles = (ObserverRole.COORDINATOR,)
    template_name = "incidents/review_queue.html"
    ordering = ("occurred_at", "pk")
    queue = True

    def base_queryset(self) -> QuerySet[Report]:
        observer = observer_for_user(self.request.user)
        return super().base_queryset().filter(center_id=observer.center_id)

    def filter_data(self):
        data = self.request.GET.copy()
        if not data.getlist("status"):
            data.setlist("status", list(QUEUE_STATUSES))
        return data


# --- The map ----------------------------------------------------------------------------------


class ReportMapView(RoleRequiredMixin, TemplateView):
    template_name = "incidents/report_map.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        filterset = report_filterset(self.request, Report.objects.none())
        query = self.request.GET.urlencode()
        data_url = reverse("incidents:report_map_data") + (f"?{query}" if query else "")
        context.update(
            form=filterset.form,
            errors=filter_errors(filterset),
            results_url=self.request.path,
            filter_fields=WEB_FILTERS,
            checkbox_fields=CHECKBOX_FILTERS,
            map_config=map_config(
                zones=list(zone_list()),
                posts=[],
                settlements=[],
                moment=timezone.now(),
                data_url=data_url,
                time_zone=observer_for_user(self.request.user).center.time_zone,
                report_labels={
                    "kind": dict(ReportKind.choices),
                    "status": dict(S.choices),
                    "category": dict(ViolationCategory.choices),
                },
            ),
        )
        return context


def detail_url_of(uuid) -> str:
    return reverse("incidents:report_detail", args=[uuid])


class ReportMapDataView(RoleRequiredMixin, View):
    """The filtered reports the user may see as GeoJSON points (newest first, at most
    ``MAP_LIMIT``); a bad filter is a 400 naming the parameter."""

    def get(self, request, *args, **kwargs):
        filterset = ReportFilterSet(
            request.GET, queryset=reports_visible_to(user=request.user), request=request
        )
        if not filterset.is_valid():
            return JsonResponse({"errors": filterset.form.errors.get_json_data()}, status=400)
        rows = list(
            filterset.qs.order_by("-occurred_at", "-pk").values_list(
                "uuid",
                "reference",
                "kind",
                "status",
                "violation__category",
                "occurred_at",
                "latitude",
                "longitude",
            )[: MAP_LIMIT + 1]
        )
        placeholder = uuid_lib.UUID(int=0)
        url = detail_url_of(placeholder)
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "reference": reference,
                    "kind": kind,
                    "status": status,
                    "category": category or "",
                    "occurred": occurred.isoformat(),
                    "url": url.replace(str(placeholder), str(uuid)),
                },
            }
            for uuid, reference, kind, status, category, occurred, lat, lon in rows[:MAP_LIMIT]
        ]
        return JsonResponse(
            {
                "type": "FeatureCollection",
                "features": features,
                "truncated": len(rows) > MAP_LIMIT,
                "limit": MAP_LIMIT,
            }
        )


# --- The report page --------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    to_status: str
    label: str
    comment_label: str
    comment_required: bool


def report_for(user, uuid) -> Report:
    """The report if ``user`` may see it; otherwise a 404 (its existence is not revealed)."""
    report = reports_visible_to(user=user, queryset=report_full_list()).filter(uuid=uuid).first()
    if report is None:
        raise Http404("No report you may see has that identifier.")
    return report


def available_actions(user, report: Report) -> list[Action]:
    """The workflow moves ``user`` may make on ``report`` now (the services decide in the end)."""
    observer = observer_for_user(user)
    if observer is None or observer.role not in FILERS:
        return []  # a partner's session moves nothing on the web (its token does)
    is_author = report.author_id == user.pk
    is_reviewer = (
        observer.role == ObserverRole.COORDINATOR
        and observer.center_id == report.center_id
        and not is_author
    )
    actions = []
    for (from_status, to_status), who in TRANSITIONS.items():
        if from_status != report.status:
            continue
        if (who == "author" and is_author) or (who == "coordinator" and is_reviewer):
            label, comment_label = ACTIONS[to_status]
            actions.append(
                Action(
                    to_status=to_status,
                    label=label,
                    comment_label=comment_label,
                    comment_required=to_status in NEEDS_COMMENT,
                )
            )
    order = list(ACTIONS)
    return sorted(actions, key=lambda action: order.index(action.to_status))


def can_link(user, report: Report) -> bool:
    observer = observer_for_user(user)
    if observer is None or observer.role not in FILERS or report.status in (S.DRAFT, *NOT_COUNTED):
        return False
    return report.author_id == user.pk or (
        observer.role == ObserverRole.COORDINATOR and observer.center_id == report.center_id
    )


def error_messages(exc: ValidationError) -> list[str]:
    if not hasattr(exc, "error_dict"):
        return list(exc.messages)
    return [
        f"{FIELD_LABELS[name]}: {message}" if name in FIELD_LABELS else message
        for name, messages_ in exc.message_dict.items()
        for message in messages_
    ]


def report_page_context(request, report: Report, **extra) -> dict[str, Any]:
    user = request.user
    state = corroboration_state(report=report)
    linkable = can_link(user, report)
    candidates = corroboration_candidates(report=report) if linkable else []
    event_ids = [r.pk for r in state.reports if r.pk != report.pk]
    visible = set(
        reports_visible_to(user=user, queryset=Report.objects.all())
        .filter(pk__in=[*event_ids, *(c.pk for c in candidates)])
        .values_list("pk", flat=True)
    )
    linked = [r for r in state.reports if r.pk != report.pk]
    is_author = report.author_id == user.pk
    detail = getattr(report, report.kind, None)
    casualties = []
    if report.kind == ReportKind.VIOLATION and detail is not None:
        casualties = [
            (
                group.replace("_", " ").capitalize(),
                *(getattr(detail, f"{group}_{estimate}") for estimate in ("low", "best", "high")),
            )
            for group in CASUALTY_GROUPS
        ]
    names = [str(party) for party in state.delegations]
    context = {
        "report": report,
        "detail": detail,
        "casualties": casualties,
        "agreeing": " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "",
        "transitions": list(report.transitions.select_related("actor")),
        "history": list(audit_entries_for(report)),
        "attachments": list(report.attachments.all()),
        "can_attach": can_attach(user=user, report=report),
        "attachment_form": None,
        "can_edit": is_author and report.status in EDITABLE and user_has_role(user, FILERS),
        "state": state,
        "linked_visible": [r for r in linked if r.pk in visible],
        "linked_hidden": len([r for r in linked if r.pk not in visible]),
        "can_link": linkable,
        "candidates": [c for c in candidates if c.pk in visible],
        "actions": available_actions(user, report),
        "failed_action": "",
        "failed_comment": "",
    }
    context.update(extra)
    return context


class ReportDetailView(RoleRequiredMixin, TemplateView):
    template_name = "incidents/report_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        report = report_for(self.request.user, self.kwargs["uuid"])
        context.update(report_page_context(self.request, report))
        return context


class ReportActionView(RoleRequiredMixin, View):
    """A POST from the report page; a refusal re-renders the page with the message.

    Observers and coordinators only (the services decide the rest): a partner's session
    gets 403, as in the API (partner tools write with a write-scoped token), and so does an
    administrator, who neither files nor reviews."""

    allowed_roles = FILERS
    http_method_names = ["post"]

    def refused(self, report: Report, errors: list[str], *, status: int, **extra) -> HttpResponse:
        for message in errors:
            messages.error(self.request, message)
        current = report_for(self.request.user, report.uuid)
        return TemplateResponse(
            self.request,
            "incidents/report_detail.html",
            report_page_context(self.request, current, **extra),
            status=status,
        )


class ReportTransitionView(ReportActionView):
    def post(self, request, *args, **kwargs):
        report = report_for(request.user, self.kwargs["uuid"])
        form = ReportTransitionForm(request.POST)
        if not form.is_valid():
            errors = [
                f"{FIELD_LABELS.get(name, name)}: {message}"
                for name, messages_ in form.errors.items()
                for message in messages_
            ]
            return self.refused(report, errors, status=400)
        to_status = form.cleaned_data["to_status"]
        comment = form.cleaned_data["comment"]
        keep = {"failed_action": to_status, "failed_comment": comment}
        try:
            report = report_transition(
                report=report,
                to_status=to_status,
                actor=request.user,
                comment=comment,
                expected_revision=form.cleaned_data["revision"],
            )
        except PermissionDenied as exc:
            return self.refused(report, [str(exc) or "You may not do that."], status=403, **keep)
        except ValidationError as exc:
            return self.refused(report, error_messages(exc), status=200, **keep)
        messages.success(
            request, f"{report.reference} is now {report.get_status_display().lower()}."
        )
        return redirect(detail_url_of(report.uuid))


class ReportLinkView(ReportActionView):
    def post(self, request, *args, **kwargs):
        report = report_for(request.user, self.kwargs["uuid"])
        form = ReportLinkForm(request.POST)
        if not form.is_valid():
            return self.refused(report, ["Linked report: choose a report to link."], status=400)
        other = (
            reports_visible_to(user=request.user, queryset=Report.objects.all())
            .filter(uuid=form.cleaned_data["other"])
            .first()
        )
        if other is None:
            return self.refused(
                report, ["Linked report: no report you may see has that identifier."], status=400
            )
        try:
            corroboration_link(
                report=report, other=other, actor=request.user, note=form.cleaned_data["note"]
            )
        except PermissionDenied as exc:
            return self.refused(report, [str(exc) or "You may not do that."], status=403)
        except ValidationError as exc:
            return self.refused(report, error_messages(exc), status=200)
        messages.success(request, f"{report.reference} and {other.reference} are linked.")
        return redirect(detail_url_of(report.uuid))

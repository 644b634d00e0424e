"""Filing pages (observers and coordinators): a new report of each kind, one's own reports,
editing a draft or returned report, and a report's attachments.

The views validate input with the forms of ``incidents/forms.py``, call the services, and
render the result; every rule lives in the services. Times typed on these pages are read
in the center's own time zone.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from monitoring.choices import ObserverRole
from monitoring.permissions import ALL_ROLES, RoleRequiredMixin
from monitoring.selectors import observer_for_user
from zones.selectors import zone_list
from zones.views import map_config

from .. import services
from ..choices import ReportKind, ReportStatus
from ..files import attachment_response
from ..forms import (
    AttachmentForm,
    MyReportsFilterForm,
    ReportFiling,
    post_choices,
)
from ..models import Attachment, Report, ReportTransition
from ..selectors import reports_visible_to

# Who writes on the report pages: observers and coordinators. A partner files, submits,
# attaches and links through a write-scoped API token only (never with its browser session);
# an administrator writes no reports.
FILERS = frozenset({ObserverRole.OBSERVER, ObserverRole.COORDINATOR})
MY_REPORTS_PAGE_SIZE = 50
SUBMIT = "submit"


class CenterTimeMixin:
    """Read and show times in the observer's center's time zone (after the role check)."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        observer = observer_for_user(request.user)
        if observer is None:
            return super().dispatch(request, *args, **kwargs)
        with timezone.override(ZoneInfo(observer.center.time_zone)):
            return super().dispatch(request, *args, **kwargs)


def _map_config(observer) -> dict[str, Any]:
    """The filing map: every zone with its areas, the center's posts, and each post's
    point (to place the report on the post it was observed from)."""
    now = timezone.now()
    posts = list(post_choices(observer).select_related("operating_party"))
    return map_config(
        zones=list(zone_list()),
        posts=posts,
        settlements=[],
        moment=now,
        post_points={str(post.pk): [post.latitude, post.longitude] for post in posts},
    )


class FilingPageMixin(RoleRequiredMixin, CenterTimeMixin):
    allowed_roles = FILERS
    template_name = "incidents/report_form.html"

    @property
    def observer(self):
        return observer_for_user(self.request.user)

    def render_filing(
        self, filing: ReportFiling, *, report: Report | None = None, **extra: Any
    ) -> HttpResponse:
        kind = filing.kind
        context = {
            "kind": kind,
            "kind_label": ReportKind(kind).label,
            "kinds": [(value, label) for value, label in ReportKind.choices],
            "filing": filing,
            "form": filing.form,
            "detail_form": filing.detail_form,
            "report": report,
            "map_config": _map_config(self.observer),
            "classify_url": reverse("zones-api:classify"),
            "time_zone": self.observer.center.time_zone,
            **extra,
        }
        return render(self.request, self.template_name, context)

    def save(self, filing: ReportFiling, *, report: Report | None = None) -> Report | None:
        """Create or update through the services (and submit, if asked), all or nothing.

        A refusal is put back on ``filing`` and ``None`` returned."""
        user = self.request.user
        zone, reason = filing.zone_override()
        submit = self.request.POST.get("action") == SUBMIT
        try:
            with transaction.atomic():
                if report is None:
                    saved = services.report_create(
                        actor=user,
                        kind=filing.kind,
                        values=filing.values(),
                        detail=filing.detail(),
                        zone_override=zone,
                        zone_override_reason=reason,
                    )
                else:
                    saved = services.report_update(
                        report=report,
                        actor=user,
                        expected_revision=filing.expected_revision or report.revision,
                        values=filing.values(),
                        detail=filing.detail(),
                        zone_override=zone,
                        zone_override_reason=reason,
                    )
                if submit:
                    saved = services.report_transition(
                        report=saved,
                        to_status=ReportStatus.SUBMITTED,
                        actor=user,
                        expected_revision=saved.revision,
                    )
        except ValidationError as exc:
            filing.add_service_errors(exc)
            return None
        verb = "submitted" if submit else "saved as a draft"
        messages.success(self.request, f"{saved.reference} {verb}.")
        return saved


class ReportCreateView(FilingPageMixin, View):
    """``/reports/new/<kind>/``: one page per kind; "Save draft" or "Save and submit"."""

    def _kind(self) -> str:
        kind = self.kwargs["kind"]
        if kind not in ReportKind.values:
            raise Http404("No such kind of report.")
        return kind

    def get(self, request: HttpRequest, kind: str) -> HttpResponse:
        filing = ReportFiling(kind=self._kind(), observer=self.observer)
        return self.render_filing(filing)

    def post(self, request: HttpRequest, kind: str) -> HttpResponse:
        filing = ReportFiling(kind=self._kind(), observer=self.observer, data=request.POST)
        if filing.is_valid():
            saved = self.save(filing)
            if saved is not None:
                return redirect("incidents:report_detail", uuid=saved.uuid)
        return self.render_filing(filing)


def _editable_report(request: HttpRequest, uuid) -> Report:
    """The report, if the user may see it (else 404) and wrote it (else 403)."""
    queryset = reports_visible_to(user=request.user).select_related("settlement", "post", "zone")
    report = get_object_or_404(queryset, uuid=uuid)
    if report.author_id != request.user.pk:
        raise PermissionDenied("Only the author edits a report.")
    return report


def _returned_comment(report: Report) -> ReportTransition | None:
    if report.status != ReportStatus.RETURNED:
        return None
    return (
        ReportTransition.objects.filter(report=report, to_status=ReportStatus.RETURNED)
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )


class ReportEditView(FilingPageMixin, View):
    """``/reports/<uuid>/edit/``: the author edits a draft or returned report; an edit made
    on a stale copy is refused with the service's message, the input kept."""

    def get(self, request: HttpRequest, uuid) -> HttpResponse:
        report = _editable_report(request, uuid)
        if report.status not in services.EDITABLE:
            messages.info(
                request,
                f"{report.reference} is {report.get_status_display().lower()}: "
                "only drafts and returned reports are edited.",
            )
            return redirect("incidents:report_detail", uuid=report.uuid)
        filing = ReportFiling(kind=report.kind, observer=self.observer, report=report)
        return self.render_filing(filing, report=report, returned=_returned_comment(report))

    def post(self, request: HttpRequest, uuid) -> HttpResponse:
        report = _editable_report(request, uuid)
        filing = ReportFiling(
            kind=report.kind, observer=self.observer, data=request.POST, report=report
        )
        if filing.is_valid():
            saved = self.save(filing, report=report)
            if saved is not None:
                return redirect("incidents:report_detail", uuid=saved.uuid)
        return self.render_filing(filing, report=report, returned=_returned_comment(report))


class MyReportsView(RoleRequiredMixin, CenterTimeMixin, View):
    """``/reports/mine/``: the user's own reports, newest first, filtered by status and kind."""

    allowed_roles = FILERS

    def get(self, request: HttpRequest) -> HttpResponse:
        filters = MyReportsFilterForm(request.GET or None)
        reports = (
            Report.objects.filter(author=request.user)
            .select_related("zone")
            .order_by("-reported_at", "-id")
        )
        if filters.is_valid():
            if filters.cleaned_data["status"]:
                reports = reports.filter(status=filters.cleaned_data["status"])
            if filters.cleaned_data["kind"]:
                reports = reports.filter(kind=filters.cleaned_data["kind"])
        page = Paginator(reports, MY_REPORTS_PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "filters": filters,
            "page": page,
            "reports": page.object_list,
            "query": query.urlencode(),
            "kinds": ReportKind.choices,
            "editable": services.EDITABLE,
        }
        return render(request, "incidents/report_mine.html", context)


# --- Attachments ---------------------------------------------------------------------------


def can_attach(*, user, report: Report) -> bool:
    """Whether the upload form is offered: to the author and to the center's coordinators
    (not on others' drafts), while the report is not closed (as ``services.attachment_add``
    decides; it has the last word)."""
    if report.status in services.CLOSED:
        return False
    observer = observer_for_user(user)
    if observer is None or observer.role not in FILERS:
        return False  # a partner's session and an administrator attach nothing on the web
    if report.author_id == user.pk:
        return True
    return (
        observer.role == ObserverRole.COORDINATOR
        and observer.center_id == report.center_id
        and report.status != ReportStatus.DRAFT
    )


def attachments_context(
    *, request: HttpRequest, report: Report, form: AttachmentForm | None = None
) -> dict[str, Any]:
    """The context of ``incidents/_attachments.html``."""
    return {
        "report": report,
        "attachments": list(report.attachments.select_related("uploaded_by")),
        "can_attach": can_attach(user=request.user, report=report),
        "attachment_form": form,
    }


class AttachmentAddView(RoleRequiredMixin, View):
    """Upload a file to a report one may see; htmx gets the refreshed list back. Observers
    and coordinators only: a partner's session gets 403 (its tools attach with a token)."""

    allowed_roles = FILERS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid) -> HttpResponse:
        report = get_object_or_404(reports_visible_to(user=request.user), uuid=uuid)
        form = AttachmentForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.attachment_add(
                    report=report, actor=request.user, upload=form.cleaned_data["file"]
                )
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"file": exc.messages}
                for key, messages_ in errors.items():
                    form.add_error("file" if key in ("file", "upload") else None, messages_)
        if form.errors:
            if request.htmx:
                return render(
                    request,
                    "incidents/_attachments.html",
                    attachments_context(request=request, report=report, form=form),
                )
            for message in [*form.non_field_errors(), *form.errors.get("file", [])]:
                messages.error(request, f"Attachment not added: {message}")
            return redirect("incidents:report_detail", uuid=report.uuid)
        name = form.cleaned_data["file"].name
        if request.htmx:
            context = attachments_context(request=request, report=report)
            context["attachment_added"] = name
            return render(request, "incidents/_attachments.html", context)
        messages.success(request, f"{name} attached to {report.reference}.")
        return redirect("incidents:report_detail", uuid=report.uuid)


class AttachmentDownloadView(RoleRequiredMixin, View):
    """Serve a report's file to those who may see the report, as a download, never inline."""

    allowed_roles = ALL_ROLES

    def get(self, request: HttpRequest, uuid, pk: int) -> HttpResponse:
        report = get_object_or_404(reports_visible_to(user=request.user), uuid=uuid)
        attachment = get_object_or_404(Attachment, report=report, pk=pk)
        return attachment_response(attachment)

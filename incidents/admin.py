"""Django admin for reports: a read-only view for administrators, limited to the reports
they may see like anywhere else (docs/permissions.md), with one write: re-checking the
selected reports' zones against the lines now known (after the joint working group's
maps changed), through the same service as the Celery task and the command.

Reports are filed and reviewed on the report pages and through the API, not here; nothing
is deleted.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages

from monitoring.admin import AdministratorsOnlyMixin, may_administer

from .models import Attachment, Report, ReportTransition
from .selectors import reports_visible_to
from .services import report_reclassify


class ReadOnlyInline(AdministratorsOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReportTransitionInline(ReadOnlyInline):
    model = ReportTransition
    fields = readonly_fields = ["at", "from_status", "to_status", "actor", "comment"]


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = readonly_fields = [
        "original_name",
        "content_type",
        "size",
        "sha256",
        "uploaded_by",
        "uploaded_at",
    ]


@admin.register(Report)
class ReportAdmin(AdministratorsOnlyMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "kind",
        "status",
        "zone",
        "occurred_at",
        "delegation",
        "in_security_area",
        "in_excluded_area",
    ]
    list_filter = ["kind", "status", "center", "zone", "in_excluded_area"]
    list_select_related = ["zone", "delegation"]
    search_fields = ["reference", "narrative"]
    date_hierarchy = "occurred_at"
    actions = ["reclassify"]
    inlines = [ReportTransitionInline, AttachmentInline]
    fields = readonly_fields = [
        "reference",
        "uuid",
        "kind",
        "center",
        "status",
        "revision",
        "latitude",
        "longitude",
        "place_precision",
        "zone",
        "classified_zone",
        "zone_override_reason",
        "in_security_area",
        "in_excluded_area",
        "zone_in_force",
        "settlement",
        "post",
        "occurred_at",
        "time_precision",
        "reported_at",
        "submitted_at",
        "updated_at",
        "author",
        "delegation",
        "source",
        "confidence",
        "narrative",
    ]

    def get_queryset(self, request):
        return reports_visible_to(user=request.user, queryset=super().get_queryset(request))

    def has_add_permission(self, request, *args: Any) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_reclassify_permission(self, request) -> bool:
        return may_administer(request.user)

    @admin.action(
        description="Re-check the zone of the selected reports against the current lines",
        permissions=["reclassify"],
    )
    def reclassify(self, request, queryset) -> None:
        changed = [
            report.reference
            for report in queryset.order_by("pk")
            if report_reclassify(
                report=report,
                actor=request.user,
                comment="Re-checked against the current zone lines (admin).",
            )
        ]
        self.message_user(
            request,
            f"{queryset.count()} report(s) checked, {len(changed)} changed"
            + (f": {', '.join(changed)}." if changed else "."),
            messages.SUCCESS,
        )

"""The common report: one record space for every kind, so the review queue, the daily
summaries and the partner change feed see one sequence of records."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from monitoring.models import MonitoringCenter, Party
from zones.models import PointMixin, Post, Settlement, Zone, in_syria_condition

from ..choices import (
    ReportConfidence,
    ReportKind,
    ReportPlacePrecision,
    ReportSource,
    ReportStatus,
    ReportTimePrecision,
)

# The common fields an observer gives (forms and API input share them).
REPORT_FIELDS = (
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
)


class ReportCounter(models.Model):
    """The last sequence number of a center's reporting day, for reference numbers
    (``AMC-20170712-0042``); taken under a row lock so two filings never share one."""

    center = models.ForeignKey(MonitoringCenter, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["center", "day"], name="%(app_label)s_%(class)s_unique_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.center_id} {self.day} #{self.last}"


class Report(PointMixin):
    """An observer's report of one event or shift, whatever its kind.

    The kind's own fields live in a one-to-one detail (``violation``, ``convoy``,
    ``checkpoint``). ``revision`` counts saved edits: an edit made on an older revision is
    refused, so two coordinators never overwrite each other.
    """

    reference = models.CharField(max_length=32, editable=False)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    center = models.ForeignKey(MonitoringCenter, on_delete=models.PROTECT, related_name="reports")
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.DRAFT
    )
    revision = models.PositiveIntegerField(default=1)

    # Where: the zone is classified from the point; an observer may override it with a reason.
    place_precision = models.CharField(
        max_length=16, choices=ReportPlacePrecision.choices, default=ReportPlacePrecision.EXACT
    )
    zone = models.ForeignKey(
        Zone, on_delete=models.PROTECT, null=True, blank=True, related_name="reports"
    )
    classified_zone = models.ForeignKey(
        Zone, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    zone_override_reason = models.TextField(blank=True)
    settlement = models.ForeignKey(
        Settlement, on_delete=models.PROTECT, null=True, blank=True, related_name="reports"
    )
    post = models.ForeignKey(
        Post,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
        help_text="The post it was observed from, if any.",
    )
    in_security_area = models.BooleanField(default=False)
    in_excluded_area = models.BooleanField(
        default=False, help_text="Inside an area registered as held by ISIS or Nusra."
    )
    zone_in_force = models.BooleanField(default=False)

    # When.
    occurred_at = models.DateTimeField()
    time_precision = models.CharField(
        max_length=16, choices=ReportTimePrecision.choices, default=ReportTimePrecision.EXACT
    )
    reported_at = models.DateTimeField(help_text="When the report was first saved.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    # Who and how.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports"
    )
    delegation = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="reports")
    source = models.CharField(max_length=16, choices=ReportSource.choices)
    confidence = models.CharField(
        max_length=8, choices=ReportConfidence.choices, default=ReportConfidence.MEDIUM
    )
    narrative = models.TextField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["center", "reference"], name="%(app_label)s_%(class)s_unique_reference"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ReportKind.values), name="%(app_label)s_%(class)s_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReportStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=in_syria_condition(), name="%(app_label)s_%(class)s_in_syria"
            ),
            models.CheckConstraint(
                condition=Q(revision__gte=1), name="%(app_label)s_%(class)s_revision_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["center", "status", "occurred_at"]),
            models.Index(fields=["center", "occurred_at"]),
            models.Index(fields=["zone", "occurred_at"]),
            models.Index(fields=["author", "status"]),
            models.Index(fields=["author", "reported_at"]),  # "my reports", newest first
            models.Index(fields=["updated_at"]),
        ]

    def __str__(self) -> str:
        return self.reference or f"{self.get_kind_display()} (unsaved)"


class ReportTransition(models.Model):
    """One move of a report through the workflow: who, when, from, to, and why."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=ReportStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=ReportStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["report", "at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_status=models.F("to_status")),
                name="%(app_label)s_%(class)s_moves",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report}: {self.from_status or 'new'} -> {self.to_status}"


# The stored file's extension, by the type found in its content.
ATTACHMENT_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}


def attachment_path(instance: Attachment, filename: str) -> str:
    """Stored under the report's UUID and the file's hash, with the extension of the type its
    content was found to be: the uploaded name is never part of the path."""
    extension = ATTACHMENT_EXTENSIONS.get(instance.content_type, "bin")
    return f"attachments/{instance.report.uuid}/{instance.sha256}.{extension}"


class Attachment(models.Model):
    """A photo or document attached to a report; type checked by content, SHA-256 kept."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["report", "uploaded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "sha256"], name="%(app_label)s_%(class)s_unique_per_report"
            ),
        ]

    def __str__(self) -> str:
        return self.original_name


class CorroborationLink(models.Model):
    """Two reports that describe the same event. Stored once per pair, lower id first."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="+")
    other = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["report", "other"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "other"], name="%(app_label)s_%(class)s_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(report__lt=models.F("other")),
                name="%(app_label)s_%(class)s_ordered_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report_id} ~ {self.other_id}"

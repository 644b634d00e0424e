"""The daily summaries: one per center and reporting day, compiled by Celery into
versions; a published version never changes and is chained to the center's previous one
by SHA-256 (``manage.py verify_summaries``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from monitoring.models import MonitoringCenter

from ..choices import SummaryVersionStatus


class DailySummary(models.Model):
    """A center's reporting day (its local day ending at its cut-off time) and whether its
    latest compilation is still right (``stale`` once a report of that day changed)."""

    center = models.ForeignKey(
        MonitoringCenter, on_delete=models.PROTECT, related_name="daily_summaries"
    )
    day = models.DateField(help_text="The reporting day, in the center's own calendar.")
    period_start = models.DateTimeField(help_text="When the reporting day began (UTC).")
    period_end = models.DateTimeField(help_text="When it ended, at the cut-off (UTC).")
    stale = models.BooleanField(
        default=True, help_text="A report of the day changed since the last compilation."
    )
    stale_since = models.DateTimeField(null=True, blank=True)
    compiled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["center", "-day"]
        verbose_name_plural = "daily summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["center", "day"], name="%(app_label)s_%(class)s_one_per_center_day"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")),
                name="%(app_label)s_%(class)s_period_sane",
            ),
        ]
        indexes = [models.Index(fields=["stale", "day"])]

    def __str__(self) -> str:
        return f"{self.center.code} {self.day:%Y-%m-%d}"


class SummaryVersion(models.Model):
    """One compilation of a daily summary: its content, the exact report revisions it was
    compiled from, and, once published, its place in the center's hash chain."""

    summary = models.ForeignKey(DailySummary, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=SummaryVersionStatus.choices, default=SummaryVersionStatus.DRAFT
    )
    content = models.JSONField()
    content_sha256 = models.CharField(max_length=64)
    sources = models.JSONField(
        default=list, help_text="[report uuid, revision] of every report it counted."
    )
    compiled_at = models.DateTimeField()
    compiled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: compiled by the system (beat, sweep, a late report).",
    )
    # Publication and the center's chain of published versions.
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    chain_center = models.ForeignKey(
        MonitoringCenter, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    chain_index = models.PositiveIntegerField(null=True, blank=True)
    previous_sha256 = models.CharField(max_length=64, blank=True)
    chain_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["summary", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["summary", "number"], name="%(app_label)s_%(class)s_unique_number"
            ),
            models.UniqueConstraint(
                fields=["summary"],
                condition=Q(status=SummaryVersionStatus.DRAFT),
                name="%(app_label)s_%(class)s_one_draft",
            ),
            models.UniqueConstraint(
                fields=["chain_center", "chain_index"],
                name="%(app_label)s_%(class)s_unique_chain_place",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SummaryVersionStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status=SummaryVersionStatus.PUBLISHED)
                | (
                    Q(published_at__isnull=False)
                    & Q(chain_index__isnull=False)
                    & Q(chain_center__isnull=False)
                    & ~Q(chain_sha256="")
                ),
                name="%(app_label)s_%(class)s_published_is_chained",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.summary} v{self.number} ({self.status})"

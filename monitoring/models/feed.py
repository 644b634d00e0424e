"""The change feed's rows, replayed POST responses, and the copies a sync client keeps."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..choices import ChangeRecordType
from .core import MonitoringCenter


class Change(models.Model):
    """The last change of one record, as the change feed (``/api/v1/changes/``) serves it.

    One row per record (``record_type``, ``record_key``): every write of the record sets
    ``seq`` back to NULL in the writer's own transaction, and :func:`monitoring.services.
    changes_sequence` numbers the committed, unnumbered rows under a lock, above every number
    given before. A number is therefore only ever given to a committed row, in the order
    the numbering runs, so a reader that has read up to ``seq`` N can never later meet a row
    numbered N or below that it did not see (docs/api.md#the-change-feed).

    ``shared``: the record is in the partners' view now; ``ever_shared``: it was at some
    point, so its withdrawal is told to partners as a tombstone (until the retention ends).
    """

    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    record_type = models.CharField(max_length=20, choices=ChangeRecordType.choices)
    record_key = models.CharField(max_length=64, help_text="The record's id in the API.")
    center = models.ForeignKey(
        MonitoringCenter,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for reference data, which every center shares.",
    )
    shared = models.BooleanField(default=False)
    ever_shared = models.BooleanField(default=False)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "record_key"], name="%(app_label)s_%(class)s_one_per_record"
            ),
            models.CheckConstraint(
                condition=Q(record_type__in=ChangeRecordType.values),
                name="%(app_label)s_%(class)s_record_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(ever_shared=True) | Q(shared=False),
                name="%(app_label)s_%(class)s_shared_implies_ever",
            ),
        ]
        indexes = [
            models.Index(fields=["center", "seq"], name="monitoring_change_center_seq"),
            models.Index(
                fields=["id"], condition=Q(seq__isnull=True), name="monitoring_change_unnumbered"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.record_type} {self.record_key}"


class ChangeCounter(models.Model):
    """The last number the change feed gave (one row). Numbers are never given twice, not
    even when the row that held the highest one is changed again; its row lock makes the
    numbering run one at a time."""

    last_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="%(app_label)s_%(class)s_single_row")
        ]

    def __str__(self) -> str:
        return f"last #{self.last_seq}"


class ChangePurge(models.Model):
    """A run of the tombstone retention: partners' cursors below ``through_seq`` must
    resync (the feed answers them 410 ``resync_required``)."""

    at = models.DateTimeField()
    through_seq = models.BigIntegerField()
    tombstones = models.PositiveIntegerField()

    class Meta:
        ordering = ["-through_seq"]

    def __str__(self) -> str:
        return f"through #{self.through_seq} at {self.at:%Y-%m-%d %H:%M}"


class IdempotencyKey(models.Model):
    """A POST made with an ``Idempotency-Key`` header and the response it got, so that a
    retry gets the same response and creates nothing new (docs/api.md#safe-writes)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="%(app_label)s_%(class)s_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class SyncSource(models.Model):
    """Another instance whose change feed ``manage.py sync_from`` mirrors here."""

    base_url = models.URLField(unique=True)
    cursor = models.BigIntegerField(default=0, help_text="The last seq applied.")
    horizon = models.BigIntegerField(
        default=0, help_text="The source's tombstone horizon when the cursor was read (echoed)."
    )
    last_sync_at = models.DateTimeField(null=True, blank=True)
    records_applied = models.PositiveBigIntegerField(default=0)
    tombstones_applied = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["base_url"]

    def __str__(self) -> str:
        return self.base_url


class SyncedRecord(models.Model):
    """A read-only copy of one record of a :class:`SyncSource`, as its feed last gave it."""

    source = models.ForeignKey(SyncSource, on_delete=models.CASCADE, related_name="records")
    record_type = models.CharField(max_length=20, choices=ChangeRecordType.choices)
    record_key = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    data = models.JSONField()
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["source", "record_type", "record_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "record_type", "record_key"],
                name="%(app_label)s_%(class)s_one_per_record",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.record_type} {self.record_key}"

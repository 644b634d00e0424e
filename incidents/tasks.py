"""Celery tasks of the incidents app (thin: load, call a service)."""

from __future__ import annotations

from celery import shared_task
from django.utils.dateparse import parse_datetime

from zones import classifier

from .services import reports_reclassify as reclassify


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def reports_reclassify(since: str | None = None) -> int:
    """Re-check the zone and flags of reports that occurred from ``since`` (ISO moment,
    or every report) against the lines now known; returns how many changed. Safe to run
    twice: a report already right is not touched."""
    classifier.invalidate()  # this process may hold the lines from before the change
    _checked, changed = reclassify(since=parse_datetime(since) if since else None, actor=None)
    return changed

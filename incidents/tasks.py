"""Celery tasks of the incidents app (thin: load, call a service)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from django.utils.dateparse import parse_date, parse_datetime

from monitoring.models import MonitoringCenter
from zones import classifier

from .models import DailySummary
from .services import reports_reclassify as reclassify
from .services import summaries_compile_due, summary_compile


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def reports_reclassify(since: str | None = None) -> int:
    """Re-check the zone and flags of reports that occurred from ``since`` (ISO moment,
    or every report) against the lines now known; returns how many changed. Safe to run
    twice: a report already right is not touched."""
    classifier.invalidate()  # this process may hold the lines from before the change
    _checked, changed = reclassify(since=parse_datetime(since) if since else None, actor=None)
    return changed


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def summary_compile_task(
    summary_id: int | None = None, center_id: int | None = None, day: str | None = None
) -> int | None:
    """Compile one daily summary, named by its id or by center id and ISO day; returns the
    version number that holds it. Safe to run twice, and under two workers at once."""
    if summary_id is not None:
        summary = DailySummary.objects.select_related("center").filter(pk=summary_id).first()
        if summary is None:
            return None
        center, when = summary.center, summary.day
    else:
        center = MonitoringCenter.objects.filter(pk=center_id).first()
        when = parse_date(day or "")
        if center is None or when is None:
            return None
    return summary_compile(center=center, day=when).number


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def summaries_sweep() -> int:
    """Beat, every few minutes: compile the day that just closed at each center, every
    stale summary, and any recent day with reports but no summary (after a broker outage)."""
    return summaries_compile_due()

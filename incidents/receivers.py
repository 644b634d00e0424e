"""What the incidents app does when other apps tell it something (connected in
``IncidentsConfig.ready``). Receivers only enqueue work; the work itself is a service
called from a Celery task, audited like any other write."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction


def enqueue_reclassify(since: datetime | None) -> None:
    """Queue a re-check of the reports' zones; never fails the caller's write: a broker
    that is down is logged, and ``manage.py reclassify_reports`` does the same work."""
    from monitoring.queueing import enqueue_quietly

    from .tasks import reports_reclassify

    enqueue_quietly(reports_reclassify, since=since.isoformat() if since else None)


def on_classification_changed(sender, since: datetime | None = None, **kwargs) -> None:
    """Zone lines, terms or areas changed: re-check the reports after the commit."""
    transaction.on_commit(lambda: enqueue_reclassify(since))

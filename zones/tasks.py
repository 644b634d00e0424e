"""Celery tasks of the zones app (thin: load, call a service)."""

from celery import shared_task
from django.utils import timezone

from .services import zones_extend_all


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def zones_extend_terms() -> int:
    """Add due automatic extensions to every active zone; safe to run twice."""
    return len(zones_extend_all(until=timezone.now(), actor=None))

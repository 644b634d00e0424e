"""Celery tasks of the zones app (thin: load, call a service)."""

from celery import shared_task
from django.utils import timezone

from .models import Zone
from .services import zone_terms_extend


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def zones_extend_terms() -> int:
    """Add due automatic extensions to every active zone; safe to run twice."""
    now = timezone.now()
    added = 0
    for zone in Zone.objects.select_related("agreement"):
        added += len(zone_terms_extend(zone=zone, until=now, actor=None))
    return added

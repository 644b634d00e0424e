"""Celery tasks of the monitoring app (thin: call a service)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from .services import (
    audit_chain_seal,
    changes_purge,
    changes_sequence,
    idempotency_keys_purge,
)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def changes_maintain() -> dict[str, int]:
    """Number the feed rows that wait (feed reads do it too), end the retention of old
    tombstones, and forget idempotency keys past theirs. Safe to run twice."""
    now = timezone.now()
    numbered = changes_sequence()
    purge = changes_purge(before=now - timedelta(days=settings.CHANGE_TOMBSTONE_DAYS), at=now)
    forgotten = idempotency_keys_purge(before=now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS))
    return {
        "numbered": numbered,
        "tombstones_purged": purge.tombstones if purge else 0,
        "idempotency_keys_forgotten": forgotten,
    }


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def audit_chain_seal_task() -> int:
    """Seal the audit entries written since the last run into the hash chain (beat, every
    minute; ``manage.py audit_verify`` seals first too). Safe to run twice."""
    return audit_chain_seal()

"""Queue a Celery task from a request without ever failing or hanging the request.

Filing a report must succeed while the broker is down: :func:`enqueue_quietly` sends with
no publish retries (the broker's own socket timeouts are 2 s, see config/settings.py), logs
a failure instead of raising, and after a failure stops trying for ``BREAKER_SECONDS`` so
that a broker outage costs each request nothing. Work that could not be queued is not
lost: it is recorded in the database first (a stale summary, a report to re-check) and the
periodic sweeps pick it up once the broker is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

BREAKER_SECONDS = 30.0
_lock = threading.Lock()
_open_until = 0.0


def broker_breaker_open() -> bool:
    return time.monotonic() < _open_until


def broker_breaker_reset() -> None:
    global _open_until
    with _lock:
        _open_until = 0.0


def enqueue_quietly(task, **kwargs: Any) -> bool:
    """``task.apply_async(kwargs=kwargs)``, or ``False`` (logged) if the broker is away."""
    global _open_until
    if broker_breaker_open():
        logger.info("Broker recently unreachable: %s not queued (the sweep will do it).", task.name)
        return False
    try:
        task.apply_async(kwargs=kwargs, retry=False)
    except Exception:
        with _lock:
            _open_until = time.monotonic() + BREAKER_SECONDS
        logger.warning(
            "Could not queue %s(%s); the periodic sweep will do the work once the broker is back.",
            task.name,
            kwargs,
            exc_info=True,
        )
        return False
    return True

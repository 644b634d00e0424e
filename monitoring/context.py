"""Where a change comes from (web, API, admin, command, Celery), carried alongside the call.

The acting *user* is always passed explicitly to services; the *source* is ambient
because it is a property of the entry point, set once by the middleware, by each
management command and by the Celery task hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .choices import AuditEntrySource

_source: ContextVar[str] = ContextVar("audit_source", default=AuditEntrySource.SYSTEM)


def current_audit_source() -> str:
    return _source.get()


@contextmanager
def audit_source(source: str) -> Iterator[None]:
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)

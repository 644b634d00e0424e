"""A database that cannot be reached answers 503, not 500.

While PostgreSQL restarts (or the SQLite file cannot be opened), every request that needs
the database fails with a driver error wherever it first touches it: a view, a DRF view,
the session and user loaded by a middleware, a template. Django turns each such exception
into a response at the innermost middleware it passes (``convert_exception_to_response``),
by calling the URLconf's ``handler500``, so an outer middleware never sees it. That handler
is therefore the one place that sees them all: :func:`server_error` (``handler500`` in
config/urls.py) answers **503 Service Unavailable** with ``Retry-After`` when the exception
is a connection failure (:func:`database_unreachable`), and Django's own 500 otherwise.

- ``/api/`` gets JSON, ``{"status": "unavailable", "detail": "..."}`` (docs/api-errors.md);
  pages get templates/503.html, rendered without the request so that it touches no
  database (no context processors, no session, no user).
- One log line per failed request at WARNING, with the method, path and driver message,
  no traceback: an outage is an operations event, not a bug.
- With ``DEBUG`` on, Django shows its technical 500 page instead (it never calls the
  handler), as for any other exception.

Service resumes by itself: ``CONN_HEALTH_CHECKS`` (config/settings.py) makes the first query
of each request test a persistent connection and replace a dead one, so no request fails
once the database is back.
"""

from __future__ import annotations

import logging
import sqlite3
import sys

from django.db import Error as DjangoDatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

logger = logging.getLogger(__name__)

# Seconds a client should wait before trying again (a PostgreSQL restart takes a few).
RETRY_AFTER_SECONDS = 15
API_PREFIX = "/api/"
API_DETAIL = (
    "The service cannot reach its database at the moment (it may be restarting). "
    f"Try again in {RETRY_AFTER_SECONDS} seconds."
)
# PostgreSQL SQLSTATEs of a connection that failed or was ended by the server: class 08
# (connection exception), the server shutting down (administrator command, crash) or still
# starting up, and no connection slot left.
PG_CONNECTION_CLASSES = ("08",)
PG_CONNECTION_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# SQLite: the database file cannot be opened (its folder or disk is gone). Not "database is
# locked" (a writer waited past the busy timeout: a bug to fix, not an outage) nor "no such
# table" (a missing migration).
SQLITE_UNREACHABLE = ("unable to open database file",)
# How deep to follow ``raise ... from`` chains looking for the database error.
MAX_CHAIN = 8


def database_unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) says the database cannot be reached.

    Only connection failures count: refused, reset, closed, ended by the server, the server
    starting or shutting down. Integrity, programming and data errors, lock timeouts and
    serialization failures are the application's to answer (a 500, or handled earlier).
    """
    for _ in range(MAX_CHAIN):
        if exc is None:
            return False
        if isinstance(exc, DjangoDatabaseError):
            # Django's wrapper: the driver's error is its cause.
            return _driver_error_unreachable(exc.__cause__)
        if _is_driver_error(exc):
            return _driver_error_unreachable(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return False


def _is_driver_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def _driver_error_unreachable(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    message = str(exc).strip().lower()
    if isinstance(exc, sqlite3.Error):
        return isinstance(exc, sqlite3.OperationalError) and message.startswith(SQLITE_UNREACHABLE)
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(PG_CONNECTION_CLASSES) or sqlstate in PG_CONNECTION_STATES
    if isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: the client library's own failure to connect, send or receive
        # ("connection refused", "server closed the connection unexpectedly", "the
        # connection is closed", a timeout).
        return True
    return isinstance(exc, psycopg.InterfaceError) and "connection" in message


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 for ``request``: JSON under /api/, the HTML page elsewhere."""
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse(
            {"status": "unavailable", "detail": API_DETAIL}, status=503
        )
    else:
        response = HttpResponse(_page(), status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _page() -> str:
    context = {"retry_after": RETRY_AFTER_SECONDS}
    try:
        return loader.render_to_string("503.html", context)
    except Exception:  # the last resort answers even if the page cannot render
        logger.exception("The 503 page could not be rendered")
        return (
            "<!doctype html><title>Service unavailable</title>"
            "<h1>Service unavailable</h1><p>The service cannot reach its database at the "
            f"moment. Try again in {RETRY_AFTER_SECONDS} seconds.</p>"
        )


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: 503 for an unreachable database, Django's 500 page for the rest.

    Django calls it while handling the exception, so ``sys.exc_info()`` is that exception.
    """
    exc = sys.exc_info()[1]
    if not database_unreachable(exc):
        return defaults.server_error(request, template_name=template_name)
    logger.warning(
        "Database unavailable: %s %s answered 503 (%s: %s)",
        request.method,
        request.path,
        type(exc).__name__,
        _one_line(exc),
    )
    response = unavailable_response(request)
    # Logged once, above: Django's "Service Unavailable: <path>" line with the traceback
    # would repeat it.
    response._has_been_logged = True
    return response


def _one_line(exc: BaseException | None) -> str:
    text = " ".join(str(exc).split())
    return text[:300]

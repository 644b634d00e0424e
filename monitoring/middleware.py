"""Tags every request with the audit source its path implies (web, API or admin)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .choices import AuditEntrySource
from .context import audit_source


class AuditSourceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            source = AuditEntrySource.API
        elif request.path.startswith("/admin/"):
            source = AuditEntrySource.ADMIN
        else:
            source = AuditEntrySource.WEB
        with audit_source(source):
            return self.get_response(request)

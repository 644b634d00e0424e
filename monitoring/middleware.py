"""Request-wide rules: the audit source a path implies (web, API or admin), and the second
factor a coordinator's or an administrator's session must pass before anything else."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from .choices import AuditEntrySource
from .context import audit_source
from .security import two_factor_required


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


class TwoFactorMiddleware:
    """Until a coordinator's, an administrator's or a staff account's session has passed its
    second factor, pages redirect to the two-factor page and session calls to the API get 403.

    Requests carrying an ``Authorization`` header are left to the API's token authentication
    (partner tools have no second factor; their token is the credential).
    """

    message = (
        "Two-factor verification required: sign in on the web and enter the code from your "
        "authenticator app first."
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_verify(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": self.message}, status=403)
            target = reverse("two_factor")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    def _must_verify(self, request: HttpRequest) -> bool:
        if "HTTP_AUTHORIZATION" in request.META:
            return False
        if request.path.startswith(settings.STATIC_URL) or request.path in {
            reverse("two_factor"),
            reverse("logout"),
            reverse("login"),
        }:
            return False
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return False
        return two_factor_required(user)

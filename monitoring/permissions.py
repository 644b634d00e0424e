"""Role checks for the API (DRF permissions) and the web pages (view mixins).

Roles: observer, coordinator, partner, administrator (see docs/permissions.md).
A signed-in user without an active observer profile has no role and sees nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.mixins import AccessMixin
from django.http import HttpRequest
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .choices import ObserverRole
from .models import PartnerToken
from .selectors import observer_for_user

ALL_ROLES = frozenset(ObserverRole.values)
STAFF_ROLES = frozenset(
    {ObserverRole.OBSERVER, ObserverRole.COORDINATOR, ObserverRole.ADMINISTRATOR}
)


def user_has_role(user, roles: Iterable[str] = ALL_ROLES) -> bool:
    observer = observer_for_user(user)
    return observer is not None and observer.role in set(roles)


class HasMonitoringRole(BasePermission):
    """Any active profile may read reference data; the view narrows it further."""

    message = "You need an active observer, coordinator, partner or administrator profile."
    roles: frozenset[str] = ALL_ROLES

    def has_permission(self, request: HttpRequest, view) -> bool:
        roles = getattr(view, "allowed_roles", self.roles)
        return user_has_role(request.user, roles)


class RoleRequiredMixin(AccessMixin):
    """Web views: anonymous users go to the login page, users without the role get 403."""

    allowed_roles: Iterable[str] = ALL_ROLES

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not user_has_role(request.user, self.allowed_roles):
            self.raise_exception = True
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)


# --- Partner API tokens ------------------------------------------------------------------


def partner_token_of(request) -> PartnerToken | None:
    """The partner token a request was authenticated with (None: the session)."""
    token = getattr(request, "auth", None)
    return token if isinstance(token, PartnerToken) else None


def token_scope_needed(method: str) -> str:
    """Safe methods need the ``read`` scope; every other method needs ``write``."""
    return "read" if method in SAFE_METHODS else "write"


def partner_token_writes_for(request, center_id: int) -> bool:
    """Whether the request carries a write-scoped partner token of that center's partner."""
    token = partner_token_of(request)
    if token is None or not token.has_scope("write"):
        return False
    observer = observer_for_user(request.user)
    return (
        observer is not None
        and observer.role == ObserverRole.PARTNER
        and observer.center_id == center_id
    )


class TokenHasScope(BasePermission):
    """A request made with a partner token needs the scope its method asks for. A partner
    account writes only through a token with the ``write`` scope, never with its session;
    other session requests are not concerned (their role rules apply, as everywhere)."""

    message = "This API token lacks the scope this request needs."

    def has_permission(self, request, view) -> bool:
        token = partner_token_of(request)
        if token is None:
            if request.method in SAFE_METHODS or not user_has_role(
                request.user, {ObserverRole.PARTNER}
            ):
                return True
            self.message = "A partner account writes through an API token with the write scope."
            return False
        needed = token_scope_needed(request.method)
        if token.has_scope(needed):
            return True
        self.message = (
            f"This API token lacks the “{needed}” scope that {request.method} requests need "
            f"(it has: {', '.join(sorted(token.scope_set))})."
        )
        return False

"""Role checks for the API (DRF permissions) and the web pages (view mixins).

Roles: observer, coordinator, partner, administrator (see docs/permissions.md).
A signed-in user without an active observer profile has no role and sees nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.mixins import AccessMixin
from django.http import HttpRequest
from rest_framework.permissions import BasePermission

from .choices import ObserverRole
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

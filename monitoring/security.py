"""Who is calling, and whether their session has passed its second factor.

- :func:`client_ip`: the client's address for login throttling (django-axes) behind
  ``CEASEFIRE_TRUSTED_PROXIES`` reverse proxies.
- :func:`two_factor_required`: coordinators, administrators (``CEASEFIRE_TWO_FACTOR_ROLES``)
  and staff accounts must pass a second factor; the writes that enrol and reset a device are
  in :mod:`monitoring.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from .selectors import observer_for_user


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or behind N trusted proxies the address the outermost one saw.

    Each proxy appends the address it received the request from to X-Forwarded-For, so the
    N-th entry from the right is the one our outermost proxy wrote; anything left of it came
    from the client and proves nothing.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded.strip():
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-min(proxies, len(hops))]


def two_factor_required(user) -> bool:
    """Whether this signed-in user must pass a second factor before anything else."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    observer = observer_for_user(user)
    return observer is not None and observer.role in settings.TWO_FACTOR_ROLES

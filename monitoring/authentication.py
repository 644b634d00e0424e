"""Partner API tokens on the REST side: the authentication class, the per-token throttle and
the schema's description of the scheme.

A partner tool sends ``Authorization: Token <secret>`` (or ``Bearer <secret>``) and acts as
the token's partner account. A token that is unknown, revoked or expired, or whose account is
no longer an active partner, answers 401 with the reason; what the token may do (its scopes)
is checked by :class:`monitoring.permissions.TokenHasScope`. Requests without the header fall
through to the browser session.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .choices import ObserverRole
from .models import Observer, PartnerToken
from .services import partner_token_hash, partner_token_touch

KEYWORDS = (b"token", b"bearer")


def _token_header(request: Request) -> list[bytes]:
    """The ``Authorization`` header split in words, if it names a token scheme; else []."""
    words = get_authorization_header(request).split()
    if words and words[0].lower() in KEYWORDS:
        return words
    return []


def partner_token_for_secret(secret: str) -> PartnerToken | None:
    """The token whose secret this is (looked up by its hash), with its account."""
    return (
        PartnerToken.objects.select_related("user")
        .filter(key_hash=partner_token_hash(secret))
        .first()
    )


class PartnerTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <secret>`` or ``Bearer <secret>``: ``request.user`` is the
    token's partner account and ``request.auth`` the :class:`PartnerToken`."""

    def authenticate(self, request: Request):
        words = _token_header(request)
        if not words:
            return None  # not ours: the session may still authenticate the request
        if len(words) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header: give `Token <secret>` (one word after Token)."
            )
        try:
            secret = words[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(
                "Malformed token: it contains non-ASCII characters."
            ) from exc
        token = partner_token_for_secret(secret)
        if token is None:
            raise AuthenticationFailed("Unknown API token.")
        now = timezone.now()
        if token.revoked_at is not None:
            raise AuthenticationFailed(
                f"API token {token.prefix}… was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC."
            )
        if token.is_expired(now):
            raise AuthenticationFailed(
                f"API token {token.prefix}… expired on {token.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        user = token.user
        profile = Observer.objects.filter(user=user, is_active=True).first()
        if not user.is_active or profile is None or profile.role != ObserverRole.PARTNER:
            raise AuthenticationFailed(
                f"API token {token.prefix}…: its account is no longer an active partner account."
            )
        user._observer_cache = profile  # what observer_for_user would load again
        partner_token_touch(token=token, at=now)
        return user, token

    def authenticate_header(self, request: Request) -> str | None:
        """The challenge of a 401, given to requests that tried a token.

        Requests with no token header keep the session's answer (403, no challenge), as the
        browser and the existing clients expect.
        """
        if _token_header(request):
            return 'Token realm="api"'
        return None


class PartnerTokenRateThrottle(SimpleRateThrottle):
    """At most ``DEFAULT_THROTTLE_RATES["partner"]`` requests per token (settings:
    ``PARTNER_TOKEN_RATE``); session requests are not throttled here."""

    scope = "partner"

    def get_rate(self) -> str | None:
        # Read at each request (DRF binds the rates when the class is defined), so that a
        # changed setting applies at once.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Request, view) -> str | None:
        token = getattr(request, "auth", None)
        if not isinstance(token, PartnerToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    """The scheme in the OpenAPI document (``components.securitySchemes.partnerToken``)."""

    target_class = "monitoring.authentication.PartnerTokenAuthentication"
    name = "partnerToken"

    def get_security_definition(self, auto_schema):
        # Declared as HTTP bearer, which Swagger UI's "Authorize" speaks; ``Token <secret>``
        # is accepted as well.
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A partner API token: `Authorization: Bearer <secret>` or `Token <secret>`. "
                "Scopes: `read` (safe methods) and `write` (everything else)."
            ),
        }

"""Reads of monitoring records."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Max, Q, QuerySet
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from .choices import ObserverRole
from .models import (
    Agreement,
    AuditEntry,
    Change,
    ChangePurge,
    MonitoringCenter,
    Observer,
    PartnerToken,
    Party,
)


def observer_for_user(user: AbstractBaseUser | AnonymousUser | None) -> Observer | None:
    """The active profile of a signed-in user, cached on the user object."""
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(user, "_observer_cache", False)
    if cached is not False:
        return cached
    observer = (
        Observer.objects.select_related("center", "delegation", "user")
        .filter(user=user, is_active=True)
        .first()
    )
    user._observer_cache = observer
    return observer


def party_list() -> QuerySet[Party]:
    return Party.objects.all()


def agreement_list() -> QuerySet[Agreement]:
    return Agreement.objects.prefetch_related("signatory_roles__party", "zones")


def center_list() -> QuerySet[MonitoringCenter]:
    return MonitoringCenter.objects.select_related("agreement").prefetch_related(
        "member_parties", "zones"
    )


def audit_entries_for(instance) -> QuerySet[AuditEntry]:
    from django.contrib.contenttypes.models import ContentType

    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=True),
        object_pk=str(instance.pk),
    ).select_related("actor")


# --- The change feed ---------------------------------------------------------------------------


def changes_after(*, user, after: int, limit: int) -> list[Change]:
    """The feed rows after ``after`` in ``seq`` order that ``user``'s center may concern:
    its own center's records and the shared reference data (``limit`` of them). Whether each
    is shown, told as a tombstone or skipped is decided per record by the API."""
    observer = observer_for_user(user)
    if observer is None:
        return []
    return list(
        Change.objects.filter(seq__gt=after)
        .filter(Q(center_id=observer.center_id) | Q(center__isnull=True))
        .order_by("seq")[:limit]
    )


def changes_pending() -> bool:
    """Whether some committed rows wait for their number."""
    return Change.objects.filter(seq__isnull=True).exists()


def changes_horizon() -> int:
    """The cursor below which a partner must resync (0: none ever purged)."""
    return ChangePurge.objects.aggregate(through=Max("through_seq"))["through"] or 0


# --- Partner API tokens ----------------------------------------------------------------------


def partner_accounts(center: MonitoringCenter) -> QuerySet:
    """The active partner accounts of a center, by username."""
    return (
        get_user_model()
        .objects.filter(
            observer__center=center,
            observer__role=ObserverRole.PARTNER,
            observer__is_active=True,
        )
        .order_by("username")
    )


def partner_tokens_of(center: MonitoringCenter) -> QuerySet[PartnerToken]:
    """Every token of the center's partner accounts (active, expired, revoked), newest first."""
    return PartnerToken.objects.filter(user__observer__center=center).select_related(
        "user", "created_by", "revoked_by"
    )


def two_factor_devices(user) -> tuple[TOTPDevice | None, StaticDevice | None]:
    """The user's confirmed authenticator-app device and backup-code device, if any."""
    totp = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    backup = StaticDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    return totp, backup

"""Reads of monitoring records."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from .models import Agreement, AuditEntry, MonitoringCenter, Observer, Party


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

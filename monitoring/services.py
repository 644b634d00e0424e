"""Every write to monitoring records, and the audited save every app's services share.

Each service runs in one transaction, validates with ``full_clean()`` (plus the
database's own constraints) and writes an :class:`AuditEntry` naming the acting user.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from .choices import AuditEntryAction, ChangeRecordType, ObserverRole, PartnerTokenScopes
from .context import current_audit_source
from .models import (
    AuditEntry,
    Change,
    ChangeCounter,
    ChangePurge,
    IdempotencyKey,
    MonitoringCenter,
    Observer,
    PartnerToken,
    Party,
)
from .selectors import observer_for_user

M = TypeVar("M", bound=models.Model)

Actor = AbstractBaseUser | None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def record_snapshot(instance: models.Model, m2m_fields: Iterable[str] = ()) -> dict[str, Any]:
    """The instance's stored values as JSON-ready data (foreign keys as ids)."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key:
            continue
        value = field.value_from_object(instance)
        if isinstance(value, datetime) and timezone.is_aware(value):
            # The same instant given with another offset (+03:00 vs the stored UTC) is
            # no change.
            value = value.astimezone(UTC)
        data[field.attname] = _jsonable(value)
    for name in m2m_fields:
        data[name] = sorted(getattr(instance, name).values_list("pk", flat=True))
    return data


def record_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def actor_label(actor: Actor) -> str:
    if actor is not None and actor.is_authenticated:
        return actor.get_username()
    return f"system:{current_audit_source()}"


def audit_entry_create(
    *,
    actor: Actor,
    action: str,
    instance: models.Model,
    changes: Mapping[str, Any] | None = None,
    comment: str = "",
) -> AuditEntry:
    """Write one audit row for ``instance``; the source comes from the entry point."""
    return AuditEntry.objects.create(
        at=timezone.now(),
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label(actor),
        source=current_audit_source(),
        action=action,
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=True),
        object_pk=str(instance.pk),
        object_repr=str(instance)[:300],
        changes=_jsonable(dict(changes or {})),
        comment=comment,
    )


def record_save(
    *,
    instance: M,
    actor: Actor,
    m2m: Mapping[str, Iterable[models.Model | int]] | None = None,
    comment: str = "",
    validate_unique: bool = True,
) -> tuple[M, bool]:
    """Validate and save ``instance`` (and its many-to-many values), auditing the change.

    Returns ``(instance, changed)``. Nothing is written when nothing changed, so seeding
    the same data twice leaves no trace; a failed validation writes nothing at all.
    """
    m2m = dict(m2m or {})
    model = type(instance)
    with transaction.atomic():
        before: dict[str, Any] | None = None
        if instance.pk is not None:
            current = model.objects.select_for_update().filter(pk=instance.pk).first()
            if current is not None:
                before = record_snapshot(current, m2m.keys())
        instance.full_clean(validate_unique=validate_unique)
        if before is not None:
            pending = record_snapshot(instance)
            for name, values in m2m.items():
                pending[name] = sorted(getattr(value, "pk", value) for value in values)
            if not record_diff(before, pending):
                return instance, False  # nothing to write, not even an identical UPDATE
        instance.save()
        for name, values in m2m.items():
            getattr(instance, name).set(list(values))
        change_touch_instance(instance)
        after = record_snapshot(instance, m2m.keys())
        if before is None:
            audit_entry_create(
                actor=actor,
                action=AuditEntryAction.CREATE,
                instance=instance,
                changes={key: [None, value] for key, value in after.items()},
                comment=comment,
            )
            return instance, True
        changes = record_diff(before, after)
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.UPDATE,
            instance=instance,
            changes=changes,
            comment=comment,
        )
        return instance, True


def record_upsert(
    *,
    model: type[M],
    lookup: Mapping[str, Any],
    values: Mapping[str, Any],
    actor: Actor,
    m2m: Mapping[str, Iterable[models.Model | int]] | None = None,
    comment: str = "",
) -> tuple[M, str]:
    """Create the record found by ``lookup`` or bring it to ``values``.

    Returns ``(instance, outcome)`` with outcome ``"created"``, ``"updated"`` or
    ``"unchanged"``; used by the seed loader so that a second run changes nothing.
    """
    with transaction.atomic():
        instance = model.objects.select_for_update().filter(**lookup).first()
        created = instance is None
        if created:
            instance = model(**lookup)
        for key, value in values.items():
            setattr(instance, key, value)
        instance, changed = record_save(instance=instance, actor=actor, m2m=m2m, comment=comment)
    if created:
        return instance, "created"
    return instance, "updated" if changed else "unchanged"


def observer_errors(
    *, observer: Observer, assigned_zones: Iterable[Any] = ()
) -> dict[str, list[str]]:
    """What :func:`observer_save` refuses, by field: zones the center does not cover, and
    (for observers and coordinators) a delegation that is not a member of the center."""
    errors: dict[str, list[str]] = {}
    center: MonitoringCenter = observer.center
    zones = list(assigned_zones)
    if zones:
        covered = set(center.zones.values_list("pk", flat=True))
        outside = [zone for zone in zones if getattr(zone, "pk", zone) not in covered]
        if outside:
            names = ", ".join(str(zone) for zone in outside)
            errors["assigned_zones"] = [f"Not covered by {center.code}: {names}."]
    if observer.role in (ObserverRole.OBSERVER, ObserverRole.COORDINATOR):
        delegation: Party = observer.delegation
        if not center.member_parties.filter(pk=delegation.pk).exists():
            errors["delegation"] = [
                f"{delegation} is not a member of {center}; observers and coordinators "
                "must belong to one of the center's delegations."
            ]
    return errors


def observer_save(
    *,
    observer: Observer,
    assigned_zones: Iterable[Any] = (),
    actor: Actor,
    comment: str = "",
) -> Observer:
    """Create or update an observer profile, checking it fits its center."""
    zones = list(assigned_zones)
    errors = observer_errors(observer=observer, assigned_zones=zones)
    if errors:
        raise ValidationError(errors)
    observer, _ = record_save(
        instance=observer, actor=actor, m2m={"assigned_zones": zones}, comment=comment
    )
    return observer


# --- Partner API tokens -------------------------------------------------------------------

#: ``last_used_at`` is written at most this often, not on every request.
PARTNER_TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def partner_token_hash(secret: str) -> str:
    """The stored form of a token's secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _token_audit_values(token: PartnerToken) -> dict[str, Any]:
    """What the audit log says of a token: never the secret, nor its hash."""
    return {
        "name": token.name,
        "user": token.user_id,
        "prefix": token.prefix,
        "scopes": token.scopes,
        "expires_at": token.expires_at,
    }


def _coordinator_of_partner(*, actor: Actor, partner_user, verb: str) -> Observer:
    """The actor's profile if it coordinates the partner account's center, else 403."""
    coordinator = observer_for_user(actor)
    partner = Observer.objects.filter(user=partner_user).first()
    if (
        coordinator is None
        or coordinator.role != ObserverRole.COORDINATOR
        or partner is None
        or partner.center_id != coordinator.center_id
    ):
        raise PermissionDenied(f"Only a coordinator of the partner's center {verb} its tokens.")
    return partner


def partner_token_issue(
    *,
    partner_user,
    name: str,
    scopes: str = PartnerTokenScopes.READ,
    expires_at: datetime | None = None,
    actor: Actor,
    at: datetime | None = None,
) -> tuple[PartnerToken, str]:
    """Issue an API token for a partner account of the actor's center.

    Returns ``(token, secret)``: the secret is given here once and stored only as its
    SHA-256. ``scopes`` is ``"read"`` or ``"read write"`` (``"write"`` alone means both).
    """
    at = at or timezone.now()
    partner = _coordinator_of_partner(actor=actor, partner_user=partner_user, verb="issues")
    errors: dict[str, list[str]] = {}
    if not partner.is_active or partner.role != ObserverRole.PARTNER:
        errors["partner_user"] = [
            f"{partner_user.get_username()} is not an active partner account."
        ]
    wanted = set(scopes.split()) if isinstance(scopes, str) else set(scopes)
    unknown = wanted - {"read", "write"}
    if unknown:
        errors["scopes"] = [f"Unknown scope: {', '.join(sorted(unknown))} (read, write)."]
    scope_value = PartnerTokenScopes.READ_WRITE if "write" in wanted else PartnerTokenScopes.READ
    if expires_at is not None and expires_at <= at:
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise ValidationError(errors)
    secret = secrets.token_urlsafe(32)
    token = PartnerToken(
        name=(name or "").strip(),
        user=partner_user,
        prefix=secret[:8],
        key_hash=partner_token_hash(secret),
        scopes=scope_value,
        created_at=at,
        created_by=actor,
        expires_at=expires_at,
    )
    with transaction.atomic():
        token.full_clean()
        token.save()
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.CREATE,
            instance=token,
            changes={key: [None, value] for key, value in _token_audit_values(token).items()},
            comment=f"API token issued to {partner_user.get_username()}.",
        )
    return token, secret


def partner_token_revoke(
    *, token: PartnerToken, actor: Actor, at: datetime | None = None
) -> PartnerToken:
    """Revoke a token at once; it answers 401 from the next request on."""
    at = at or timezone.now()
    with transaction.atomic():
        token = PartnerToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        _coordinator_of_partner(actor=actor, partner_user=token.user, verb="revokes")
        if token.revoked_at is not None:
            raise ValidationError(f"Token {token.prefix}… was already revoked.")
        token.revoked_at = at
        token.revoked_by = actor
        token.full_clean()
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.UPDATE,
            instance=token,
            changes={"revoked_at": [None, at], "revoked_by": [None, actor.pk]},
            comment=f"API token of {token.user.get_username()} revoked.",
        )
    return token


def partner_token_touch(*, token: PartnerToken, at: datetime | None = None) -> None:
    """Record that the token was used, at most once per ``PARTNER_TOKEN_TOUCH_INTERVAL``.

    Telemetry, not a change of the record: one UPDATE with no audit entry, and none at all
    for requests within the interval (a busy tool does not write on every request).
    """
    at = at or timezone.now()
    if token.last_used_at is not None and at - token.last_used_at < PARTNER_TOKEN_TOUCH_INTERVAL:
        return
    PartnerToken.objects.filter(pk=token.pk).update(last_used_at=at)
    token.last_used_at = at


# --- The change feed ---------------------------------------------------------------------------
#
# Every write of a record the API serves marks the record's one Change row unnumbered, in the
# writer's own transaction; numbers are given later, to committed rows only, by
# changes_sequence(). See monitoring.models.Change for why that makes the feed safe.

# Reference data written through record_save(): model label -> (record type, key of the record).
FEED_REFERENCE_MODELS: dict[str, tuple[str, str]] = {
    "monitoring.party": (ChangeRecordType.PARTY, "pk"),
    "monitoring.agreement": (ChangeRecordType.AGREEMENT, "pk"),
    "monitoring.agreementsignatory": (ChangeRecordType.AGREEMENT, "agreement_id"),
    "monitoring.monitoringcenter": (ChangeRecordType.CENTER, "pk"),
    "zones.zone": (ChangeRecordType.ZONE, "pk"),
    "zones.zoneterm": (ChangeRecordType.ZONE, "zone_id"),
    "zones.zonesuspension": (ChangeRecordType.ZONE, "zone_id"),
    "zones.zoneboundary": (ChangeRecordType.ZONE, "zone_id"),
    "zones.securityarea": (ChangeRecordType.SECURITY_AREA, "pk"),
    "zones.excludedarea": (ChangeRecordType.EXCLUDED_AREA, "pk"),
    "zones.post": (ChangeRecordType.POST, "pk"),
    "zones.settlement": (ChangeRecordType.SETTLEMENT, "pk"),
}


def _change_upsert_sql(rows: int) -> str:
    table = Change._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, NULL)"] * rows)
    return (
        f"INSERT INTO {table} (record_type, record_key, center_id, shared, ever_shared, "  # noqa: S608 - table name from Meta, values bound
        f"changed_at, seq) VALUES {values} "
        f"ON CONFLICT (record_type, record_key) DO UPDATE SET seq = NULL, "
        f"center_id = excluded.center_id, shared = excluded.shared, "
        f"ever_shared = ({table}.ever_shared OR excluded.ever_shared), "
        f"changed_at = excluded.changed_at"
    )


def changes_touch(*, records: Iterable[tuple], at: datetime | None = None) -> int:
    """Mark records changed: each ``(record_type, key, center_id, shared)``, ``shared``
    meaning "in the partners' view now", optionally followed by ``ever_shared`` (it was at
    some point; default: ``shared``, or what the row already says). Runs in the caller's
    transaction; returns the number of rows written."""
    at = at or timezone.now()
    latest: dict[tuple[str, str], tuple[int | None, bool, bool]] = {}
    for record_type, key, center_id, shared, *ever in records:
        latest[(str(record_type), str(key))] = (center_id, bool(shared), bool(shared or any(ever)))
    items = sorted(latest.items())  # one order for every writer: no lock-order deadlocks
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            params: list[Any] = []
            for (record_type, key), (center_id, shared, ever_shared) in chunk:
                params += [record_type, key, center_id, shared, ever_shared, at]
            cursor.execute(_change_upsert_sql(len(chunk)), params)
            written += len(chunk)
    return written


def change_touch_instance(instance: models.Model, at: datetime | None = None) -> None:
    """Mark the feed record a reference-data row belongs to (if any) changed."""
    spec = FEED_REFERENCE_MODELS.get(instance._meta.label_lower)
    if spec is None:
        return
    record_type, key_attribute = spec
    changes_touch(records=[(record_type, getattr(instance, key_attribute), None, True)], at=at)


def changes_sequence() -> int:
    """Number the committed, unnumbered feed rows above every number given so far, in the
    order they were first written. Returns how many were numbered."""
    table = Change._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # The counter's row lock makes numberings run one at a time (SQLite's IMMEDIATE
        # transactions already do); its value never goes down.
        counter = ChangeCounter.objects.select_for_update().get_or_create(pk=1)[0]
        if connection.vendor == "postgresql":
            # Rows a writer holds are skipped: they are numbered once it commits, and
            # waiting for them could deadlock with a writer waiting for rows held here.
            pending = (
                f"SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM (SELECT id FROM {table} "  # noqa: S608
                f"WHERE seq IS NULL ORDER BY id FOR UPDATE SKIP LOCKED) AS locked"
            )
        else:
            pending = (
                f"SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM {table} WHERE seq IS NULL"  # noqa: S608
            )
        cursor.execute(
            f"UPDATE {table} SET seq = %s + numbered.rn FROM ({pending}) AS numbered "  # noqa: S608
            f"WHERE {table}.id = numbered.id",
            [counter.last_seq],
        )
        numbered = cursor.rowcount
        if numbered:
            ChangeCounter.objects.filter(pk=1).update(last_seq=counter.last_seq + numbered)
        return numbered


def changes_purge(*, before: datetime, at: datetime | None = None) -> ChangePurge | None:
    """End the retention of tombstones changed before ``before``: partners are no longer told
    about those withdrawals, so a partner whose cursor is below the newest of them must
    resync (the feed answers it 410). Returns the purge, or None if there was nothing."""
    at = at or timezone.now()
    with transaction.atomic():
        rows = Change.objects.filter(
            ever_shared=True, shared=False, seq__isnull=False, changed_at__lt=before
        )
        through = rows.aggregate(through=models.Max("seq"))["through"]
        if through is None:
            return None
        count = rows.filter(seq__lte=through).update(ever_shared=False)
        return ChangePurge.objects.create(at=at, through_seq=through, tombstones=count)


def idempotency_keys_purge(*, before: datetime) -> int:
    """Forget the idempotency keys used before ``before``; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=before).delete()
    return deleted

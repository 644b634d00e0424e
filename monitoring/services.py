"""Every write to monitoring records, and the audited save every app's services share.

Each service runs in one transaction, validates with ``full_clean()`` (plus the
database's own constraints) and writes an :class:`AuditEntry` naming the acting user.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .choices import AuditEntryAction, ChangeRecordType, ObserverRole, PartnerTokenScopes
from .context import current_audit_source
from .models import (
    AUDIT_CHAIN_GENESIS,
    AuditChainHead,
    AuditEntry,
    Change,
    ChangeCounter,
    ChangePurge,
    IdempotencyKey,
    MonitoringCenter,
    Observer,
    PartnerToken,
    Party,
    audit_entry_digest,
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
    at: datetime | None = None,
) -> AuditEntry:
    """Write one audit row for ``instance``; the source comes from the entry point. ``at``:
    the moment of the change when the caller records it elsewhere too (default: now)."""
    return AuditEntry.objects.create(
        at=at or timezone.now(),
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


# --- Two-factor authentication (docs/security.md) --------------------------------------------

BACKUP_CODE_COUNT = 10


def two_factor_enrolment(*, user) -> TOTPDevice:
    """The authenticator-app device ``user`` is setting up: the same one until it is confirmed,
    so that a reload of the set-up page keeps the secret the app has scanned."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("id")
            .first()
        )
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def two_factor_confirm(*, device: TOTPDevice, code: str, actor) -> list[str] | None:
    """Confirm ``device`` with a code from the app: the user's second factor from now on.

    Returns a fresh set of one-time backup codes (shown once, stored by django-otp), or None
    when the code is wrong (the device's throttling counts the failure, which is why this is
    not an exception rolling it back).
    """
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(
            pk=device.pk, user=actor, confirmed=False
        )
        if not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=actor, confirmed=False).delete()
        StaticDevice.objects.filter(user=actor).delete()
        backup = StaticDevice.objects.create(user=actor, name="Backup codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create([StaticToken(device=backup, token=c) for c in codes])
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.CREATE,
            instance=device,
            changes={"confirmed": [False, True]},
            comment=f"Two-factor authentication set up, with {len(codes)} backup codes.",
        )
    return codes


def two_factor_reset(*, user, actor, comment: str = "") -> int:
    """Remove every second-factor device of ``user`` (a lost phone): they set one up again at
    their next sign-in. Returns how many devices were removed; audited on the user."""
    if actor is not None and actor.is_authenticated and not actor.is_superuser:
        observer = observer_for_user(actor)
        if observer is None or observer.role != ObserverRole.ADMINISTRATOR:
            raise PermissionDenied("Only administrators reset another account's second factor.")
    with transaction.atomic():
        removed = 0
        for model in (TOTPDevice, StaticDevice):
            removed += model.objects.filter(user=user).delete()[1].get(model._meta.label, 0)
        if removed:
            audit_entry_create(
                actor=actor,
                action=AuditEntryAction.UPDATE,
                instance=user,
                changes={"two_factor_devices": [removed, 0]},
                comment=comment or "Second factor reset: set up again at the next sign-in.",
            )
    return removed


# --- The audit hash chain --------------------------------------------------------------------
#
# Writers add audit entries unsealed (chain_seq NULL) and take no shared lock, so filing at
# once never queues behind one row. audit_chain_seal() then numbers the committed, unsealed
# entries under the head row's lock, each hashing the one before (docs/security.md#audit-chain).

AUDIT_CHAIN_BATCH = 2000
#: What an entry's hash covers, in the order the sealing and the check read it.
_CHAINED = (
    "at",
    "actor_id",
    "actor_label",
    "source",
    "action",
    "content_type_id",
    "object_pk",
    "object_repr",
    "changes",
    "comment",
)

Progress = Callable[[str], None]


def _content_type_labels() -> dict[int, str]:
    return {ct.pk: f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.all()}


def _entry_digest(values: tuple, *, seq: int, previous: str, labels: dict[int, str]) -> str:
    at, actor_id, label, source, action, ct, object_pk, object_repr, changes, comment = values
    return audit_entry_digest(
        seq=seq,
        previous=previous,
        at=at,
        actor_id=actor_id,
        actor_label=label,
        source=source,
        action=action,
        content_type=labels.get(ct, f"#{ct}"),
        object_pk=object_pk,
        object_repr=object_repr,
        changes=changes,
        comment=comment,
    )


def _audit_chain_head() -> AuditChainHead:
    """The head row, locked (created if a flush removed the one the migration made)."""
    if not AuditChainHead.objects.filter(pk=1).exists():
        try:
            with transaction.atomic():
                AuditChainHead.objects.create(pk=1)
        except IntegrityError:
            pass  # another sealer made it first
    return AuditChainHead.objects.select_for_update().get(pk=1)


def _write_seals(rows: list[tuple[int, int, str, str]]) -> None:
    """Set the chain fields of unsealed entries: ``(id, seq, prev_sha256, sha256)`` each."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Four arrays, not 4 x 2,000 parameters: a short statement to parse and send.
            cursor.execute(
                f"UPDATE {table} AS a SET chain_seq = v.seq, prev_sha256 = v.prev, "  # noqa: S608 - table name from Meta, values bound
                f"sha256 = v.sha FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], "
                f"%s::varchar[]) AS v(id, seq, prev, sha) "
                f"WHERE a.id = v.id AND a.chain_seq IS NULL",
                [list(column) for column in zip(*rows, strict=True)],
            )
            written = cursor.rowcount
        else:
            cursor.executemany(
                f"UPDATE {table} SET chain_seq = %s, prev_sha256 = %s, sha256 = %s "  # noqa: S608
                f"WHERE id = %s AND chain_seq IS NULL",
                [(seq, prev, sha, pk) for pk, seq, prev, sha in rows],
            )
            written = cursor.rowcount
    if written != len(rows):
        raise RuntimeError(f"Sealed {written} audit entries of {len(rows)}: sealed twice?")


def audit_chain_seal(
    *, batch: int = AUDIT_CHAIN_BATCH, progress: Progress | None = None, at: datetime | None = None
) -> int:
    """Seal the committed, unsealed audit entries in id order: give each the next
    ``chain_seq``, the previous entry's hash and its own. Returns how many were sealed.

    Each batch is one transaction holding the head row's lock, so sealings run one at a
    time and a chain never forks. Entries of writers still open are not visible here (and
    rows locked by anyone are skipped on PostgreSQL): they are sealed by a later run,
    after the ones sealed now; nothing waits for a writer. A run goes through the ids once,
    up to the highest unsealed one when it starts, so it ends even while writers keep
    writing. Safe to run twice.
    """
    through = AuditEntry.objects.filter(chain_seq__isnull=True).aggregate(m=models.Max("pk"))["m"]
    if through is None:
        return 0
    labels = _content_type_labels()
    sealed, after = 0, 0
    while True:  # each pass seals entries with ids in (after, through], or stops
        with transaction.atomic():
            head = _audit_chain_head()
            rows = list(
                # Keyset from the last id sealed: entries sealed by this run stay in the
                # partial index until vacuumed, and are not scanned again.
                AuditEntry.objects.filter(chain_seq__isnull=True, pk__gt=after, pk__lte=through)
                .order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", *_CHAINED)[:batch]
            )
            if not rows:
                break
            if any(ct not in labels for _, _, _, _, _, _, ct, *_ in rows):
                labels = _content_type_labels()
            seq, previous, seals = head.last_seq, head.last_sha256, []
            for pk, *values in rows:
                seq += 1
                digest = _entry_digest(tuple(values), seq=seq, previous=previous, labels=labels)
                seals.append((pk, seq, previous, digest))
                previous = digest
            _write_seals(seals)
            AuditChainHead.objects.filter(pk=1).update(
                last_seq=seq, last_sha256=previous, sealed_at=at or timezone.now()
            )
        sealed, after = sealed + len(rows), rows[-1][0]
        if progress is not None and sealed % (batch * 25) < len(rows):
            progress(f"sealed: {sealed:,} entries")
    return sealed


@dataclass(frozen=True)
class AuditChainProblem:
    """A broken link: the entry (``seq``, ``entry_id``), or the transition, and what is wrong."""

    problem: str
    seq: int | None = None
    entry_id: int | None = None

    def __str__(self) -> str:
        if self.seq is None and self.entry_id is None:
            return self.problem
        where = f"entry #{self.seq}" if self.seq is not None else "entry"
        if self.entry_id is not None:
            where += f" (id {self.entry_id})"
        return f"{where}: {self.problem}"


@dataclass
class AuditChainCheck:
    """What :func:`audit_chain_verify` found."""

    entries: int = 0
    head_seq: int = 0
    head_sha256: str = AUDIT_CHAIN_GENESIS
    transitions: int = 0
    unsealed: int = 0
    stale_unsealed_total: int = 0
    stale_unsealed: list[tuple[int, datetime]] = dataclass_field(default_factory=list)
    problems: list[AuditChainProblem] = dataclass_field(default_factory=list)
    problems_total: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems_total

    def add(self, problem: AuditChainProblem, limit: int) -> None:
        self.problems_total += 1
        if len(self.problems) < limit:
            self.problems.append(problem)


def _chain_walk(check: AuditChainCheck, *, batch: int, limit: int, progress) -> None:
    """Every sealed entry, in chain order, in batches of ``batch`` (keyset pages)."""
    labels = _content_type_labels()
    head = AuditChainHead.objects.filter(pk=1).first()
    check.head_seq = head.last_seq if head else 0
    check.head_sha256 = head.last_sha256 if head else AUDIT_CHAIN_GENESIS
    expected, previous, after, previous_id = 1, AUDIT_CHAIN_GENESIS, 0, None
    previous_seq = 0
    while True:
        rows = list(
            AuditEntry.objects.filter(chain_seq__gt=after)
            .order_by("chain_seq")
            .values_list("chain_seq", "pk", "prev_sha256", "sha256", *_CHAINED)[:batch]
        )
        if not rows:
            break
        for seq, pk, prev, sha, *values in rows:
            check.entries += 1
            if seq != expected:
                missing = f"#{expected}" if seq == expected + 1 else f"#{expected} to #{seq - 1}"
                check.add(
                    AuditChainProblem(f"the chain has a gap: {missing} missing (deleted)", seq, pk),
                    limit,
                )
            if prev != previous:
                before = (
                    f"the entry before it, #{previous_seq} (id {previous_id})"
                    if previous_id
                    else "the start of the chain"
                )
                check.add(
                    AuditChainProblem(
                        f"does not link to {before}: an entry was deleted, inserted or "
                        "reordered there",
                        seq,
                        pk,
                    ),
                    limit,
                )
            if _entry_digest(tuple(values), seq=seq, previous=prev, labels=labels) != sha:
                check.add(
                    AuditChainProblem(
                        "altered: its content (or place) no longer matches its hash", seq, pk
                    ),
                    limit,
                )
            expected, previous, previous_id, previous_seq = seq + 1, sha, pk, seq
        after = rows[-1][0]
        if progress is not None and check.entries % (batch * 25) < len(rows):
            progress(f"checked: {check.entries:,} of {check.head_seq:,} entries")
    last = expected - 1
    if last > check.head_seq:
        check.add(
            AuditChainProblem(
                f"entries up to #{last} lie beyond the head #{check.head_seq}: inserted with "
                "a forged place",
                last,
                previous_id,
            ),
            limit,
        )
    elif last < check.head_seq:
        check.add(
            AuditChainProblem(
                f"the chain ends at #{last} but its head records #{check.head_seq}: "
                "entries deleted from its end",
                check.head_seq,
            ),
            limit,
        )
    elif previous != check.head_sha256:
        check.add(
            AuditChainProblem("does not match the hash its head records", last, previous_id),
            limit,
        )


def _transitions_check(check: AuditChainCheck, *, batch: int, limit: int) -> None:
    """Every report transition has an audit entry carrying the same facts (report, actor,
    from and to status, comment), and every transition entry its transition row: the
    chain over the entries then protects the transitions too."""
    Report = apps.get_model("incidents", "Report")
    Transition = apps.get_model("incidents", "ReportTransition")
    report_type = ContentType.objects.get_for_model(Report)
    after = 0
    while True:
        ids = list(
            Report.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        after = ids[-1]
        rows = Transition.objects.filter(report_id__gte=ids[0], report_id__lte=ids[-1])
        recorded = Counter(
            rows.values_list("report_id", "actor_id", "from_status", "to_status", "comment")
        )
        check.transitions += sum(recorded.values())
        audited: Counter = Counter()
        entries = AuditEntry.objects.filter(
            content_type=report_type,
            action=AuditEntryAction.TRANSITION,
            object_pk__in=[str(pk) for pk in ids],
        ).values_list("pk", "chain_seq", "object_pk", "actor_id", "changes", "comment")
        where: dict[tuple, tuple[int, int | None]] = {}
        for pk, seq, object_pk, actor_id, changes, comment in entries:
            status = changes.get("status") if isinstance(changes, dict) else None
            moved = tuple(status) if isinstance(status, list) and len(status) == 2 else (None, None)
            key = (int(object_pk), actor_id, *moved, comment)
            audited[key] += 1
            where.setdefault(key, (pk, seq))
        for key in sorted(recorded - audited, key=str):
            report_id, actor_id, before, after_status = key[:4]
            check.add(
                AuditChainProblem(
                    f"the transition of report id {report_id} from {before} to {after_status} "
                    f"by user {actor_id} has no audit entry with the same facts (transition "
                    "altered or inserted)"
                ),
                limit,
            )
        for key in sorted(audited - recorded, key=str):
            pk, seq = where[key]
            check.add(
                AuditChainProblem(
                    f"records a transition of report id {key[0]} ({key[2]} to {key[3]}) that "
                    "has no transition row with the same facts (transition deleted or altered)",
                    seq,
                    pk,
                ),
                limit,
            )


def audit_chain_verify(
    *,
    batch: int = AUDIT_CHAIN_BATCH,
    unsealed_minutes: int = 10,
    limit: int = 50,
    expected: Iterable[tuple[int, str]] = (),
    progress: Progress | None = None,
    at: datetime | None = None,
) -> AuditChainCheck:
    """Walk the sealed audit entries in chain order and check every link; check the
    report transitions against their entries; count the entries still unsealed.

    A read of one consistent snapshot (PostgreSQL: repeatable read), so that sealing going
    on meanwhile is not mistaken for tampering. Seal first (:func:`audit_chain_seal`) to
    check everything written so far. At most ``limit`` problems are kept (all are counted).
    ``expected``: heads recorded earlier elsewhere, ``(seq, sha256)``; the chain must still
    hold each.
    """
    at = at or timezone.now()
    check = AuditChainCheck()
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        _chain_walk(check, batch=batch, limit=limit, progress=progress)
        _transitions_check(check, batch=batch, limit=limit)
        for seq, sha in expected:
            found = AuditEntry.objects.filter(chain_seq=seq).values_list("pk", "sha256").first()
            if found is None or found[1] != sha:
                check.add(
                    AuditChainProblem(
                        f"is not the entry recorded as head #{seq} sha256 {sha}: the chain was "
                        "rewritten" + (" (no such entry)" if found is None else ""),
                        seq,
                        found[0] if found else None,
                    ),
                    limit,
                )
        unsealed = AuditEntry.objects.filter(chain_seq__isnull=True)
        check.unsealed = unsealed.count()
        stale = unsealed.filter(at__lt=at - timedelta(minutes=unsealed_minutes))
        check.stale_unsealed_total = stale.count()
        check.stale_unsealed = list(stale.order_by("pk").values_list("pk", "at")[:limit])
    return check

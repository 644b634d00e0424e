"""The monitoring center's world: parties, agreements, centers, observers, and the audit log."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from ..choices import (
    AgreementSignatoryRole,
    AuditEntryAction,
    AuditEntrySource,
    ObserverRole,
    PartnerTokenScopes,
    PartyKind,
)
from ..validators import center_code_validator, code_validator, validate_time_zone


class Party(models.Model):
    """A state, force, formation, excluded group or humanitarian organization.

    Roles such as "guarantor" or "monitoring state" come from agreements
    (see :class:`AgreementSignatory`); a party's ``kind`` says what it is.
    """

    code = models.CharField(max_length=49, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    short_name = models.CharField(max_length=60, blank=True)
    kind = models.CharField(max_length=32, choices=PartyKind.choices)
    country_code = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166-1 alpha-2, for states."
    )
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "parties"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=PartyKind.values), name="%(app_label)s_%(class)s_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.short_name or self.name

    @property
    def is_excluded(self) -> bool:
        """Groups registered as outside the ceasefire regime (ISIS, Jabhat al-Nusra)."""
        return self.kind == PartyKind.EXCLUDED_GROUP


class Agreement(models.Model):
    """A ceasefire arrangement: the Astana memorandum, the southwest memorandum, ..."""

    code = models.CharField(max_length=49, unique=True, validators=[code_validator])
    title = models.CharField(max_length=300)
    signed_on = models.DateField()
    signed_at_place = models.CharField(max_length=100, blank=True)
    in_force_from = models.DateTimeField(help_text="The moment the agreement takes effect (UTC).")
    initial_term_months = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty for an open-ended agreement."
    )
    auto_extends = models.BooleanField(
        default=False, help_text="Extends automatically for the same period unless ended."
    )
    extension_months = models.PositiveSmallIntegerField(null=True, blank=True)
    summary = models.TextField(blank=True)
    source = models.TextField(blank=True, help_text="Where the terms come from.")
    signatories = models.ManyToManyField(
        Party, through="AgreementSignatory", related_name="agreements"
    )

    class Meta:
        ordering = ["signed_on", "code"]
        constraints = [
            models.CheckConstraint(
                # isnull=False: SQL lets a NULL through a check ("unknown" passes).
                condition=Q(auto_extends=False)
                | Q(extension_months__isnull=False, extension_months__gt=0),
                name="%(app_label)s_%(class)s_extension_needs_months",
            ),
            models.CheckConstraint(
                condition=Q(initial_term_months__isnull=True) | Q(initial_term_months__gt=0),
                name="%(app_label)s_%(class)s_term_positive",
            ),
            models.CheckConstraint(
                condition=Q(auto_extends=False) | Q(initial_term_months__isnull=False),
                name="%(app_label)s_%(class)s_extension_needs_term",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class AgreementSignatory(models.Model):
    """A party's role under an agreement (guarantor, monitoring state, observer)."""

    agreement = models.ForeignKey(
        Agreement, on_delete=models.PROTECT, related_name="signatory_roles"
    )
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="signatory_roles")
    role = models.CharField(max_length=20, choices=AgreementSignatoryRole.choices)

    class Meta:
        ordering = ["agreement", "role", "party__name"]
        verbose_name_plural = "agreement signatories"
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "party", "role"], name="%(app_label)s_%(class)s_unique_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party} ({self.get_role_display()}) - {self.agreement.code}"


class MonitoringCenter(models.Model):
    """A body that receives reports and compiles daily summaries for its zones.

    Its reporting day is a local calendar day in ``time_zone`` that ends at
    ``reporting_day_cutoff`` local time.
    """

    code = models.CharField(max_length=6, unique=True, validators=[center_code_validator])
    name = models.CharField(max_length=200)
    location = models.CharField(max_length=100, blank=True)
    agreement = models.ForeignKey(
        Agreement, on_delete=models.PROTECT, null=True, blank=True, related_name="centers"
    )
    member_parties = models.ManyToManyField(Party, related_name="centers", blank=True)
    zones = models.ManyToManyField("zones.Zone", related_name="centers", blank=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    reporting_day_cutoff = models.TimeField(
        help_text="Local time at which the reporting day closes (00:00 = midnight)."
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Observer(models.Model):
    """A user's place in the system: delegation, center, role, assigned zones."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="observer"
    )
    delegation = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="observers")
    center = models.ForeignKey(MonitoringCenter, on_delete=models.PROTECT, related_name="observers")
    role = models.CharField(max_length=20, choices=ObserverRole.choices)
    assigned_zones = models.ManyToManyField("zones.Zone", related_name="observers", blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["center", "user__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=ObserverRole.values), name="%(app_label)s_%(class)s_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()}, {self.center.code})"

    @property
    def is_coordinator(self) -> bool:
        return self.role == ObserverRole.COORDINATOR

    @property
    def is_administrator(self) -> bool:
        return self.role == ObserverRole.ADMINISTRATOR


class AuditEntry(models.Model):
    """One change to one record: who, when, from where, and the values before and after.

    Written explicitly by every service (web, API, admin, commands and Celery alike);
    never updated or deleted. Written unsealed (``chain_seq`` empty); sealing
    (:func:`monitoring.services.audit_chain_seal`, every minute) then sets only the chain
    fields, once: the entry's place in the one global hash chain, the previous entry's
    hash, and its own (:func:`audit_entry_digest`), which ``manage.py audit_verify`` checks.
    """

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_entries",
    )
    actor_label = models.CharField(
        max_length=150, help_text="Username at the time, or the system process that acted."
    )
    source = models.CharField(max_length=16, choices=AuditEntrySource.choices)
    action = models.CharField(max_length=16, choices=AuditEntryAction.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_pk = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(
        default=dict, encoder=DjangoJSONEncoder, help_text="{field: [before, after]}"
    )
    comment = models.TextField(blank=True)
    # The hash chain, set once by sealing; empty (NULL, "") until then. ``db_default`` lets
    # bulk SQL writers (incidents.demo) leave the columns out.
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")
    sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["content_type", "object_pk", "at"]),
            models.Index(
                fields=["id"], condition=Q(chain_seq__isnull=True), name="monitoring_audit_unsealed"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                # isnull on both sides: SQL lets a NULL through a check.
                condition=Q(chain_seq__isnull=True, prev_sha256="", sha256="")
                | (
                    Q(chain_seq__isnull=False, chain_seq__gt=0) & ~Q(prev_sha256="") & ~Q(sha256="")
                ),
                name="%(app_label)s_%(class)s_sealed_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


#: The ``prev_sha256`` of the first sealed entry.
AUDIT_CHAIN_GENESIS = "0" * 64


def _canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the same text as the summaries' chain hashes
    (incidents.selectors.summaries.canonical_json)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def audit_entry_digest(
    *,
    seq: int,
    previous: str,
    at: datetime,
    actor_id: int | None,
    actor_label: str,
    source: str,
    action: str,
    content_type: str,
    object_pk: str,
    object_repr: str,
    changes: Any,
    comment: str,
) -> str:
    """The SHA-256 (hex) of a sealed entry: its place, the previous entry's hash, and every
    fact it records. ``content_type`` is ``"app_label.model"`` (ids differ between
    databases); ``at`` is written in UTC with microseconds. Pure, so that migrations use it."""
    text = _canonical_json(
        {
            "seq": seq,
            "prev": previous,
            "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": actor_id,
            "actor_label": actor_label,
            "source": source,
            "action": action,
            "content_type": content_type,
            "object_pk": object_pk,
            "object_repr": object_repr,
            "changes": changes,
            "comment": comment,
        }
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditChainHead(models.Model):
    """The end of the audit hash chain (one row): the last sealed entry's ``chain_seq`` and
    hash. Its row lock makes sealing run one at a time; a chain that ends elsewhere has lost
    entries from its end (``manage.py audit_verify``)."""

    last_seq = models.BigIntegerField(default=0)
    last_sha256 = models.CharField(max_length=64, default=AUDIT_CHAIN_GENESIS)
    sealed_at = models.DateTimeField(null=True, blank=True, help_text="The last sealing.")

    class Meta:
        verbose_name = "audit chain head"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="%(app_label)s_%(class)s_single_row")
        ]

    def __str__(self) -> str:
        return f"#{self.last_seq} {self.last_sha256[:12]}…"


class PartnerToken(models.Model):
    """An API key of a partner account: a partner tool acts through it as ``user``.

    Only the SHA-256 of the secret is stored (``key_hash``); the secret is shown once, when
    the token is issued, and its first characters (``prefix``) name it in lists. ``scopes``
    is a space-separated set (``"read"`` or ``"read write"``).
    """

    name = models.CharField(max_length=100, help_text="What the token is for.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="partner_tokens",
        help_text="The partner account the token acts as.",
    )
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, help_text="SHA-256 of the secret, hex.")
    scopes = models.CharField(
        max_length=32, choices=PartnerTokenScopes.choices, default=PartnerTokenScopes.READ
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="Recorded at most once a minute."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="%(app_label)s_%(class)s_key_unique"),
            models.CheckConstraint(
                condition=Q(scopes__in=PartnerTokenScopes.values),
                name="%(app_label)s_%(class)s_scopes_valid",
            ),
            models.CheckConstraint(
                # isnull=False on both sides: SQL lets a NULL through a check.
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | Q(revoked_at__isnull=False, revoked_by__isnull=False),
                name="%(app_label)s_%(class)s_revoked_with_actor",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("created_at")),
                name="%(app_label)s_%(class)s_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name}"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_set

    def is_expired(self, at) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def state(self, at) -> str:
        """``active``, ``expired`` or ``revoked`` at the moment ``at``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired(at) else "active"

"""De-escalation zones with their terms and boundary revisions, security areas, excluded
areas, observation posts and checkpoints, and settlements.

Geometry is GeoJSON (longitude first) validated with shapely; the classifier in
``zones.classifier`` answers "which zone, area, settlement and post is this point in or
near, at this moment?" from it.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from monitoring.models import Agreement, Party
from monitoring.validators import code_validator

from .choices import (
    Governorate,
    PostKind,
    PostStatus,
    SecurityAreaDerivation,
    SettlementReconciliationStatus,
    ZoneStatus,
    ZoneTermKind,
)
from .fields import MultiPolygonField
from .geometry import SYRIA_BBOX, validate_point

MIN_LON, MIN_LAT, MAX_LON, MAX_LAT = SYRIA_BBOX


def in_syria_condition(prefix: str = "") -> Q:
    return Q(
        **{
            f"{prefix}latitude__gte": MIN_LAT,
            f"{prefix}latitude__lte": MAX_LAT,
            f"{prefix}longitude__gte": MIN_LON,
            f"{prefix}longitude__lte": MAX_LON,
        }
    )


def validate_governorates(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("List at least one governorate.")
    unknown = [item for item in value if item not in Governorate.values]
    if unknown:
        raise ValidationError(
            f"Unknown governorate(s): {', '.join(map(str, unknown))}. "
            f"Known: {', '.join(Governorate.values)}."
        )
    if len(set(value)) != len(value):
        raise ValidationError("A governorate is listed twice.")


class Zone(models.Model):
    """A de-escalation zone: where a ceasefire applies, from when, under which agreement."""

    code = models.CharField(max_length=49, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    governorates = models.JSONField(validators=[validate_governorates])
    status = models.CharField(
        max_length=16, choices=ZoneStatus.choices, default=ZoneStatus.PROPOSED
    )
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="zones")
    effective_from = models.DateTimeField(help_text="When the ceasefire took effect in the zone.")
    flights_banned = models.BooleanField(
        default=True, help_text="Military flights over the zone are banned."
    )
    description = models.TextField(blank=True)
    boundary_note = models.CharField(
        max_length=300,
        blank=True,
        help_text="Where the lines come from, and how approximate they are.",
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ZoneStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ZoneTerm(models.Model):
    """A period during which a zone is in force: the initial term or an extension."""

    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="terms")
    kind = models.CharField(max_length=16, choices=ZoneTermKind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty = open-ended.")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["zone", "starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["zone", "starts_at"], name="%(app_label)s_%(class)s_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        end = f"{self.ends_at:%Y-%m-%d}" if self.ends_at else "open"
        return f"{self.zone.code} {self.get_kind_display()} {self.starts_at:%Y-%m-%d} - {end}"

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment and (self.ends_at is None or moment < self.ends_at)

    def clean(self) -> None:
        if self.zone_id and self.starts_at:
            overlapping = ZoneTerm.objects.filter(zone_id=self.zone_id).exclude(pk=self.pk)
            if self.ends_at is not None:
                overlapping = overlapping.filter(starts_at__lt=self.ends_at)
            overlapping = overlapping.filter(
                Q(ends_at__isnull=True) | Q(ends_at__gt=self.starts_at)
            )
            if overlapping.exists():
                raise ValidationError({"starts_at": "This term overlaps another term of the zone."})


class ZoneSuspension(models.Model):
    """A period in which a zone's ceasefire was suspended although its term ran."""

    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="suspensions")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField()

    class Meta:
        ordering = ["zone", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone.code} suspended from {self.starts_at:%Y-%m-%d}"


class ZoneBoundary(models.Model):
    """One revision of a zone's lines, in force from ``valid_from`` until the next revision.

    The joint working group redrew the maps after the memorandum; classifying a point at
    a moment uses the revision in force at that moment.
    """

    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="boundaries")
    revision = models.PositiveIntegerField()
    geometry = MultiPolygonField()
    valid_from = models.DateTimeField()
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["zone", "valid_from"]
        verbose_name_plural = "zone boundaries"
        constraints = [
            models.UniqueConstraint(
                fields=["zone", "revision"], name="%(app_label)s_%(class)s_unique_revision"
            ),
            models.UniqueConstraint(
                fields=["zone", "valid_from"], name="%(app_label)s_%(class)s_unique_valid_from"
            ),
            models.CheckConstraint(
                condition=Q(revision__gte=1), name="%(app_label)s_%(class)s_revision_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone.code} r{self.revision} from {self.valid_from:%Y-%m-%d}"


class SecurityArea(models.Model):
    """The band along a zone's border holding observation posts and checkpoints."""

    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="security_areas")
    code = models.CharField(max_length=49, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    derivation = models.CharField(max_length=16, choices=SecurityAreaDerivation.choices)
    width_km = models.FloatField(
        null=True, blank=True, help_text="For a derived band: its width across the border."
    )
    geometry = MultiPolygonField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["zone", "code"]
        constraints = [
            models.CheckConstraint(
                # isnull=False: SQL lets a NULL through a check ("unknown" passes).
                condition=~Q(derivation=SecurityAreaDerivation.BUFFERED)
                | Q(width_km__isnull=False, width_km__gt=0),
                name="%(app_label)s_%(class)s_buffer_needs_width",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="%(app_label)s_%(class)s_until_after_from",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ExcludedArea(models.Model):
    """An area registered as held by ISIS or Jabhat al-Nusra: outside the ceasefire."""

    code = models.CharField(max_length=49, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    group = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="excluded_areas")
    geometry = MultiPolygonField()
    registered_on = models.DateField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="%(app_label)s_%(class)s_until_after_from",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.group_id and not self.group.is_excluded:
            raise ValidationError(
                {
                    "group": "Only a group registered as excluded (ISIS, Jabhat al-Nusra) "
                    "holds an excluded area."
                }
            )


class PointMixin(models.Model):
    latitude = models.FloatField()
    longitude = models.FloatField()

    class Meta:
        abstract = True

    def clean_fields(self, exclude=None) -> None:
        errors: dict[str, list[str]] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        for field, messages in validate_point(
            latitude=self.latitude, longitude=self.longitude
        ).items():
            if field not in errors:
                errors[field] = messages
        if errors:
            raise ValidationError(errors)


class Settlement(PointMixin):
    """An inhabited area: where people live, who controls it, whether it has reconciled."""

    code = models.CharField(max_length=49, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    name_ar = models.CharField("name in Arabic", max_length=200, blank=True)
    governorate = models.CharField(max_length=16, choices=Governorate.choices)
    district = models.CharField(max_length=100, blank=True)
    population = models.PositiveIntegerField(null=True, blank=True)
    controlling_party = models.ForeignKey(
        Party, on_delete=models.PROTECT, null=True, blank=True, related_name="settlements"
    )
    reconciliation_status = models.CharField(
        max_length=16,
        choices=SettlementReconciliationStatus.choices,
        default=SettlementReconciliationStatus.NONE,
    )
    reconciled_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=in_syria_condition(), name="%(app_label)s_%(class)s_in_syria"
            ),
            models.CheckConstraint(
                condition=~Q(reconciliation_status=SettlementReconciliationStatus.JOINED)
                | Q(reconciled_on__isnull=False),
                name="%(app_label)s_%(class)s_joined_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.reconciliation_status == SettlementReconciliationStatus.JOINED
            and self.reconciled_on is None
        ):
            raise ValidationError({"reconciled_on": "Give the date the settlement joined."})


class Post(PointMixin):
    """An observation post or a checkpoint in a zone's security area."""

    code = models.CharField(max_length=49, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=PostKind.choices)
    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="posts")
    operating_party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="posts")
    status = models.CharField(max_length=16, choices=PostStatus.choices, default=PostStatus.PLANNED)
    opened_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    serves_civilians = models.BooleanField(
        default=False, help_text="Checkpoint: movement of unarmed civilians."
    )
    serves_humanitarian = models.BooleanField(
        default=False, help_text="Checkpoint: delivery of humanitarian aid."
    )
    serves_economic = models.BooleanField(default=False, help_text="Checkpoint: economic activity.")
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["zone", "code"]
        constraints = [
            models.CheckConstraint(
                condition=in_syria_condition(), name="%(app_label)s_%(class)s_in_syria"
            ),
            models.CheckConstraint(
                condition=Q(kind=PostKind.CHECKPOINT)
                | Q(serves_civilians=False, serves_humanitarian=False, serves_economic=False),
                name="%(app_label)s_%(class)s_purposes_only_checkpoints",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True)
                | Q(opened_on__isnull=True)
                | Q(closed_on__gte=F("opened_on")),
                name="%(app_label)s_%(class)s_closed_after_opened",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def purposes(self) -> list[str]:
        names = {
            "serves_civilians": "unarmed civilians",
            "serves_humanitarian": "humanitarian deliveries",
            "serves_economic": "economic activity",
        }
        return [label for attr, label in names.items() if getattr(self, attr)]

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == PostKind.OBSERVATION_POST and (
            self.serves_civilians or self.serves_humanitarian or self.serves_economic
        ):
            errors["kind"] = "Only a checkpoint serves civilians, aid or economic activity."
        if self.closed_on and self.opened_on and self.closed_on < self.opened_on:
            errors["closed_on"] = "A post cannot close before it opened."
        if errors:
            raise ValidationError(errors)

"""What each kind of report adds to the common report: a ceasefire violation, a
humanitarian convoy, a checkpoint's shift."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from monitoring.models import Party
from zones.choices import PostKind
from zones.models import Post, Settlement

from ..choices import (
    AccessIncidentKind,
    CargoCategory,
    CargoUnit,
    CheckpointStatus,
    ConvoyOperation,
    ConvoyStatus,
    ViolationCategory,
)
from .report import Report

CASUALTY_GROUPS = (
    "civilians_killed",
    "civilians_injured",
    "combatants_killed",
    "combatants_injured",
)
CASUALTY_FIELDS = tuple(
    f"{group}_{e}" for group in CASUALTY_GROUPS for e in ("low", "best", "high")
)

# The fields an observer gives for each kind (forms, API input and output share them; the
# child rows -- cargo, route, stages, access incidents -- are listed with their models).
VIOLATION_FIELDS = (
    "category",
    "alleged_perpetrator",
    "affected_party",
    "weapon",
    "events",
    "direction_degrees",
    "distance_km",
    *CASUALTY_FIELDS,
    "damage",
)
CONVOY_FIELDS = (
    "operation",
    "organizations",
    "vehicle_count",
    "origin",
    "destination",
    "planned_at",
    "status",
    "beneficiaries",
    "obstruction_reason",
)
CARGO_FIELDS = ("category", "quantity", "unit", "delivered_quantity")
STAGE_FIELDS = ("stage", "at", "note")
CROSSING_FIELDS = (
    "civilians_in",
    "civilians_out",
    "vehicles_in",
    "vehicles_out",
    "humanitarian_loads",
    "commercial_loads",
)
CHECKPOINT_FIELDS = ("checkpoint", "period_start", "period_end", "status", *CROSSING_FIELDS)
ACCESS_INCIDENT_FIELDS = ("kind", "count", "party", "reason_cited")


def _casualty_constraints() -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(
            condition=Q(**{f"{group}_low__lte": F(f"{group}_best")})
            & Q(**{f"{group}_best__lte": F(f"{group}_high")}),
            name=f"%(app_label)s_%(class)s_{group}_low_best_high",
        )
        for group in CASUALTY_GROUPS
    ]


class ViolationDetail(models.Model):
    """A ceasefire violation: what, by whom (alleged), against whom, and its toll."""

    report = models.OneToOneField(
        Report, on_delete=models.PROTECT, primary_key=True, related_name="violation"
    )
    category = models.CharField(max_length=20, choices=ViolationCategory.choices)
    alleged_perpetrator = models.ForeignKey(
        Party,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty = unknown.",
    )
    affected_party = models.ForeignKey(
        Party, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    weapon = models.CharField(max_length=120, blank=True)
    events = models.PositiveIntegerField(default=1, help_text="Explosions, bursts, ...")
    direction_degrees = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Bearing from the observer, 0-359."
    )
    distance_km = models.FloatField(null=True, blank=True)
    damage = models.TextField(blank=True)
    # Casualties, each with best, low and high estimates as UCDP keeps them.
    civilians_killed_best = models.PositiveIntegerField(default=0)
    civilians_killed_low = models.PositiveIntegerField(default=0)
    civilians_killed_high = models.PositiveIntegerField(default=0)
    civilians_injured_best = models.PositiveIntegerField(default=0)
    civilians_injured_low = models.PositiveIntegerField(default=0)
    civilians_injured_high = models.PositiveIntegerField(default=0)
    combatants_killed_best = models.PositiveIntegerField(default=0)
    combatants_killed_low = models.PositiveIntegerField(default=0)
    combatants_killed_high = models.PositiveIntegerField(default=0)
    combatants_injured_best = models.PositiveIntegerField(default=0)
    combatants_injured_low = models.PositiveIntegerField(default=0)
    combatants_injured_high = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=ViolationCategory.values),
                name="%(app_label)s_%(class)s_category_valid",
            ),
            models.CheckConstraint(
                condition=Q(direction_degrees__isnull=True) | Q(direction_degrees__lte=359),
                name="%(app_label)s_%(class)s_bearing",
            ),
            models.CheckConstraint(
                condition=Q(distance_km__isnull=True) | Q(distance_km__gte=0),
                name="%(app_label)s_%(class)s_distance",
            ),
            *_casualty_constraints(),
        ]

    def __str__(self) -> str:
        return f"{self.report} {self.get_category_display()}"

    def clean(self) -> None:
        errors = {}
        for group in CASUALTY_GROUPS:
            low, best, high = (getattr(self, f"{group}_{e}") for e in ("low", "best", "high"))
            if None not in (low, best, high) and not low <= best <= high:
                label = group.replace("_", " ")
                errors[f"{group}_best"] = (
                    f"{label.capitalize()}: the low estimate ({low}) cannot exceed the best "
                    f"({best}), nor the best the high ({high})."
                )
        if errors:
            raise ValidationError(errors)


# Convoy statuses whose report must give the obstruction reason.
REASON_OWED = (ConvoyStatus.BLOCKED, ConvoyStatus.PARTIALLY_DELIVERED)


class ConvoyDetail(models.Model):
    """A humanitarian convoy: who, what, where to, and how far it got."""

    report = models.OneToOneField(
        Report, on_delete=models.PROTECT, primary_key=True, related_name="convoy"
    )
    operation = models.CharField(max_length=16, choices=ConvoyOperation.choices)
    organizations = models.ManyToManyField(Party, related_name="+")
    vehicle_count = models.PositiveIntegerField(default=0)
    origin = models.CharField(max_length=200)
    destination = models.ForeignKey(Settlement, on_delete=models.PROTECT, related_name="+")
    route = models.ManyToManyField(Post, through="ConvoyRouteStop", related_name="+")
    planned_at = models.DateTimeField()
    status = models.CharField(max_length=24, choices=ConvoyStatus.choices)
    beneficiaries = models.PositiveIntegerField(null=True, blank=True)
    obstruction_reason = models.TextField(
        blank=True, help_text="Why it was blocked, denied or delayed."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ConvoyStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status=ConvoyStatus.BLOCKED) | ~Q(obstruction_reason=""),
                name="%(app_label)s_%(class)s_blocked_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report} {self.get_operation_display()}"

    def clean(self) -> None:
        # Blocked or denied, or only partly delivered: the report says why.
        if self.status in REASON_OWED and not (self.obstruction_reason or "").strip():
            label = ConvoyStatus(self.status).label.lower()
            raise ValidationError({"obstruction_reason": f"Say why the convoy was {label}."})


class ConvoyRouteStop(models.Model):
    """The checkpoints a convoy's route passes, in order, and when it passed each."""

    convoy = models.ForeignKey(ConvoyDetail, on_delete=models.PROTECT, related_name="stops")
    post = models.ForeignKey(Post, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    passed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["convoy", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["convoy", "position"], name="%(app_label)s_%(class)s_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.convoy_id} #{self.position} {self.post_id}"

    def clean(self) -> None:
        # A route runs through checkpoints; observation posts are not crossed.
        if self.post_id and self.post.kind != PostKind.CHECKPOINT:
            raise ValidationError(
                {"post": f"{self.post} is an observation post, not a checkpoint."}
            )


class ConvoyStage(models.Model):
    """An actual time of a stage (departed, arrived, unloaded, returned)."""

    convoy = models.ForeignKey(ConvoyDetail, on_delete=models.PROTECT, related_name="stages")
    stage = models.CharField(max_length=40)
    at = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["convoy", "at"]

    def __str__(self) -> str:
        return f"{self.convoy_id} {self.stage} {self.at:%Y-%m-%d %H:%M}"


class CargoLine(models.Model):
    """One line of a convoy's cargo: category, quantity and unit (planned and delivered)."""

    convoy = models.ForeignKey(ConvoyDetail, on_delete=models.PROTECT, related_name="cargo")
    category = models.CharField(max_length=16, choices=CargoCategory.choices)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit = models.CharField(max_length=8, choices=CargoUnit.choices)
    delivered_quantity = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)

    class Meta:
        ordering = ["convoy", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="%(app_label)s_%(class)s_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(delivered_quantity__isnull=True)
                | (Q(delivered_quantity__gte=0) & Q(delivered_quantity__lte=F("quantity"))),
                name="%(app_label)s_%(class)s_delivered_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.unit} {self.category}"

    def clean(self) -> None:
        errors = {}
        quantity, delivered = self.quantity, self.delivered_quantity
        if isinstance(quantity, (int, Decimal)) and quantity <= 0:
            errors["quantity"] = "The quantity is more than zero."
        if isinstance(delivered, (int, Decimal)):
            if delivered < 0:
                errors["delivered_quantity"] = "The delivered quantity cannot be negative."
            elif isinstance(quantity, (int, Decimal)) and delivered > quantity:
                errors["delivered_quantity"] = (
                    f"More delivered ({delivered}) than carried ({quantity})."
                )
        if errors:
            raise ValidationError(errors)


class CheckpointDetail(models.Model):
    """A checkpoint's shift: its state and the crossings in the period."""

    report = models.OneToOneField(
        Report, on_delete=models.PROTECT, primary_key=True, related_name="checkpoint"
    )
    checkpoint = models.ForeignKey(Post, on_delete=models.PROTECT, related_name="shifts")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=CheckpointStatus.choices)
    civilians_in = models.PositiveIntegerField(default=0)
    civilians_out = models.PositiveIntegerField(default=0)
    vehicles_in = models.PositiveIntegerField(default=0)
    vehicles_out = models.PositiveIntegerField(default=0)
    humanitarian_loads = models.PositiveIntegerField(default=0)
    commercial_loads = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")),
                name="%(app_label)s_%(class)s_period_sane",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CheckpointStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["checkpoint", "period_start"])]

    def __str__(self) -> str:
        return f"{self.report} {self.checkpoint_id} {self.period_start:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        errors = {}
        if self.period_start and self.period_end and self.period_end <= self.period_start:
            errors["period_end"] = "The period ends after it starts."
        if self.checkpoint_id and self.checkpoint.kind != PostKind.CHECKPOINT:
            errors["checkpoint"] = f"{self.checkpoint} is an observation post, not a checkpoint."
        if errors:
            raise ValidationError(errors)


class AccessIncident(models.Model):
    """Something that happened to people crossing: denial, detention, harassment, delay."""

    shift = models.ForeignKey(CheckpointDetail, on_delete=models.PROTECT, related_name="incidents")
    kind = models.CharField(max_length=16, choices=AccessIncidentKind.choices)
    count = models.PositiveIntegerField(default=1)
    party = models.ForeignKey(
        Party, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_cited = models.TextField(blank=True)

    class Meta:
        ordering = ["shift", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(count__gte=1), name="%(app_label)s_%(class)s_count_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} x{self.count}"

    def clean(self) -> None:
        if self.count == 0:
            raise ValidationError({"count": "Count at least one incident."})

"""Constraints of the incidents models, enforced by the database itself (the services add
their own checks with field-named errors on top)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.choices import (
    CargoCategory,
    CargoUnit,
    CheckpointStatus,
    ConvoyOperation,
    ConvoyStatus,
    ReportKind,
    ReportSource,
    ViolationCategory,
)
from incidents.models import (
    CargoLine,
    CheckpointDetail,
    ConvoyDetail,
    CorroborationLink,
    Report,
    ViolationDetail,
)
from tests.factories import PostFactory, SettlementFactory, UserFactory
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
OCCURRED = datetime(2017, 6, 3, 11, 0, tzinfo=UTC)


def refused(instance) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        instance.save()


@pytest.fixture
def report_row(center, delegation):
    author = UserFactory()
    counter = iter(range(1, 1000))

    def make(**overrides) -> Report:
        now = timezone.now()
        values = dict(
            reference=f"{center.code}-20170603-{next(counter):04d}",
            kind=ReportKind.VIOLATION,
            center=center,
            latitude=35.9,
            longitude=36.6,
            occurred_at=OCCURRED,
            reported_at=now,
            updated_at=now,
            author=author,
            delegation=delegation,
            source=ReportSource.HEARD,
            narrative="Mortar fire heard to the north-east.",
        )
        return Report(**{**values, **overrides})

    return make


def test_report_rules(report_row):
    report = report_row()
    report.save()
    refused(report_row(reference=report.reference))  # unique per center
    refused(report_row(latitude=48.85, longitude=2.35))  # outside Syria
    refused(report_row(status="lost"))
    refused(report_row(kind="rumour"))
    refused(report_row(revision=0))


def test_casualty_estimates_keep_low_best_high_in_order(report_row):
    report = report_row()
    report.save()
    detail = ViolationDetail(
        report=report,
        category=ViolationCategory.SHELLING,
        civilians_killed_low=3,
        civilians_killed_best=2,
        civilians_killed_high=4,
    )
    refused(detail)
    detail.civilians_killed_low, detail.civilians_killed_best = 2, 3
    detail.combatants_injured_best, detail.combatants_injured_high = 5, 4
    refused(detail)
    detail.combatants_injured_high = 5
    detail.save()
    other = report_row()
    other.save()
    refused(ViolationDetail(report=other, category="earthquake"))


def test_a_blocked_convoy_says_why_and_cargo_is_not_over_delivered(report_row):
    report = report_row(kind=ReportKind.CONVOY)
    report.save()
    convoy = ConvoyDetail(
        report=report,
        operation=ConvoyOperation.ROAD_CONVOY,
        origin="Damascus",
        destination=SettlementFactory(),
        planned_at=OCCURRED,
        status=ConvoyStatus.BLOCKED,
    )
    refused(convoy)
    convoy.obstruction_reason = "Denied at the checkpoint: no facilitation letter."
    convoy.save()
    line = CargoLine(
        convoy=convoy,
        category=CargoCategory.FOOD,
        quantity=Decimal("10"),
        unit=CargoUnit.TONNES,
        delivered_quantity=Decimal("12"),
    )
    refused(line)
    refused(CargoLine(convoy=convoy, category="food", quantity=0, unit="tonnes"))


def test_a_checkpoint_period_ends_after_it_starts(report_row, zone):
    report = report_row(kind=ReportKind.CHECKPOINT)
    report.save()
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_civilians=True)
    refused(
        CheckpointDetail(
            report=report,
            checkpoint=checkpoint,
            period_start=OCCURRED,
            period_end=OCCURRED - timedelta(hours=1),
            status=CheckpointStatus.OPEN,
        )
    )


def test_a_corroboration_pair_is_stored_once_lower_id_first(report_row):
    first, second = report_row(), report_row()
    first.save()
    second.save()
    user = UserFactory()
    now = timezone.now()
    refused(CorroborationLink(report=second, other=first, created_by=user, created_at=now))
    refused(CorroborationLink(report=first, other=first, created_by=user, created_at=now))
    CorroborationLink(report=first, other=second, created_by=user, created_at=now).save()
    refused(CorroborationLink(report=first, other=second, created_by=user, created_at=now))

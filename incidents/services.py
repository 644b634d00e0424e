"""Every write to reports: filing, editing, the workflow's transitions.

Each function is keyword-only, runs in one transaction, validates (``full_clean`` plus the
database constraints), enforces who may do it, and writes its own audit entry and, for a
transition, a :class:`ReportTransition` row. Nothing is ever deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.choices import AuditEntryAction, ObserverRole
from monitoring.models import Observer
from monitoring.selectors import observer_for_user
from monitoring.services import audit_entry_create, record_diff, record_snapshot
from zones.classifier import classify_point
from zones.models import Post, Zone
from zones.selectors import zone_in_force, zone_list

from .choices import ReportKind, ReportStatus
from .models import (
    CheckpointDetail,
    CorroborationLink,
    Report,
    ReportCounter,
    ReportTransition,
    ViolationDetail,
)

S = ReportStatus

# Who may move a report from one status to another: "author" or "coordinator".
TRANSITIONS: dict[tuple[str, str], str] = {
    (S.DRAFT, S.SUBMITTED): "author",
    (S.RETURNED, S.SUBMITTED): "author",
    (S.DRAFT, S.RETRACTED): "author",
    (S.SUBMITTED, S.RETRACTED): "author",
    (S.RETURNED, S.RETRACTED): "author",
    (S.SUBMITTED, S.RETURNED): "coordinator",
    (S.SUBMITTED, S.VERIFIED): "coordinator",
    (S.SUBMITTED, S.DISPUTED): "coordinator",
    (S.SUBMITTED, S.REJECTED): "coordinator",
    (S.DISPUTED, S.VERIFIED): "coordinator",
    (S.DISPUTED, S.REJECTED): "coordinator",
    (S.DISPUTED, S.RETURNED): "coordinator",
}
EDITABLE = frozenset({S.DRAFT, S.RETURNED})
NEEDS_COMMENT = frozenset({S.RETURNED, S.DISPUTED, S.REJECTED, S.RETRACTED})


class StaleEditError(ValidationError):
    """The report changed since the editor loaded it; their edit is refused."""


def _observer(actor: AbstractBaseUser) -> Observer:
    observer = observer_for_user(actor)
    if observer is None:
        raise PermissionDenied("You need an active observer profile.")
    return observer


def report_reference_next(*, center, moment: datetime) -> str:
    """The next reference of the center's local day, e.g. ``AMC-20170712-0042``."""
    day = timezone.localtime(moment, ZoneInfo(center.time_zone)).date()
    with transaction.atomic():
        counter, _ = ReportCounter.objects.select_for_update().get_or_create(center=center, day=day)
        counter.last += 1
        counter.save(update_fields=["last"])
    return f"{center.code}-{day:%Y%m%d}-{counter.last:04d}"


def _classify(report: Report, *, zone_override: Zone | None, override_reason: str) -> None:
    """Zone and flags from the point at the moment it happened; an override needs a reason."""
    result = classify_point(
        latitude=report.latitude, longitude=report.longitude, at=report.occurred_at
    )
    report.classified_zone_id = result.zone_id
    report.in_security_area = result.in_security_area
    report.in_excluded_area = result.in_excluded_area
    if zone_override is not None and zone_override.pk != result.zone_id:
        if not override_reason.strip():
            raise ValidationError(
                {"zone_override_reason": "Say why the zone differs from the one the map gives."}
            )
        report.zone = zone_override
        report.zone_override_reason = override_reason.strip()
        report.zone_in_force = zone_in_force(
            zone_list().get(pk=zone_override.pk), report.occurred_at
        )
    else:
        report.zone_id = result.zone_id
        report.zone_override_reason = ""
        report.zone_in_force = result.zone_in_force


def _validate(report: Report) -> None:
    errors: dict[str, list[str]] = {}
    try:
        report.full_clean(exclude=["reference"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if report.occurred_at and report.occurred_at > timezone.now():
        errors.setdefault("occurred_at", []).append("A report cannot describe the future.")
    if errors:
        raise ValidationError(errors)


def _checkpoint_overlap_errors(report: Report, shift: CheckpointDetail) -> dict[str, str]:
    """One delegation's shifts at one checkpoint do not overlap (rejected and retracted
    reports aside)."""
    clash = (
        CheckpointDetail.objects.select_related("report")
        .filter(
            checkpoint_id=shift.checkpoint_id,
            report__delegation_id=report.delegation_id,
            period_start__lt=shift.period_end,
            period_end__gt=shift.period_start,
        )
        .exclude(report_id=report.pk)
        .exclude(report__status__in=(S.REJECTED, S.RETRACTED))
        .first()
    )
    if clash is None:
        return {}
    return {
        "period_start": (
            f"Your delegation's report {clash.report.reference} already covers "
            f"{timezone.localtime(clash.period_start):%Y-%m-%d %H:%M} to "
            f"{timezone.localtime(clash.period_end):%H:%M} at this checkpoint."
        )
    }


def _detail_save(report: Report, detail: Mapping[str, Any]) -> models.Model | None:
    """Validate and save the kind's own detail (violation or checkpoint shift)."""
    model = {ReportKind.VIOLATION: ViolationDetail, ReportKind.CHECKPOINT: CheckpointDetail}.get(
        report.kind
    )
    if model is None:
        if detail:
            raise ValidationError(
                {"kind": f"{report.get_kind_display()} details are not kept yet."}
            )
        return
    instance = model(report=report, **detail)
    errors: dict[str, list[str]] = {}
    try:
        instance.full_clean(exclude=["report"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if isinstance(instance, CheckpointDetail) and not errors:
        for field, message in _checkpoint_overlap_errors(report, instance).items():
            errors.setdefault(field, []).append(message)
    if errors:
        raise ValidationError(errors)
    instance.save()
    return instance


def report_create(
    *,
    actor: AbstractBaseUser,
    kind: str,
    values: Mapping[str, Any],
    detail: Mapping[str, Any] | None = None,
    zone_override: Zone | None = None,
    zone_override_reason: str = "",
) -> Report:
    """File a draft as ``actor`` (an observer): center and delegation come from the profile.

    ``detail`` holds the kind's own fields (a violation's category and casualties, a
    checkpoint shift's period and crossings); it is saved in the same transaction.
    """
    observer = _observer(actor)
    if observer.role not in (ObserverRole.OBSERVER, ObserverRole.COORDINATOR):
        raise PermissionDenied("Only observers and coordinators file reports.")
    if kind not in ReportKind.values:
        raise ValidationError({"kind": f"Unknown report kind {kind!r}."})
    now = timezone.now()
    report = Report(
        kind=kind,
        center=observer.center,
        author=actor,
        delegation=observer.delegation,
        reported_at=now,
        updated_at=now,
        status=S.DRAFT,
        **values,
    )
    with transaction.atomic():
        _validate(report)
        _classify(report, zone_override=zone_override, override_reason=zone_override_reason)
        report.reference = report_reference_next(center=observer.center, moment=now)
        report.save()
        changes = {key: [None, value] for key, value in record_snapshot(report).items()}
        if detail is not None:
            checkpoint = detail.get("checkpoint")
            if kind == ReportKind.CHECKPOINT and checkpoint is not None:
                # Serialize filings for one checkpoint, so two overlapping shifts filed at the
                # same moment cannot both pass the overlap check.
                Post.objects.select_for_update().filter(pk=checkpoint.pk).first()
            saved = _detail_save(report, detail)
            if saved is not None:
                changes.update(
                    {
                        f"{kind}.{key}": [None, value]
                        for key, value in record_snapshot(saved).items()
                    }
                )
        audit_entry_create(
            actor=actor, action=AuditEntryAction.CREATE, instance=report, changes=changes
        )
    return report


def _lock(report: Report, expected_revision: int | None) -> Report:
    current = Report.objects.select_for_update().get(pk=report.pk)
    if expected_revision is not None and current.revision != expected_revision:
        raise StaleEditError(
            f"{current.reference} was changed after you opened it (now revision "
            f"{current.revision}, yours {expected_revision}, last saved "
            f"{timezone.localtime(current.updated_at):%Y-%m-%d %H:%M}). Reload it and "
            "apply your change again.",
            code="stale",
        )
    return current


def report_update(
    *,
    report: Report,
    actor: AbstractBaseUser,
    expected_revision: int,
    values: Mapping[str, Any],
    zone_override: Zone | None = None,
    zone_override_reason: str = "",
) -> Report:
    """Edit a draft or returned report, by its author, refusing a stale copy."""
    with transaction.atomic():
        current = _lock(report, expected_revision)
        if current.author_id != actor.pk:
            raise PermissionDenied("Only the author edits a report.")
        if current.status not in EDITABLE:
            raise ValidationError(
                {"status": f"A {current.get_status_display().lower()} report cannot be edited."}
            )
        before = record_snapshot(current)
        for key, value in values.items():
            setattr(current, key, value)
        _validate(current)
        _classify(current, zone_override=zone_override, override_reason=zone_override_reason)
        changes = record_diff(before, record_snapshot(current))
        if not changes:
            return current
        current.revision += 1
        current.updated_at = timezone.now()
        current.save()
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.UPDATE,
            instance=current,
            changes=record_diff(before, record_snapshot(current)),
        )
    return current


def report_transition(
    *,
    report: Report,
    to_status: str,
    actor: AbstractBaseUser,
    comment: str = "",
    expected_revision: int | None = None,
) -> Report:
    """Move a report through the workflow if the rules allow this actor to."""
    with transaction.atomic():
        current = _lock(report, expected_revision)
        who = TRANSITIONS.get((current.status, to_status))
        if who is None:
            message = (
                f"A {current.get_status_display().lower()} report cannot become "
                f"{S(to_status).label.lower()}."
            )
            raise ValidationError({"status": ValidationError(message, code="illegal_transition")})
        observer = _observer(actor)
        if who == "author" and current.author_id != actor.pk:
            raise PermissionDenied("Only the author may do that.")
        if who == "coordinator":
            if observer.role != ObserverRole.COORDINATOR or observer.center_id != current.center_id:
                raise PermissionDenied("Only a coordinator of the report's center reviews it.")
            if current.author_id == actor.pk:
                raise PermissionDenied("Nobody reviews their own report.")
        if to_status in NEEDS_COMMENT and not comment.strip():
            raise ValidationError({"comment": "Say why."})
        if (
            to_status == S.VERIFIED
            and current.kind == ReportKind.VIOLATION
            and not comment.strip()
            and not CorroborationLink.objects.filter(Q(report=current) | Q(other=current)).exists()
        ):
            raise ValidationError(
                {"comment": "A violation is verified on corroboration or a coordinator's note."}
            )
        now = timezone.now()
        from_status = current.status
        current.status = to_status
        current.revision += 1
        current.updated_at = now
        if to_status == S.SUBMITTED and current.submitted_at is None:
            current.submitted_at = now
        current.save()
        ReportTransition.objects.create(
            report=current,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            at=now,
            comment=comment.strip(),
        )
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.TRANSITION,
            instance=current,
            changes={"status": [from_status, to_status]},
            comment=comment.strip(),
        )
    return current


def corroboration_link(
    *, report: Report, other: Report, actor: AbstractBaseUser, note: str = ""
) -> CorroborationLink:
    """Record that two reports describe the same event.

    Allowed to the author of either report and to the center's coordinators; both reports
    belong to the same center and kind, neither is a draft, rejected or retracted.
    """
    observer = _observer(actor)
    errors: dict[str, str] = {}
    if report.pk == other.pk:
        errors["other"] = "A report does not corroborate itself."
    elif report.center_id != other.center_id:
        errors["other"] = "Only reports of the same center are linked."
    elif report.kind != other.kind:
        errors["other"] = "Only reports of the same kind describe the same event."
    else:
        closed = {S.DRAFT, S.REJECTED, S.RETRACTED}
        if report.status in closed or other.status in closed:
            errors["other"] = "Drafts, rejected and retracted reports are not linked."
    if errors:
        raise ValidationError(errors)
    is_author = actor.pk in (report.author_id, other.author_id)
    is_coordinator = (
        observer.role == ObserverRole.COORDINATOR and observer.center_id == report.center_id
    )
    if not (is_author or is_coordinator):
        raise PermissionDenied("Only the reports' authors and the center's coordinators link them.")
    low, high = sorted((report, other), key=lambda r: r.pk)
    with transaction.atomic():
        if CorroborationLink.objects.filter(report=low, other=high).exists():
            raise ValidationError({"other": "These reports are already linked."})
        link = CorroborationLink.objects.create(
            report=low, other=high, created_by=actor, created_at=timezone.now(), note=note.strip()
        )
        for one, two in ((low, high), (high, low)):
            audit_entry_create(
                actor=actor,
                action=AuditEntryAction.LINK,
                instance=one,
                changes={"corroborated_by": [None, two.reference]},
                comment=note.strip(),
            )
    return link

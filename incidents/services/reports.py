"""Every write to reports: filing, editing, the workflow's transitions, corroboration links
and attachments.

Each function is keyword-only, runs in one transaction, validates (``full_clean`` plus the
database constraints) before it writes anything, enforces who may do it, and writes its own
audit entry and, for a transition, a :class:`ReportTransition` row. Nothing is ever deleted
(an edit of a draft replaces the rows of its detail; the audit entry keeps the old ones).

``at`` (default: now) is the moment the action is recorded: the report's ``reported_at``,
``updated_at`` and ``submitted_at``, a transition's time, a link's or attachment's creation
and the day of the reference number. Imports and demo data pass it; the pages never do.
"""

from __future__ import annotations

import hashlib
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image

from monitoring.choices import AuditEntryAction, ChangeRecordType, ObserverRole, PartyKind
from monitoring.models import Observer, Party
from monitoring.selectors import observer_for_user
from monitoring.services import audit_entry_create, changes_touch, record_diff, record_snapshot
from zones.classifier import classify_point
from zones.models import Post, Zone
from zones.selectors import zone_in_force, zone_list

from ..choices import ReportKind, ReportStatus
from ..models import (
    ACCESS_INCIDENT_FIELDS,
    CARGO_FIELDS,
    STAGE_FIELDS,
    AccessIncident,
    Attachment,
    CargoLine,
    CheckpointDetail,
    ConvoyDetail,
    ConvoyRouteStop,
    ConvoyStage,
    CorroborationLink,
    Report,
    ReportCounter,
    ReportTransition,
    ViolationDetail,
)
from ..models.report import attachment_path

S = ReportStatus
Errors = dict[str, list[str]]

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
# Who files reports (partners through a write-scoped API token: monitoring.permissions).
FILING_ROLES = frozenset({ObserverRole.OBSERVER, ObserverRole.COORDINATOR, ObserverRole.PARTNER})
NEEDS_COMMENT = frozenset({S.RETURNED, S.DISPUTED, S.REJECTED, S.RETRACTED})
# Closed reports: nothing more is attached to them.
CLOSED = frozenset({S.REJECTED, S.RETRACTED})
# The longest checkpoint shift one report covers.
SHIFT_MAX = timedelta(hours=24)


class StaleEditError(ValidationError):
    """The report changed since the editor loaded it; their edit is refused."""


def _observer(actor: AbstractBaseUser) -> Observer:
    observer = observer_for_user(actor)
    if observer is None:
        raise PermissionDenied("You need an active observer profile.")
    return observer


def _add(errors: Errors, key: str, message: str | Sequence[str]) -> None:
    messages = [message] if isinstance(message, str) else list(message)
    errors.setdefault(key, []).extend(messages)


def _moment(at: datetime | None) -> datetime:
    return timezone.now() if at is None else at


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


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


def _report_errors(
    report: Report,
    moment: datetime,
    *,
    zone_override: Zone | None,
    override_reason: str,
) -> Errors:
    """Everything wrong with the common fields; classifies the point when they are sound."""
    errors: Errors = {}
    try:
        report.full_clean(exclude=["reference"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    occurred = report.occurred_at
    if "occurred_at" not in errors and isinstance(occurred, datetime):
        if occurred > timezone.now():
            _add(errors, "occurred_at", "A report cannot describe the future.")
        elif occurred > moment:
            _add(
                errors,
                "occurred_at",
                f"It cannot have happened after it was reported ({_local(moment)}).",
            )
    if not errors:
        try:
            _classify(report, zone_override=zone_override, override_reason=override_reason)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    return errors


# --- The kinds' details ------------------------------------------------------------------


@dataclass(frozen=True)
class RowSpec:
    """A list of child rows of a detail (a convoy's cargo, a shift's access incidents)."""

    model: type[models.Model]
    parent: str  # the row's foreign key to the detail
    related_name: str  # the detail's reverse accessor
    fields: tuple[str, ...]  # what a row gives
    position: str | None = None  # a field numbered by the row's place in the list


@dataclass(frozen=True)
class DetailSpec:
    model: type[models.Model]
    m2m: tuple[str, ...] = ()
    rows: Mapping[str, RowSpec] = field(default_factory=dict)

    @property
    def scalar_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.model._meta.concrete_fields if f.name != "report")


DETAILS: dict[str, DetailSpec] = {
    ReportKind.VIOLATION: DetailSpec(ViolationDetail),
    ReportKind.CONVOY: DetailSpec(
        ConvoyDetail,
        m2m=("organizations",),
        rows={
            "cargo": RowSpec(
                CargoLine,
                "convoy",
                "cargo",
                CARGO_FIELDS,
            ),
            "route": RowSpec(
                ConvoyRouteStop, "convoy", "stops", ("post", "passed_at"), position="position"
            ),
            "stages": RowSpec(ConvoyStage, "convoy", "stages", STAGE_FIELDS),
        },
    ),
    ReportKind.CHECKPOINT: DetailSpec(
        CheckpointDetail,
        rows={
            "incidents": RowSpec(AccessIncident, "shift", "incidents", ACCESS_INCIDENT_FIELDS),
        },
    ),
}


@dataclass
class PendingDetail:
    """A validated, unsaved detail with its many-to-many values and child rows."""

    instance: models.Model
    m2m: dict[str, list[int]]
    rows: dict[str, list[models.Model]]


def _plain(instance: models.Model, skip: Sequence[str] = ()) -> dict[str, Any]:
    """A record's values as plain JSON data; decimals at their stored precision, so that
    ``Decimal("12.5")`` typed and ``12.500`` stored are the same value."""
    data = record_snapshot(instance)
    for f in instance._meta.concrete_fields:
        value = getattr(instance, f.attname)
        if isinstance(f, models.DecimalField) and isinstance(value, Decimal):
            data[f.attname] = format(value.quantize(Decimal(1).scaleb(-f.decimal_places)), "f")
    for name in skip:
        data.pop(name, None)
    return data


def _row_plain(spec: RowSpec, row: models.Model) -> dict[str, Any]:
    parent = row._meta.get_field(spec.parent).attname
    return _plain(row, skip=[parent, *([spec.position] if spec.position else [])])


def _pending_snapshot(spec: DetailSpec, pending: PendingDetail) -> dict[str, Any]:
    data = _plain(pending.instance)
    for name in spec.m2m:
        data[name] = sorted(pending.m2m[name])
    for key, row_spec in spec.rows.items():
        data[key] = [_row_plain(row_spec, row) for row in pending.rows[key]]
    return data


def _saved_snapshot(spec: DetailSpec, instance: models.Model | None) -> dict[str, Any]:
    if instance is None:
        return {}
    data = _plain(instance)
    for name in spec.m2m:
        data[name] = sorted(getattr(instance, name).values_list("pk", flat=True))
    for key, row_spec in spec.rows.items():
        rows = getattr(instance, row_spec.related_name).order_by(row_spec.position or "pk", "pk")
        data[key] = [_row_plain(row_spec, row) for row in rows]
    return data


def _detail_saved(report: Report) -> models.Model | None:
    spec = DETAILS[report.kind]
    return spec.model.objects.filter(report_id=report.pk).first() if report.pk else None


def _clean(instance: models.Model, exclude: Sequence[str], prefix: str, errors: Errors) -> None:
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            name = prefix.rstrip(".") if key == NON_FIELD_ERRORS else f"{prefix}{key}"
            _add(errors, name or key, messages)


def _build(
    model: type[models.Model],
    parent: Mapping[str, Any],
    values: Mapping[str, Any],
    prefix: str,
    errors: Errors,
) -> models.Model:
    """An unsaved record of ``values``, validated; a value of the wrong type for a related
    field (not a record of the right model) is an error on that field, not a crash."""
    instance = model(**parent)
    wrong = []
    for name, value in values.items():
        try:
            setattr(instance, name, value)
        except (TypeError, ValueError):
            _add(errors, f"{prefix}{name}", "Not a valid choice.")
            wrong.append(name)
    _clean(instance, [*parent, *wrong], prefix, errors)
    return instance


def _detail_build(
    report: Report, detail: Mapping[str, Any], moment: datetime
) -> tuple[PendingDetail, Errors]:
    """The kind's detail, validated in full (every row) before anything is saved.

    Errors are keyed by field (``category``, ``obstruction_reason``) and, for the rows of a
    list, by list, place and field (``cargo.0.quantity``, ``route.1.post``).
    """
    spec = DETAILS[report.kind]
    errors: Errors = {}
    allowed = {*spec.scalar_fields, *spec.m2m, *spec.rows}
    for key in detail:
        if key not in allowed:
            _add(errors, key, f"Not a field of a {report.get_kind_display().lower()} report.")
    instance = _build(
        spec.model,
        {"report": report},
        {k: v for k, v in detail.items() if k in spec.scalar_fields},
        "",
        errors,
    )

    m2m: dict[str, list[int]] = {}
    for name in spec.m2m:
        m2m[name] = [getattr(value, "pk", value) for value in detail.get(name) or []]

    rows: dict[str, list[models.Model]] = {}
    for key, row_spec in spec.rows.items():
        rows[key] = []
        for place, given in enumerate(detail.get(key) or []):
            prefix = f"{key}.{place}."
            if not isinstance(given, Mapping):
                _add(errors, f"{key}.{place}", "Each row is a set of fields.")
                continue
            for name in given:
                if name not in row_spec.fields:
                    _add(errors, f"{prefix}{name}", "Not a field of this row.")
            values = {k: v for k, v in given.items() if k in row_spec.fields}
            if row_spec.position:
                values[row_spec.position] = place
            rows[key].append(
                _build(row_spec.model, {row_spec.parent: instance}, values, prefix, errors)
            )

    pending = PendingDetail(instance=instance, m2m=m2m, rows=rows)
    if report.kind == ReportKind.CONVOY:
        _convoy_errors(pending, moment, errors)
    elif report.kind == ReportKind.CHECKPOINT:
        _checkpoint_errors(report, pending, moment, errors)
    return pending, errors


def _convoy_errors(pending: PendingDetail, moment: datetime, errors: Errors) -> None:
    """A convoy is run by humanitarian organizations, passes each checkpoint of its route
    once and in order, and its passages and stages have happened already."""
    ids = pending.m2m["organizations"]
    parties = Party.objects.in_bulk([pk for pk in ids if isinstance(pk, int)])
    if not ids:
        _add(errors, "organizations", "Name the organizations running the convoy.")
    for pk in ids:
        party = parties.get(pk)
        if party is None:
            _add(errors, "organizations", f"Unknown organization {pk!r}.")
        elif party.kind != PartyKind.HUMANITARIAN_ORG:
            _add(errors, "organizations", f"{party} is not a humanitarian organization.")

    seen: dict[int, int] = {}
    previous: datetime | None = None
    for place, stop in enumerate(pending.rows["route"]):
        if stop.post_id in seen:
            _add(
                errors,
                f"route.{place}.post",
                f"{stop.post} is already stop {seen[stop.post_id] + 1} of the route.",
            )
        elif stop.post_id is not None:
            seen[stop.post_id] = place
        passed = stop.passed_at
        if not isinstance(passed, datetime) or f"route.{place}.passed_at" in errors:
            continue
        if passed > moment:
            _add(errors, f"route.{place}.passed_at", "The convoy has not passed it yet.")
        elif previous is not None and passed < previous:
            _add(
                errors,
                f"route.{place}.passed_at",
                f"Passed before the previous checkpoint of the route ({_local(previous)}).",
            )
        previous = passed

    for place, stage in enumerate(pending.rows["stages"]):
        if isinstance(stage.at, datetime) and stage.at > moment:
            _add(errors, f"stages.{place}.at", "A stage's time cannot be in the future.")


def _checkpoint_errors(
    report: Report, pending: PendingDetail, moment: datetime, errors: Errors
) -> None:
    """A shift has begun, lasts at most a day, and does not overlap another shift of the
    same delegation at the same checkpoint."""
    shift = pending.instance
    if {"period_start", "period_end", "checkpoint"} & set(errors):
        return
    assert isinstance(shift, CheckpointDetail)
    if shift.period_start > moment:
        _add(errors, "period_start", "The shift has not begun yet.")
    if shift.period_end - shift.period_start > SHIFT_MAX:
        _add(errors, "period_end", "One report covers a shift of at most 24 hours.")
    for key, message in _checkpoint_overlap_errors(report, shift).items():
        _add(errors, key, message)


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
            f"{_local(clash.period_start)} to "
            f"{timezone.localtime(clash.period_end):%H:%M} at this checkpoint."
        )
    }


def _lock_checkpoint(report: Report, detail: Mapping[str, Any] | None) -> None:
    """Serialize filings for one checkpoint, so two overlapping shifts filed at the same
    moment cannot both pass the overlap check.

    FOR NO KEY UPDATE, not FOR UPDATE: the latter also blocks the foreign-key checks of any
    other report pointing at the post, which deadlocked with filings holding the day's
    report counter (tests/incidents/test_api_concurrency.py)."""
    checkpoint = (detail or {}).get("checkpoint")
    if report.kind == ReportKind.CHECKPOINT and isinstance(checkpoint, Post):
        Post.objects.select_for_update(no_key=True).filter(pk=checkpoint.pk).first()


def _detail_write(
    spec: DetailSpec, pending: PendingDetail, *, rows_changed: Sequence[str]
) -> models.Model:
    """Save a validated detail; the lists in ``rows_changed`` replace the stored rows."""
    instance = pending.instance
    instance.save()
    for name in spec.m2m:
        getattr(instance, name).set(pending.m2m[name])
    for key in rows_changed:
        row_spec = spec.rows[key]
        row_spec.model.objects.filter(**{row_spec.parent: instance}).delete()
        for row in pending.rows[key]:
            setattr(row, row_spec.parent, instance)
            row.save()
    return instance


def _prefixed(kind: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{kind}.{key}": value for key, value in changes.items()}


# --- Filing and editing --------------------------------------------------------------------


def report_create(
    *,
    actor: AbstractBaseUser,
    kind: str,
    values: Mapping[str, Any],
    detail: Mapping[str, Any] | None = None,
    zone_override: Zone | None = None,
    zone_override_reason: str = "",
    at: datetime | None = None,
) -> Report:
    """File a draft as ``actor`` (an observer): center and delegation come from the profile.

    ``detail`` holds the kind's own fields (a violation's category and casualties; a
    convoy's organizations, cargo, route and stages; a checkpoint shift's period, crossings
    and access incidents). Everything is validated first, every error reported at once, and
    saved in one transaction with one audit entry.
    """
    observer = _observer(actor)
    if observer.role not in FILING_ROLES:
        raise PermissionDenied("Only observers, coordinators and partners file reports.")
    if kind not in ReportKind.values:
        raise ValidationError({"kind": f"Unknown report kind {kind!r}."})
    moment = _moment(at)
    report = Report(
        kind=kind,
        center=observer.center,
        author=actor,
        delegation=observer.delegation,
        reported_at=moment,
        updated_at=moment,
        status=S.DRAFT,
        **values,
    )
    spec = DETAILS[kind]
    with transaction.atomic():
        errors = _report_errors(
            report, moment, zone_override=zone_override, override_reason=zone_override_reason
        )
        pending = None
        if detail is not None:
            _lock_checkpoint(report, detail)
            pending, detail_errors = _detail_build(report, detail, moment)
            for key, messages in detail_errors.items():
                _add(errors, key, messages)
        if errors:
            raise ValidationError(errors)
        report.reference = report_reference_next(center=observer.center, moment=moment)
        report.save()
        changes = {key: [None, value] for key, value in record_snapshot(report).items()}
        if pending is not None:
            _detail_write(spec, pending, rows_changed=list(spec.rows))
            after = _pending_snapshot(spec, pending)
            changes.update(_prefixed(kind, {key: [None, v] for key, v in after.items()}))
        audit_entry_create(
            actor=actor, action=AuditEntryAction.CREATE, instance=report, changes=changes
        )
        _report_changed(report, report.occurred_at)
    return report


def report_shared(report: Report) -> bool:
    """Whether partners see the report (settings.PARTNER_REPORT_STATUSES)."""
    return report.status in settings.PARTNER_REPORT_STATUSES


def reports_feed_touch(reports: Iterable[Report]) -> None:
    """Tell the change feed the reports changed (in the caller's transaction)."""
    changes_touch(
        records=[
            (ChangeRecordType.REPORT, report.uuid, report.center_id, report_shared(report))
            for report in reports
        ]
    )


def _report_changed(report: Report, *moments: datetime | None) -> None:
    """The report is new in the change feed, and the daily summaries of the days it occurred
    on (before and after a change), if compiled, are stale now and are recompiled after the
    commit."""
    from .summaries import summaries_touch

    reports_feed_touch([report])
    if report.status == S.DRAFT:  # a draft counts nowhere yet
        return
    summaries_touch(center=report.center, moments=moments)


def _lock(report: Report, expected_revision: int | None) -> Report:
    current = Report.objects.select_for_update().get(pk=report.pk)
    if expected_revision is not None and current.revision != expected_revision:
        raise StaleEditError(
            f"{current.reference} was changed after you opened it (now revision "
            f"{current.revision}, yours {expected_revision}, last saved "
            f"{_local(current.updated_at)}). Reload it and apply your change again.",
            code="stale",
        )
    return current


def report_update(
    *,
    report: Report,
    actor: AbstractBaseUser,
    expected_revision: int,
    values: Mapping[str, Any],
    detail: Mapping[str, Any] | None = None,
    zone_override: Zone | None = None,
    zone_override_reason: str = "",
    at: datetime | None = None,
) -> Report:
    """Edit a draft or returned report, by its author, refusing a stale copy.

    ``detail``, when given, is the kind's whole detail as :func:`report_create` takes it: it
    replaces the stored fields and child rows (left-out fields take their defaults, left-out
    lists are emptied). One audit entry holds before and after of every changed field,
    detail fields as ``violation.category``, ``convoy.cargo``. No change, no write.
    """
    moment = _moment(at)
    spec = DETAILS[report.kind]
    with transaction.atomic():
        current = _lock(report, expected_revision)
        if current.author_id != actor.pk:
            raise PermissionDenied("Only the author edits a report.")
        if current.status not in EDITABLE:
            raise ValidationError(
                {"status": f"A {current.get_status_display().lower()} report cannot be edited."}
            )
        before = record_snapshot(current)
        before_occurred = current.occurred_at
        for key, value in values.items():
            setattr(current, key, value)
        errors = _report_errors(
            current, moment, zone_override=zone_override, override_reason=zone_override_reason
        )
        pending = None
        if detail is not None:
            _lock_checkpoint(current, detail)
            pending, detail_errors = _detail_build(current, detail, moment)
            for key, messages in detail_errors.items():
                _add(errors, key, messages)
        if errors:
            raise ValidationError(errors)
        changes = record_diff(before, record_snapshot(current))
        detail_changes: dict[str, list[Any]] = {}
        if pending is not None:
            saved = _detail_saved(current)
            detail_before = _saved_snapshot(spec, saved)
            detail_after = _pending_snapshot(spec, pending)
            if saved is None:
                detail_changes = {key: [None, v] for key, v in detail_after.items()}
            else:
                detail_changes = record_diff(detail_before, detail_after)
        if not changes and not detail_changes:
            return current
        current.revision += 1
        current.updated_at = moment
        current.save()
        if detail_changes:
            assert pending is not None
            rows_changed = [key for key in spec.rows if key in detail_changes]
            _detail_write(spec, pending, rows_changed=rows_changed)
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.UPDATE,
            instance=current,
            changes={
                **record_diff(before, record_snapshot(current)),
                **_prefixed(current.kind, detail_changes),
            },
        )
        _report_changed(current, before_occurred, current.occurred_at)
    return current


# --- Reclassification ---------------------------------------------------------------------


def report_reclassify(*, report: Report, actor: AbstractBaseUser | None, comment: str = "") -> bool:
    """Re-check a report's zone and flags against the zone lines, terms and areas now known.

    An observer's override is kept (its zone's "in force" re-checked). A report that changes
    gets a new revision and an audit entry; one already right is not touched. Returns
    whether it changed.
    """
    with transaction.atomic():
        current = _lock(report, None)
        before = record_snapshot(current)
        override = current.zone if current.zone_override_reason else None
        _classify(current, zone_override=override, override_reason=current.zone_override_reason)
        changes = record_diff(before, record_snapshot(current))
        if not changes:
            return False
        current.revision += 1
        current.updated_at = timezone.now()
        current.save()
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.UPDATE,
            instance=current,
            changes=record_diff(before, record_snapshot(current)),
            comment=comment or "Zone and flags re-checked against the current zone lines.",
        )
        _report_changed(current, current.occurred_at)
    return True


def reports_reclassify(
    *,
    since: datetime | None,
    actor: AbstractBaseUser | None,
    progress: Callable[[str], Any] | None = None,
    batch: int = 1000,
) -> tuple[int, int]:
    """Re-check every report that occurred from ``since`` (``None``: all); returns
    ``(checked, changed)``. Safe to run twice: the second run changes nothing."""
    reports = Report.objects.order_by("pk")
    if since is not None:
        reports = reports.filter(occurred_at__gte=since)
    checked = changed = 0
    for report in reports.iterator(chunk_size=batch):
        checked += 1
        # Read first, write only what changes: a report already right costs no lock, no
        # transaction (after a change of lines most reports stay as they were).
        before = record_snapshot(report)
        override = report.zone if report.zone_override_reason else None
        _classify(report, zone_override=override, override_reason=report.zone_override_reason)
        if not record_diff(before, record_snapshot(report)):
            continue
        if report_reclassify(report=report, actor=actor):
            changed += 1
        if progress is not None and checked % batch == 0:
            progress(f"{checked:,} reports checked, {changed:,} changed")
    return checked, changed


# --- The workflow --------------------------------------------------------------------------


def report_transition(
    *,
    report: Report,
    to_status: str,
    actor: AbstractBaseUser,
    comment: str = "",
    expected_revision: int | None = None,
    at: datetime | None = None,
) -> Report:
    """Move a report through the workflow if the rules allow this actor to."""
    moment = _moment(at)
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
        from_status = current.status
        current.status = to_status
        current.revision += 1
        current.updated_at = moment
        if to_status == S.SUBMITTED and current.submitted_at is None:
            current.submitted_at = moment
        current.save()
        ReportTransition.objects.create(
            report=current,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            at=moment,
            comment=comment.strip(),
        )
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.TRANSITION,
            instance=current,
            changes={"status": [from_status, to_status]},
            comment=comment.strip(),
            at=moment,
        )
        _report_changed(current, current.occurred_at)
    return current


def corroboration_link(
    *,
    report: Report,
    other: Report,
    actor: AbstractBaseUser,
    note: str = "",
    at: datetime | None = None,
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
    # An author links only to reports they may see: another delegation's unreviewed report
    # is the coordinators' to link (that is how a joint confirmation is usually made).
    from ..selectors import report_visible

    if not (report_visible(user=actor, report=report) and report_visible(user=actor, report=other)):
        raise PermissionDenied(
            "You may link only reports you can see; ask a coordinator to link this one."
        )
    low, high = sorted((report, other), key=lambda r: r.pk)
    with transaction.atomic():
        if CorroborationLink.objects.filter(report=low, other=high).exists():
            raise ValidationError({"other": "These reports are already linked."})
        link = CorroborationLink.objects.create(
            report=low, other=high, created_by=actor, created_at=_moment(at), note=note.strip()
        )
        for one, two in ((low, high), (high, low)):
            audit_entry_create(
                actor=actor,
                action=AuditEntryAction.LINK,
                instance=one,
                changes={"corroborated_by": [None, two.reference]},
                comment=note.strip(),
            )
        _report_changed(low, low.occurred_at)  # joint confirmations are notable
        _report_changed(high, high.occurred_at)
    return link


# --- Attachments ---------------------------------------------------------------------------

# What each accepted type is called in messages.
ATTACHMENT_TYPE_LABELS = {
    "image/jpeg": "JPEG photo",
    "image/png": "PNG image",
    "image/webp": "WebP image",
    "application/pdf": "PDF document",
}
_PILLOW_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def attachment_name_clean(name: str) -> str:
    """The uploaded name as harmless metadata: no folders, no control or direction-changing
    characters, at most 255 characters (the extension kept). Never used as a path."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    name = " ".join(name.split())
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = f"{stem[: 254 - len(extension)]}.{extension}"
        else:
            name = name[:255]
    return name or "attachment"


def attachment_content_type(upload: UploadedFile) -> str | None:
    """The file's type as its content shows it (never its name or the browser's word): a
    PDF by its ``%PDF-`` header, a JPEG, PNG or WebP image by Pillow decoding it in full.
    ``None`` for anything else, or a damaged or oversized image."""
    upload.seek(0)
    head = upload.read(5)
    upload.seek(0)
    if head == b"%PDF-":
        return "application/pdf"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload, formats=list(_PILLOW_TYPES)) as image:
                found = image.format
                image.verify()
            upload.seek(0)
            with Image.open(upload, formats=list(_PILLOW_TYPES)) as image:
                image.load()  # a truncated or corrupt image fails here
    except Exception:  # any failure to decode untrusted bytes means "not an image"
        return None
    finally:
        upload.seek(0)
    return _PILLOW_TYPES.get(found or "")


def _may_attach(observer: Observer, actor: AbstractBaseUser, report: Report) -> bool:
    """The author; the center's coordinators, on the reports they see (not others' drafts)."""
    if report.author_id == actor.pk:
        return True
    return (
        observer.role == ObserverRole.COORDINATOR
        and observer.center_id == report.center_id
        and report.status != S.DRAFT
    )


def attachment_add(
    *,
    report: Report,
    actor: AbstractBaseUser,
    upload: UploadedFile,
    at: datetime | None = None,
) -> Attachment:
    """Attach a photo (JPEG, PNG, WebP) or a PDF document to a report.

    Allowed to the author and to the center's coordinators (on the reports they see);
    rejected and retracted reports are closed. The type is decided by the content, the size
    capped at ``settings.ATTACHMENT_MAX_BYTES``, the SHA-256 kept (the same file twice on
    one report is refused), and the file stored as ``attachments/<report uuid>/<sha256>.<ext>``:
    the uploaded name is kept as metadata only. Errors are keyed ``file``.
    """
    observer = _observer(actor)
    moment = _moment(at)
    name = attachment_name_clean(upload.name or "")
    limit = settings.ATTACHMENT_MAX_BYTES
    with transaction.atomic():
        current = _lock(report, None)
        if not _may_attach(observer, actor, current):
            raise PermissionDenied(
                "Only the report's author and its center's coordinators attach files."
            )
        if current.status in CLOSED:
            raise ValidationError(
                {
                    "file": f"A {current.get_status_display().lower()} report is closed: "
                    "nothing more is attached to it."
                }
            )
        if upload.size is not None and upload.size > limit:
            raise ValidationError(
                {"file": f"{name} is {_megabytes(upload.size)}; the limit is {_megabytes(limit)}."}
            )
        digest = hashlib.sha256()
        size = 0
        upload.seek(0)
        for chunk in upload.chunks():
            size += len(chunk)
            if size > limit:
                raise ValidationError(
                    {"file": f"{name} is larger than the limit of {_megabytes(limit)}."}
                )
            digest.update(chunk)
        if size == 0:
            raise ValidationError({"file": f"{name} is empty."})
        sha256 = digest.hexdigest()
        content_type = attachment_content_type(upload)
        allowed = [t for t in settings.ATTACHMENT_CONTENT_TYPES if t in ATTACHMENT_TYPE_LABELS]
        if content_type not in allowed:
            kinds = ", ".join(ATTACHMENT_TYPE_LABELS[t] for t in allowed)
            raise ValidationError(
                {
                    "file": f"{name} is not an accepted file ({kinds}); its content was "
                    "checked, not its name."
                }
            )
        twin = Attachment.objects.filter(report=current, sha256=sha256).first()
        if twin is not None:
            raise ValidationError(
                {
                    "file": f"This file is already attached to {current.reference} "
                    f"(as {twin.original_name}, {_local(twin.uploaded_at)})."
                }
            )
        attachment = Attachment(
            report=current,
            original_name=name,
            content_type=content_type,
            size=size,
            sha256=sha256,
            uploaded_by=actor,
            uploaded_at=moment,
        )
        path = attachment_path(attachment, "")
        storage = attachment.file.storage
        written = None
        if storage.exists(path):
            # Named by its hash: a file left there by an earlier, failed attempt is this one.
            attachment.file.name = path
        else:
            upload.seek(0)
            written = storage.save(path, upload)
            attachment.file.name = written
        try:
            attachment.full_clean()
            attachment.save()
            audit_entry_create(
                actor=actor,
                action=AuditEntryAction.ATTACH,
                instance=current,
                changes={
                    "attachment.name": [None, name],
                    "attachment.size": [None, size],
                    "attachment.sha256": [None, sha256],
                    "attachment.content_type": [None, content_type],
                },
            )
            reports_feed_touch([current])
        except BaseException:
            if written is not None:
                storage.delete(written)
            raise
    return attachment

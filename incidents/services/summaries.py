"""Every write to the daily summaries: compiling a center's reporting day into a version,
publishing a version into the center's hash chain, and marking summaries stale when a
report of their day changes.

- One summary per center and day, enforced by the database (a unique constraint); a
  compilation holds the summary's row lock, so two workers compiling the same day at once
  give one result, and the second finds the content unchanged and writes nothing.
- Compiling twice gives the same content; a compilation whose content equals the latest
  version's writes no new version. A published version never changes: a recompilation
  after publication is a new draft version, shown against the published one.
- A published version stores the SHA-256 of its canonical content and is chained to the
  center's previous published version (``chain_sha256`` hashes the previous link, the
  content hash and the version's identity); :func:`summaries_verify` walks the chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from monitoring.choices import AuditEntryAction, ChangeRecordType, ObserverRole
from monitoring.models import MonitoringCenter
from monitoring.selectors import observer_for_user
from monitoring.services import audit_entry_create, changes_touch

from ..choices import SummaryVersionStatus
from ..models import DailySummary, SummaryVersion
from ..selectors.summaries import (
    canonical_json,
    reporting_day,
    reporting_period,
    sha256_hex,
    summary_content,
)

V = SummaryVersionStatus
GENESIS = "0" * 64


def summary_get_or_create(*, center: MonitoringCenter, day: date) -> DailySummary:
    """The summary row of ``center``'s ``day``; concurrent callers get the same row."""
    summary = DailySummary.objects.filter(center=center, day=day).first()
    if summary is not None:
        return summary
    start, end = reporting_period(center, day)
    try:
        with transaction.atomic():
            summary = DailySummary.objects.create(
                center=center,
                day=day,
                period_start=start,
                period_end=end,
                stale=True,
                created_at=timezone.now(),
            )
            summaries_feed_touch([summary.pk])
            return summary
    except IntegrityError:  # another worker created it first
        return DailySummary.objects.get(center=center, day=day)


def summaries_feed_touch(summary_ids: Iterable[int]) -> None:
    """Tell the change feed the summaries changed; partners see those with a published
    version."""
    published = SummaryVersion.objects.filter(summary=OuterRef("pk"), status=V.PUBLISHED)
    rows = (
        DailySummary.objects.filter(pk__in=list(summary_ids))
        .annotate(published=Exists(published))
        .values_list("pk", "center_id", "published")
    )
    changes_touch(
        records=[
            (ChangeRecordType.SUMMARY, pk, center_id, shared) for pk, center_id, shared in rows
        ]
    )


def _latest(summary: DailySummary) -> SummaryVersion | None:
    return summary.versions.exclude(status=V.SUPERSEDED).order_by("-number").first()


def summary_compile(
    *, center: MonitoringCenter, day: date, actor: AbstractBaseUser | None = None
) -> SummaryVersion:
    """Compile ``center``'s reporting ``day``; returns the version that now holds it (a new
    draft, or the latest version when the content has not changed)."""
    summary = summary_get_or_create(center=center, day=day)
    with transaction.atomic():
        summary = DailySummary.objects.select_for_update().get(pk=summary.pk)
        content, sources = summary_content(center=center, day=day)
        digest = sha256_hex(canonical_json(content))
        latest = _latest(summary)
        now = timezone.now()
        summary.stale = False
        summary.stale_since = None
        summary.compiled_at = now
        summary.save(update_fields=["stale", "stale_since", "compiled_at"])
        summaries_feed_touch([summary.pk])
        if latest is not None and latest.content_sha256 == digest:
            return latest
        number = (summary.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        superseded = summary.versions.filter(status=V.DRAFT)
        for draft in superseded:
            draft.status = V.SUPERSEDED
            draft.save(update_fields=["status"])
        version = SummaryVersion.objects.create(
            summary=summary,
            number=number,
            status=V.DRAFT,
            content=content,
            content_sha256=digest,
            sources=sources,
            compiled_at=now,
            compiled_by=actor,
        )
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.CREATE,
            instance=version,
            changes={
                "number": [None, number],
                "content_sha256": [latest.content_sha256 if latest else None, digest],
                "reports": [
                    latest.content.get("source_count") if latest else None,
                    content["source_count"],
                ],
            },
        )
        # The next day's running totals start from this day's: it is stale now.
        if latest is not None:
            _mark_stale(center_id=center.pk, days=[day + timedelta(days=1)], at=now)
    return version


def _coordinator_of(actor: AbstractBaseUser, center: MonitoringCenter) -> None:
    observer = observer_for_user(actor)
    if (
        observer is None
        or observer.role != ObserverRole.COORDINATOR
        or observer.center_id != center.pk
    ):
        raise PermissionDenied("Only a coordinator of the summary's center publishes it.")


def chain_hash(*, previous: str, version: SummaryVersion) -> str:
    """The link of a published version: the previous link, its content hash, its identity."""
    return sha256_hex(
        canonical_json(
            {
                "previous": previous,
                "center": version.summary.center.code,
                "day": version.summary.day.isoformat(),
                "number": version.number,
                "content_sha256": version.content_sha256,
                "published_at": version.published_at.isoformat(),
            }
        )
    )


def summary_publish(
    *, version: SummaryVersion, actor: AbstractBaseUser, comment: str = ""
) -> SummaryVersion:
    """Approve and publish a draft version (a coordinator of the center); it joins the
    center's chain and never changes again."""
    center = version.summary.center
    _coordinator_of(actor, center)
    with transaction.atomic():
        MonitoringCenter.objects.select_for_update(no_key=True).filter(pk=center.pk).first()
        current = (
            SummaryVersion.objects.select_for_update()
            .select_related("summary__center")
            .get(pk=version.pk)
        )
        if current.status != V.DRAFT:
            raise ValidationError(
                {
                    "status": f"Version {current.number} is "
                    f"{current.get_status_display().lower()}; only a draft is published."
                }
            )
        if current.summary.stale:
            raise ValidationError(
                {
                    "status": "Reports of this day changed since it was compiled: "
                    "recompile, review, then publish."
                }
            )
        last = (
            SummaryVersion.objects.filter(chain_center=center, status=V.PUBLISHED)
            .order_by("-chain_index")
            .values_list("chain_index", "chain_sha256")
            .first()
        )
        index, previous = (last[0] + 1, last[1]) if last else (1, GENESIS)
        current.status = V.PUBLISHED
        current.published_at = timezone.now()
        current.published_by = actor
        current.chain_center = center
        current.chain_index = index
        current.previous_sha256 = previous
        current.chain_sha256 = chain_hash(previous=previous, version=current)
        current.save()
        summaries_feed_touch([current.summary_id])
        audit_entry_create(
            actor=actor,
            action=AuditEntryAction.TRANSITION,
            instance=current,
            changes={
                "status": [V.DRAFT, V.PUBLISHED],
                "chain_sha256": [None, current.chain_sha256],
            },
            comment=comment.strip(),
        )
    return current


# --- Staleness -------------------------------------------------------------------------------


def _mark_stale(*, center_id: int, days: Iterable[date], at: datetime) -> list[int]:
    # Under the rows' locks, not by a filter on ``stale``: a compilation holds its summary's
    # lock from reading the day's reports until it commits ``stale=False``. A filing that
    # only read the committed flag (False) while such a compilation ran marked nothing and
    # its report stayed out of the summary for good (found by `make faults`); now it waits
    # for the compilation and marks the result stale.
    rows = (
        DailySummary.objects.select_for_update()
        .filter(center_id=center_id, day__in=set(days))
        .order_by("day")
        .values_list("pk", "stale")
    )
    ids = [pk for pk, stale in rows if not stale]
    if ids:
        DailySummary.objects.filter(pk__in=ids).update(stale=True, stale_since=at)
        summaries_feed_touch(ids)
        transaction.on_commit(lambda: _enqueue_compiles(ids))
    return ids


def _enqueue_compiles(summary_ids: list[int]) -> None:
    from monitoring.queueing import enqueue_quietly

    from ..tasks import summary_compile_task

    for pk in summary_ids:
        if not enqueue_quietly(summary_compile_task, summary_id=pk):
            break  # the broker is away: the sweep compiles every stale summary later


def summaries_touch(*, center: MonitoringCenter, moments: Iterable[datetime | None]) -> list[int]:
    """A report that occurred at ``moments`` (before and after an edit) was filed or changed:
    the summaries of those days, if compiled, are stale and are recompiled after commit."""
    days = {reporting_day(center, m) for m in moments if m is not None}
    return _mark_stale(center_id=center.pk, days=days, at=timezone.now())


# --- Verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainProblem:
    version: SummaryVersion
    problem: str

    def __str__(self) -> str:
        v = self.version
        where = f"{v.summary.center.code} {v.summary.day} v{v.number}"
        return f"{where} (chain #{v.chain_index}): {self.problem}"


def summaries_verify(*, center: MonitoringCenter | None = None) -> tuple[int, list[ChainProblem]]:
    """Walk every center's chain of published versions; returns (versions checked, problems).

    A version whose stored content no longer hashes to its ``content_sha256``, whose link
    does not follow from the previous one, or whose chain has a gap, is named.
    """
    centers = [center] if center is not None else list(MonitoringCenter.objects.order_by("code"))
    checked, problems = 0, []
    for one in centers:
        previous, expected_index = GENESIS, 1
        versions = (
            SummaryVersion.objects.filter(chain_center=one, status=V.PUBLISHED)
            .select_related("summary__center")
            .order_by("chain_index")
        )
        for version in versions.iterator(chunk_size=200):
            checked += 1
            if version.chain_index != expected_index:
                problems.append(ChainProblem(version, f"chain gap: expected #{expected_index}"))
            if sha256_hex(canonical_json(version.content)) != version.content_sha256:
                problems.append(ChainProblem(version, "stored content does not match its SHA-256"))
            if sha256_hex(canonical_json(version.sources)) != version.content.get("sources_sha256"):
                problems.append(ChainProblem(version, "stored report revisions do not match"))
            if version.previous_sha256 != previous:
                problems.append(
                    ChainProblem(version, "does not link to the previous published version")
                )
            if (
                chain_hash(previous=version.previous_sha256, version=version)
                != version.chain_sha256
            ):
                problems.append(ChainProblem(version, "chain hash does not match the version"))
            previous, expected_index = version.chain_sha256, version.chain_index + 1
    return checked, problems


# --- The sweep -------------------------------------------------------------------------------

SWEEP_DAYS = 14
CUTOFF_GRACE = timedelta(minutes=5)


def summaries_due(
    *, now: datetime | None = None, days: int = SWEEP_DAYS
) -> list[tuple[MonitoringCenter, date]]:
    """What should be compiled now: for each center, every stale summary, the last closed
    reporting day (once its cut-off is ``CUTOFF_GRACE`` behind), and any recent day that
    holds reports but has no summary (a broker outage, a late report)."""
    from ..selectors.summaries import summary_days_with_reports

    now = now or timezone.now()
    due: dict[tuple[int, date], tuple[MonitoringCenter, date]] = {}
    for center in MonitoringCenter.objects.order_by("code"):
        closed = reporting_day(center, now - CUTOFF_GRACE) - timedelta(days=1)
        first = closed - timedelta(days=days - 1)
        existing = set(
            DailySummary.objects.filter(
                center=center, day__gte=first, day__lte=closed, stale=False
            ).values_list("day", flat=True)
        )
        wanted = {closed}
        wanted |= summary_days_with_reports(
            center, reporting_period(center, first)[0], reporting_period(center, closed)[1]
        )
        for day in sorted(wanted - existing):
            due[(center.pk, day)] = (center, day)
        for day in DailySummary.objects.filter(center=center, stale=True).values_list(
            "day", flat=True
        ):
            due[(center.pk, day)] = (center, day)
    return [due[key] for key in sorted(due, key=lambda k: (k[1], k[0]))]


def summaries_compile_due(*, now: datetime | None = None, log=None) -> int:
    """Compile everything :func:`summaries_due` lists, oldest day first (running totals
    build on the day before); returns how many compilations ran."""
    count = 0
    for center, day in summaries_due(now=now):
        summary_compile(center=center, day=day)
        count += 1
        if log is not None:
            log(f"compiled {center.code} {day}")
    return count

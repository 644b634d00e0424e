"""Reads behind the daily summaries: a center's reporting days, and what the summary of one
day holds, computed from that day's reports only (so compiling a day costs what the day
holds, not what the database holds).

A center's reporting day ``D`` is its local day ending at its cut-off time: with a
cut-off of 00:00 it runs from ``D 00:00`` to ``D+1 00:00`` local time; with 18:00, from
``D-1 18:00`` to ``D 18:00``. Bounds are taken in the center's own time zone, so a day
with a daylight-saving switch lasts 23 or 25 hours; a report belongs to the day whose
bounds hold its ``occurred_at`` (start included, end excluded).

Counted reports: submitted, returned, verified and disputed. Drafts are not filed yet;
rejected and retracted reports never count.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from monitoring.choices import ObserverRole
from monitoring.models import MonitoringCenter
from monitoring.selectors import observer_for_user

from ..choices import (
    CheckpointStatus,
    ConvoyStatus,
    ReportKind,
    ReportStatus,
    SummaryVersionStatus,
    ViolationCategory,
)
from ..models import (
    AccessIncident,
    CargoLine,
    CheckpointDetail,
    ConvoyDetail,
    CorroborationLink,
    DailySummary,
    Report,
    SummaryVersion,
    ViolationDetail,
)
from ..models.details import CASUALTY_GROUPS, CROSSING_FIELDS

S = ReportStatus
V = SummaryVersionStatus
COUNTED = (S.SUBMITTED, S.RETURNED, S.VERIFIED, S.DISPUTED)
AWAITING_REVIEW = (S.SUBMITTED, S.DISPUTED)
# How a counted report's status is counted: confirmed, reported (not yet reviewed), disputed.
BUCKET = {
    S.VERIFIED: "confirmed",
    S.SUBMITTED: "reported",
    S.RETURNED: "reported",
    S.DISPUTED: "disputed",
}
BUCKETS = ("confirmed", "reported", "disputed")
AIR = (ViolationCategory.AIR_STRIKE, ViolationCategory.MILITARY_FLIGHT)
NOTABLE_LIMIT = 25
CONTENT_FORMAT = 1


# --- Reporting days --------------------------------------------------------------------------


def _cutoff(center: MonitoringCenter) -> time:
    return center.reporting_day_cutoff or time(0, 0)


def reporting_period(center: MonitoringCenter, day: date) -> tuple[datetime, datetime]:
    """The UTC bounds ``[start, end)`` of the center's reporting day ``day``."""
    zone = ZoneInfo(center.time_zone)
    cutoff = _cutoff(center)
    end_day = day if cutoff != time(0, 0) else day + timedelta(days=1)
    end = datetime.combine(end_day, cutoff, tzinfo=zone)
    start = datetime.combine(end_day - timedelta(days=1), cutoff, tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def reporting_day(center: MonitoringCenter, moment: datetime) -> date:
    """The reporting day of the center that holds ``moment``."""
    local = moment.astimezone(ZoneInfo(center.time_zone))
    cutoff = _cutoff(center)
    if cutoff == time(0, 0):
        return local.date()
    return local.date() + timedelta(days=1) if local.time() >= cutoff else local.date()


def last_closed_day(center: MonitoringCenter, now: datetime) -> date:
    """The latest reporting day whose cut-off has passed at ``now``."""
    return reporting_day(center, now) - timedelta(days=1)


# --- Canonical content -----------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """The one text of ``value`` that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _decimal(value: Decimal | int | None) -> str:
    return f"{Decimal(value or 0):.3f}"


def _counted(center: MonitoringCenter, start: datetime, end: datetime) -> QuerySet[Report]:
    return Report.objects.filter(
        center=center, occurred_at__gte=start, occurred_at__lt=end, status__in=COUNTED
    )


# --- What a day holds ------------------------------------------------------------------------


def _of_kind(day: QuerySet[Report], kind: str) -> QuerySet:
    """The ids of the day's counted reports of ``kind``, as a subquery (never a long list)."""
    return day.filter(kind=kind).values("id")


def _violations(reports: dict[int, dict], day: QuerySet[Report]) -> tuple[dict, list[dict]]:
    ids = _of_kind(day, ReportKind.VIOLATION)
    casualty_fields = [f"{g}_{e}" for g in CASUALTY_GROUPS for e in ("best", "low", "high")]
    rows = ViolationDetail.objects.filter(report_id__in=ids).values(
        "report_id", "category", "alleged_perpetrator__code", *casualty_fields
    )
    table: Counter = Counter()
    by_zone: dict[str | None, Counter] = defaultdict(Counter)
    by_category: dict[str, Counter] = defaultdict(Counter)
    by_perpetrator: dict[str | None, Counter] = defaultdict(Counter)
    by_delegation: dict[str, Counter] = defaultdict(Counter)
    casualties = {g: {"best": 0, "low": 0, "high": 0} for g in CASUALTY_GROUPS}
    outside: Counter = Counter()
    totals: Counter = Counter()
    air, notable = [], []
    for row in rows:
        report = reports.get(row["report_id"])
        if report is None:  # filed after the day's reports were read: the next compile
            continue
        bucket = BUCKET[report["status"]]
        if report["in_excluded_area"]:  # outside the ceasefire regime: counted apart
            outside[bucket] += 1
            continue
        zone, category = report["zone__code"], row["category"]
        perpetrator = row["alleged_perpetrator__code"]
        totals[bucket] += 1
        table[(zone, category, perpetrator, bucket)] += 1
        by_zone[zone][bucket] += 1
        by_category[category][bucket] += 1
        by_perpetrator[perpetrator][bucket] += 1
        by_delegation[report["delegation__code"]][bucket] += 1
        toll = 0
        for group in CASUALTY_GROUPS:
            for estimate in ("best", "low", "high"):
                casualties[group][estimate] += row[f"{group}_{estimate}"]
            toll += row[f"{group}_best"]
        if category in AIR and report["zone__flights_banned"]:
            air.append(
                {
                    "reference": report["reference"],
                    "zone": zone,
                    "category": category,
                    "status": report["status"],
                    "occurred_at": report["occurred_at"].isoformat(),
                }
            )
            notable.append(_notable(report, "air activity over a zone where flights are banned"))
        if toll:
            notable.append(_notable(report, f"casualties: {toll} (best estimates)"))

    def bucketed(counter: Counter) -> dict[str, int]:
        return {b: counter[b] for b in BUCKETS}

    def keyed(groups: dict, key: str) -> list[dict]:
        return [
            {key: name, **bucketed(counts)}
            for name, counts in sorted(groups.items(), key=lambda item: str(item[0] or ""))
        ]

    rows_out = defaultdict(Counter)
    for (zone, category, perpetrator, bucket), n in table.items():
        rows_out[(zone, category, perpetrator)][bucket] += n
    return (
        {
            "totals": bucketed(totals),
            "rows": [
                {"zone": z, "category": c, "perpetrator": p, **bucketed(counts)}
                for (z, c, p), counts in sorted(
                    rows_out.items(), key=lambda item: tuple(str(x or "") for x in item[0])
                )
            ],
            "by_zone": keyed(by_zone, "zone"),
            "by_category": keyed(by_category, "category"),
            "by_perpetrator": keyed(by_perpetrator, "perpetrator"),
            "by_delegation": keyed(by_delegation, "delegation"),
            "casualties": casualties,
            "outside_ceasefire": bucketed(outside),
            "air_activity": sorted(air, key=lambda a: (a["occurred_at"], a["reference"])),
        },
        notable,
    )


def _convoys(reports: dict[int, dict], day: QuerySet[Report]) -> tuple[dict, list[dict], dict]:
    ids = _of_kind(day, ReportKind.CONVOY)
    details = ConvoyDetail.objects.filter(report_id__in=ids).values(
        "report_id", "status", "beneficiaries", "obstruction_reason", "destination__code"
    )
    by_status = {status: 0 for status in ConvoyStatus.values}
    beneficiaries = 0
    blocked, notable = [], []
    for row in details:
        report = reports.get(row["report_id"])
        if report is None:  # filed after the day's reports were read: the next compile
            continue
        by_status[row["status"]] += 1
        if row["status"] in (ConvoyStatus.DELIVERED, ConvoyStatus.PARTIALLY_DELIVERED):
            beneficiaries += row["beneficiaries"] or 0
        if row["status"] == ConvoyStatus.BLOCKED:
            blocked.append(
                {
                    "reference": report["reference"],
                    "destination": row["destination__code"],
                    "reason": row["obstruction_reason"],
                }
            )
            notable.append(_notable(report, f"convoy blocked: {row['obstruction_reason']}"))
    delivered: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in CargoLine.objects.filter(convoy_id__in=ids).values(
        "category", "unit", "quantity", "delivered_quantity", "convoy__status"
    ):
        if line["convoy__status"] == ConvoyStatus.DELIVERED:
            amount = (
                line["delivered_quantity"]
                if line["delivered_quantity"] is not None
                else line["quantity"]
            )
        elif line["convoy__status"] == ConvoyStatus.PARTIALLY_DELIVERED:
            amount = line["delivered_quantity"] or Decimal(0)
        else:
            continue
        delivered[line["category"]][line["unit"]] += amount
    day_totals = {
        "convoys_delivered": by_status[ConvoyStatus.DELIVERED]
        + by_status[ConvoyStatus.PARTIALLY_DELIVERED],
        "beneficiaries": beneficiaries,
        "delivered": {
            c: {u: _decimal(q) for u, q in units.items()} for c, units in delivered.items()
        },
    }
    return (
        {
            "by_status": by_status,
            "delivered": day_totals["delivered"],
            "beneficiaries": beneficiaries,
            "blocked": sorted(blocked, key=lambda b: b["reference"]),
        },
        notable,
        day_totals,
    )


def _checkpoints(reports: dict[int, dict], day: QuerySet[Report]) -> dict:
    ids = _of_kind(day, ReportKind.CHECKPOINT)
    per: dict[str, dict[str, Any]] = {}
    for row in CheckpointDetail.objects.filter(report_id__in=ids).values(
        "report_id", "checkpoint__code", "checkpoint__name", "status", *CROSSING_FIELDS
    ):
        if row["report_id"] not in reports:  # filed after the day's reports were read
            continue
        entry = per.setdefault(
            row["checkpoint__code"],
            {
                "checkpoint": row["checkpoint__code"],
                "name": row["checkpoint__name"],
                "shifts": 0,
                "closed_shifts": 0,
                "restricted_shifts": 0,
                **{f: 0 for f in CROSSING_FIELDS},
                "access_incidents": {},
            },
        )
        entry["shifts"] += 1
        entry["closed_shifts"] += row["status"] == CheckpointStatus.CLOSED
        entry["restricted_shifts"] += row["status"] == CheckpointStatus.RESTRICTED
        for field in CROSSING_FIELDS:
            entry[field] += row[field]
    for row in AccessIncident.objects.filter(shift_id__in=ids).values(
        "shift_id", "shift__checkpoint__code", "kind", "count"
    ):
        if row["shift_id"] not in reports:
            continue
        incidents = per[row["shift__checkpoint__code"]]["access_incidents"]
        incidents[row["kind"]] = incidents.get(row["kind"], 0) + row["count"]
    rows = [per[code] for code in sorted(per)]
    totals = {f: sum(r[f] for r in rows) for f in CROSSING_FIELDS}
    totals["closed_shifts"] = sum(r["closed_shifts"] for r in rows)
    totals["access_incidents"] = sum(sum(r["access_incidents"].values()) for r in rows)
    return {"rows": rows, "totals": totals}


def _notable(report: dict, why: str) -> dict:
    return {"reference": report["reference"], "kind": report["kind"], "why": why}


def _joint_confirmations(reports: dict[int, dict], day: QuerySet[Report]) -> list[dict]:
    """The day's reports linked with reports of another delegation (rejected and retracted
    reports aside): events jointly confirmed."""
    # Two steps, so the database looks up the day's links and their ends by key instead of
    # joining the whole report table (which grows with the database, not the day).
    pairs = list(
        CorroborationLink.objects.filter(
            Q(report_id__in=day.values("id")) | Q(other_id__in=day.values("id"))
        )
        .order_by()
        .values_list("report_id", "other_id")
    )
    ends = {pk for pair in pairs for pk in pair}
    counted = {
        pk: delegation_id
        for pk, status, delegation_id in Report.objects.filter(pk__in=ends)
        .order_by()
        .values_list("id", "status", "delegation_id")
        if status not in (S.REJECTED, S.RETRACTED)
    }
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    delegation: dict[int, int] = {}
    for a, b in pairs:
        if a not in counted or b not in counted:
            continue
        delegation[a], delegation[b] = counted[a], counted[b]
        parent[find(a)] = find(b)
    groups: dict[int, set[int]] = defaultdict(set)
    for pk in delegation:
        groups[find(pk)].add(pk)
    notable = []
    for members in groups.values():
        if len({delegation[m] for m in members}) < 2:
            continue
        first = min(
            (m for m in members if m in reports),
            key=lambda m: reports[m]["reference"],
            default=None,
        )
        if first is not None:
            notable.append(
                _notable(
                    reports[first],
                    f"jointly confirmed by {len({delegation[m] for m in members})} delegations",
                )
            )
    return notable


def _kind_counts(center: MonitoringCenter, start: datetime, end: datetime) -> dict[str, int]:
    counts = dict(
        _counted(center, start, end).values_list("kind").annotate(n=Count("id")).order_by()
    )
    return {kind: counts.get(kind, 0) for kind in ReportKind.values}


def _comparison(center: MonitoringCenter, day: date, today: dict[str, int]) -> dict:
    """Report counts by kind against the previous day and the 7-day average before it."""
    days = [
        _kind_counts(center, *reporting_period(center, day - timedelta(days=n)))
        for n in range(1, 8)
    ]
    previous = days[0]
    average = {k: f"{sum(d[k] for d in days) / 7:.1f}" for k in ReportKind.values}
    return {"today": today, "previous_day": previous, "seven_day_average": average}


def _previous_totals(center: MonitoringCenter, day: date) -> dict | None:
    """The running totals of the day before, from its latest compilation if it is current."""
    version = (
        SummaryVersion.objects.filter(
            summary__center=center, summary__day=day - timedelta(days=1), summary__stale=False
        )
        .exclude(status=SummaryVersionStatus.SUPERSEDED)
        .order_by("-number")
        .values_list("content", flat=True)
        .first()
    )
    if version is None or version.get("format") != CONTENT_FORMAT:
        return None
    return version["convoys"]["running_totals"]


def _totals_from_scratch(center: MonitoringCenter, until: datetime) -> dict:
    """Running totals over every convoy since the agreement came into force (the slow path,
    taken only when the day before has no current summary)."""
    since = center.agreement.in_force_from if center.agreement_id else None
    reports = Report.objects.filter(
        center=center, kind=ReportKind.CONVOY, status__in=COUNTED, occurred_at__lt=until
    )
    if since is not None:
        reports = reports.filter(occurred_at__gte=since)
    rows = {r["id"]: r for r in reports.values("id", "kind", "status", "reference")}
    _section, _notable_rows, totals = _convoys(rows, reports)
    return totals


def _add_totals(base: dict, day: dict) -> dict:
    delivered: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for source in (base["delivered"], day["delivered"]):
        for category, units in source.items():
            for unit, amount in units.items():
                delivered[category][unit] += Decimal(amount)
    return {
        "convoys_delivered": base["convoys_delivered"] + day["convoys_delivered"],
        "beneficiaries": base["beneficiaries"] + day["beneficiaries"],
        "delivered": {
            c: {u: _decimal(q) for u, q in sorted(units.items())}
            for c, units in sorted(delivered.items())
        },
    }


def summary_content(*, center: MonitoringCenter, day: date) -> tuple[dict, list[list]]:
    """What the summary of ``center``'s reporting ``day`` holds, and the ``[uuid, revision]``
    of every report it counted. Deterministic: the same reports give the same content."""
    start, end = reporting_period(center, day)
    day_reports = _counted(center, start, end)
    rows = day_reports.values(
        "id",
        "uuid",
        "revision",
        "reference",
        "kind",
        "status",
        "occurred_at",
        "in_excluded_area",
        "in_security_area",
        "zone__code",
        "zone__flights_banned",
        "delegation__code",
    )
    reports = {row["id"]: row for row in rows}
    violations, notable_violations = _violations(reports, day_reports)
    convoys, notable_convoys, day_totals = _convoys(reports, day_reports)
    previous = _previous_totals(center, day)
    if previous is None:
        running = _totals_from_scratch(center, end)
        running_source = "recounted"
    else:
        running = _add_totals(previous, day_totals)
        running_source = "previous day"
    convoys["running_totals"] = {**running, "computed_from": running_source}
    checkpoints = _checkpoints(reports, day_reports)
    today = {kind: 0 for kind in ReportKind.values}
    for report in reports.values():
        today[report["kind"]] += 1
    notable = notable_violations + notable_convoys + _joint_confirmations(reports, day_reports)
    notable.sort(key=lambda n: (n["reference"], n["why"]))
    sources = sorted([str(r["uuid"]), r["revision"]] for r in reports.values())
    awaiting = sum(1 for r in reports.values() if r["status"] in AWAITING_REVIEW)
    content = {
        "format": CONTENT_FORMAT,
        "center": center.code,
        "day": day.isoformat(),
        "period": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "time_zone": center.time_zone,
        },
        "reports": today,
        "violations": violations,
        "convoys": convoys,
        "checkpoints": checkpoints,
        "comparison": _comparison(center, day, today),
        "notable": notable[:NOTABLE_LIMIT],
        "notable_total": len(notable),
        "awaiting_review": awaiting,
        "sources_sha256": sha256_hex(canonical_json(sources)),
        "source_count": len(sources),
    }
    return content, sources


# --- Who reads what -------------------------------------------------------------------------


def is_coordinator_of(user, center_id: int) -> bool:
    observer = observer_for_user(user)
    return (
        observer is not None
        and observer.role == ObserverRole.COORDINATOR
        and observer.center_id == center_id
    )


def summaries_visible_to(
    *, user, queryset: QuerySet[DailySummary] | None = None
) -> QuerySet[DailySummary]:
    """The summaries ``user`` may read: a coordinator, every summary of the center; any
    other active profile, the center's summaries that have a published version."""
    queryset = DailySummary.objects.all() if queryset is None else queryset
    observer = observer_for_user(user)
    if observer is None:
        return queryset.none()
    queryset = queryset.filter(center_id=observer.center_id)
    if observer.role == ObserverRole.COORDINATOR:
        return queryset
    published = SummaryVersion.objects.filter(summary_id=OuterRef("pk"), status=V.PUBLISHED)
    return queryset.filter(Exists(published))


def summary_versions_visible_to(
    *, user, queryset: QuerySet[SummaryVersion] | None = None
) -> QuerySet[SummaryVersion]:
    """The versions ``user`` may read: a coordinator, all of the center's; anyone else,
    the published ones."""
    queryset = SummaryVersion.objects.all() if queryset is None else queryset
    observer = observer_for_user(user)
    if observer is None:
        return queryset.none()
    queryset = queryset.filter(summary__center_id=observer.center_id)
    if observer.role == ObserverRole.COORDINATOR:
        return queryset
    return queryset.filter(status=V.PUBLISHED)


def versions_prefetch(user) -> Prefetch:
    """The visible versions of each summary, newest first, with who compiled and published."""
    return Prefetch(
        "versions",
        queryset=summary_versions_visible_to(
            user=user,
            queryset=SummaryVersion.objects.select_related("compiled_by", "published_by")
            .defer("content", "sources")
            .order_by("-number"),
        ),
        to_attr="visible_versions",
    )


# --- A summary's state -----------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryState:
    """Where a daily summary stands, from the versions the reader may see."""

    code: str  # "not_compiled", "draft" or "published"
    stale: bool
    latest: SummaryVersion | None  # the newest version that is not a superseded draft
    published: SummaryVersion | None  # the newest published version
    draft: SummaryVersion | None
    version_count: int

    @property
    def addendum_pending(self) -> bool:
        """A draft newer than the published version awaits review."""
        return (
            self.draft is not None
            and self.published is not None
            and self.draft.number > self.published.number
        )

    @property
    def label(self) -> str:
        if self.code == "not_compiled":
            return "Not compiled"
        if self.code == "draft":
            return "Draft (stale)" if self.stale else "Draft"
        return "Published, addendum pending" if self.addendum_pending else "Published"


def summary_state(summary: DailySummary | None, versions: list[SummaryVersion]) -> SummaryState:
    """The state of ``summary`` given the ``versions`` the reader may see (any order)."""
    current = [v for v in versions if v.status != V.SUPERSEDED]
    published = [v for v in versions if v.status == V.PUBLISHED]
    drafts = [v for v in versions if v.status == V.DRAFT]

    def newest(rows):
        return max(rows, key=lambda v: v.number) if rows else None

    latest = newest(current)
    state = "published" if published else "draft" if drafts else "not_compiled"
    return SummaryState(
        code=state,
        stale=bool(summary is None or summary.stale),
        latest=latest,
        published=newest(published),
        draft=newest(drafts),
        version_count=len(versions),
    )


# --- Lists -----------------------------------------------------------------------------------


def summary_list() -> QuerySet[DailySummary]:
    return DailySummary.objects.select_related("center")


def summary_days_with_reports(
    center: MonitoringCenter, since: datetime, until: datetime
) -> set[date]:
    """The reporting days in ``[since, until)`` that hold at least one report."""
    moments = (
        Report.objects.filter(center=center, occurred_at__gte=since, occurred_at__lt=until)
        .values_list("occurred_at", flat=True)
        .order_by()
    )
    return {reporting_day(center, m) for m in moments.iterator(chunk_size=5000)}

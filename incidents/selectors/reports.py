"""Reads of reports: who sees which report, corroboration candidates and the agreement
state of an event."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from monitoring.choices import ObserverRole
from monitoring.models import Party
from monitoring.selectors import observer_for_user
from zones.geometry import EARTH_RADIUS_KM, haversine_km

from ..choices import ReportStatus
from ..models import CorroborationLink, Report

CANDIDATE_RADIUS_KM = 5.0
CANDIDATE_WINDOW = timedelta(hours=2)
NOT_COUNTED = (ReportStatus.REJECTED, ReportStatus.RETRACTED)


def corroboration_candidates(*, report: Report) -> list[Report]:
    """Reports of the same kind and center within 5 km and 2 hours, nearest first.

    Drafts, rejected and retracted reports are never proposed, nor reports already linked.
    """
    dlat = math.degrees(CANDIDATE_RADIUS_KM / EARTH_RADIUS_KM)
    dlon = dlat / max(0.1, math.cos(math.radians(report.latitude)))
    linked = linked_ids(report)
    rows = (
        Report.objects.filter(
            center_id=report.center_id,
            kind=report.kind,
            occurred_at__gte=report.occurred_at - CANDIDATE_WINDOW,
            occurred_at__lte=report.occurred_at + CANDIDATE_WINDOW,
            latitude__range=(report.latitude - dlat, report.latitude + dlat),
            longitude__range=(report.longitude - dlon, report.longitude + dlon),
        )
        .exclude(pk__in=[report.pk, *linked])
        .exclude(status__in=(ReportStatus.DRAFT, *NOT_COUNTED))
        .select_related("delegation", "author")
    )
    near = [
        (haversine_km(report.latitude, report.longitude, r.latitude, r.longitude), r) for r in rows
    ]
    return [r for km, r in sorted(near, key=lambda pair: pair[0]) if km <= CANDIDATE_RADIUS_KM]


def linked_ids(report: Report) -> set[int]:
    pairs = CorroborationLink.objects.filter(Q(report=report) | Q(other=report)).values_list(
        "report_id", "other_id"
    )
    return {pk for pair in pairs for pk in pair} - {report.pk}


@dataclass(frozen=True)
class CorroborationState:
    """The reports that describe one event (linked directly or through others)."""

    reports: tuple[Report, ...]
    delegations: tuple[Party, ...]

    @property
    def corroborated(self) -> bool:
        return len(self.reports) >= 2

    @property
    def jointly_confirmed(self) -> bool:
        """Observers of at least two delegations (say Russian and Turkish) agree."""
        return len(self.delegations) >= 2


def corroboration_state(*, report: Report) -> CorroborationState:
    """Walk the links from ``report``; rejected and retracted reports do not count."""
    seen = {report.pk}
    frontier = {report.pk}
    while frontier:
        pairs = CorroborationLink.objects.filter(
            Q(report_id__in=frontier) | Q(other_id__in=frontier)
        ).values_list("report_id", "other_id")
        found = {pk for pair in pairs for pk in pair} - seen
        seen |= found
        frontier = found
    reports = tuple(
        Report.objects.filter(pk__in=seen)
        .exclude(status__in=NOT_COUNTED)
        .select_related("delegation")
        .order_by("occurred_at", "pk")
    )
    delegations = {r.delegation_id: r.delegation for r in reports}
    return CorroborationState(
        reports=reports,
        delegations=tuple(sorted(delegations.values(), key=lambda party: party.name)),
    )


def report_list() -> QuerySet[Report]:
    return Report.objects.select_related("center", "zone", "delegation", "author")


def report_full_list() -> QuerySet[Report]:
    """Reports with everything a full record shows (every kind's detail and child rows,
    attachments), in a fixed number of queries however many there are."""
    return (
        report_list()
        .select_related(
            "classified_zone",
            "settlement",
            "post",
            "violation__alleged_perpetrator",
            "violation__affected_party",
            "convoy__destination",
            "checkpoint__checkpoint",
        )
        .prefetch_related(
            "convoy__organizations",
            "convoy__cargo",
            "convoy__stops__post",
            "convoy__stages",
            "checkpoint__incidents__party",
            "attachments__uploaded_by",
        )
    )


def report_visibility_q(user) -> Q | None:
    """The rule of docs/permissions.md as a filter; ``None`` means nothing at all.

    Within the user's own center only (nobody sees another center's reports):

    - observer: their own reports (drafts included), the non-draft reports of their
      delegation, and the center's verified reports;
    - coordinator: every report of the center except other people's drafts;
    - partner: the center's reports in the statuses it shares with partners
      (``settings.PARTNER_REPORT_STATUSES``, verified by default) and its own filings;
    - administrator: the center's verified reports;
    - no profile, or an inactive one: nothing.

    Written as ``center AND (...)`` so that the database walks the center's reports in
    date order on the (center, occurred_at) index instead of merging indexes and sorting.
    """
    observer = observer_for_user(user)
    if observer is None or not user.is_active:
        return None
    own_center = Q(center_id=observer.center_id)
    verified = Q(status=ReportStatus.VERIFIED)
    mine = Q(author_id=user.pk)
    not_draft = ~Q(status=ReportStatus.DRAFT)
    if observer.role == ObserverRole.COORDINATOR:
        return own_center & (not_draft | mine)
    if observer.role == ObserverRole.OBSERVER:
        delegation = Q(delegation_id=observer.delegation_id) & not_draft
        return own_center & (mine | delegation | verified)
    if observer.role == ObserverRole.PARTNER:
        return own_center & (Q(status__in=settings.PARTNER_REPORT_STATUSES) | mine)
    return own_center & verified


def reports_visible_to(*, user, queryset: QuerySet[Report] | None = None) -> QuerySet[Report]:
    """The reports ``user`` may see (of ``queryset``, default :func:`report_list`)."""
    queryset = report_list() if queryset is None else queryset
    rule = report_visibility_q(user)
    return queryset.none() if rule is None else queryset.filter(rule)


def report_visible(*, user, report: Report) -> bool:
    rule = report_visibility_q(user)
    return rule is not None and Report.objects.filter(rule, pk=report.pk).exists()


# --- Corroboration of many reports at once ----------------------------------------------------


@dataclass
class EventSummary:
    """What a row shows of a report's event: how many other reports describe it, and the
    delegations whose observers agree (as :func:`incidents.selectors.corroboration_state`)."""

    others: int = 0
    delegations: list[str] = field(default_factory=list)

    @property
    def jointly_confirmed(self) -> bool:
        return len(self.delegations) >= 2


def corroboration_summaries(reports: list[Report]) -> dict[int, EventSummary]:
    """The event summary of each report, in a number of queries that does not grow with the
    number of reports (one per step of the longest chain of links, plus one)."""
    adjacency: dict[int, set[int]] = defaultdict(set)
    seen = {report.pk for report in reports}
    frontier = set(seen)
    while frontier:
        pairs = CorroborationLink.objects.filter(
            Q(report_id__in=frontier) | Q(other_id__in=frontier)
        ).values_list("report_id", "other_id")
        found: set[int] = set()
        for one, two in pairs:
            adjacency[one].add(two)
            adjacency[two].add(one)
            found |= {one, two}
        frontier = found - seen
        seen |= found
    if not adjacency:
        return {report.pk: EventSummary() for report in reports}
    counted = dict(
        Report.objects.filter(pk__in=seen)
        .exclude(status__in=NOT_COUNTED)
        .values_list("pk", "delegation__name")
    )
    summaries = {}
    for report in reports:
        component, stack = {report.pk}, [report.pk]
        while stack:
            for neighbour in adjacency[stack.pop()] - component:
                component.add(neighbour)
                stack.append(neighbour)
        members = [pk for pk in component if pk in counted]
        summaries[report.pk] = EventSummary(
            others=len([pk for pk in members if pk != report.pk]),
            delegations=sorted({counted[pk] for pk in members}),
        )
    return summaries

"""The daily summary pages: the list of a center's reporting days with their state, the
summary page (tables, trend charts as inline SVG, a map of the day's reports, the version
list, the addendum against the published version), the printable bulletin, the JSON and
CSV downloads, and the coordinators' actions (compile now, approve and publish).

Who reads what (docs/permissions.md, "Daily summaries"): every active profile of a center
reads its published versions; drafts and superseded drafts are its coordinators'. Nobody
sees another center's summaries (a 404, as for reports). Compiling and publishing are the
coordinators' of the center; writes go through ``incidents.services`` (a refusal is a
message, never a 500).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views import View
from django.views.generic import TemplateView

from monitoring.choices import ObserverRole
from monitoring.models import MonitoringCenter, Party
from monitoring.permissions import RoleRequiredMixin
from monitoring.queueing import enqueue_quietly
from monitoring.selectors import observer_for_user
from zones.models import Zone
from zones.selectors import zone_list
from zones.views import map_config

from ..choices import (
    AccessIncidentKind,
    CargoCategory,
    CargoUnit,
    ConvoyStatus,
    ReportKind,
    ReportStatus,
    SummaryVersionStatus,
    ViolationCategory,
)
from ..models import DailySummary, Report, SummaryVersion
from ..models.details import CASUALTY_GROUPS, CROSSING_FIELDS
from ..selectors import reports_visible_to
from ..selectors.summaries import (
    COUNTED,
    SummaryState,
    is_coordinator_of,
    last_closed_day,
    reporting_period,
    summaries_visible_to,
    summary_state,
    summary_versions_visible_to,
    versions_prefetch,
)
from ..services import summary_compile, summary_get_or_create, summary_publish

V = SummaryVersionStatus
PAGE_SIZE = 30
TREND_DAYS = 14
MAP_LIMIT = 5000
POLL_SECONDS = 5
QUEUED_SESSION_KEY = "summaries_queued"
BUCKETS = ("confirmed", "reported", "disputed")


# --- The addendum: what changed between two contents ----------------------------------------


@dataclass(frozen=True)
class ContentChange:
    """One value that differs: where (a path of labels), before and after (None: absent)."""

    path: tuple[str, ...]
    before: Any
    after: Any

    @property
    def label(self) -> str:
        return " / ".join(self.path)

    @property
    def section(self) -> str:
        return self.path[0] if self.path else ""


LISTED = "listed"


def _field_label(key: Any) -> str:
    return str(key).replace("_", " ")


# The order a row's identity is written in (other text fields follow, alphabetically).
IDENTITY_ORDER = ("reference", "zone", "category", "perpetrator", "delegation", "checkpoint")


def _identity(item: dict) -> tuple[str, ...]:
    """A list row's identity: its text fields (codes, names, references)."""
    fields = [k for k in item if item[k] is None or isinstance(item[k], str)]
    return tuple(
        sorted(
            fields,
            key=lambda k: (IDENTITY_ORDER.index(k) if k in IDENTITY_ORDER else 99, k),
        )
    )


def _row_key(item: dict, fields: tuple[str, ...]) -> str:
    return " · ".join("none" if item.get(f) is None else str(item.get(f)) for f in fields)


def content_changes(before: Any, after: Any, path: tuple[str, ...] = ()) -> list[ContentChange]:
    """Every value that differs between two summary contents, field by field.

    Dicts are compared key by key; lists of rows are matched by their text fields (a zone,
    category and perpetrator; a checkpoint; a reference), so a count that moved shows as
    ``before → after`` under its row, and a row that appeared or left shows each of its
    numbers against ``None`` (or as ``listed`` when it holds no numbers).
    """
    dicts = (isinstance(before, dict) or isinstance(after, dict)) and all(
        side is None or isinstance(side, dict) for side in (before, after)
    )
    if dicts:
        old, new = before or {}, after or {}
        changes: list[ContentChange] = []
        for key in [*old, *(k for k in new if k not in old)]:
            changes += content_changes(old.get(key), new.get(key), (*path, _field_label(key)))
        return changes
    if _rows(before) and _rows(after) and (before or after):
        return _row_changes(before, after, path)
    if before != after:
        return [ContentChange(path, before, after)]
    return []


def _rows(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _row_changes(before: list[dict], after: list[dict], path: tuple[str, ...]) -> list:
    identity = _identity((before or after)[0])
    old = {_row_key(item, identity): item for item in before}
    new = {_row_key(item, identity): item for item in after}
    changes: list[ContentChange] = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key), new.get(key)
        rest = [k for k in {**(a or {}), **(b or {})} if k not in identity]
        if not rest:
            if (a is None) != (b is None):
                changes.append(
                    ContentChange((*path, key), LISTED if a else None, LISTED if b else None)
                )
            continue
        changes += content_changes(
            {k: (a or {}).get(k) for k in rest} if a else None,
            {k: (b or {}).get(k) for k in rest} if b else None,
            (*path, key),
        )
    return changes


# --- Trend charts, rendered on the server as SVG ---------------------------------------------


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True)
class Chart:
    """A stacked bar chart: one bar per day, one segment per series; drawn by
    ``incidents/_summary_chart.html`` (no library, no script)."""

    title: str
    width: int
    height: int
    bars: list[ChartBar]
    x_labels: list[tuple[float, str, bool]]  # (x, text, is the summary's own day)
    y_ticks: list[tuple[float, int]]
    legend: list[tuple[str, str]]
    rows: list[tuple[str, list[int | None]]] = field(default_factory=list)  # the data table
    columns: list[str] = field(default_factory=list)  # its days
    plot_left: int = 36
    plot_bottom: float = 0

    @property
    def empty(self) -> bool:
        return not self.bars


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4
    return value


def stacked_bar_chart(
    *,
    title: str,
    days: list[date],
    values: dict[date, dict[str, int] | None],
    series: list[tuple[str, str]],
    current: date | None = None,
    width: int = 640,
    height: int = 200,
) -> Chart:
    """A stacked bar chart of ``values[day][series]`` over ``days`` (a day without values,
    no summary, has no bar)."""
    left, right, top, bottom = 36, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum((values.get(d) or {}).get(k, 0) for k, _ in series) for d in days]
    top_value = _nice_max(max(totals, default=0) or 1)
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1)
    bars: list[ChartBar] = []
    labels = []
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        row = values.get(day)
        if i % 2 == (len(days) - 1) % 2 or day == current:
            labels.append((round(x + bar_w / 2, 1), day.strftime("%d %b"), day == current))
        if not row:
            continue
        y = top + plot_h
        for key, label in series:
            n = row.get(key, 0)
            if not n:
                continue
            h = plot_h * n / top_value
            y -= h
            bars.append(
                ChartBar(
                    x=round(x, 1),
                    y=round(y, 1),
                    width=round(bar_w, 1),
                    height=round(h, 1),
                    series=key,
                    title=f"{day:%d %b %Y}: {n} {label.lower()}",
                )
            )
    ticks = [
        (round(top + plot_h - plot_h * step / 4, 1), top_value * step // 4) for step in range(5)
    ]
    table = [
        (label, [None if values.get(d) is None else values[d].get(key, 0) for d in days])
        for key, label in series
    ]
    return Chart(
        title=title,
        width=width,
        height=height,
        bars=bars,
        x_labels=labels,
        y_ticks=ticks,
        legend=series,
        rows=table,
        columns=[f"{d:%d %b}" for d in days],
        plot_left=left,
        plot_bottom=top + plot_h,
    )


# --- The CSV download ------------------------------------------------------------------------

CSV_COLUMNS = ("section", "subject", "category", "party", "measure", "value", "unit", "note")


def _cell(value: Any) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with ``'``."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r" and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def summary_csv_rows(version: SummaryVersion) -> list[list[str]]:
    """The version as one flat table: a row per number, ``section`` saying which table of
    the bulletin it comes from (columns: ``CSV_COLUMNS``)."""
    content = version.content
    rows: list[tuple] = []

    def add(section, subject="", category="", party="", measure="", value="", unit="", note=""):
        rows.append((section, subject, category, party, measure, value, unit, note))

    for measure, value in (
        ("center", content.get("center")),
        ("day", content.get("day")),
        ("period_start", content["period"]["start"]),
        ("period_end", content["period"]["end"]),
        ("time_zone", content["period"]["time_zone"]),
        ("version", version.number),
        ("status", version.status),
        ("content_sha256", version.content_sha256),
        ("sources_sha256", content.get("sources_sha256")),
        ("source_count", content.get("source_count")),
        ("awaiting_review", content.get("awaiting_review")),
    ):
        add("summary", measure=measure, value=value)
    for kind, n in content["reports"].items():
        add("reports", subject=kind, measure="reports", value=n)
    v = content["violations"]
    for row in v["rows"]:
        for bucket in BUCKETS:
            add(
                "violations",
                subject=row["zone"],
                category=row["category"],
                party=row["perpetrator"],
                measure=bucket,
                value=row[bucket],
            )
    for row in v["by_delegation"]:
        for bucket in BUCKETS:
            add(
                "violations_by_delegation",
                party=row["delegation"],
                measure=bucket,
                value=row[bucket],
            )
    for group, estimates in v["casualties"].items():
        for estimate in ("best", "low", "high"):
            add("casualties", subject=group, measure=estimate, value=estimates[estimate])
    for bucket in BUCKETS:
        add("outside_ceasefire", measure=bucket, value=v["outside_ceasefire"][bucket])
    for air in v["air_activity"]:
        add(
            "air_activity",
            subject=air["zone"],
            category=air["category"],
            measure=air["status"],
            value=1,
            note=f"{air['reference']} {air['occurred_at']}",
        )
    c = content["convoys"]
    for status, n in c["by_status"].items():
        add("convoys", subject=status, measure="convoys", value=n)
    for category, units in c["delivered"].items():
        for unit, amount in units.items():
            add(
                "convoys_delivered", category=category, measure="delivered", value=amount, unit=unit
            )
    add("convoys", measure="beneficiaries", value=c["beneficiaries"])
    for blocked in c["blocked"]:
        add(
            "convoys_blocked",
            subject=blocked["destination"],
            measure="blocked",
            value=1,
            note=f"{blocked['reference']}: {blocked['reason']}",
        )
    totals = c["running_totals"]
    add("running_totals", measure="convoys_delivered", value=totals["convoys_delivered"])
    add("running_totals", measure="beneficiaries", value=totals["beneficiaries"])
    for category, units in totals["delivered"].items():
        for unit, amount in units.items():
            add("running_totals", category=category, measure="delivered", value=amount, unit=unit)
    for row in content["checkpoints"]["rows"]:
        for measure in ("shifts", "closed_shifts", "restricted_shifts", *CROSSING_FIELDS):
            add("checkpoints", subject=row["checkpoint"], measure=measure, value=row[measure])
        for kind, n in row["access_incidents"].items():
            add(
                "access_incidents",
                subject=row["checkpoint"],
                category=kind,
                measure="incidents",
                value=n,
            )
    for notable in content["notable"]:
        add("notable", subject=notable["reference"], category=notable["kind"], note=notable["why"])
    return [list(CSV_COLUMNS)] + [[_cell(value) for value in row] for row in rows]


# --- Loading what a page shows ---------------------------------------------------------------


def parse_day(value: str) -> date:
    day = parse_date(value) if value else None
    if day is None:
        raise Http404("A reporting day is written YYYY-MM-DD.")
    return day


def center_for(user, code: str) -> MonitoringCenter:
    """The user's own center when ``code`` names it; otherwise a 404 (nobody sees another
    center's summaries, and their existence is not revealed)."""
    observer = observer_for_user(user)
    if observer is None or observer.center.code != code:
        raise Http404("No summary you may see.")
    return observer.center


@dataclass
class SummaryPage:
    """A day of a center as one reader sees it."""

    center: MonitoringCenter
    day: date
    summary: DailySummary | None
    versions: list[SummaryVersion]
    state: SummaryState
    coordinator: bool

    def version(self, number: str | None) -> SummaryVersion | None:
        """The version asked for (``?version=N``), or the one to show by default: the
        newest that is not a superseded draft (a reader who is not a coordinator sees
        published versions only)."""
        if number in (None, ""):
            return self.state.latest
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            raise Http404("A version is a number.") from None
        for version in self.versions:
            if version.number == wanted:
                return version
        raise Http404("No version of that number you may see.")


def summary_page(user, code: str, day_text: str) -> SummaryPage:
    center = center_for(user, code)
    day = parse_day(day_text)
    summary = (
        summaries_visible_to(user=user, queryset=DailySummary.objects.select_related("center"))
        .filter(center=center, day=day)
        .prefetch_related(versions_prefetch(user))
        .first()
    )
    coordinator = is_coordinator_of(user, center.pk)
    if summary is None and not coordinator:
        raise Http404("No published summary of that day.")
    versions = list(summary.visible_versions) if summary else []
    return SummaryPage(
        center=center,
        day=day,
        summary=summary,
        versions=versions,
        state=summary_state(summary, versions),
        coordinator=coordinator,
    )


def load_content(version: SummaryVersion | None) -> dict | None:
    """The version's content (the page's versions are loaded without it)."""
    if version is None:
        return None
    return SummaryVersion.objects.values_list("content", flat=True).get(pk=version.pk)


def detail_url(center: MonitoringCenter, day: date, version: int | None = None) -> str:
    url = reverse("incidents:summary_detail", args=[center.code, day.isoformat()])
    return f"{url}?version={version}" if version else url


# --- Tables of the page ----------------------------------------------------------------------


def _labels(content: dict) -> dict[str, dict]:
    """Names for the codes the content holds: zones and parties (two queries)."""
    v = content["violations"]
    zone_codes = {r["zone"] for r in v["by_zone"]} | {a["zone"] for a in v["air_activity"]}
    party_codes = {r["perpetrator"] for r in v["by_perpetrator"]}
    party_codes |= {r["delegation"] for r in v["by_delegation"]}
    zones = dict(Zone.objects.filter(code__in=zone_codes - {None}).values_list("code", "name"))
    parties = dict(Party.objects.filter(code__in=party_codes - {None}).values_list("code", "name"))
    return {"zone": zones, "party": parties}


def bulletin(content: dict, *, user, center: MonitoringCenter) -> dict[str, Any]:
    """What the page's tables show, labelled (the content keeps codes)."""
    names = _labels(content)
    categories = dict(ViolationCategory.choices)

    def zone(code):
        return names["zone"].get(code, code) if code else "Outside every zone"

    def party(code):
        return names["party"].get(code, code) if code else "Unknown"

    v = content["violations"]
    c = content["convoys"]
    references = {n["reference"] for n in content["notable"]}
    references |= {a["reference"] for a in v["air_activity"]} | {
        b["reference"] for b in c["blocked"]
    }
    links = dict(
        reports_visible_to(user=user, queryset=Report.objects.filter(center=center))
        .filter(reference__in=references)
        .values_list("reference", "uuid")
    )

    def link(reference):
        uuid = links.get(reference)
        return reverse("incidents:report_detail", args=[uuid]) if uuid else ""

    comparison = content["comparison"]
    kinds = dict(ReportKind.choices)
    return {
        "totals": v["totals"],
        "violation_rows": [
            {
                **row,
                "zone_name": zone(row["zone"]),
                "category_name": categories.get(row["category"], row["category"]),
                "perpetrator_name": party(row["perpetrator"]),
            }
            for row in v["rows"]
        ],
        "by_zone": [{**r, "name": zone(r["zone"])} for r in v["by_zone"]],
        "by_category": [
            {**r, "name": categories.get(r["category"], r["category"])} for r in v["by_category"]
        ],
        "by_perpetrator": [{**r, "name": party(r["perpetrator"])} for r in v["by_perpetrator"]],
        "by_delegation": [{**r, "name": party(r["delegation"])} for r in v["by_delegation"]],
        "casualties": [
            (group.replace("_", " ").capitalize(), v["casualties"][group])
            for group in CASUALTY_GROUPS
            if group in v["casualties"]
        ],
        "outside": v["outside_ceasefire"],
        "air": [
            {
                **a,
                "zone_name": zone(a["zone"]),
                "category_name": categories.get(a["category"], a["category"]),
                "status_name": dict(ReportStatus.choices).get(a["status"], a["status"]),
                "occurred": parse_datetime(a["occurred_at"]),
                "url": link(a["reference"]),
            }
            for a in v["air_activity"]
        ],
        "convoy_status": [
            (label, c["by_status"].get(value, 0)) for value, label in ConvoyStatus.choices
        ],
        "delivered": _cargo(c["delivered"]),
        "beneficiaries": c["beneficiaries"],
        "blocked": [{**b, "url": link(b["reference"])} for b in c["blocked"]],
        "running": {**c["running_totals"], "cargo": _cargo(c["running_totals"]["delivered"])},
        "checkpoints": [
            {
                **row,
                "incidents": [
                    (dict(AccessIncidentKind.choices).get(k, k), n)
                    for k, n in row["access_incidents"].items()
                ],
                "incident_total": sum(row["access_incidents"].values()),
            }
            for row in content["checkpoints"]["rows"]
        ],
        "checkpoint_totals": content["checkpoints"]["totals"],
        "crossing_fields": [(f, f.replace("_", " ").capitalize()) for f in CROSSING_FIELDS],
        "comparison": [
            {
                "kind": kinds.get(kind, kind),
                "today": today,
                "previous": comparison["previous_day"].get(kind, 0),
                "change": today - comparison["previous_day"].get(kind, 0),
                "average": comparison["seven_day_average"].get(kind, "0.0"),
            }
            for kind, today in comparison["today"].items()
        ],
        "notable": [
            {**n, "kind_name": kinds.get(n["kind"], n["kind"]), "url": link(n["reference"])}
            for n in content["notable"]
        ],
        "notable_more": content["notable_total"] - len(content["notable"]),
    }


def _cargo(delivered: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    categories, units = dict(CargoCategory.choices), dict(CargoUnit.choices)
    return [
        (categories.get(category, category), amount, units.get(unit, unit))
        for category, by_unit in delivered.items()
        for unit, amount in by_unit.items()
    ]


def trend_charts(page: SummaryPage, user) -> list[Chart]:
    """Reports per day and violations by review state over the ``TREND_DAYS`` days up to
    the summary's, from the stored contents of the versions the reader may see."""
    days = [page.day - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    rows = (
        summary_versions_visible_to(user=user)
        .filter(summary__center=page.center, summary__day__range=(days[0], days[-1]))
        .exclude(status=V.SUPERSEDED)
        .order_by("summary__day", "number")
        .values_list("summary__day", "content__reports", "content__violations__totals")
    )
    reports: dict[date, dict] = {}
    violations: dict[date, dict] = {}
    for day, counts, totals in rows:  # the newest version of each day wins
        reports[day] = counts or {}
        violations[day] = totals or {}
    return [
        stacked_bar_chart(
            title="Reports per day",
            days=days,
            values=reports,
            series=[(k, label) for k, label in ReportKind.choices],
            current=page.day,
        ),
        stacked_bar_chart(
            title="Violations per day by review state",
            days=days,
            values=violations,
            series=[
                ("confirmed", "Confirmed"),
                ("reported", "Reported, not yet reviewed"),
                ("disputed", "Disputed"),
            ],
            current=page.day,
        ),
    ]


# --- Compilation state (the htmx poll) -------------------------------------------------------


def queued_at(request, summary: DailySummary | None) -> datetime | None:
    if summary is None:
        return None
    value = request.session.get(QUEUED_SESSION_KEY, {}).get(str(summary.pk))
    return parse_datetime(value) if value else None


def compile_state(request, page: SummaryPage, shown: int | None) -> dict[str, Any]:
    """What the state box says: queued (and polling), compiled, stale (and polling)."""
    summary = page.summary
    queued = queued_at(request, summary)
    done = queued is not None and summary.compiled_at is not None and summary.compiled_at >= queued
    if done:
        request.session[QUEUED_SESSION_KEY] = {
            k: v
            for k, v in request.session.get(QUEUED_SESSION_KEY, {}).items()
            if k != str(summary.pk)
        }
        queued = None
    latest = page.state.latest
    # On a poll (or right after the queued compilation ran): a version other than the one
    # the page shows is ready.
    polled = bool(getattr(request, "htmx", False))
    ready = latest is not None and (shown is None or latest.number != shown) and (done or polled)
    polling = page.coordinator and summary is not None and (queued is not None or summary.stale)
    return {
        "page": page,
        "summary": summary,
        "state": page.state,
        "queued_at": queued,
        "just_compiled": done,
        "ready_version": latest if ready else None,
        "polling": polling,
        "poll_seconds": POLL_SECONDS,
        "state_url": reverse("incidents:summary_state", args=[page.center.code, page.day])
        + (f"?shown={shown}" if shown else ""),
    }


# --- Pages -----------------------------------------------------------------------------------


@dataclass
class ListRow:
    day: date
    summary: DailySummary | None
    state: SummaryState
    url: str


class SummaryListView(RoleRequiredMixin, TemplateView):
    """The reporting days of the user's center, newest first, with each day's state; a
    coordinator also sees the last closed day when it is not compiled yet."""

    template_name = "incidents/summary_list.html"

    def get(self, request, *args, **kwargs):
        wanted = request.GET.get("day")
        if wanted:
            day = parse_date(wanted) if len(wanted) == 10 else None
            if day is None:
                messages.error(request, f"Day: “{wanted}” is not a date (YYYY-MM-DD).")
                return redirect("incidents:summary_list")
            center = observer_for_user(request.user).center
            return redirect(detail_url(center, day))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        center = observer_for_user(user).center
        coordinator = is_coordinator_of(user, center.pk)
        summaries = (
            summaries_visible_to(user=user)
            .filter(center=center)
            .select_related("center")
            .prefetch_related(versions_prefetch(user))
            .order_by("-day")
        )
        page = Paginator(summaries, PAGE_SIZE).get_page(self.request.GET.get("page"))
        rows = [
            ListRow(
                day=s.day,
                summary=s,
                state=summary_state(s, s.visible_versions),
                url=detail_url(center, s.day),
            )
            for s in page.object_list
        ]
        closed = last_closed_day(center, timezone.now())
        missing = None
        if (
            coordinator
            and page.number == 1
            and not any(r.day == closed for r in rows)
            and not DailySummary.objects.filter(center=center, day=closed).exists()
        ):
            missing = ListRow(
                day=closed,
                summary=None,
                state=summary_state(None, []),
                url=detail_url(center, closed),
            )
        context.update(
            center=center,
            coordinator=coordinator,
            rows=rows,
            missing=missing,
            page=page,
            last_closed=closed,
        )
        return context


class SummaryDetailView(RoleRequiredMixin, TemplateView):
    """One reporting day: the version asked for (or the newest the user may see)."""

    template_name = "incidents/summary_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(summary_context(self.request, self.kwargs["center"], self.kwargs["day"]))
        return context


def summary_context(request, code: str, day_text: str, *, with_extras: bool = True) -> dict:
    user = request.user
    page = summary_page(user, code, day_text)
    version = page.version(request.GET.get("version"))
    content = load_content(version)
    context: dict[str, Any] = {
        "page": page,
        "center": page.center,
        "day": page.day,
        "summary": page.summary,
        "state": page.state,
        "versions": page.versions,
        "version": version,
        "content": content,
        "coordinator": page.coordinator,
        "closed": page.day <= last_closed_day(page.center, timezone.now()),
        "previous_day_url": detail_url(page.center, page.day - timedelta(days=1)),
        "next_day_url": detail_url(page.center, page.day + timedelta(days=1)),
        "can_publish": (
            page.coordinator
            and version is not None
            and version.status == V.DRAFT
            and not page.state.stale
        ),
    }
    if content is not None:
        context["b"] = bulletin(content, user=user, center=page.center)
    if with_extras:
        shown = version.number if version else None
        context["compile"] = compile_state(request, page, shown)
        context["charts"] = trend_charts(page, user) if content is not None else []
        context["trend_days"] = TREND_DAYS
        published = page.state.published
        if (
            version is not None
            and version.status == V.DRAFT
            and published is not None
            and published.number < version.number
        ):
            context["addendum_against"] = published
            context["addendum"] = content_changes(load_content(published), content)
        if content is not None:
            _start, end = reporting_period(page.center, page.day)
            context["map_config"] = map_config(
                zones=list(zone_list()),
                posts=[],
                settlements=[],
                moment=end,
                data_url=reverse("incidents:summary_map_data", args=[page.center.code, page.day]),
                time_zone=page.center.time_zone,
                report_labels={
                    "kind": dict(ReportKind.choices),
                    "status": dict(ReportStatus.choices),
                    "category": dict(ViolationCategory.choices),
                },
            )
    return context


class SummaryPrintView(RoleRequiredMixin, TemplateView):
    """The bulletin alone, laid out for paper (no map, no actions)."""

    template_name = "incidents/summary_print.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            summary_context(
                self.request, self.kwargs["center"], self.kwargs["day"], with_extras=False
            )
        )
        if context["content"] is None:
            raise Http404("Nothing compiled to print.")
        return context


class SummaryStateView(RoleRequiredMixin, View):
    """The state box alone, polled by htmx while a compilation is queued or due."""

    def get(self, request, *args, **kwargs):
        page = summary_page(request.user, self.kwargs["center"], self.kwargs["day"])
        shown = request.GET.get("shown")
        context = compile_state(request, page, int(shown) if shown and shown.isdigit() else None)
        return TemplateResponse(request, "incidents/_summary_state.html", context)


class SummaryMapDataView(RoleRequiredMixin, View):
    """The day's counted reports the user may see, as GeoJSON points (the same shape as
    ``incidents:report_map_data``; at most ``MAP_LIMIT``, newest first)."""

    def get(self, request, *args, **kwargs):
        page = summary_page(request.user, self.kwargs["center"], self.kwargs["day"])
        start, end = reporting_period(page.center, page.day)
        reports = reports_visible_to(
            user=request.user,
            queryset=Report.objects.filter(
                center=page.center,
                occurred_at__gte=start,
                occurred_at__lt=end,
                status__in=COUNTED,
            ),
        )
        rows = list(
            reports.order_by("-occurred_at", "-pk").values_list(
                "uuid",
                "reference",
                "kind",
                "status",
                "violation__category",
                "occurred_at",
                "latitude",
                "longitude",
            )[: MAP_LIMIT + 1]
        )
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "reference": reference,
                    "kind": kind,
                    "status": status,
                    "category": category or "",
                    "occurred": occurred.isoformat(),
                    "url": reverse("incidents:report_detail", args=[uuid]),
                },
            }
            for uuid, reference, kind, status, category, occurred, lat, lon in rows[:MAP_LIMIT]
        ]
        return JsonResponse(
            {
                "type": "FeatureCollection",
                "features": features,
                "truncated": len(rows) > MAP_LIMIT,
                "limit": MAP_LIMIT,
            }
        )


def version_metadata(version: SummaryVersion) -> dict[str, Any]:
    def who(user):
        return user.get_username() if user else None

    return {
        "number": version.number,
        "status": version.status,
        "compiled_at": version.compiled_at.isoformat(),
        "compiled_by": who(version.compiled_by),
        "published_at": version.published_at.isoformat() if version.published_at else None,
        "published_by": who(version.published_by),
        "content_sha256": version.content_sha256,
        "chain_index": version.chain_index,
        "previous_sha256": version.previous_sha256 or None,
        "chain_sha256": version.chain_sha256 or None,
        "sources": version.sources,
    }


class SummaryDownloadView(RoleRequiredMixin, View):
    """``download.json``: the version's content exactly, with its metadata; ``download.csv``:
    the bulletin as one flat table (``summary_csv_rows``)."""

    def get(self, request, *args, **kwargs):
        fmt = self.kwargs["fmt"]
        if fmt not in ("json", "csv"):
            raise Http404("Downloads are json or csv.")
        page = summary_page(request.user, self.kwargs["center"], self.kwargs["day"])
        listed = page.version(request.GET.get("version"))
        if listed is None:
            raise Http404("Nothing compiled yet.")
        version = SummaryVersion.objects.select_related("compiled_by", "published_by").get(
            pk=listed.pk
        )
        name = f"summary-{page.center.code}-{page.day:%Y-%m-%d}-v{version.number}"
        if fmt == "json":
            body = json.dumps(
                {"version": version_metadata(version), "content": version.content},
                ensure_ascii=False,
                indent=2,
            )
            response = HttpResponse(body, content_type="application/json; charset=utf-8")
        else:
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(summary_csv_rows(version))
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


# --- Actions (coordinators of the center) ----------------------------------------------------


class SummaryActionView(RoleRequiredMixin, View):
    allowed_roles = (ObserverRole.COORDINATOR,)
    http_method_names = ["post"]

    def target(self) -> tuple[MonitoringCenter, date]:
        center = center_for(self.request.user, self.kwargs["center"])
        return center, parse_day(self.kwargs["day"])


class SummaryCompileView(SummaryActionView):
    """Queue the day's compilation (the page then polls its state); when the task queue is
    unreachable, compile here and say so."""

    def post(self, request, *args, **kwargs):
        from ..tasks import summary_compile_task

        center, day = self.target()
        closed = last_closed_day(center, timezone.now())
        if day > closed:
            cutoff = center.reporting_day_cutoff or time(0, 0)
            messages.error(
                request,
                f"{day:%d %B %Y} has not closed yet: a day is compiled after its cut-off "
                f"({cutoff:%H:%M} {center.time_zone}).",
            )
            return redirect(detail_url(center, day))
        summary = summary_get_or_create(center=center, day=day)
        if enqueue_quietly(summary_compile_task, center_id=center.pk, day=day.isoformat()):
            queued = request.session.get(QUEUED_SESSION_KEY, {})
            queued[str(summary.pk)] = timezone.now().isoformat()
            request.session[QUEUED_SESSION_KEY] = queued
            messages.info(request, f"The compilation of {day:%d %B %Y} is queued.")
        else:
            version = summary_compile(center=center, day=day, actor=request.user)
            messages.warning(
                request,
                "The task queue is unreachable, so the summary was compiled here instead: "
                f"version {version.number} ({version.get_status_display().lower()}).",
            )
        return redirect(detail_url(center, day))


class SummaryPublishView(SummaryActionView):
    """Approve and publish a draft version (by number, as the page showed it)."""

    def post(self, request, *args, **kwargs):
        center, day = self.target()
        number = request.POST.get("version", "")
        version = (
            SummaryVersion.objects.select_related("summary__center")
            .filter(summary__center=center, summary__day=day)
            .filter(number=int(number) if number.isdigit() else -1)
            .first()
        )
        if version is None:
            messages.error(request, f"Version: no version “{number}” of this day.")
            return redirect(detail_url(center, day))
        try:
            version = summary_publish(
                version=version, actor=request.user, comment=request.POST.get("comment", "")
            )
        except PermissionDenied as exc:
            messages.error(request, str(exc) or "You may not publish this summary.")
            return redirect(detail_url(center, day, version.number))
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return redirect(detail_url(center, day, version.number))
        messages.success(
            request,
            f"Version {version.number} of {day:%d %B %Y} is published "
            f"(chain #{version.chain_index}).",
        )
        return redirect(detail_url(center, day, version.number))

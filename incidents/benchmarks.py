"""Benchmarks of the incidents app, run by ``manage.py bench`` (``make bench``).

- ``reports_lists``: the report pages and their selectors at two sizes side by side in one
  database: the Amman center with 1,000 reports and the joint working group with 100,000
  (written once by the bulk demo generator, then reused). Median milliseconds of each page
  rendered through Django's test client as a signed-in coordinator or observer, with the
  number of queries, and the ratio big/small.
- ``demo_bulk``: the bulk demo generator's speed (reports a second), in a transaction that
  is rolled back, so the benchmark database keeps its size.
- ``changes_feed`` (PostgreSQL only, after ``summary_compile`` in the same database): the
  change feed at 1,000,000 reports: first and last page of 1,000 beside OFFSET pagination at
  the same depths, a full-sync sample in records/s, database vs serialization time.
- ``summary_compile`` (PostgreSQL only, on a fresh database: ``make bench-postgres``):
  compiling one center's day of 10,000 reports at 100,000 reports in the database, then
  again after growing it to 1,000,000 with reports of other days; median seconds of each
  and the ratio.

Not timed tests: they print figures for docs/benchmarks.md. Every loop is bounded in count
and in time.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.request import Request as DRFRequest

from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source
from monitoring.models import MonitoringCenter

from .demo import DEFAULT_SEED, demo_data_bulk
from .models import Report
from .selectors import report_list, reports_visible_to
from .selectors.summaries import COUNTED, reporting_period
from .services import summary_compile

SMALL, BIG = ("AMC", 1_000), ("JWG", 100_000)
TIME_BOUND = 20.0  # seconds per measured item, whatever the repeats
PAGE = 50
BULK_SAMPLE = 20_000


def _median_ms(run: Callable[[], object], repeats: int) -> tuple[float, int]:
    """Median milliseconds of ``run`` (at most ``repeats`` runs, at most TIME_BOUND s) and
    the number of runs made."""
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max(1, repeats) and (
        not times or time.perf_counter() - started < TIME_BOUND
    ):
        begin = time.perf_counter()
        run()
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times), len(times)


def _counting(found: list):
    def wrapper(execute, sql, params, many, context):
        found.append(sql)
        return execute(sql, params, many, context)

    return wrapper


def _fill(code: str, wanted: int, log) -> int:
    have = Report.objects.filter(center__code=code).count()
    if have < wanted:
        log(f"  {code}: {have:,} reports; writing {wanted - have:,} with the bulk demo generator")
        with audit_source(AuditEntrySource.COMMAND):
            demo_data_bulk(
                reports=wanted - have,
                centers=[code],
                append=True,
                password=settings.DEMO_PASSWORD,
                log=lambda line: log(f"    {line.strip()}"),
            )
    return Report.objects.filter(center__code=code).count()


def _client(username: str) -> Client:
    extra = {}
    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        extra["HTTP_HOST"] = settings.ALLOWED_HOSTS[0]
    client = Client(**extra)
    client.force_login(get_user_model().objects.get(username=username))
    return client


def bench_reports_lists(*, repeats: int = 5, log=print, **_) -> dict:
    """The list pages at 1,000 and 100,000 reports of a center, side by side."""
    sizes = {code: _fill(code, wanted, log) for code, wanted in (SMALL, BIG)}
    log(
        f"reports_lists: {sizes[SMALL[0]]:,} reports at {SMALL[0]} beside {sizes[BIG[0]]:,} at "
        f"{BIG[0]} ({Report.objects.count():,} in the database); median of {repeats} "
        f"(at most {TIME_BOUND:.0f} s an item), ms"
    )
    secure = not settings.DEBUG and getattr(settings, "SECURE_SSL_REDIRECT", False)
    User = get_user_model()

    def page(url_name: str, username: str):
        client = _client(username)
        url = reverse(url_name)

        def run():
            response = client.get(url, secure=secure)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            return response

        return run

    def selector(username: str, counted: bool):
        user = User.objects.get(username=username)

        def run():
            visible = reports_visible_to(user=user, queryset=report_list())
            if counted:
                return visible.count()
            return list(visible.order_by("-occurred_at", "-pk")[:PAGE])

        return run

    items = [
        ("review queue, coordinator", lambda c: page("incidents:review_queue", f"coord-{c}")),
        ("reports list, coordinator", lambda c: page("incidents:report_list", f"coord-{c}")),
        ("reports list, observer", lambda c: page("incidents:report_list", f"obs-russia-{c}")),
        ("my reports, observer", lambda c: page("incidents:report_mine", f"obs-russia-{c}")),
        ("map data, coordinator", lambda c: page("incidents:report_map_data", f"coord-{c}")),
        ("selector: first 50 visible", lambda c: selector(f"coord-{c}", False)),
        ("selector: count visible", lambda c: selector(f"coord-{c}", True)),
    ]
    width = max(len(name) for name, _ in items)
    log(
        f"  {'':<{width}}  {SMALL[0] + ' ms':>10}  {BIG[0] + ' ms':>10}  {'ratio':>6}  "
        f"{'queries':>7}"
    )
    figures: dict[str, dict] = {}
    for name, make in items:
        row = {}
        for code in (SMALL[0], BIG[0]):
            run = make(code.lower())
            queries = []
            try:
                # Warm-up: templates compiled, caches filled; its queries counted (a wrapper,
                # since each request resets connection.queries).
                with connection.execute_wrapper(_counting(queries)):
                    run()
            except RuntimeError as exc:
                row[code] = {"error": str(exc)}
                continue
            median, runs = _median_ms(run, repeats)
            row[code] = {"ms": round(median, 2), "queries": len(queries), "runs": runs}
        small, big = row[SMALL[0]], row[BIG[0]]
        if "ms" in small and "ms" in big:
            ratio = big["ms"] / small["ms"]
            row["ratio"] = round(ratio, 2)
            same = small["queries"] == big["queries"]
            counts = f"{big['queries']}" if same else f"{small['queries']}/{big['queries']}"
            log(
                f"  {name:<{width}}  {small['ms']:>10.1f}  {big['ms']:>10.1f}  "
                f"{ratio:>5.1f}x  {counts:>7}"
            )
        else:
            error = small.get("error") or big.get("error")
            log(f"  {name:<{width}}  not measured: {error}")
        figures[name] = row
    return {"reports": sizes, "pages": figures}


def bench_demo_bulk(*, repeats: int = 5, log=print, **_) -> dict:
    """Reports a second of the bulk demo generator, rolled back after each run."""
    runs = max(1, min(repeats, 3))
    existing = Report.objects.count()
    log(
        f"demo_bulk: {BULK_SAMPLE:,} reports a run over every center, {runs} runs, each rolled "
        f"back ({existing:,} reports already in the database)"
    )
    rates = []
    started = time.perf_counter()
    for _ in range(runs):
        if rates and time.perf_counter() - started > 3 * TIME_BOUND:
            break
        with transaction.atomic(), audit_source(AuditEntrySource.COMMAND):
            summary = demo_data_bulk(
                reports=BULK_SAMPLE,
                append=True,
                password=settings.DEMO_PASSWORD,
                log=lambda line: None,
                days=365,
            )
            transaction.set_rollback(True)
        rates.append(BULK_SAMPLE / summary.seconds)
        log(f"  {BULK_SAMPLE / summary.seconds:,.0f} reports/s ({summary.seconds:.1f} s)")
    median = statistics.median(rates)
    log(f"  median {median:,.0f} reports/s")
    return {"reports": BULK_SAMPLE, "existing": existing, "reports_per_s": median}


# --- summary_compile --------------------------------------------------------------------------

SUMMARY_CENTER = "JWG"  # cut-off 00:00: a demo day (local midnight to midnight) is its day
SUMMARY_DAY_REPORTS = 10_000
SUMMARY_TOTALS = (100_000, 1_000_000)
SUMMARY_TARGET_S = 2.0
SUMMARY_TIME_BOUND = 120.0  # seconds of measured compilations per size, whatever the repeats
SUMMARY_SPAN_DAYS = 365
# The compiled day and the seven days it is compared with: the growth writes no report there,
# so both sizes compile exactly the same data.
SUMMARY_WINDOW_DAYS = 8


def _bulk(*, reports: int, days: int, until: date, seed: int, log) -> float:
    """``reports`` bulk demo reports of the benchmark's center over ``days`` days ending
    ``until``; returns the seconds taken. Bounded by count; progress every 5 %."""
    with audit_source(AuditEntrySource.COMMAND):
        summary = demo_data_bulk(
            reports=reports,
            centers=[SUMMARY_CENTER],
            days=days,
            until=until,
            seed=seed,
            append=True,
            password=settings.DEMO_PASSWORD,
            log=lambda line: log(f"    {line.strip()}"),
        )
    return summary.seconds


def _vacuum_analyze(log) -> float:
    """VACUUM ANALYZE after a bulk load, as autovacuum would do in time (and so that it does
    not run during the measurements)."""
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    seconds = time.perf_counter() - began
    log(f"  VACUUM (ANALYZE) in {seconds:.1f} s")
    return seconds


def _compile_once(center, day: date, *, rollback: bool, wrapper=None):
    """One ``summary_compile`` of ``day``: (seconds, version). With ``rollback`` it runs in a
    transaction rolled back afterwards, so every run starts from the same state (no summary
    of the day yet) and writes its draft."""
    began = time.perf_counter()
    with transaction.atomic(), audit_source(AuditEntrySource.TASK):
        if wrapper is not None:
            with connection.execute_wrapper(wrapper):
                version = summary_compile(center=center, day=day)
        else:
            version = summary_compile(center=center, day=day)
        seconds = time.perf_counter() - began
        content = version.content
        transaction.set_rollback(rollback)
    return seconds, content


def _sql_timing(found: list):
    def wrapper(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            found.append((time.perf_counter() - began, sql))

    return wrapper


def _measure_day(center, day: date, *, repeats: int, log) -> dict:
    """The compilation of ``day``: a first (cold) run, then the median of ``repeats`` runs
    (at most SUMMARY_TIME_BOUND s), each rolled back; then one run with its SQL timed."""
    cold, content = _compile_once(center, day, rollback=True)
    running = content["convoys"]["running_totals"]["computed_from"]
    log(
        f"  first compilation {cold:.3f} s ({content['source_count']:,} reports counted, "
        f"running totals from the {running})"
    )
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < max(1, repeats) and (
        not times or time.perf_counter() - began < SUMMARY_TIME_BOUND
    ):
        seconds, content = _compile_once(center, day, rollback=True)
        times.append(seconds)
        log(f"  run {len(times)}/{repeats}: {seconds:.3f} s")
    queries: list[tuple[float, str]] = []
    profiled, _content = _compile_once(center, day, rollback=True, wrapper=_sql_timing(queries))
    sql = sum(t for t, _ in queries)
    slowest = sorted(queries, key=lambda q: q[0], reverse=True)[:3]
    log(
        f"  one more run {profiled:.3f} s: {len(queries)} SQL queries, {sql:.3f} s in the "
        f"database (with the driver), {profiled - sql:.3f} s in Python; slowest:"
    )
    for seconds, text in slowest:
        log(f"    {seconds * 1000:7.1f} ms  {' '.join(text.split())[:110]}")
    median = statistics.median(times)
    load = os.getloadavg()[0]
    log(
        f"  median {median:.3f} s of {len(times)} (min {min(times):.3f}, max {max(times):.3f}); "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    return {
        "load_average": round(load, 2),
        "median_s": round(median, 4),
        "runs": len(times),
        "times_s": [round(t, 4) for t in times],
        "first_s": round(cold, 4),
        "source_count": content["source_count"],
        "running_totals_from": content["convoys"]["running_totals"]["computed_from"],
        "queries": len(queries),
        "sql_s": round(sql, 4),
        "slowest_sql": [
            {"ms": round(t * 1000, 1), "sql": " ".join(q.split())[:300]} for t, q in slowest
        ],
    }


def bench_summary_compile(
    *,
    repeats: int = 5,
    log=print,
    day_reports: int = SUMMARY_DAY_REPORTS,
    totals: tuple[int, ...] = SUMMARY_TOTALS,
    **_,
) -> dict:
    """One center's day of ``day_reports`` reports compiled at each database size of
    ``totals`` (smallest first), growing the same database in between with reports of other
    days. PostgreSQL, fresh database (``make bench-postgres``)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("summary_compile runs on PostgreSQL only: `make bench-postgres`")
    totals = tuple(sorted(totals))
    if day_reports < 1 or not totals or totals[0] <= day_reports:
        raise RuntimeError(
            f"the smallest size ({totals[0] if totals else None}) must be above the day's "
            f"{day_reports} reports"
        )
    if Report.objects.exists():
        raise RuntimeError(
            "summary_compile needs a fresh database (nothing is ever deleted, so no reset): "
            "`make bench-postgres` makes one for each run"
        )
    center = MonitoringCenter.objects.get(code=SUMMARY_CENTER)
    # Two days back: the day's reports are filed and reviewed before now.
    day = timezone.localdate() - timedelta(days=2)
    before = day - timedelta(days=1)
    start, end = reporting_period(center, day)
    log(
        f"summary_compile: {SUMMARY_CENTER} day {day} ({day_reports:,} reports) at "
        f"{' then '.join(f'{n:,}' for n in totals)} reports in the database; every report in "
        f"{SUMMARY_CENTER}; median of {repeats}"
    )
    started = time.perf_counter()
    figures: dict = {"center": SUMMARY_CENTER, "day": day.isoformat(), "sizes": []}
    for position, total in enumerate(totals):
        have = Report.objects.count()
        if position == 0:
            log(f"[{total:,}] {total - day_reports:,} reports over the {SUMMARY_SPAN_DAYS} days")
            log(f"  before {day}, then {day_reports:,} on {day}")
            fill_s = _bulk(
                reports=total - day_reports,
                days=SUMMARY_SPAN_DAYS,
                until=before,
                seed=DEFAULT_SEED,
                log=log,
            )
            fill_s += _bulk(reports=day_reports, days=1, until=day, seed=DEFAULT_SEED + 1, log=log)
        else:
            until = day - timedelta(days=SUMMARY_WINDOW_DAYS)
            log(
                f"[{total:,}] growing: {total - have:,} reports over the {SUMMARY_SPAN_DAYS} days "
                f"ending {until} (none in the compiled day or the 7 days it is compared with)"
            )
            fill_s = _bulk(
                reports=total - have,
                days=SUMMARY_SPAN_DAYS,
                until=until,
                seed=DEFAULT_SEED + 1 + position,
                log=log,
            )
        vacuum_s = _vacuum_analyze(log)
        in_day = Report.objects.filter(
            center=center, occurred_at__gte=start, occurred_at__lt=end
        ).count()
        counted = Report.objects.filter(
            center=center, occurred_at__gte=start, occurred_at__lt=end, status__in=COUNTED
        ).count()
        size = Report.objects.count()
        log(
            f"  {size:,} reports in the database ({size / 1e6:.2f} M); {in_day:,} in the day, "
            f"{counted:,} of them counted (not draft, rejected or retracted)"
        )
        # The normal path: the day before is compiled first, so the day's running totals
        # start from its. (Its own day before is not compiled: it recounts every convoy.)
        before_s, before_content = _compile_once(center, before, rollback=False)
        log(
            f"  the day before ({before}) compiled in {before_s:.3f} s "
            f"(running totals {before_content['convoys']['running_totals']['computed_from']})"
        )
        measured = _measure_day(center, day, repeats=repeats, log=log)
        if measured["running_totals_from"] != "previous day":
            raise RuntimeError(
                f"the day's running totals came from {measured['running_totals_from']!r}, not "
                "the previous day: not the normal path"
            )
        figures["sizes"].append(
            {
                "reports": size,
                "day_reports": in_day,
                "counted": counted,
                "fill_s": round(fill_s, 1),
                "vacuum_s": round(vacuum_s, 1),
                "day_before_s": round(before_s, 4),
                "day_before_running_totals": before_content["convoys"]["running_totals"][
                    "computed_from"
                ],
                **measured,
            }
        )
    small, big = figures["sizes"][0], figures["sizes"][-1]
    ratio = big["median_s"] / small["median_s"]
    figures["ratio"] = round(ratio, 2)
    figures["target_s"] = SUMMARY_TARGET_S
    figures["met"] = big["median_s"] < SUMMARY_TARGET_S
    log(
        f"summary_compile: {small['day_reports']:,}-report day compiled in "
        f"{small['median_s']:.3f} s at {small['reports']:,} reports, {big['median_s']:.3f} s "
        f"at {big['reports']:,}: ratio {ratio:.2f}x; target {SUMMARY_TARGET_S:.0f} s "
        f"{'met' if figures['met'] else 'NOT met'}; "
        f"{sum(s['runs'] for s in figures['sizes'])} measured compilations, "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    return figures


FEED_REPORTS = 1_000_000
FEED_PAGE = 1000
FEED_SYNC_SECONDS = 120.0  # the sequential full-sync sample: at most this long


def _feed_page(client: Client, after: int) -> tuple[float, dict]:
    began = time.perf_counter()
    response = client.get(reverse("api-changes"), {"after": after, "limit": FEED_PAGE})
    seconds = time.perf_counter() - began
    if response.status_code != 200:
        raise RuntimeError(f"the feed answered {response.status_code}: {response.content[:200]}")
    return seconds, response.json()


def bench_changes_feed(
    *, repeats: int = 5, log=print, feed_reports: int = FEED_REPORTS, **_
) -> dict:
    """The change feed at ``feed_reports`` reports (PostgreSQL): the first and the last page
    of 1,000 (keyset, ``?after=``) beside the same depths through OFFSET pagination of the
    report list, a sequential full-sync sample (records/s), and a 1,000-record page split
    into its database and serialization time."""
    from monitoring.models import Change
    from monitoring.services import changes_sequence

    from .api.feed import report_representations
    from .api.serializers import ReportSerializer
    from .selectors import report_full_list

    if connection.vendor != "postgresql":
        raise RuntimeError("changes_feed runs on PostgreSQL only: `make bench-postgres`")
    have = Report.objects.count()
    if have < feed_reports:
        log(f"changes_feed: {have:,} reports; writing {feed_reports - have:,} more")
        _bulk(
            reports=feed_reports - have,
            days=SUMMARY_SPAN_DAYS,
            until=timezone.localdate() - timedelta(days=SUMMARY_WINDOW_DAYS),
            seed=DEFAULT_SEED + 7,
            log=log,
        )
    began = time.perf_counter()
    numbered = changes_sequence()
    number_s = time.perf_counter() - began
    log(f"  numbered {numbered:,} waiting feed rows in {number_s:.1f} s")
    _vacuum_analyze(log)
    rows = Change.objects.count()
    reports = Report.objects.count()
    username = f"coord-{SUMMARY_CENTER.lower()}"
    client = _client(username)
    log(
        f"changes_feed: {reports:,} reports, {rows:,} feed rows; as {username}, pages of "
        f"{FEED_PAGE:,}; median of {repeats}"
    )
    # The last page's cursor: the seq FEED_PAGE rows before the end.
    last_after = (
        Change.objects.filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("seq", flat=True)[FEED_PAGE : FEED_PAGE + 1]
        .first()
        or 0
    )
    list_url = reverse("incidents-api:report-list")
    visible = reports_visible_to(
        user=get_user_model().objects.get(username=username), queryset=report_list()
    ).count()

    def keyset(after: int):
        return lambda: _feed_page(client, after)

    def offset(position: int):
        def run():
            response = client.get(
                list_url, {"limit": FEED_PAGE, "offset": position, "ordering": "updated_at"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"the report list answered {response.status_code}")

        return run

    items = {
        "feed, first page (after=0)": keyset(0),
        f"feed, last page (after={last_after:,})": keyset(last_after),
        "report list, OFFSET 0": offset(0),
        f"report list, OFFSET {max(0, visible - FEED_PAGE):,}": offset(max(0, visible - FEED_PAGE)),
    }
    figures: dict = {"reports": reports, "feed_rows": rows, "numbering_s": round(number_s, 1)}
    pages = {}
    for name, run in items.items():
        run()  # warm-up
        median, runs = _median_ms(run, repeats)
        pages[name] = {"ms": round(median, 1), "runs": runs}
        log(f"  {name:<42} {median:>9.1f} ms  ({runs} runs)")
    names = list(pages)
    figures["pages"] = pages
    figures["keyset_last_over_first"] = round(pages[names[1]]["ms"] / pages[names[0]]["ms"], 2)
    figures["offset_last_over_first"] = round(pages[names[3]]["ms"] / pages[names[2]]["ms"], 2)
    log(
        f"  last/first: keyset {figures['keyset_last_over_first']:.2f}x (goal <= 1.5x), "
        f"OFFSET {figures['offset_last_over_first']:.2f}x"
    )

    # A 1,000-record page of reports: the database part and the serialization part.
    keys = list(
        Change.objects.filter(record_type="report", seq__isnull=False)
        .order_by("seq")
        .values_list("record_key", flat=True)[:FEED_PAGE]
    )
    request = client.get(reverse("api-root")).wsgi_request
    drf_request = DRFRequest(request)
    loaded: list = []

    def load():
        loaded[:] = list(report_full_list().filter(uuid__in=keys))

    def serialize():
        return ReportSerializer(loaded, many=True, context={"request": drf_request}).data

    def direct():
        return report_representations(
            reports=report_full_list().filter(uuid__in=keys), request=drf_request
        )

    load()
    db_ms, _ = _median_ms(load, repeats)
    ser_ms, _ = _median_ms(serialize, repeats)
    direct()
    direct_ms, _ = _median_ms(direct, repeats)
    figures["page_split"] = {
        "modelserializer_database_ms": round(db_ms, 1),
        "modelserializer_serialize_ms": round(ser_ms, 1),
        "direct_ms": round(direct_ms, 1),
        "ratio": round((db_ms + ser_ms) / direct_ms, 2),
    }
    log(
        f"  a page of {len(loaded):,} reports through ReportSerializer: database {db_ms:.1f} ms "
        f"+ serialization {ser_ms:.1f} ms ({100 * ser_ms / (db_ms + ser_ms):.0f} % of the two); "
        f"through the feed's direct serializer (its queries included): {direct_ms:.1f} ms, "
        f"{(db_ms + ser_ms) / direct_ms:.1f}x faster"
    )

    # Full sync: pages from the beginning, one after the other, for at most
    # FEED_SYNC_SECONDS; records/s over the sample.
    after, delivered, scanned_pages = 0, 0, 0
    began = time.perf_counter()
    while time.perf_counter() - began < FEED_SYNC_SECONDS:
        _, body = _feed_page(client, after)
        delivered += len(body["results"])
        scanned_pages += 1
        after = body["cursor"]
        if not body["has_more"]:
            break
    seconds = time.perf_counter() - began
    rate = delivered / seconds
    figures["full_sync"] = {
        "records": delivered,
        "pages": scanned_pages,
        "seconds": round(seconds, 1),
        "records_per_s": round(rate),
        "complete": after
        >= (Change.objects.order_by("-seq").values_list("seq", flat=True).first() or 0),
        "estimated_full_s": round(rows / max(rate, 1e-9)),
    }
    log(
        f"  full sync sample: {delivered:,} records in {scanned_pages} pages, {seconds:.1f} s: "
        f"{rate:,.0f} records/s (all {rows:,} rows: about {rows / max(rate, 1e-9) / 60:.0f} min)"
    )
    return figures


# Run only on this database vendor (``manage.py bench`` skips them elsewhere, with a note).
bench_summary_compile.vendor = "postgresql"
bench_changes_feed.vendor = "postgresql"

BENCHMARKS = {
    "reports_lists": bench_reports_lists,
    "demo_bulk": bench_demo_bulk,
    "summary_compile": bench_summary_compile,
    "changes_feed": bench_changes_feed,
}

"""Benchmarks of the incidents app, run by ``manage.py bench`` (``make bench``).

- ``reports_lists``: the report pages and their selectors at two sizes side by side in one
  database: the Amman center with 1,000 reports and the joint working group with 100,000
  (written once by the bulk demo generator, then reused). Median milliseconds of each page
  rendered through Django's test client as a signed-in coordinator or observer, with the
  number of queries, and the ratio big/small.
- ``demo_bulk``: the bulk demo generator's speed (reports a second), in a transaction that
  is rolled back, so the benchmark database keeps its size.

Not timed tests: they print figures for docs/benchmarks.md. Every loop is bounded in count
and in time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source

from .demo import demo_data_bulk
from .models import Report
from .selectors import report_list, reports_visible_to

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


BENCHMARKS = {"reports_lists": bench_reports_lists, "demo_bulk": bench_demo_bulk}

"""The load run: observers filing through the web forms, partner tools writing and syncing
through the API, against a :class:`tests.stack.Stack`; then count and compare.

Bounded in time (``duration``; every request has a timeout; threads are joined with a
deadline) and in count (``max_filings`` per user). See tests/load/__init__.py.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.load.accounts import marker
from tests.load.client import Recorder, api_session, csrf_token, web_session
from tests.stack import LOCKED, Stack

KINDS = ("violation", "convoy", "checkpoint")
REPORT_PATH_RE = re.compile(r"/reports/([0-9a-f-]{36})/$")
PASSWORD = "load-test-Passw0rd-not-secret"  # a throwaway stack's accounts


@dataclass
class LoadConfig:
    database: str = "sqlite"
    duration: float = 120
    observers: int = 50
    partners: int = 4
    think: tuple[float, float] = (5.0, 15.0)
    max_filings: int = 500
    web_workers: int = 2
    web_threads: int = 4
    worker_concurrency: int = 4
    sweep_seconds: int = 30
    timeout: float = 60
    seed: int = 1
    progress_every: float = 10
    keep: bool = False
    #: Statuses that do not fail the run (a fault scenario's 503s; 0 = no response).
    tolerate: tuple[int, ...] = ()
    #: Arrivals are spread over this many seconds (at most a sixth of the run).
    ramp_up: float = 30


@dataclass
class Filings:
    """What the clients were told: accepted (marker -> uuid), and filings that got no
    answer (a timeout: they may or may not have been stored)."""

    accepted: dict[str, str] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, mark: str, report_uuid: str) -> None:
        with self.lock:
            self.accepted[mark] = report_uuid

    def unanswer(self, mark: str) -> None:
        with self.lock:
            self.unanswered.add(mark)

    def refuse(self, mark: str) -> None:
        with self.lock:
            self.refused.add(mark)


@dataclass
class LoadResult:
    config: LoadConfig
    run_id: str
    elapsed: float
    table: list[dict]
    web: Filings
    api: Filings
    stored: dict[str, dict]
    missing: list[str]
    mismatched: list[str]
    server_errors: int
    no_response: int
    unexpected: list[str]
    locked: list[str]
    log_5xx: list[str]
    log_tracebacks: int
    stack_info: dict
    samples: list = field(default_factory=list)
    #: Time inside gunicorn per request (its access log), by method and path: without the
    #: wait for a free worker thread that the clients' latencies include.
    server_table: list[dict] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.web.accepted) + len(self.api.accepted)

    @property
    def failures(self) -> list[str]:
        failures = []
        if self.accepted == 0:
            failures.append("no report was accepted")
        if self.missing:
            failures.append(f"{len(self.missing)} accepted reports missing from the database")
        if self.mismatched:
            failures.append(f"{len(self.mismatched)} reports stored under another uuid")
        if self.server_errors:
            failures.append(f"{self.server_errors} responses 5xx")
        if self.log_5xx:
            failures.append(f"{len(self.log_5xx)} 5xx in the access log")
        if self.no_response:
            failures.append(f"{self.no_response} requests without a response")
        if self.unexpected:
            failures.append(f"{len(self.unexpected)} unexpected statuses")
        if self.locked:
            failures.append(f'{len(self.locked)} "{LOCKED}" (responses and logs)')
        return failures

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> dict:
        return {
            "load_average": self.stack_info.get("load_average"),
            "run_id": self.run_id,
            "database": self.config.database,
            "duration": self.config.duration,
            "observers": self.config.observers,
            "partners": self.config.partners,
            "think": list(self.config.think),
            "web_workers": self.config.web_workers,
            "web_threads": self.config.web_threads,
            "elapsed": round(self.elapsed, 1),
            "table": self.table,
            "server_table": self.server_table,
            "accepted_web": len(self.web.accepted),
            "accepted_api": len(self.api.accepted),
            "unanswered": len(self.web.unanswered | self.api.unanswered),
            "stored": len(self.stored),
            "missing": self.missing,
            "failures": self.failures,
            "log_tracebacks": self.log_tracebacks,
        }


# --- What the clients send -------------------------------------------------------------------


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def _management(prefix: str, rows: int) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(rows),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


_shift_slots = itertools.count()


def form_data(kind: str, world: dict, rng: random.Random, mark: str, token: str) -> dict:
    """A valid filing of ``kind``, as the page posts it, with ``mark`` in its narrative.

    Checkpoint shifts of one delegation at one checkpoint may not overlap: each shift gets
    a five-minute slot of its own, going back from three hours ago."""
    tz = ZoneInfo(world["time_zone"])
    occurred = datetime.now(UTC) - timedelta(minutes=rng.randint(180, 36 * 60))
    if kind == "checkpoint":
        occurred = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(
            minutes=180 + 7 * next(_shift_slots)
        )
    post = rng.choice(world["posts"])
    settlement = rng.choice(world["settlements"])
    party = rng.choice(world["parties"])
    data = {
        "csrfmiddlewaretoken": token,
        "latitude": f"{post['lat']:.5f}",
        "longitude": f"{post['lon']:.5f}",
        "place_precision": "exact",
        "settlement": str(settlement["pk"]),
        "post": str(post["pk"]),
        "occurred_at": _local(occurred, tz),
        "time_precision": "exact",
        "source": rng.choice(["seen", "heard"]),
        "confidence": "medium",
        "narrative": f"{mark} Load test filing: {kind} observed from {post['code']}.",
        "zone_override": "",
        "zone_override_reason": "",
        "action": "submit" if rng.random() < 0.7 else "draft",
    }
    if kind == "violation":
        data.update(
            category="shelling",
            alleged_perpetrator="",
            affected_party=str(party),
            weapon="120 mm mortar",
            events=str(rng.randint(1, 9)),
            direction_degrees=str(rng.randint(0, 359)),
            distance_km="2.5",
            damage="",
        )
        for group in ("civilians", "combatants"):
            for harm in ("killed", "injured"):
                for estimate in ("low", "best", "high"):
                    data[f"{group}_{harm}_{estimate}"] = "0"
    elif kind == "convoy":
        stops = rng.sample(world["checkpoints"], k=min(2, len(world["checkpoints"])))
        data.update(
            operation="road_convoy",
            organizations=[str(rng.choice(world["organizations"]))],
            vehicle_count=str(rng.randint(2, 30)),
            origin="Hama warehouse",
            destination=str(settlement["pk"]),
            planned_at=_local(occurred - timedelta(hours=2), tz),
            status="delivered",
            beneficiaries=str(rng.randint(100, 9000)),
            obstruction_reason="",
            **_management("cargo", 1),
            **{
                "cargo-0-category": "food",
                "cargo-0-quantity": "12.5",
                "cargo-0-unit": "tonnes",
                "cargo-0-delivered_quantity": "12.5",
            },
            **_management("route", len(stops)),
            **_management("stages", 1),
            **{
                "stages-0-stage": "Departed",
                "stages-0-at": _local(occurred - timedelta(hours=1), tz),
                "stages-0-note": "",
            },
        )
        for index, stop in enumerate(stops):
            data[f"route-{index}-post"] = str(stop["pk"])
            data[f"route-{index}-passed_at"] = _local(occurred - timedelta(minutes=30 - index), tz)
    else:
        checkpoint = rng.choice(world["checkpoints"])
        data.update(
            latitude=f"{checkpoint['lat']:.5f}",
            longitude=f"{checkpoint['lon']:.5f}",
            post="",
            checkpoint=str(checkpoint["pk"]),
            period_start=_local(occurred - timedelta(minutes=5), tz),
            period_end=_local(occurred, tz),
            status="restricted",
            civilians_in=str(rng.randint(0, 500)),
            civilians_out=str(rng.randint(0, 500)),
            vehicles_in="10",
            vehicles_out="9",
            humanitarian_loads="2",
            commercial_loads="5",
            **_management("incidents", 1),
            **{
                "incidents-0-kind": "delay",
                "incidents-0-count": "3",
                "incidents-0-party": str(party),
                "incidents-0-reason_cited": "Papers checked twice.",
            },
        )
    return data


def api_payload(world: dict, rng: random.Random, mark: str) -> dict:
    """A partner tool's violation report, reference data named by code."""
    occurred = datetime.now(UTC) - timedelta(minutes=rng.randint(180, 36 * 60))
    post = rng.choice(world["posts"])
    return {
        "kind": "violation",
        "latitude": round(post["lat"], 5),
        "longitude": round(post["lon"], 5),
        "post": post["code"],
        "occurred_at": occurred.isoformat(),
        "source": "partner",
        "narrative": f"{mark} Load test: shelling reported by a partner near {post['code']}.",
        "detail": {"category": "shelling", "events": rng.randint(1, 5)},
    }


# --- The users -------------------------------------------------------------------------------


class Run:
    def __init__(self, config: LoadConfig, stack: Stack, world: dict, run_id: str) -> None:
        self.config = config
        self.stack = stack
        self.world = world
        self.run_id = run_id
        self.recorder = Recorder(base_url=stack.url, timeout=config.timeout)
        self.stop = threading.Event()
        self.web = Filings()
        self.api = Filings()

    def arrival(self, rng: random.Random) -> float:
        """When a user starts: spread over the ramp-up, as a shift starts."""
        return rng.uniform(0, min(self.config.ramp_up, self.config.duration / 6))

    def think(self, rng: random.Random) -> None:
        self.stop.wait(rng.uniform(*self.config.think))

    def observer(self, index: int, username: str) -> None:
        rng = random.Random(self.config.seed * 1000 + index)
        rec = self.recorder
        session = web_session(self.stack.url)
        self.stop.wait(self.arrival(rng))
        login = "/accounts/login/"
        page = rec.request(session, "GET", "web login page", login, expect=(200,))
        if page is None or page.status_code != 200:
            return
        answer = rec.request(
            session,
            "POST",
            "web login",
            login,
            expect=(302,),
            referer=login,
            data={
                "csrfmiddlewaretoken": csrf_token(page.text) or "",
                "username": username,
                "password": PASSWORD,
            },
        )
        if answer is None or answer.status_code != 302:
            return
        who = f"o{index}"
        for n in range(1, self.config.max_filings + 1):
            if self.stop.is_set():
                return
            kind = KINDS[(index + n) % len(KINDS)]
            new = f"/reports/new/{kind}/"
            page = rec.request(session, "GET", "web form page", new, expect=(200,))
            token = csrf_token(page.text) if page is not None else None
            if token is None:
                self.think(rng)
                continue
            mark = marker(self.run_id, who, n)
            answer = rec.request(
                session,
                "POST",
                f"web file {kind}",
                new,
                expect=(302,),
                referer=new,
                data=form_data(kind, self.world, rng, mark, token),
            )
            if answer is None:
                self.web.unanswer(mark)
            elif answer.status_code == 302 and (
                found := REPORT_PATH_RE.search(answer.headers.get("Location", ""))
            ):
                self.web.accept(mark, found.group(1))
                rec.request(session, "GET", "web report page", found.group(0), expect=(200,))
            else:
                self.web.refuse(mark)
            if n % 4 == 0:
                rec.request(session, "GET", "web my reports", "/reports/mine/", expect=(200,))
            self.think(rng)

    def partner(self, index: int, secret: str) -> None:
        rng = random.Random(self.config.seed * 1000 + 500 + index)
        rec = self.recorder
        session = api_session(secret)
        self.stop.wait(self.arrival(rng))
        cursor = self.sync(session, 0)
        who = f"p{index}"
        for n in range(1, self.config.max_filings + 1):
            if self.stop.is_set():
                return
            mark = marker(self.run_id, who, n)
            payload = api_payload(self.world, rng, mark)
            key = str(uuid.uuid4())
            answer = None
            for _attempt in range(3):  # a tool retries with the same key: one report
                answer = rec.request(
                    session,
                    "POST",
                    "api file report",
                    "/api/v1/reports/",
                    expect=(201,),
                    json=payload,
                    headers={"Idempotency-Key": key},
                )
                if answer is not None:
                    break
            if answer is None:
                self.api.unanswer(mark)
            elif answer.status_code == 201:
                self.api.accept(mark, answer.json()["uuid"])
            else:
                self.api.refuse(mark)
            cursor = self.sync(session, cursor)
            rec.request(
                session, "GET", "api report list", "/api/v1/reports/?limit=50", expect=(200,)
            )
            self.think(rng)

    def sync(self, session, cursor: int) -> int:
        """Page through the change feed from ``cursor``; the new cursor."""
        for _page in range(200):
            answer = self.recorder.request(
                session,
                "GET",
                "api changes",
                f"/api/v1/changes/?after={cursor}&limit=100",
                expect=(200,),
            )
            if answer is None or answer.status_code != 200:
                return cursor
            body = answer.json()
            cursor = body["cursor"]
            if not body["has_more"] or self.stop.is_set():
                break
        return cursor

    def progress(self) -> None:
        last = 0
        while not self.stop.wait(self.config.progress_every):
            count, problems = self.recorder.snapshot()
            elapsed = self.recorder.elapsed()
            rate = (count - last) / self.config.progress_every
            last = count
            print(
                f"  {elapsed:6.0f} s  {count:7d} requests  {rate:6.1f}/s  "
                f"{len(self.web.accepted) + len(self.api.accepted):6d} reports  "
                f"{problems:4d} errors",
                flush=True,
            )


# --- The run ---------------------------------------------------------------------------------


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def summarize(samples, elapsed: float) -> list[dict]:
    groups: dict[str, list] = {}
    for sample in samples:
        groups.setdefault(sample.endpoint, []).append(sample)
    rows = []
    for name in [*sorted(groups), "TOTAL"]:
        group = samples if name == "TOTAL" else groups[name]
        latencies = sorted(s.latency * 1000 for s in group)
        rows.append(
            {
                "endpoint": name,
                "count": len(group),
                "errors": sum(1 for s in group if s.status == 0 or s.status >= 400),
                "p50_ms": round(_percentile(latencies, 0.50), 1),
                "p95_ms": round(_percentile(latencies, 0.95), 1),
                "max_ms": round(latencies[-1] if latencies else 0.0, 1),
                "per_s": round(len(group) / elapsed, 2) if elapsed else 0.0,
            }
        )
    return rows


ACCESS_RE = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3}) \S+ (\d+)ms')


def server_times(access_log: Path, elapsed: float) -> list[dict]:
    """p50/p95/max of the time gunicorn spent per request, by method and path (uuids and
    query strings folded), from its access log."""
    groups: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    try:
        lines = access_log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        match = ACCESS_RE.search(line)
        if match is None:
            continue
        method, path, status, ms = match.groups()
        name = f"{method} {re.sub(r'[0-9a-f-]{36}', '<uuid>', path.split('?')[0])}"
        groups.setdefault(name, []).append(float(ms))
        failed[name] = failed.get(name, 0) + (int(status) >= 500)
    rows = []
    for name in sorted(groups):
        values = sorted(groups[name])
        rows.append(
            {
                "endpoint": name,
                "count": len(values),
                "errors": failed[name],
                "p50_ms": _percentile(values, 0.50),
                "p95_ms": _percentile(values, 0.95),
                "max_ms": values[-1],
                "per_s": round(len(values) / elapsed, 2) if elapsed else 0.0,
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    header = ("endpoint", "count", "errors", "p50 ms", "p95 ms", "max ms", "req/s")
    lines = [
        (
            r["endpoint"],
            str(r["count"]),
            str(r["errors"]),
            f"{r['p50_ms']:.0f}",
            f"{r['p95_ms']:.0f}",
            f"{r['max_ms']:.0f}",
            f"{r['per_s']:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
    out = []
    for row in [header, *lines]:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  ".join(cells))
    return "\n".join(out)


def run_load(
    config: LoadConfig,
    *,
    during: Callable[[Stack, threading.Event], None] | None = None,
    log: Callable[[str], None] = print,
) -> LoadResult:
    """Start a stack, run the load against it, count and compare; the stack is stopped at
    the end. ``during(stack, stop)`` (a fault scenario, say) runs in a thread of its own
    while the load runs; ``stop`` is set when the load ends."""
    run_id = uuid.uuid4().hex[:8]
    log(
        f"==> load test {run_id} on {config.database}: {config.observers} observers, "
        f"{config.partners} partners, {config.duration:.0f} s; starting the stack"
    )
    start = time.monotonic()
    with Stack(
        database=config.database,
        web_workers=config.web_workers,
        web_threads=config.web_threads,
        worker_concurrency=config.worker_concurrency,
        sweep_seconds=config.sweep_seconds,
        keep=config.keep,
    ) as stack:
        log(
            f"==> stack up in {time.monotonic() - start:.0f} s at {stack.url} ({stack.folder}); "
            f"steps (s): {stack.timings}"
        )
        made = stack.run(
            [
                sys.executable,
                "-m",
                "tests.load.accounts",
                "setup",
                "--observers",
                str(config.observers),
                "--partners",
                str(config.partners),
                "--password",
                PASSWORD,
            ]
        )
        world = json.loads(made.stdout.strip().splitlines()[-1])
        run = Run(config, stack, world, run_id)
        threads = [
            threading.Thread(target=run.observer, args=(i + 1, name), name=f"obs-{i + 1}")
            for i, name in enumerate(world["observers"])
        ] + [
            threading.Thread(target=run.partner, args=(i + 1, secret), name=f"partner-{i + 1}")
            for i, secret in enumerate(world["partner_tokens"])
        ]
        log(f"==> {len(threads)} users for {config.duration:.0f} s (progress every 10 s)")
        run.recorder.started = time.monotonic()
        progress = threading.Thread(target=run.progress, daemon=True)
        for thread in threads:
            thread.daemon = True
            thread.start()
        progress.start()
        fault = None
        if during is not None:
            fault = threading.Thread(target=during, args=(stack, run.stop), daemon=True)
            fault.start()
        load_before = os.getloadavg()
        run.stop.wait(config.duration)
        run.stop.set()
        load_after = os.getloadavg()
        deadline = time.monotonic() + config.timeout * 4 + 30
        for thread in [*threads, *([fault] if fault else [])]:
            thread.join(max(0.1, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        elapsed = run.recorder.elapsed()
        log(f"==> load done after {elapsed:.0f} s; counting and comparing")
        stored = json.loads(
            stack.run([sys.executable, "-m", "tests.load.accounts", "stored", "--run-id", run_id])
            .stdout.strip()
            .splitlines()[-1]
        )["reports"]
        accepted = {**run.web.accepted, **run.api.accepted}
        missing = sorted(m for m in accepted if m not in stored)
        mismatched = sorted(
            m for m, u in accepted.items() if m in stored and stored[m]["uuid"] != u
        )
        samples = list(run.recorder.samples)
        locked = [f"response: {p.endpoint} {p.status}" for p in run.recorder.locked]
        locked += stack.grep_logs(re.escape(LOCKED))
        log_5xx = [
            line
            for line in stack.grep_logs(r'" 5\d\d ', names=["access"])
            if not any(f'" {status} ' in line for status in config.tolerate)
        ]
        tracebacks = len(stack.grep_logs(r"^Traceback"))
        unexpected = [
            f"{p.endpoint}: {p.status} {p.detail}"
            for p in run.recorder.problems
            if p.status and p.status not in config.tolerate
        ]
        if stuck:
            unexpected.append(f"threads still running at the deadline: {', '.join(stuck)}")
        result = LoadResult(
            config=config,
            run_id=run_id,
            elapsed=elapsed,
            table=summarize(samples, elapsed),
            web=run.web,
            api=run.api,
            stored=stored,
            missing=missing,
            mismatched=mismatched,
            server_errors=sum(
                1 for s in samples if s.status >= 500 and s.status not in config.tolerate
            ),
            no_response=sum(1 for s in samples if s.status == 0 and 0 not in config.tolerate),
            unexpected=unexpected,
            locked=locked,
            log_5xx=log_5xx,
            log_tracebacks=tracebacks,
            stack_info={
                "url": stack.url,
                "folder": str(stack.folder),
                "load_average": [round(x, 1) for x in (*load_before, *load_after)],
            },
            samples=samples,
            server_table=server_times(stack.folder / "access.log", elapsed),
        )
        if not result.ok or tracebacks:
            log("==> log tails:\n" + stack.log_tails(15))
    return result


def report(result: LoadResult, log: Callable[[str], None] = print) -> None:
    c = result.config
    log("")
    log(
        f"Load test {result.run_id}: {c.database}, {c.observers} observers + {c.partners} "
        f"partner tools, {result.elapsed:.0f} s, think {c.think[0]:g}-{c.think[1]:g} s, "
        f"gunicorn {c.web_workers} workers x {c.web_threads} threads"
    )
    load = result.stack_info.get("load_average")
    if load:
        log(
            f"machine load average (1/5/15 min): {load[0]}/{load[1]}/{load[2]} at the start, "
            f"{load[3]}/{load[4]}/{load[5]} at the end ({os.cpu_count()} cores)"
        )
    log(format_table(result.table))
    if result.server_table:
        log("time inside gunicorn (access log; the above adds the wait for a free thread):")
        log(format_table(result.server_table))
    unanswered = result.web.unanswered | result.api.unanswered
    log(
        f"reports accepted: {len(result.web.accepted)} web + {len(result.api.accepted)} API = "
        f"{result.accepted}; in the database: {len(result.stored)} with the run's marker; "
        f"missing: {len(result.missing)}; unanswered: {len(unanswered)} "
        f"(of which stored: {sum(1 for m in unanswered if m in result.stored)}); "
        f"refused: {len(result.web.refused) + len(result.api.refused)}"
    )
    log(
        f"5xx: {result.server_errors} (access log: {len(result.log_5xx)}); no response: "
        f'{result.no_response}; "{LOCKED}": {len(result.locked)}; tracebacks in the logs: '
        f"{result.log_tracebacks}"
    )
    for line in (result.missing + result.unexpected + result.locked + result.log_5xx)[:20]:
        log(f"  {line}")
    if result.ok:
        log("RESULT: PASS (nothing lost, no 5xx, no lock errors)")
    else:
        log("RESULT: FAIL: " + "; ".join(result.failures))


def write_json(result: LoadResult, path: Path) -> None:
    path.write_text(json.dumps(result.as_json(), indent=2) + "\n")

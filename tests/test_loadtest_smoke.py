"""The load test tool itself (``make loadtest``, tests/load/), kept from rotting.

A short run on the embedded default (gunicorn, Celery worker and beat on SQLite and the
filesystem broker: tests/stack.py): observers filing through the web forms, a partner tool
filing and syncing through the API; every accepted report is found in the database, no
5xx, no "database is locked". And the comparison itself: a lost report fails the run.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.load.client import Sample
from tests.load.driver import Filings, LoadConfig, LoadResult, run_load, summarize
from tests.servers import DURABLE_PG_SETTINGS, PostgresServer, ServerUnavailable, skip_or_fail


def test_a_short_load_run_on_the_embedded_default_loses_nothing():
    config = LoadConfig(
        database="sqlite", duration=15, observers=5, partners=1, think=(0.5, 1.5), timeout=120
    )
    lines: list[str] = []
    result = run_load(config, log=lines.append)
    assert result.ok, "\n".join([*result.failures, *result.unexpected[:10], *lines[-40:]])
    # Every kind was filed through the pages, and reports through the API.
    endpoints = {row["endpoint"]: row for row in result.table}
    for kind in ("violation", "convoy", "checkpoint"):
        assert endpoints[f"web file {kind}"]["count"] >= 1, endpoints
    assert endpoints["api file report"]["count"] >= 1 and endpoints["api changes"]["count"] >= 2
    assert len(result.web.accepted) >= 5 and len(result.api.accepted) >= 1
    # Count and compare: every accepted report is there, under the uuid the client got.
    accepted = {**result.web.accepted, **result.api.accepted}
    assert {mark: result.stored[mark]["uuid"] for mark in accepted} == accepted
    assert endpoints["TOTAL"]["errors"] == 0


def _result(*, accepted: dict[str, str], stored: dict[str, dict], status: int = 302):
    web = Filings()
    for mark, uuid in accepted.items():
        web.accept(mark, uuid)
    samples = [Sample(0.0, "POST", "web file violation", status, 0.05)]
    return LoadResult(
        config=LoadConfig(),
        run_id="r1",
        elapsed=1.0,
        table=summarize(samples, 1.0),
        web=web,
        api=Filings(),
        stored=stored,
        missing=sorted(m for m in accepted if m not in stored),
        mismatched=[],
        server_errors=sum(1 for s in samples if s.status >= 500),
        no_response=0,
        unexpected=[],
        locked=[],
        log_5xx=[],
        log_tracebacks=0,
        stack_info={},
    )


def test_a_lost_report_or_a_5xx_fails_the_run():
    row = {"uuid": "u1", "kind": "violation", "status": "submitted"}
    assert _result(accepted={"[load r1 o1 1]": "u1"}, stored={"[load r1 o1 1]": row}).ok
    lost = _result(accepted={"[load r1 o1 1]": "u1"}, stored={})
    assert not lost.ok and "1 accepted reports missing from the database" in lost.failures
    crashed = _result(accepted={}, stored={}, status=500)
    assert "1 responses 5xx" in crashed.failures and "no report was accepted" in crashed.failures


def test_the_table_gives_percentiles_per_endpoint_and_in_total():
    samples = [Sample(0.0, "GET", "a", 200, ms / 1000) for ms in range(1, 101)]
    samples.append(Sample(0.0, "GET", "b", 0, 2.0))
    rows = {row["endpoint"]: row for row in summarize(samples, 10.0)}
    assert (rows["a"]["count"], rows["a"]["p50_ms"], rows["a"]["p95_ms"]) == (100, 50, 95)
    assert rows["a"]["max_ms"] == 100 and rows["a"]["per_s"] == 10
    assert rows["b"]["errors"] == 1 and rows["TOTAL"]["count"] == 101


def test_a_restarted_postgres_server_keeps_what_was_committed():
    """PostgresServer.halt()/resume() (the stack's restart_postgres): same port, same data,
    after an immediate stop (a crash) too, on a server with PostgreSQL's durable defaults."""
    try:
        server = PostgresServer(settings=DURABLE_PG_SETTINGS)
    except ServerUnavailable as exc:
        skip_or_fail(f"PostgreSQL server unavailable: {exc}")
    with server:
        dsn = server.url.replace("postgres://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (1), (2)")
        port = server.port
        server.halt("immediate")
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=2)
        server.resume()
        assert server.running and server.port == port
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT sum(n) FROM kept").fetchone() == (3,)
        server.restart()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (2,)

"""Fault 1 (issue 6): Redis killed in the middle of the load and restarted.

A production-shaped stack (tests/stack.py: gunicorn, a Celery worker and beat on PostgreSQL
+ Redis) under the load of tests/load/ (observers filing through the web forms, partner
tools filing and syncing through the API). A third of the way in, Redis is killed; it comes
back, empty (no persistence: whatever was queued is lost), a quarter of the run later.

Pass when: no submission failed (no 5xx, no request without an answer, no filing refused),
filings were made while Redis was down and all were accepted, every accepted report is in
the database, and once Redis is back the summaries sweep (every 5 s here) compiles every
closed day that holds reports: one summary per (center, day), up to date with its reports.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

import pytest

from tests.faults.harness import SKEW, Clock, celery_lines, load_size, wait_for_users
from tests.load.driver import LoadConfig, report, run_load
from tests.stack import Stack

STACK_DATABASE = "postgres"  # tests/faults/conftest.py: run in the PostgreSQL pass only
# Seconds each user waits between two rounds of requests: a modest load that keeps filing
# through the outage. Longer than gunicorn's 2 s keep-alive, so that a client never sends on
# a kept-alive connection at the moment the server closes it (an instant "no response" that
# has nothing to do with the fault).
THINK = (3.0, 6.0)

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.celery]

SWEEP_SECONDS = 5
# How long the summaries may take to catch up once the load is over (a bound, not a figure:
# the sweep runs every SWEEP_SECONDS).
CATCH_UP_SECONDS = 120
FILINGS = ("web file", "api file")


def summaries_state(stack: Stack) -> dict:
    done = stack.run([sys.executable, "-m", "tests.faults.checks", "summaries"], timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def redis_fault(facts: dict, *, kill_at: float, down: float):
    """The fault thread: kill Redis at ``kill_at`` s, restart it ``down`` s later; after
    the load, wait (bounded) for the sweep to have compiled every summary."""

    def during(stack: Stack, stop) -> None:
        clock = Clock()
        try:
            if stop.wait(kill_at):
                raise AssertionError("the load ended before the fault")
            facts["killed"] = clock.now()
            stack.kill_redis()
            facts["down"] = clock.now()
            time.sleep(down)
            facts["restarting"] = clock.now()
            stack.restart_redis()
            facts["back"] = clock.now()
            facts["back_wall"] = clock.wall(facts["back"])
            stop.wait()  # the driver sets it at the end of the run
            facts["users_done"] = wait_for_users(60)
            facts["load_over"] = clock.now()
            deadline = time.monotonic() + CATCH_UP_SECONDS
            while True:
                state = summaries_state(stack)
                if state["ok"] or time.monotonic() > deadline:
                    break
                time.sleep(2)
            facts["summaries"] = state
            facts["caught_up"] = clock.now()
            facts["not_queued"] = stack.grep_logs(r"Could not queue", names=["web"])
            facts["worker_lost"] = celery_lines(
                stack, "worker", r"connection to broker lost|cannot connect to redis"
            )
            facts["sweeps_after"] = [
                at
                for at, _line in celery_lines(stack, "worker", r"summaries_sweep.* succeeded")
                if at > facts["back_wall"]
            ]
        except Exception:
            facts["error"] = traceback.format_exc()

    return during


def test_redis_killed_under_load_loses_no_filing_and_every_summary_is_compiled_after(
    record_property,
):
    size = load_size()
    duration = size["duration"]
    kill_at, down = duration / 3, duration / 4
    facts: dict = {}
    config = LoadConfig(
        database="postgres",
        duration=duration,
        observers=size["observers"],
        partners=size["partners"],
        think=THINK,
        sweep_seconds=SWEEP_SECONDS,
        timeout=30,
    )

    result = run_load(config, during=redis_fault(facts, kill_at=kill_at, down=down))
    report(result)

    assert "error" not in facts, facts["error"]
    moments = {k: round(v, 1) for k, v in facts.items() if isinstance(v, float)}
    bad = [
        (round(s.at, 1), s.endpoint, s.status, round(s.latency, 1))
        for s in result.samples
        if s.status == 0 or s.status >= 500
    ]
    assert result.ok, (result.failures, moments, bad[:30])
    unanswered = result.web.unanswered | result.api.unanswered
    refused = result.web.refused | result.api.refused
    assert not unanswered and not refused, (sorted(unanswered), sorted(refused))
    statuses = {s.status for s in result.samples}
    assert all(status < 500 for status in statuses), statuses

    # The fault hit the load: filings were made while Redis was away, and all accepted.
    gone, back = facts["killed"] - SKEW, facts["back"] + SKEW
    during = [s for s in result.samples if s.endpoint.startswith(FILINGS) and gone <= s.at <= back]
    assert during, "no filing was made while Redis was down"
    assert all(s.status in {201, 302} for s in during), sorted({s.status for s in during})
    assert facts["worker_lost"], "the worker never noticed Redis gone"

    # After it: every closed day with reports compiled, once, up to date.
    state = facts["summaries"]
    assert facts["users_done"]
    assert state["ok"], json.dumps(state, indent=1)
    assert not state["duplicates"] and not state["due"] and state["stale"] == 0, state
    assert all(day["summaries"] == 1 and day["up_to_date"] for day in state["days"]), state
    assert facts["sweeps_after"], "no sweep ran after Redis came back"

    figures = {
        "load": f"{config.observers} observers + {config.partners} partner tools, "
        f"{result.elapsed:.0f} s",
        "redis_down_s": round(facts["back"] - facts["killed"], 1),
        "filings_while_down": len(during),
        # Recompilations the web could not queue (logged, left to the sweep).
        "not_queued": len(facts["not_queued"]),
        "accepted": result.accepted,
        "stored": len(result.stored),
        "requests": len(result.samples),
        "first_sweep_after_back_s": round(min(facts["sweeps_after"]) - facts["back_wall"], 1),
        "summaries_compiled": state["compiled"],
        "all_compiled_after_load_s": round(facts["caught_up"] - facts["load_over"], 1),
    }
    for name, value in figures.items():
        record_property(name, value)
    print("FIGURES " + json.dumps(figures))

"""Fault 3 (issue 6): PostgreSQL restarted in the middle of the load.

A production-shaped stack (tests/stack.py) under the load of tests/load/. A third of the
way in, PostgreSQL is stopped (``pg_ctl stop -m fast``: its connections are cut) and
started again a few seconds later, same data folder and port. A probe thread of the test
makes its own requests all along (a web page as a logged-in observer, an API list with a
token) and keeps every answer's body.

Pass when: while the database is away, requests fail cleanly: 503 with ``Retry-After`` and
the outage message (the JSON ``{"status": "unavailable"}`` under /api/, the HTML page
elsewhere), never a stack trace; before and after the outage every request succeeds; the
service answers again right after the restart, by itself; every report accepted (2xx)
before or after is stored; the web log holds no traceback, and its warnings and errors all
fall inside the outage.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from dataclasses import dataclass

import pytest
import requests

from tests.faults.harness import (
    SKEW,
    Clock,
    load_size,
    wait_for_users,
    web_log_problems,
)
from tests.load.client import csrf_token, web_session
from tests.load.driver import PASSWORD, LoadConfig, report, run_load
from tests.stack import PROXY_HEADERS, Stack

STACK_DATABASE = "postgres"  # tests/faults/conftest.py: run in the PostgreSQL pass only
# Seconds each user waits between two rounds of requests: a modest load that keeps filing
# through the outage. Longer than gunicorn's 2 s keep-alive, so that a client never sends on
# a kept-alive connection at the moment the server closes it (an instant "no response" that
# has nothing to do with the fault).
THINK = (3.0, 6.0)

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.celery]

# After the restart has returned, how long a request may still fail: the time it takes a
# request that met the outage to answer.
GRACE = 2.0
PROBE_EVERY = 0.25
PROBE_TIMEOUT = 20
TRACE_WORDS = ("Traceback", 'File "', "OperationalError", "psycopg")
HTML_MESSAGE = "The service cannot reach its database"
WEB_PAGE = "/reports/mine/"
API_LIST = "/api/v1/reports/?limit=1"


@dataclass(frozen=True)
class Answer:
    at: float  # seconds on the fault's clock when the request started
    ended: float
    what: str
    status: int  # 0: no response
    body: str
    retry_after: str | None


class Probe:
    """Its own requests all along the run, every answer kept: the web page as an observer
    (the load's first account, a session of its own), the API list with a token that does
    not exist (the database is needed to refuse it: 401 when up, 503 when down)."""

    def __init__(self, stack: Stack, clock: Clock, stop: threading.Event) -> None:
        self.stack = stack
        self.clock = clock
        self.stop = stop
        self.answers: list[Answer] = []
        self.error: str | None = None
        self.web = web_session(stack.url)
        self.api = requests.Session()
        self.api.headers.update({**PROXY_HEADERS, "Authorization": "Token not-a-real-secret"})

    def login(self) -> None:
        page = self.web.get(self.stack.url + "/accounts/login/", timeout=PROBE_TIMEOUT)
        host = self.stack.url.split("//", 1)[1]
        answer = self.web.post(
            self.stack.url + "/accounts/login/",
            data={
                "csrfmiddlewaretoken": csrf_token(page.text) or "",
                "username": "load-obs-1",
                "password": PASSWORD,
            },
            headers={"Referer": f"https://{host}/accounts/login/"},
            allow_redirects=False,
            timeout=PROBE_TIMEOUT,
        )
        assert answer.status_code == 302, (answer.status_code, answer.text[:500])

    def ask(self, session: requests.Session, what: str, path: str) -> None:
        at = self.clock.now()
        try:
            answer = session.get(
                self.stack.url + path, timeout=PROBE_TIMEOUT, allow_redirects=False
            )
            status, body, retry = answer.status_code, answer.text, answer.headers.get("Retry-After")
        except requests.RequestException as exc:
            status, body, retry = 0, f"{type(exc).__name__}: {exc}", None
        self.answers.append(Answer(at, self.clock.now(), what, status, body, retry))

    def run(self) -> None:
        try:
            self.login()
            while not self.stop.wait(PROBE_EVERY):
                self.ask(self.web, "web", WEB_PAGE)
                self.ask(self.api, "api", API_LIST)
        except Exception:
            self.error = traceback.format_exc()


def postgres_fault(facts: dict, *, stop_at: float, down: float):
    def during(stack: Stack, stop: threading.Event) -> None:
        clock = Clock()
        facts["clock"] = clock
        probe = Probe(stack, clock, stop)
        facts["probe"] = probe
        thread = threading.Thread(target=probe.run, name="probe", daemon=True)
        try:
            time.sleep(min(2.0, stop_at / 2))  # the observer accounts exist by now
            thread.start()
            if stop.wait(max(0.0, stop_at - clock.now())):
                raise AssertionError("the load ended before the fault")
            facts["stopping"] = clock.now()
            stack.stop_postgres("fast")
            facts["stopped"] = clock.now()
            time.sleep(down)
            facts["starting"] = clock.now()
            stack.start_postgres()
            facts["back"] = clock.now()
            stop.wait()
            facts["users_done"] = wait_for_users(60)
            thread.join(PROBE_TIMEOUT * 2 + 5)
            facts["web_log"] = web_log_problems(stack)
            facts["web_tracebacks"] = stack.grep_logs(r"Traceback", names=["web"])
        except Exception:
            facts["error"] = traceback.format_exc()

    return during


def test_postgres_restarted_under_load_answers_503_meanwhile_and_loses_nothing(record_property):
    size = load_size()
    duration = size["duration"]
    stop_at, down = duration / 3, 5.0 if size["size"] == "small" else 10.0
    facts: dict = {}
    config = LoadConfig(
        database="postgres",
        duration=duration,
        observers=size["observers"],
        partners=size["partners"],
        think=THINK,
        timeout=30,
        tolerate=(503, 0),  # inside the outage only: checked below
    )

    result = run_load(config, during=postgres_fault(facts, stop_at=stop_at, down=down))
    report(result)

    assert "error" not in facts, facts["error"]
    probe: Probe = facts["probe"]
    assert probe.error is None, probe.error
    # The outage: from the stop's start to the restart's end, plus the time a request that
    # met it takes to answer.
    start, end = facts["stopping"], facts["back"] + GRACE
    moments = {k: round(v, 1) for k, v in facts.items() if isinstance(v, float)}
    # Nothing lost, no status but the expected ones and the tolerated 503 and no answer.
    assert result.ok, (result.failures, moments)

    def inside(at: float, ended: float) -> bool:
        return ended >= start - SKEW and at <= end + SKEW

    # The load's requests: 503 or no answer only inside the outage; success outside.
    outside = [
        (round(s.at, 1), s.endpoint, s.status, round(s.latency, 1))
        for s in result.samples
        if s.status in {503, 0} and not inside(s.at, s.at + s.latency)
    ]
    assert outside == [], (moments, outside)
    load_503 = [s for s in result.samples if s.status == 503]
    load_none = [s for s in result.samples if s.status == 0]

    # The probe's answers: the outage message, no trace, in the window; normal outside it.
    assert probe.answers, "the probe made no request"
    wrong = []
    for a in probe.answers:
        if any(word in a.body for word in TRACE_WORDS):
            wrong.append(("a stack trace", a))
        elif a.status == 503:
            if not inside(a.at, a.ended):
                wrong.append(("503 outside the outage", a))
            elif a.retry_after is None:
                wrong.append(("no Retry-After", a))
            elif a.what == "api" and json.loads(a.body).get("status") != "unavailable":
                wrong.append(("not the JSON outage answer", a))
            elif a.what == "web" and HTML_MESSAGE not in a.body:
                wrong.append(("not the outage page", a))
        elif a.status == 0:
            if not inside(a.at, a.ended):
                wrong.append(("no answer outside the outage", a))
        elif (a.what, a.status) not in {("web", 200), ("api", 401)}:
            wrong.append(("unexpected status", a))
    assert wrong == [], [(why, a.at, a.what, a.status, a.body[:300]) for why, a in wrong]
    unavailable = [a for a in probe.answers if a.status == 503]
    assert {a.what for a in unavailable} == {"web", "api"}, "the probe never met the outage"

    # Service resumed by itself: the first answer after the restart is a normal one.
    after = [a for a in probe.answers if a.at >= facts["back"]]
    assert after and after[0].status in {200, 401}, after[:3]
    recovered = next(a for a in after if a.status in {200, 401}).ended - facts["back"]
    last_failure = max(
        [a.ended for a in probe.answers if a.status in {503, 0}]
        + [s.at + s.latency for s in load_503 + load_none]
    )

    # The web log: no traceback; its warnings and errors all inside the outage.
    clock = facts["clock"]
    assert facts["web_tracebacks"] == [], facts["web_tracebacks"][:5]
    stray = [
        line
        for at, line in facts["web_log"]
        if not clock.wall(start) - 1 - SKEW <= at <= clock.wall(end) + 1 + SKEW
    ]
    assert stray == [], stray[:10]
    assert facts["users_done"]
    refused = result.web.refused | result.api.refused

    figures = {
        "load": f"{config.observers} observers + {config.partners} partner tools, "
        f"{result.elapsed:.0f} s",
        "postgres_down_s": round(facts["back"] - facts["stopping"], 1),
        "stop_s": round(facts["stopped"] - facts["stopping"], 1),
        "start_s": round(facts["back"] - facts["starting"], 1),
        "load_503": len(load_503),
        "load_no_response": len(load_none),
        "probe_503": len(unavailable),
        "probe_requests": len(probe.answers),
        "last_failure_after_restart_s": round(last_failure - facts["back"], 2),
        "first_success_after_restart_s": round(recovered, 2),
        "web_log_warnings_in_outage": len(facts["web_log"]),
        "accepted": result.accepted,
        "stored": len(result.stored),
        # Filings answered 503 that were stored all the same (committed as the connection
        # was cut): the client was told to try again. Counted, not failed.
        "refused_but_stored": len(refused & set(result.stored)),
        "requests": len(result.samples),
    }
    for name, value in figures.items():
        record_property(name, value)
    print("FIGURES " + json.dumps(figures))

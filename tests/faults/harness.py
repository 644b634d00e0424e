"""What the load-under-fault tests share: the load's size, a clock for the fault's moments,
the logs' timestamps, and waiting for the load's users to finish.

The size: modest by default (10 observers + 2 partner tools for 45 s: the CI size); with
``CEASEFIRE_FAULTS_LOAD=large`` (``make faults FAULTS_LOAD=large``) 50 observers + 4 partner
tools for 120 s, the fault at the same fractions of the run.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from tests.stack import Stack

LOAD_SIZE = "CEASEFIRE_FAULTS_LOAD"
SIZES = {
    "small": {"observers": 10, "partners": 2, "duration": 45.0},
    "large": {"observers": 50, "partners": 4, "duration": 120.0},
}
# Lines of Django's log ("2026-11-22 10:08:00,123 WARNING name: ...") and of gunicorn's own
# ("[2026-11-22 10:08:00 +0000] [123] [ERROR] ...") at warning level or above.
DJANGO_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (WARNING|ERROR|CRITICAL) (\S+): (.*)$"
)
GUNICORN_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) [+-]\d{4}\] \[\d+\] \[(\w+)\]")
# Celery's log lines: "[2026-11-22 10:08:00,123: INFO/MainProcess] ...".
CELERY_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): (\w+)/[^\]]*\] (.*)$")
USER_THREADS = re.compile(r"^(obs|partner)-\d+$")


def load_size() -> dict:
    name = os.environ.get(LOAD_SIZE, "small").strip().lower() or "small"
    if name not in SIZES:
        raise ValueError(f"{LOAD_SIZE} must be one of {', '.join(SIZES)}, got {name!r}")
    return {"size": name, **SIZES[name]}


@dataclass
class Clock:
    """Seconds since the fault thread started, which is when the load's clock started
    (``Recorder.started``, a few milliseconds before): the samples' ``at`` and the fault's
    moments are on one time line, to within :data:`SKEW`."""

    started: float = field(default_factory=time.monotonic)
    wall_started: float = field(default_factory=time.time)

    def now(self) -> float:
        return time.monotonic() - self.started

    def wall(self, moment: float) -> float:
        """The wall-clock time (epoch seconds) of ``moment`` (seconds on this clock)."""
        return self.wall_started + moment


#: How far the load's clock and the fault's may differ (the threads' start-up).
SKEW = 0.5


def wait_for_users(timeout: float) -> bool:
    """After the load's stop: until its user threads have made their last request (bounded);
    whether they all ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(USER_THREADS.match(t.name) and t.is_alive() for t in threading.enumerate()):
            return True
        time.sleep(0.2)
    return False


def _epoch(stamp: str, millis: str = "0") -> float:
    # The stack's processes log in local time, as this process reads it.
    return (
        time.mktime(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").timetuple()) + int(millis) / 1000
    )


def web_log_problems(stack: Stack) -> list[tuple[float, str]]:
    """Every warning or worse of the web log (Django's and gunicorn's): (epoch s, line).
    Not Django's warnings of 4xx answers ("Unauthorized: /api/...": a client's error; 5xx
    are logged as errors)."""
    found = []
    for line in (stack.folder / "web.log").read_text(errors="replace").splitlines():
        if match := DJANGO_LINE.match(line):
            if (match[3], match[4]) != ("WARNING", "django.request"):
                found.append((_epoch(match[1], match[2]), line))
        elif (match := GUNICORN_LINE.match(line)) and match[2] in {"WARNING", "ERROR", "CRITICAL"}:
            found.append((_epoch(match[1]), line))
    return found


def celery_lines(stack: Stack, name: str, pattern: str) -> list[tuple[float, str]]:
    """Lines of a Celery log (``worker`` or ``beat``) whose message matches ``pattern``."""
    regex = re.compile(pattern, re.IGNORECASE)
    found = []
    path = stack.folder / f"{name}.log"
    for line in path.read_text(errors="replace").splitlines():
        if (match := CELERY_LINE.match(line)) and regex.search(match[4]):
            found.append((_epoch(match[1], match[2]), line))
    return found

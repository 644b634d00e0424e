"""Fault 4 (issue 6): a partner's sync interrupted at random points and resumed.

The reference client (``manage.py sync_from``, its own process on its own SQLite file)
copies the source (pytest-django's live server) page by page, two records a page. It is
interrupted again and again at random points: SIGKILL (a crash), SIGTERM (a service manager
stopping it) or SIGINT (Ctrl-C), after a random number of pages plus a random delay, so the
signal lands between pages, in a request or in a page being applied; between runs more
reports are filed at the source. After every interruption the copy holds whole pages only
and its cursor never goes back; the last run, left to finish, ends with a copy identical to
a fresh full read of the source's feed, each record applied once over all the runs.

The random points come from a seed printed with the test (``CEASEFIRE_FAULTS_SEED`` replays
a run). The fixtures and the exact-copy comparison are tests/monitoring/test_sync_from.py's.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from incidents.choices import ReportStatus
from tests.factories import report_file
from tests.monitoring import test_sync_from as sync
from tests.monitoring.test_sync_from import Mirror, Source, assert_exact_copy

# The fixtures of tests/monitoring/test_sync_from.py, used here by name.
_fresh_throttle = sync._fresh_throttle
mirror_template = sync.mirror_template
source = sync.source
mirror = sync.mirror

pytestmark = pytest.mark.faults

SEED = "CEASEFIRE_FAULTS_SEED"
INTERRUPTIONS = 5
REPORTS_FIRST = 24
REPORTS_BETWEEN = 3
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
RUN_SECONDS = 60  # a bound on one interrupted run


def interrupt(
    copy: Mirror, origin: Source, rng: random.Random, *, min_pages: int = 0
) -> tuple[str, str]:
    """Start a sync; after a random number of pages (0: at a random moment from its start)
    and a random delay, send a random signal; returns (what was done, the run's output)."""
    signum = rng.choice(SIGNALS)
    pages = rng.randint(min_pages, 4)
    delay = rng.uniform(0, 0.4)
    process = copy.start(origin.url, "--page-size", "2")
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if sum(1 for x in lines if x.startswith("page ")) >= pages:
                seen.set()
        seen.set()  # the run ended before that many pages

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if pages == 0:  # anywhere from the start, start-up included
            time.sleep(rng.uniform(0, 3))
        else:
            seen.wait(RUN_SECONDS)
            time.sleep(delay)
        process.send_signal(signum)
        process.wait(RUN_SECONDS)
    finally:
        process.kill()
        process.wait(30)
        reader.join(10)
    what = f"{signal.Signals(signum).name} after {pages} pages + {delay:.2f} s"
    return what, "".join(lines) + process.stderr.read()


def test_a_sync_interrupted_at_random_points_and_resumed_ends_with_an_identical_copy(
    source, mirror
):
    seed = int(os.environ.get(SEED) or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    print(f"\n{SEED}={seed}")
    for _ in range(REPORTS_FIRST):
        report_file(source.author, status=ReportStatus.VERIFIED, reviewer=source.coordinator)

    cursors = [0]
    history = []
    for round_ in range(INTERRUPTIONS):
        # The first one comes after a page at least: the copy is never empty when resumed.
        what, output = interrupt(mirror, source, rng, min_pages=1 if round_ == 0 else 0)
        state = mirror.source()
        cursor = state.get("cursor", 0)
        history.append((what, cursor))
        context = (seed, history, output[-2000:])
        assert cursor >= cursors[-1], context  # never back
        seqs = mirror.seqs()
        assert not seqs or max(seqs.values()) <= cursor, context  # pages whole or not at all
        cursors.append(cursor)
        for _ in range(REPORTS_BETWEEN):
            report_file(source.author, status=ReportStatus.VERIFIED, reviewer=source.coordinator)

    last = mirror.sync(source.url, "--page-size", "2")

    assert last.returncode == 0, (seed, history, last.stderr)
    copies = assert_exact_copy(mirror, source)
    # Each record applied exactly once over all the runs: each resumed where the last ended.
    assert mirror.source()["records_applied"] == len(copies), (seed, history)
    assert cursors[1] > 0, (seed, history)  # the first came after a page was applied
    print(f"interruptions (signal, cursor after): {history}")

"""``make faults``' verdict: one pass/fail line per fault of issue 6, from the junit reports
of the fault runs (``pytest -m faults --junitxml=<database>.xml``), with the figures each
test recorded (``record_property``).

``python -m tests.faults.summary var/faults/postgres.xml var/faults/sqlite.xml``: exit status
1 when any test of a fault failed, errored or was skipped, when a fault has no test that ran,
or when a report is missing.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

#: Each fault of issue 6 and the tests (by name prefix) that prove it.
FAULTS = (
    (
        "1. Redis killed under load and restarted: no failed submission, no lost report, "
        "every summary compiled once it is back",
        (
            "test_redis_killed_under_load_",
            "test_with_the_broker_down_filing_succeeds_and_the_sweep_catches_up_after",
        ),
    ),
    (
        "2. A Celery worker killed (SIGKILL) mid-compilation: the summary is completed "
        "exactly once",
        ("test_a_worker_killed_in_the_middle_of_a_compilation_",),
    ),
    (
        "3. PostgreSQL restarted under load: 503 meanwhile, no stack trace, resumes by "
        "itself, nothing committed lost",
        (
            "test_postgres_restarted_under_load_",
            "test_gunicorn_answers_503_while_postgresql_is_down_and_resumes_with_nothing_lost",
        ),
    ),
    (
        "4. A partner's sync interrupted at random points and resumed: its copy ends identical",
        (
            "test_a_run_stopped_or_killed_mid_way_resumes_where_it_stopped",
            "test_a_sync_interrupted_at_random_points_",
        ),
    ),
)


@dataclass
class Case:
    name: str
    database: str
    outcome: str  # passed, failed, error, skipped
    seconds: float
    figures: dict[str, str] = field(default_factory=dict)
    message: str = ""


def read(path: Path) -> list[Case]:
    database = path.stem
    root = ET.parse(path).getroot()  # noqa: S314 - written by this run's pytest
    cases = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (found.get("message") or "").partition("\n")[0][:200]
                break
        figures = {
            prop.get("name"): prop.get("value")
            for prop in case.iter("property")
            if prop.get("name")
        }
        cases.append(
            Case(
                name=case.get("name", ""),
                database=database,
                outcome=outcome,
                seconds=float(case.get("time") or 0),
                figures=figures,
                message=message,
            )
        )
    return cases


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    cases: list[Case] = []
    status = 0
    for path in paths:
        if not path.exists():
            print(f"MISSING  no report {path} (that run did not finish)")
            status = 1
            continue
        cases += read(path)
    print("\n==> fault runs: one line per fault of issue 6")
    claimed: set[int] = set()
    for title, prefixes in FAULTS:
        mine = [(i, c) for i, c in enumerate(cases) if c.name.startswith(prefixes)]
        claimed |= {i for i, _ in mine}
        ok = bool(mine) and all(c.outcome == "passed" for _, c in mine)
        status |= 0 if ok else 1
        print(f"{'PASS' if ok else 'FAIL'}  {title}")
        if not mine:
            print("        no test of this fault ran")
        for _, case in mine:
            print(f"        {case.outcome:7s} {case.seconds:6.1f} s  [{case.database}] {case.name}")
            if case.message:
                print(f"                {case.message}")
            for name, value in case.figures.items():
                print(f"                {name}: {value}")
    for i, case in enumerate(cases):
        if i not in claimed:
            ok = case.outcome == "passed"
            status |= 0 if ok else 1
            print(
                f"{'PASS' if ok else 'FAIL'}  (other) [{case.database}] {case.name}: {case.outcome}"
            )
    print("==> make faults: " + ("every fault passed" if status == 0 else "FAILED"))
    return status


if __name__ == "__main__":
    sys.exit(main())

"""pytest plugin: the test run's environment, set before pytest-django reads the settings.

Loaded with ``-p tests.plugin_servers`` (pyproject's addopts), so that it runs before
pytest-django loads ``config.settings`` in its ``pytest_load_initial_conftests``.

- Every run gets its own temporary ``CEASEFIRE_VAR_DIR`` (SQLite test file, disk broker,
  media), so runs never touch ``var/`` or each other. The broker and database variables of
  the shell are dropped, so a run is the same wherever it starts.
- ``--database postgres`` (or ``CEASEFIRE_TEST_DB=postgres``) runs the whole suite on a
  throwaway PostgreSQL server (tests/servers.py) and sets ``DATABASE_URL`` for it;
  ``--database sqlite`` (the default) on SQLite. An external server can be used instead by
  setting ``DATABASE_URL=postgres://...`` together with ``--database postgres``.
- pytest-xdist workers inherit the controller's environment, so they share its server and
  its folder; pytest-django gives each worker its own test database.
- ``CI=true`` turns every skip into a failure: on CI a missing server or browser must not
  pass quietly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.servers import PostgresServer, ServerUnavailable, in_ci

DATABASE_CHOICE = "CEASEFIRE_TEST_DB"
UNAVAILABLE = "CEASEFIRE_TEST_DB_UNAVAILABLE"
RUN_DIR = "CEASEFIRE_TEST_RUN_DIR"
# The shell's own configuration does not leak into a test run.
DROPPED = (
    "DATABASE_URL",
    "SQLITE_PATH",
    "SQLITE_TEST_PATH",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_TASK_ALWAYS_EAGER",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ceasefire", "ceasefire-monitor test environment")
    group.addoption(
        "--database",
        choices=["sqlite", "postgres"],
        default=None,
        help="database to run the suite on (default: $CEASEFIRE_TEST_DB or sqlite); "
        "postgres starts a throwaway server unless DATABASE_URL names one",
    )


def _is_xdist_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args) -> None:
    if _is_xdist_worker():
        return  # the controller set everything up; its environment is inherited
    namespace = early_config.known_args_namespace
    if namespace.help or namespace.version:
        return
    choice = namespace.database or os.environ.get(DATABASE_CHOICE)
    choice = (choice or "sqlite").strip().lower()
    if choice not in {"sqlite", "postgres"}:
        raise pytest.UsageError(f"{DATABASE_CHOICE} must be sqlite or postgres, got {choice!r}")

    external_url = os.environ.get("DATABASE_URL", "")
    for name in DROPPED:
        os.environ.pop(name, None)
    os.environ.pop(UNAVAILABLE, None)

    run_dir = Path(tempfile.mkdtemp(prefix="ceasefire-test-"))
    early_config.add_cleanup(lambda: shutil.rmtree(run_dir, ignore_errors=True))
    os.environ[RUN_DIR] = str(run_dir)
    os.environ["CEASEFIRE_VAR_DIR"] = str(run_dir / "var")
    # No persistent connections: the live server's threads would otherwise hold theirs
    # open and PostgreSQL refuses to drop a test database that is still in use.
    os.environ["DATABASE_CONN_MAX_AGE"] = "0"
    os.environ[DATABASE_CHOICE] = choice

    if choice == "postgres":
        if external_url.startswith(("postgres://", "postgresql://")):
            os.environ["DATABASE_URL"] = external_url
            return
        try:
            server = PostgresServer()
        except ServerUnavailable as exc:
            reason = f"PostgreSQL requested (--database postgres) but unavailable: {exc}"
            if in_ci():
                raise pytest.UsageError(f"{reason} (CI=true: this is a failure)") from exc
            # The run goes on and skips every test with the reason (see below).
            os.environ[UNAVAILABLE] = reason
            return
        server.start()
        early_config.add_cleanup(server.stop)
        os.environ["DATABASE_URL"] = server.url


def pytest_report_header(config: pytest.Config) -> list[str]:
    choice = os.environ.get(DATABASE_CHOICE, "sqlite")
    where = os.environ.get("DATABASE_URL") or "SQLite file under CEASEFIRE_VAR_DIR"
    lines = [f"ceasefire: database {choice} ({where}); var dir {os.environ['CEASEFIRE_VAR_DIR']}"]
    if in_ci():
        lines.append("ceasefire: CI=true: skips count as failures")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = os.environ.get(UNAVAILABLE)
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


def _skip_reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = "Skipped under CI=true, which counts as a failure: " + (
            _skip_reason(report.longrepr)
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    if in_ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = "Skipped under CI=true, which counts as a failure: " + (
            _skip_reason(report.longrepr)
        )
    return report

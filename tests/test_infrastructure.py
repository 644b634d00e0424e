"""The test infrastructure itself: the database the suite runs on, the throwaway servers,
and a real Celery worker executing a task sent from the test process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from dateutil.relativedelta import relativedelta
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from monitoring.choices import AuditEntrySource
from monitoring.models import AuditEntry
from tests.factories import IN_FORCE, AgreementFactory, ZoneFactory
from tests.servers import port_open
from zones.choices import ZoneTermKind
from zones.models import ZoneTerm
from zones.services import zone_term_add

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_the_suite_runs_on_the_requested_database():
    requested = os.environ["CEASEFIRE_TEST_DB"]
    assert connection.vendor == {"postgres": "postgresql", "sqlite": "sqlite"}[requested]
    if requested == "sqlite":
        # A file, not memory: a worker process must see what a transactional test commits.
        name = Path(connection.settings_dict["NAME"]).resolve()
        assert name.parent == Path(os.environ["CEASEFIRE_VAR_DIR"]).resolve()
        assert connection.cursor().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    else:
        assert connection.settings_dict["HOST"] == "127.0.0.1"
        assert connection.settings_dict["NAME"].startswith("test_")


def test_the_run_has_its_own_var_dir():
    from django.conf import settings

    assert Path(os.environ["CEASEFIRE_VAR_DIR"]).resolve() == settings.VAR_DIR
    assert not settings.VAR_DIR.is_relative_to(BASE_DIR)


@pytest.mark.postgres
def test_throwaway_postgres_server_serves_and_goes_away(postgres_server):
    with psycopg.connect(postgres_server.url.replace("postgres://", "postgresql://", 1)) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "ceasefire",
            "ceasefire",
        )
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)


@pytest.mark.postgres
def test_a_killed_owner_leaves_no_postgres_behind(tmp_path):
    """The owner of a server is killed outright: its watchdog stops and deletes the server."""
    from tests.servers import PostgresServer, ServerUnavailable, skip_or_fail

    try:
        PostgresServer()
    except ServerUnavailable as exc:
        skip_or_fail(f"PostgreSQL server unavailable: {exc}")
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "postgres"],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        line = owner.stdout.readline().strip()
        assert line.startswith("DATABASE_URL=postgres://"), line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        assert port_open(port)
        data_dirs = _postgres_data_dirs(port)
        assert data_dirs, "no postgres process found for the port"
    finally:
        owner.kill()
        owner.wait(timeout=10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (port_open(port) or any(map(Path.exists, data_dirs))):
        time.sleep(0.2)
    assert not port_open(port)
    assert not any(map(Path.exists, data_dirs))


def _postgres_data_dirs(port: int) -> list[Path]:
    """The data folders of running postgres processes listening on ``port``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if argv and argv[0].endswith("postgres") and "-p" in argv and str(port) in argv:
            found.append(Path(argv[argv.index("-D") + 1]).parent)
    return found


@pytest.mark.redis
def test_redis_round_trip(redis_server):
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    client.set("ceasefire:probe", "Idlib", ex=60)
    assert client.get("ceasefire:probe") == b"Idlib"
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    client.delete("ceasefire:probe")
    assert client.get("ceasefire:probe") is None


def _zone_with_initial_term(**kwargs):
    zone = ZoneFactory(**kwargs)
    zone_term_add(
        zone=zone,
        kind=ZoneTermKind.INITIAL,
        starts_at=IN_FORCE,
        ends_at=IN_FORCE + relativedelta(months=6),
        actor=None,
    )
    return zone


def _due_extensions(now) -> int:
    """Six-month extensions after a six-month initial term from IN_FORCE, ended by ``now``."""
    count, ends_at = 0, IN_FORCE + relativedelta(months=6)
    while ends_at <= now:
        count += 1
        ends_at = IN_FORCE + relativedelta(months=6 * (count + 1))
    return count


@pytest.mark.celery
@pytest.mark.parametrize(
    "celery_worker",
    [
        pytest.param("filesystem", id="filesystem-broker"),
        pytest.param("redis", id="redis-broker", marks=pytest.mark.redis),
    ],
    indirect=True,
)
def test_a_real_worker_runs_a_task_sent_from_the_test(celery_worker):
    extending = _zone_with_initial_term()
    fixed = _zone_with_initial_term(agreement=AgreementFactory(auto_extends=False))
    assert not ZoneTerm.objects.filter(kind=ZoneTermKind.EXTENSION).exists()

    before = timezone.now()
    celery_worker.send("zones.tasks.zones_extend_terms")
    extensions = ZoneTerm.objects.filter(zone=extending, kind=ZoneTermKind.EXTENSION)
    celery_worker.wait_for(extensions.exists, what="the worker's extension rows")

    # One transaction per zone: once rows show, all of them are there.
    expected = {_due_extensions(before), _due_extensions(timezone.now())}
    assert min(expected) >= 1
    assert extensions.count() in expected
    assert not fixed.terms.filter(kind=ZoneTermKind.EXTENSION).exists()
    # Written by the worker process (audit source "task"), not by this process.
    audit = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ZoneTerm),
        object_pk__in=[str(pk) for pk in extensions.values_list("pk", flat=True)],
    )
    assert audit.count() == extensions.count()
    assert set(audit.values_list("source", flat=True)) == {AuditEntrySource.TASK}
    assert "zones.tasks.zones_extend_terms" in celery_worker.log()


def test_ci_turns_a_skip_into_a_failure(tmp_path):
    """Under CI=true a skipped test fails the run; without it, it is only a skip."""
    test_file = tmp_path / "test_skipping.py"
    test_file.write_text("import pytest\n\ndef test_skips():\n    pytest.skip('no server')\n")
    base = [sys.executable, "-m", "pytest", "-c", str(BASE_DIR / "pyproject.toml")]
    base += [str(test_file), "-q", "-p", "no:cacheprovider"]
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PYTEST_")}
    env["CEASEFIRE_TEST_DB"] = "sqlite"
    relaxed = subprocess.run(base, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    strict = subprocess.run(
        base, cwd=BASE_DIR, env={**env, "CI": "true"}, capture_output=True, text=True
    )
    assert relaxed.returncode == 0, relaxed.stdout
    assert "1 skipped" in relaxed.stdout
    assert strict.returncode == 1, strict.stdout
    assert "Skipped under CI=true" in strict.stdout
    assert "no server" in strict.stdout


def test_sigint_stops_a_command_line_server():
    """Ctrl-C on ``python -m tests.servers redis`` stops and deletes the server."""
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "redis"],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    line = owner.stdout.readline().strip()
    if not line.startswith("REDIS_URL="):
        owner.wait(timeout=10)
        from tests.servers import skip_or_fail

        skip_or_fail("Redis server unavailable: redis-server not found")
    port = int(line.rsplit(":", 1)[1].split("/")[0])
    assert port_open(port)
    os.killpg(owner.pid, signal.SIGINT)
    assert owner.wait(timeout=15) == 0
    assert not port_open(port)

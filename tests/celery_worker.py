"""A real ``celery -A config worker`` process for tests, on the test database.

The worker is a separate process, so it sees only what the test committed: use it from
transactional tests (the ``celery_worker`` fixture in tests/conftest.py asks for
``transactional_db``). It reads the same test database as the test: SQLite through
``SQLITE_PATH`` (the test file), PostgreSQL through a ``DATABASE_URL`` naming the test
database. Its broker is either kombu's filesystem transport in a folder of the test's own
(``CEASEFIRE_VAR_DIR``) or a Redis server; tasks are sent from the test process with
:meth:`CeleryWorker.send`, through a Celery app of the test's own on the same broker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from celery import Celery
from django.db import connection

from tests.servers import _die_with_parent

BASE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 30


def database_environment() -> dict[str, str | None]:
    """Environment that points a settings module at the current (test) database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError("a worker process cannot share an in-memory SQLite database")
        return {"DATABASE_URL": None, "SQLITE_PATH": name}
    if connection.vendor == "postgresql":
        user = quote(db["USER"] or "", safe="")
        password = quote(db["PASSWORD"] or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        port = f":{db['PORT']}" if db["PORT"] else ""
        url = f"postgres://{auth}{db['HOST'] or '127.0.0.1'}{port}/{quote(db['NAME'], safe='')}"
        return {"DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "0"}
    raise RuntimeError(f"no worker set-up for the {connection.vendor} backend")


def filesystem_transport_options(var_dir: Path) -> dict:
    """The folders config/settings.py gives the filesystem broker under ``var_dir``."""
    queue = str(var_dir / "celery" / "queue")
    return {
        "data_folder_in": queue,
        "data_folder_out": queue,
        "processed_folder": str(var_dir / "celery" / "processed"),
        "store_processed": False,
        "control_folder": str(var_dir / "celery" / "control"),
    }


class CeleryWorker:
    """One worker process (solo pool) on its own broker; ``start()``, ``send()``, ``stop()``."""

    def __init__(self, *, var_dir: Path, broker_url: str = "filesystem://") -> None:
        self.var_dir = Path(var_dir)
        self.broker_url = broker_url
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = self.var_dir / "worker.log"
        self.process: subprocess.Popen | None = None
        self._sender: Celery | None = None

    @property
    def uses_filesystem(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        changes: dict[str, str | None] = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CEASEFIRE_VAR_DIR": str(self.var_dir),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_RESULT_BACKEND": None,
            "PYTHONUNBUFFERED": "1",
            **database_environment(),
        }
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self) -> CeleryWorker:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if self.uses_filesystem:
            for folder in ("queue", "processed", "control"):
                (self.var_dir / "celery" / folder).mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={self.name}",
            "--queues=celery",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited early:\n{self.log_tail()}")
            if " ready." in self.log():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the Celery worker was not ready in {READY_TIMEOUT} s:\n{self.log_tail()}"
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    @property
    def sender(self) -> Celery:
        """A Celery app of the test process's own, publishing to the worker's broker."""
        if self._sender is None:
            app = Celery("ceasefire-test-sender", set_as_current=False)
            app.conf.broker_url = self.broker_url
            app.conf.broker_connection_retry_on_startup = True
            app.conf.task_ignore_result = True
            if self.uses_filesystem:
                app.conf.broker_transport_options = filesystem_transport_options(self.var_dir)
            self._sender = app
        return self._sender

    def send(self, task_name: str, *args, **kwargs) -> str:
        """Publish ``task_name`` for the worker; return the task id."""
        return self.sender.send_task(task_name, args=args, kwargs=kwargs).id

    def wait_for(self, predicate, *, timeout: float = 20, what: str = "the task") -> None:
        """Poll ``predicate`` until true; fail with the worker's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._sender is not None:
            with contextlib.suppress(Exception):
                self._sender.close()
            self._sender = None
        if self.process is None:
            return
        if self.process.poll() is None:
            # Cold shutdown: the test is over, nothing is left to finish; a warm one waits
            # for the broker's polling interval.
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

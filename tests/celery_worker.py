"""A real ``celery -A config worker`` process for tests, on the test database.

The worker is a separate process, so it sees only what the test committed: use it from
transactional tests (the ``celery_worker`` fixture in tests/conftest.py asks for
``transactional_db``). It reads the same test database as the test: SQLite through
``SQLITE_PATH`` (the test file), PostgreSQL through a ``DATABASE_URL`` naming the test
database. Its broker is either kombu's filesystem transport in a folder of the test's own
(``CEASEFIRE_VAR_DIR``) or a Redis server; tasks are sent from the test process with
:meth:`CeleryWorker.send`, through a Celery app of the test's own on the same broker.

:class:`CeleryWorkers` (the ``celery_workers`` fixture) starts several workers on one
:class:`CeleryBroker`, with an embedded beat, another pool or extra environment if asked,
and while they run points the project's own Celery app at that broker: what the code under
test queues (after a commit, say) reaches them as it would in production.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from celery import Celery
from django.conf import settings
from django.db import connection
from kombu import pools

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


def transport_options(broker_url: str, var_dir: Path) -> dict:
    """The transport options config/settings.py gives ``broker_url`` (under ``var_dir``)."""
    if broker_url.startswith("filesystem://"):
        return filesystem_transport_options(var_dir)
    return dict(settings.BROKER_NETWORK_TRANSPORT_OPTIONS)


@dataclass(frozen=True)
class CeleryBroker:
    """Where a test's workers and publishers meet: a broker URL and the workers' var dir."""

    url: str
    var_dir: Path

    @property
    def transport_options(self) -> dict:
        return transport_options(self.url, self.var_dir)

    def prepare(self) -> None:
        """Make the filesystem broker's folders (kombu makes none of them)."""
        if self.url.startswith("filesystem://"):
            for folder in ("queue", "processed", "control"):
                (self.var_dir / "celery" / folder).mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def publishing_to(app: Celery, broker: CeleryBroker) -> Iterator[None]:
    """Point ``app`` (the project's Celery app) at ``broker`` for the block.

    Connections and producers are pooled per broker, so the pools are dropped on the way
    in and out: nothing published inside goes to the old broker, nothing after to this one.
    """
    conf = app.conf
    saved = {key: conf[key] for key in ("broker_url", "broker_transport_options")}

    def drop_pools() -> None:
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    drop_pools()
    conf.broker_url = broker.url
    conf.broker_transport_options = broker.transport_options
    try:
        yield
    finally:
        drop_pools()
        for key, value in saved.items():
            conf[key] = value


class CeleryWorker:
    """One worker process on a broker; ``start()``, ``send()``, ``stop()``.

    ``pool``/``concurrency``: the execution pool (solo by default: tasks run in the worker's
    own process); ``beat``: embed a beat scheduler (``--beat``); ``environment``: extra
    variables for it (``None`` removes one); ``label`` names its log, ``<label>.log``.
    """

    def __init__(
        self,
        *,
        var_dir: Path,
        broker_url: str = "filesystem://",
        pool: str = "solo",
        concurrency: int = 1,
        beat: bool = False,
        environment: dict[str, str | None] | None = None,
        label: str = "worker",
    ) -> None:
        self.var_dir = Path(var_dir)
        self.broker_url = broker_url
        self.pool = pool
        self.concurrency = concurrency
        self.beat = beat
        self.extra_environment = dict(environment or {})
        self.name = f"{label}-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = self.var_dir / f"{label}.log"
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
            **self.extra_environment,
        }
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self) -> CeleryWorker:
        """Start the process and wait until it is ready."""
        return self.launch().wait_until_ready()

    def launch(self) -> CeleryWorker:
        """Start the process (see :meth:`wait_until_ready`)."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        CeleryBroker(url=self.broker_url, var_dir=self.var_dir).prepare()
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--pool={self.pool}",
            f"--concurrency={self.concurrency}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={self.name}",
            "--queues=celery",
        ]
        if self.beat:
            command.append("--beat")
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
        return self

    def wait_until_ready(self) -> CeleryWorker:
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
            app.conf.broker_transport_options = transport_options(self.broker_url, self.var_dir)
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

    def received(self, task_name: str) -> list[str]:
        """Ids of the ``task_name`` tasks this worker received so far, in order (a task
        delivered twice is listed twice)."""
        pattern = rf"Task {re.escape(task_name)}\[([0-9a-f-]+)\] received"
        return re.findall(pattern, self.log())

    def outcome(self, task_id: str) -> str | None:
        """How task ``task_id`` last ended here: ``"succeeded: <result>"``, ``"raised ..."``,
        ``"retry: ..."``; ``None`` while it has not."""
        found = re.findall(
            rf"\[{re.escape(task_id)}\] (succeeded in \S+s: (.*)|raised .*|retry: .*)$",
            self.log(),
            flags=re.MULTILINE,
        )
        if not found:
            return None
        ended, result = found[-1]
        return f"succeeded: {result}" if ended.startswith("succeeded") else ended

    def wait_for_task(self, task_id: str, *, timeout: float = 20) -> str:
        """Wait until task ``task_id`` has ended here; return its :meth:`outcome`."""
        self.wait_for(lambda: self.outcome(task_id) is not None, timeout=timeout, what=task_id)
        return self.outcome(task_id)

    def pool_processes(self) -> list[int]:
        """Pids of the worker's child processes (the prefork pool's, an embedded beat's)."""
        if self.process is None:
            return []
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (proc / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(proc.name))
        return sorted(found)

    def stop(self) -> None:
        if self._sender is not None:
            with contextlib.suppress(Exception):
                self._sender.close()
            self._sender = None
        if self.process is None:
            return
        # The test is over and nothing is left to finish: the worker and whatever it
        # started in its own session (pool processes, an embedded beat) are killed. (Even a
        # cold shutdown takes it some 4 s; a task cut short here loses nothing the test
        # still looks at.)
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None


class CeleryWorkers:
    """The workers of one test, all on one broker; while they run, the project's Celery app
    publishes to that broker. ``start(**options)`` (see :class:`CeleryWorker`), ``close()``.
    """

    def __init__(self, broker: CeleryBroker, *, app: Celery | None = None) -> None:
        if app is None:
            from config.celery import app
        self.broker = broker
        broker.prepare()  # the app may publish before a worker starts
        self.workers: list[CeleryWorker] = []
        self._routing = contextlib.ExitStack()
        self._routing.enter_context(publishing_to(app, broker))
        _reset_breaker()

    def start(self, **options) -> CeleryWorker:
        """A worker on the broker, ready."""
        [worker] = self.start_several(1, **options)
        return worker

    def start_several(self, count: int, **options) -> list[CeleryWorker]:
        """``count`` workers on the broker, started side by side, all ready."""
        started = []
        for _ in range(count):
            label = options.get("label") or f"worker-{len(self.workers) + 1}"
            worker = CeleryWorker(
                var_dir=self.broker.var_dir,
                broker_url=self.broker.url,
                **{**options, "label": label},
            )
            self.workers.append(worker)
            started.append(worker.launch())
        return [worker.wait_until_ready() for worker in started]

    def log(self) -> str:
        """Every worker's log, one after the other."""
        return "\n".join(worker.log() for worker in self.workers)

    def close(self) -> None:
        try:
            for worker in self.workers:
                worker.stop()
        finally:
            self._routing.close()
            _reset_breaker()


def _reset_breaker() -> None:
    """A broker outage seen by one test does not keep the next one from queueing."""
    from monitoring.queueing import broker_breaker_reset

    broker_breaker_reset()

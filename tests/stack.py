"""The production shape on loopback: gunicorn, a Celery worker and beat, on a database and a
broker of their own, for load runs and fault tests.

``Stack(database="postgres")`` starts a throwaway PostgreSQL and Redis (tests/servers.py);
``Stack(database="sqlite")`` is the embedded default: an SQLite file and kombu's filesystem
broker under the stack's folder. Either way the stack migrates and seeds its database,
collects the static files, and starts::

    gunicorn config.wsgi   (DJANGO_DEBUG off, a secret key, ALLOWED_HOSTS 127.0.0.1)
    celery -A config worker --pool threads
    celery -A config beat

each with its log in the stack's folder. Production settings are kept as they are (https
only, secure cookies, HSTS): the stack stands where a TLS proxy would, so clients send what
such a proxy adds, ``X-Forwarded-Proto: https`` (:data:`PROXY_HEADERS`; see
:func:`tests.load.client.web_session` for a browser-like client)::

    with Stack(database="sqlite") as stack:
        requests.get(stack.url + "/accounts/login/", headers=PROXY_HEADERS)
        stack.manage("compile_summaries", "--help")
        stack.kill_worker(signal.SIGKILL); stack.start_worker()

Everything is stopped and the folder deleted on exit: by :meth:`Stack.stop` (the ``with``
block), an ``atexit`` hook, ``SIGTERM``/``SIGHUP`` turned into ``KeyboardInterrupt`` by
:func:`interrupt_on_signals`, and should the owner be killed outright, by the children's
parent-death signal and a watchdog process per child (tests/servers.py). ``keep=True`` keeps
the folder (its logs) after the processes are stopped.

From the command line: ``python -m tests.stack sqlite|postgres`` serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.servers import (
    DURABLE_PG_SETTINGS,
    LOOPBACK,
    PostgresServer,
    RedisServer,
    _die_with_parent,
    _wait_for,
    _Watchdog,
    free_port,
    port_open,
)

BASE_DIR = Path(__file__).resolve().parent.parent
#: What a TLS-terminating proxy in front of gunicorn adds to every request; production
#: settings trust it (DJANGO_SECURE_PROXY_SSL_HEADER) and redirect requests without it.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
#: Lines of a log that betray a failure no client may see: SQLite's lock error, a traceback.
LOCKED = "database is locked"
DATABASES = ("sqlite", "postgres")
READY_TIMEOUT = 60


class StackError(RuntimeError):
    """A process of the stack did not start or a command against it failed; the message
    carries the tail of the logs."""


def interrupt_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt (as Ctrl-C), so that ``with Stack()``
    unwinds and stops everything; SIGINT gets Python's default handler back even where a
    parent left it ignored."""

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)


class _Process:
    """A child process of the stack: its log, its watchdog, start and stop."""

    def __init__(self, name: str, command: list[str], *, env: Mapping[str, str], folder: Path):
        self.name = name
        self.command = command
        self.env = dict(env)
        self.folder = folder
        self.log_path = folder / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self._watchdog: _Watchdog | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"\n==> {time.strftime('%H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.command,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # Ctrl-C reaches the owner, which stops us in order
            )
        # Should the owner be killed, the watchdog kills this process (if its command line
        # still names the stack's folder: the pid was not reused).
        self._watchdog = _Watchdog({"pids": [self.popen.pid], "pid_marker": self.folder.name})

    def send_signal(self, signum: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signum)

    def wait(self, timeout: float) -> int | None:
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, *, timeout: float = 20) -> None:
        """SIGTERM (a graceful stop), SIGKILL after ``timeout`` seconds."""
        if self.alive:
            self.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.send_signal(signal.SIGKILL)
                self.wait(10)
        self._disarm()

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` and wait (up to 20 s) for the process to end."""
        self.send_signal(signum)
        if self.wait(20) is None:
            self.send_signal(signal.SIGKILL)
            self.wait(10)
        self._disarm()

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.disarm()
            self._watchdog = None


class Stack:
    """gunicorn + Celery worker + beat on PostgreSQL/Redis or SQLite/filesystem broker.

    Parameters: ``database`` ("sqlite" or "postgres"); ``web_workers`` and ``web_threads``
    (gunicorn's ``--workers`` and, above 1, ``--threads`` with the gthread worker class);
    ``worker_concurrency`` (the Celery worker's thread pool); ``beat``; ``sweep_seconds``
    (CEASEFIRE_SUMMARY_SWEEP_SECONDS: beat's summaries sweep); ``environment`` (extra or
    overriding variables for every process; ``None`` removes one); ``keep`` (leave the
    folder and its logs behind); ``parent`` (the folder to create the stack's folder in).
    """

    def __init__(
        self,
        *,
        database: str = "sqlite",
        web_workers: int = 2,
        web_threads: int = 4,
        web_timeout: int = 30,
        worker_concurrency: int = 4,
        beat: bool = True,
        sweep_seconds: int | None = None,
        environment: Mapping[str, str | None] | None = None,
        keep: bool = False,
        parent: str | Path | None = None,
    ) -> None:
        if database not in DATABASES:
            raise ValueError(f"database must be one of {DATABASES}, got {database!r}")
        self.database = database
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.web_timeout = web_timeout
        self.worker_concurrency = worker_concurrency
        self.beat = beat
        self.sweep_seconds = sweep_seconds
        self.extra_environment = dict(environment or {})
        self.keep = keep
        self.parent = Path(parent) if parent else None
        self.folder: Path | None = None
        self.port: int | None = None
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.web: _Process | None = None
        self.worker: _Process | None = None
        self.beat_process: _Process | None = None
        self._env: dict[str, str] = {}
        self._worker_count = 0
        self._watchdog: _Watchdog | None = None
        #: Seconds each start-up step took: migrate, seed, collectstatic, processes.
        self.timings: dict[str, float] = {}

    # --- What clients use -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The web server's base URL, ``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of the stack's processes: run ``manage.py`` (or anything
        importing the settings) with it to work on the stack's database and broker."""
        return dict(self._env)

    @property
    def var_dir(self) -> Path:
        return self.folder / "var"

    @property
    def sqlite_path(self) -> Path | None:
        return self.var_dir / "db.sqlite3" if self.database == "sqlite" else None

    def manage(
        self, *args: str, timeout: float = 300, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """``manage.py <args>`` against the stack; output captured (``.stdout``, text).
        ``check``: raise :class:`StackError` with the output when it exits non-zero."""
        return self.run(
            [sys.executable, "manage.py", *args], timeout=timeout, check=check, input=input
        )

    def run(
        self,
        command: list[str],
        *,
        timeout: float = 300,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Any command in the project folder with the stack's environment."""
        result = subprocess.run(
            command,
            cwd=BASE_DIR,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
            preexec_fn=_die_with_parent,
        )
        if check and result.returncode != 0:
            raise StackError(
                f"{' '.join(command[1:4])} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result

    # --- Logs ---------------------------------------------------------------------------

    def log_files(self) -> list[Path]:
        """Every log of the stack: web, worker(s), beat, and the servers' own."""
        logs = sorted(self.folder.glob("*.log")) if self.folder else []
        for server in (self.postgres, self.redis):
            if server is not None and server.folder is not None:
                logs.append(server.folder / "server.log")
        return [log for log in logs if log.exists()]

    def log_tail(self, name: str = "web", lines: int = 40) -> str:
        """The last ``lines`` of a log: "web", "worker", "beat", "postgres" or "redis"."""
        if name in {"postgres", "redis"}:
            server = getattr(self, name)
            return server.log_tail("server.log", lines) if server else "(no such server)"
        path = self.folder / f"{name}.log" if self.folder else None
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_tails(self, lines: int = 25) -> str:
        """The tail of every log, headed by its name: for a failure message."""
        parts = []
        for path in self.log_files():
            text = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            parts.append(f"--- {path.name} ({path.parent.name}) ---\n{text}")
        return "\n".join(parts)

    def grep_logs(self, pattern: str, *, names: Iterable[str] | None = None) -> list[str]:
        """Lines of the logs matching ``pattern`` (a regular expression, case-insensitive),
        as "<log>: <line>"."""
        wanted = set(names) if names is not None else None
        regex = re.compile(pattern, re.IGNORECASE)
        hits = []
        for path in self.log_files():
            if wanted is not None and path.stem not in wanted:
                continue
            for line in path.read_text(errors="replace").splitlines():
                if regex.search(line):
                    hits.append(f"{path.name}: {line}")
        return hits

    # --- Faults -------------------------------------------------------------------------

    def kill_redis(self) -> None:
        """Stop the Redis broker (an outage; its queue is lost, as with no persistence)."""
        self._need("redis")
        self.redis.halt()

    def restart_redis(self) -> None:
        """Start Redis again, empty, on the same port."""
        self._need("redis")
        self.redis.resume()

    def stop_postgres(self, mode: str = "fast") -> None:
        """Stop PostgreSQL (``mode`` "fast", or "immediate": a crash), keeping its data."""
        self._need("postgres")
        self.postgres.halt(mode)

    def start_postgres(self) -> None:
        """Start PostgreSQL again on the same data folder and port."""
        self._need("postgres")
        self.postgres.resume()

    def restart_postgres(self, mode: str = "fast", *, down_seconds: float = 0) -> None:
        """Stop PostgreSQL, stay down ``down_seconds``, start it again."""
        self.stop_postgres(mode)
        time.sleep(down_seconds)
        self.start_postgres()

    def kill_worker(self, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to the Celery worker and wait until it has ended."""
        if self.worker is not None:
            self.worker.kill(signum)

    def start_worker(self) -> None:
        """Start a Celery worker (again); returns once it is ready."""
        if self.worker is not None and self.worker.alive:
            raise StackError("the worker is running: kill_worker() first")
        self._start_worker()

    def kill_web(self, signum: int = signal.SIGTERM) -> None:
        """Stop gunicorn (SIGTERM: graceful)."""
        if self.web is not None:
            self.web.kill(signum)

    def start_web(self) -> None:
        """Start gunicorn (again) on the same port; returns once it answers."""
        if self.web is not None and self.web.alive:
            raise StackError("gunicorn is running: kill_web() first")
        self._start_web()

    def _need(self, what: str) -> None:
        if getattr(self, what) is None:
            raise StackError(f"this stack has no {what} (database={self.database!r})")

    # --- Start and stop -----------------------------------------------------------------

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> Stack:
        if self.folder is not None:
            return self
        self.folder = Path(
            tempfile.mkdtemp(prefix=f"ceasefire-stack-{self.database}-", dir=self.parent)
        )
        atexit.register(self.stop)
        # Should the owner be killed outright, the folder goes too, a few seconds later (the
        # processes' own watchdogs kill them meanwhile; one going down can still write in it).
        self._watchdog = (
            None
            if self.keep
            else _Watchdog({"command": ["sleep", "5"], "remove": str(self.folder)})
        )
        try:
            self._start()
        except StackError as exc:
            tails = self.log_tails()
            self.stop()
            raise StackError(f"{exc}\n{tails}") from exc
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop web, beat and worker, then the servers; delete the folder (unless kept)."""
        if self.folder is None:
            return
        try:
            for process in (self.web, self.beat_process, self.worker):
                if process is not None:
                    with contextlib.suppress(Exception):
                        process.stop()
            for server in (self.redis, self.postgres):
                if server is not None:
                    with contextlib.suppress(Exception):
                        if self.keep and server.folder:
                            dest = self.folder / f"{server.kind}-server.log"
                            with contextlib.suppress(OSError):
                                shutil.copy(server.folder / "server.log", dest)
                        server.stop()
        finally:
            if not self.keep:
                shutil.rmtree(self.folder, ignore_errors=True)
            if self._watchdog is not None:
                self._watchdog.disarm()
                self._watchdog = None
            self.folder = None
            atexit.unregister(self.stop)

    def _start(self) -> None:
        self.var_dir.mkdir()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CEASEFIRE_", "CELERY_", "DATABASE_", "SQLITE_"))
        }
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DJANGO_DEBUG": "false",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_ALLOWED_HOSTS": f"{LOOPBACK},localhost",
                "DJANGO_STATIC_ROOT": str(self.folder / "static"),
                "DJANGO_MEDIA_ROOT": str(self.folder / "media"),
                "CEASEFIRE_VAR_DIR": str(self.var_dir),
            }
        )
        if self.sweep_seconds is not None:
            env["CEASEFIRE_SUMMARY_SWEEP_SECONDS"] = str(self.sweep_seconds)
        if self.database == "postgres":
            self.postgres = PostgresServer(settings=DURABLE_PG_SETTINGS).start()
            self.redis = RedisServer().start()
            env["DATABASE_URL"] = self.postgres.url
            env["CELERY_BROKER_URL"] = self.redis.url
        else:
            env["SQLITE_PATH"] = str(self.sqlite_path)
        for key, value in self.extra_environment.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        self._env = env
        # collectstatic touches no database: it runs alongside migrate and seed.
        began = time.monotonic()
        static = subprocess.Popen(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=BASE_DIR,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,
        )
        try:
            for step in (("migrate", "--noinput", "--verbosity", "0"), ("seed",)):
                step_began = time.monotonic()
                self.manage(*step)
                self.timings[step[0]] = round(time.monotonic() - step_began, 1)
            # Loading the zones queued a re-check of the reports' zones per change (some
            # two hundred): with no report yet each is a no-op; dropped so that the worker
            # starts idle, as on a running instance.
            self.run([sys.executable, "-m", "celery", "-A", "config", "purge", "-f"])
            output, _ = static.communicate(timeout=300)
        finally:
            if static.poll() is None:
                static.kill()
                static.wait()
        if static.returncode != 0:
            raise StackError(f"collectstatic exited {static.returncode}:\n{output[-3000:]}")
        self.timings["prepare"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        self._start_worker()
        if self.beat:
            self.beat_process = _Process(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(self.var_dir / "celerybeat-schedule"),
                    "--pidfile",
                    str(self.folder / "beat.pid"),
                ],
                env=self._env,
                folder=self.folder,
            )
            self.beat_process.start()
        self._start_web()
        self.timings["processes"] = round(time.monotonic() - began, 1)

    def _start_worker(self) -> None:
        self._worker_count += 1
        hostname = f"stack{self._worker_count}-{self.folder.name}@localhost"
        self.worker = _Process(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                "threads",
                "--concurrency",
                str(self.worker_concurrency),
                "--hostname",
                hostname,
                "--without-mingle",
                "--without-gossip",
            ],
            env=self._env,
            folder=self.folder,
        )
        size = self.worker.log_path.stat().st_size if self.worker.log_path.exists() else 0
        self.worker.start()

        def ready() -> bool:
            if not self.worker.alive:
                raise StackError(f"the Celery worker exited:\n{self.log_tail('worker')}")
            with self.worker.log_path.open("rb") as log:
                log.seek(size)
                return b" ready." in log.read()

        try:
            _wait_for(ready, timeout=READY_TIMEOUT, what="the Celery worker", interval=0.2)
        except TimeoutError as exc:
            raise StackError(f"{exc}:\n{self.log_tail('worker')}") from exc

    def _start_web(self) -> None:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            str(self.web_workers),
            "--timeout",
            str(self.web_timeout),
            "--access-logfile",
            str(self.folder / "access.log"),
            "--access-logformat",
            '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "--pid",
            str(self.folder / "gunicorn.pid"),
            # Its own control socket (gunicorn's default is one per user, shared by stacks).
            "--control-socket",
            str(self.folder / "gunicorn.ctl"),
        ]
        if self.web_threads > 1:
            command += ["--worker-class", "gthread", "--threads", str(self.web_threads)]
        for attempt in range(3):  # a free port can be taken by someone else meanwhile
            if self.port is None or attempt:
                self.port = free_port()
            self.web = _Process(
                "web",
                [*command, "--bind", f"{LOOPBACK}:{self.port}"],
                env=self._env,
                folder=self.folder,
            )
            self.web.start()
            try:
                _wait_for(
                    lambda: port_open(self.port) or not self.web.alive,
                    timeout=READY_TIMEOUT,
                    what="gunicorn",
                    interval=0.1,
                )
            except TimeoutError as exc:
                raise StackError(f"{exc}:\n{self.log_tail('web')}") from exc
            if self.web.alive:
                return
            self.web.stop()
        raise StackError(f"gunicorn did not start:\n{self.log_tail('web')}")


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.stack",
        description="Serve the production shape on loopback until Ctrl-C.",
    )
    parser.add_argument("database", choices=DATABASES)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the folder and its logs")
    args = parser.parse_args(argv)
    interrupt_on_signals()
    try:
        with Stack(
            database=args.database,
            web_workers=args.web_workers,
            web_threads=args.web_threads,
            keep=args.keep,
        ) as stack:
            print(f"url={stack.url} folder={stack.folder}", flush=True)
            print(f"send '{next(iter(PROXY_HEADERS))}: https' (a TLS proxy's header)", flush=True)
            print("Ctrl-C stops it.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(_main())

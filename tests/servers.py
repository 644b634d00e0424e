"""Throwaway PostgreSQL and Redis servers for the tests, on free loopback ports.

Each server lives in its own temporary folder and is stopped and deleted on exit: by
``stop()`` (or the ``with`` block), by an ``atexit`` hook, and, should the owning process be
killed outright, by a small watchdog process that notices its owner is gone. No orphans.

From pytest: the ``postgres_server`` and ``redis_server`` fixtures (tests/conftest.py) and
the ``--database postgres`` option (tests/plugin_servers.py). From the command line::

    python -m tests.servers postgres                # print DATABASE_URL, serve until Ctrl-C
    python -m tests.servers redis                   # print REDIS_URL, serve until Ctrl-C
    python -m tests.servers postgres -- CMD ARG...  # run CMD with DATABASE_URL set, then stop

When a server's binaries are missing, :class:`ServerUnavailable` says which; the fixtures
turn it into a skip with that reason, or into a failure when ``CI=true``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
PG_USER = "ceasefire"
PG_PASSWORD = "ceasefire"  # trust auth on loopback; the password only fills the URL
PG_DATABASE = "ceasefire"
# Speed over durability: the data folder is deleted at the end anyway.
PG_SETTINGS = {
    "listen_addresses": LOOPBACK,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
}

# PostgreSQL's own defaults: every commit survives a crash of the server (what a restart
# in the middle of the load must show).
DURABLE_PG_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


class ServerUnavailable(RuntimeError):
    """A server cannot be started here (binary missing, ...); the message says why."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def skip_or_fail(reason: str):
    """Skip the current test with ``reason``; fail it instead when ``CI=true``."""
    import pytest

    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing server is a failure)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def find_binary(name: str, *, extra_globs: tuple[str, ...] = ()) -> str:
    """The path of ``name`` on PATH or in ``extra_globs`` (newest version first)."""
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra_globs:
        candidates = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        for candidate in candidates:
            if os.access(candidate, os.X_OK):
                return candidate
    where = " or ".join(("PATH", *extra_globs))
    raise ServerUnavailable(f"{name} not found on {where}")


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split("/") if part.isdigit())


def _die_with_parent() -> None:
    """In a child before exec: get SIGTERM when the parent dies (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_for(predicate, *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class _Watchdog:
    """A detached process that runs a cleanup if its owner dies without doing it.

    It blocks reading a pipe from the owner: an orderly ``disarm()`` writes "done" and it
    exits; end of file without "done" (the owner was killed) runs the cleanup.
    """

    def __init__(self, spec: dict) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "_watchdog", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not hit by the Ctrl-C meant for the owner
            close_fds=True,
        )

    def disarm(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.write(b"done")
            self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _watchdog_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    data = sys.stdin.buffer.read()
    if data == b"done":
        return
    if spec.get("command"):
        with contextlib.suppress(Exception):
            subprocess.run(spec["command"], timeout=60, capture_output=True, check=False)
    for pid in spec.get("pids", []):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if spec.get("pid_marker", "").encode() in cmdline:
                os.kill(pid, signal.SIGKILL)
    if spec.get("remove"):
        shutil.rmtree(spec["remove"], ignore_errors=True)


class _Server:
    """Start/stop bookkeeping shared by both servers."""

    kind = "server"

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.port: int | None = None
        self._watchdog: _Watchdog | None = None
        self._started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self):
        if self._started:
            return self
        self.folder = Path(tempfile.mkdtemp(prefix=f"ceasefire-{self.kind}-"))
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        if self.folder is None:
            return
        try:
            self._stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
            self._started = False
            if self._watchdog is not None:
                self._watchdog.disarm()
                self._watchdog = None
            atexit.unregister(self.stop)

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = (self.folder or Path("/nonexistent")) / name
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class PostgresServer(_Server):
    """initdb + pg_ctl in a temporary folder; a role and a database for the project.

    As root (CI), the server runs as the ``postgres`` user, since initdb refuses root.
    """

    kind = "postgres"

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        """``settings``: postgresql.conf values over :data:`PG_SETTINGS` (which trade
        durability for speed: with ``synchronous_commit`` off, an immediate :meth:`halt`
        loses the last fraction of a second of commits; pass ``DURABLE_PG_SETTINGS`` for a
        server that keeps every commit across one)."""
        super().__init__()
        self.settings = {**PG_SETTINGS, **(settings or {})}
        globs = ("/usr/lib/postgresql/*/bin/{}",)
        self.initdb = find_binary("initdb", extra_globs=tuple(g.format("initdb") for g in globs))
        self.pg_ctl = find_binary("pg_ctl", extra_globs=tuple(g.format("pg_ctl") for g in globs))
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServerUnavailable(
                    "running as root and there is no 'postgres' user to run the server"
                ) from exc
            self.run_as = "postgres"
            if not shutil.which("runuser"):
                raise ServerUnavailable("running as root and runuser is not available")

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgres://{PG_USER}:{PG_PASSWORD}@{LOOPBACK}:{self.port}/{PG_DATABASE}"

    def _command(self, *args: str) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            self._command(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self.log_tail('server.log')}"
            )

    def _stop_command(self) -> list[str]:
        return self._command(self.pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "stop")

    def _start(self) -> None:
        if self.run_as:
            shutil.chown(self.folder, user=self.run_as)
        self._run(
            self.initdb,
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# ceasefire-monitor test server\n")
            conf.write(f"unix_socket_directories = '{self.folder}'\n")
            for key, value in self.settings.items():
                conf.write(f"{key} = '{value}'\n")
        self._watchdog = _Watchdog({"command": self._stop_command(), "remove": str(self.folder)})
        for attempt in range(3):  # a free port can be taken by someone else meanwhile
            self.port = free_port()
            try:
                self._pg_start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self._create_database()

    def _pg_start(self) -> None:
        self._run(
            self.pg_ctl,
            "-D",
            str(self.data_dir),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            f"-p {self.port}",
            "-w",
            "-t",
            "60",
            "start",
        )

    def halt(self, mode: str = "fast") -> None:
        """Stop serving (``pg_ctl stop -m fast``, or ``"immediate"``: a crash), keeping the
        data folder and the port: see :meth:`resume`. Its watchdog stays armed."""
        if mode not in {"smart", "fast", "immediate"}:
            raise ValueError(f"unknown shutdown mode {mode!r}")
        self._run(self.pg_ctl, "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def resume(self) -> None:
        """Serve again on the same data folder and port after :meth:`halt`, with every
        committed transaction (an immediate halt is recovered from the WAL)."""
        self._pg_start()

    def restart(self, mode: str = "fast") -> None:
        """:meth:`halt` then :meth:`resume`: the clients' connections are cut."""
        self.halt(mode)
        self.resume()

    @property
    def running(self) -> bool:
        return self.port is not None and port_open(self.port)

    def _create_database(self) -> None:
        import psycopg

        admin = f"host={LOOPBACK} port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {PG_USER} LOGIN CREATEDB PASSWORD '{PG_PASSWORD}'")
            conn.execute(f"CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}")

    def _stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(self._stop_command(), capture_output=True, timeout=60, check=False)


class RedisServer(_Server):
    """redis-server on a free loopback port, with no persistence."""

    kind = "redis"

    def __init__(self) -> None:
        super().__init__()
        self.binary = find_binary("redis-server")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def _ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _start(self) -> None:
        for attempt in range(3):
            self.port = free_port()
            self._launch()
            if self.process.poll() is None:
                return
            self._watchdog.disarm()
            if attempt == 2:
                raise RuntimeError(f"redis-server did not start:\n{self.log_tail('server.log')}")

    def halt(self) -> None:
        """Stop serving, as an outage would, keeping the port and folder: see :meth:`resume`."""
        self._stop()
        if self._watchdog is not None:
            self._watchdog.disarm()
            self._watchdog = None

    def resume(self) -> None:
        """Serve again, empty, on the same port after :meth:`halt`."""
        self._launch()
        if self.process.poll() is not None:
            self._watchdog.disarm()
            self._watchdog = None
            raise RuntimeError(f"redis-server did not restart:\n{self.log_tail('server.log')}")

    def _launch(self) -> None:
        """redis-server on ``self.port``; returns once it answers or has exited."""
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    LOOPBACK,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        self._watchdog = _Watchdog(
            {
                "pids": [self.process.pid],
                "pid_marker": "redis-server",
                "remove": str(self.folder),
            }
        )
        try:
            _wait_for(
                lambda: self._ping() or self.process.poll() is not None,
                timeout=20,
                what=f"redis-server on port {self.port}",
            )
        except TimeoutError:
            self._stop()
            raise

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_watchdog"]:
        _watchdog_main(argv[1])
        return 0
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m tests.servers", description="Run a throwaway server for the tests."
    )
    parser.add_argument("server", choices=["postgres", "redis"])
    args = parser.parse_args(argv)
    server_class, variable = {
        "postgres": (PostgresServer, "DATABASE_URL"),
        "redis": (RedisServer, "REDIS_URL"),
    }[args.server]

    # SIGTERM (and SIGHUP) stop the server like Ctrl-C does; Ctrl-C itself stops it even
    # when started by a process that ignores SIGINT (an ignored signal is inherited through
    # exec, and Python then leaves it ignored: a pytest-xdist worker, nohup-like wrappers).
    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        server = server_class()
    except ServerUnavailable as exc:
        print(f"{args.server}: unavailable: {exc}", file=sys.stderr)
        return 3
    try:
        with server:
            print(f"{variable}={server.url}", flush=True)
            if command:
                return subprocess.call(command, env={**os.environ, variable: server.url})
            print("Ctrl-C stops it.", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:  # the server is stopped and deleted by then
        return 130 if command else 0


if __name__ == "__main__":
    sys.exit(_main())

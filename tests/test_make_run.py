"""`make run` as a newcomer uses it: the whole stack comes up, answers, and Ctrl-C ends it.

The test runs the real target (migrate, seed, demo accounts and demo reports, then web +
worker + beat under honcho) against a var dir of its own and a free port, then sends SIGINT
to the process group as a terminal's Ctrl-C does, and checks that no process is left.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.servers import free_port, port_open

BASE_DIR = Path(__file__).resolve().parent.parent
# migrate + seed + demo accounts + a week of demo reports + three processes, on a busy CI machine
START_TIMEOUT = 120
STOP_TIMEOUT = 30
# The shell's own configuration stays out: `make run` is tested in its embedded default.
CLEARED = (
    "DATABASE_URL",
    "SQLITE_PATH",
    "SQLITE_TEST_PATH",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(proc.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running: exists and is not a zombie (a dead process nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError):
        return 0, ""


FIVE_ZONES = ("idlib", "northern-homs", "eastern-ghouta", "daraa-quneitra", "southwest")


def _signed_in_get(port: int, username: str, password: str, path: str) -> str:
    """Sign in through the real login form (CSRF cookie and token), then GET ``path``."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    login = base + reverse("login")
    form = opener.open(login, timeout=20).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": password}
    ).encode()
    request = urllib.request.Request(login, data=data, headers={"Referer": login})  # noqa: S310 - loopback http
    landed = opener.open(request, timeout=20)
    assert landed.geturl().rstrip("/") == base, f"login did not land home: {landed.geturl()}"
    return opener.open(base + path, timeout=20).read().decode()


@pytest.mark.celery
def test_make_run_serves_web_worker_and_beat_and_ctrl_c_stops_them(tmp_path):
    if not (Path(sys.prefix) / "bin" / "python").exists():
        pytest.fail(f"no python in {sys.prefix}/bin")
    port = free_port()
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(CEASEFIRE_VAR_DIR=str(var_dir), PORT=str(port))
    log_path = tmp_path / "make-run.log"
    login_url = f"http://127.0.0.1:{port}{reverse('login')}"

    with log_path.open("wb") as log:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"VENV={sys.prefix}", f"PORT={port}"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    seen: set[int] = set()

    def output() -> str:
        return log_path.read_text(errors="replace")

    def running(kind: str) -> list[int]:
        return [pid for pid in seen if _alive(pid) and kind in _cmdline(pid)]

    try:
        deadline = time.monotonic() + START_TIMEOUT
        status, body = 0, ""
        while time.monotonic() < deadline and make.poll() is None:
            seen |= _descendants(make.pid)
            status, body = _get(login_url)
            if (
                status == 200
                and " ready." in output()
                and "beat: Starting" in output()
                and running("celery -A config worker")
                and running("celery -A config beat")
            ):
                break
            time.sleep(0.5)
        seen |= _descendants(make.pid)
        assert make.poll() is None, f"make run exited ({make.returncode}):\n{output()[-4000:]}"
        assert status == 200, f"login page: HTTP {status}\n{output()[-4000:]}"
        assert 'name="password"' in body
        assert running("celery -A config worker"), output()[-4000:]
        assert running("celery -A config beat"), output()[-4000:]
        assert "==> serving http://127.0.0.1:" in output()
        # The printed demo logins work, and the map page carries the five seeded zones.
        assert "demo-admin" in output() and "obs-russia-jwg" in output()
        home = _signed_in_get(port, "obs-russia-jwg", settings.DEMO_PASSWORD, "/")
        for code in FIVE_ZONES:
            assert f'href="/zones/{code}/"' in home, f"zone {code} missing from the map page"
        assert 'type="application/json"' in home  # the map's data, for static/js/map.js
        # A fresh instance got a week of demo reports of every kind (no TTY, no prompt).
        assert "demo reports for AMC, JWG, RCR" in output()
        with closing(sqlite3.connect(var_dir / "db.sqlite3")) as db:
            kinds = dict(db.execute("SELECT kind, COUNT(*) FROM incidents_report GROUP BY kind"))
        assert set(kinds) == {"violation", "convoy", "checkpoint"}, kinds
        assert sum(kinds.values()) > 100, kinds
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        try:
            make.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            left = [pid for pid in seen if _alive(pid)]
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            make.kill()
            pytest.fail(f"make run did not stop on SIGINT; killed {left}\n{output()[-3000:]}")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in seen):
        time.sleep(0.2)
    left = {pid: _cmdline(pid) for pid in seen if _alive(pid)}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left after Ctrl-C: {left}"
    assert not port_open(port)
    assert "SIGINT received" in output()

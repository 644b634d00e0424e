"""The reference sync client, ``manage.py sync_from``: two live instances over real HTTP on
loopback. The source is pytest-django's ``live_server`` on the test database; the mirror is
another process (``manage.py`` subprocesses) on its own SQLite file. The mirror's copies
must end equal to what a fresh full read of the source's feed gives: after a plain sync,
while reports are being filed, verified, rejected and retracted, after a kill mid-way, after
tombstones, and after a 410 ``resync_required``. Refused tokens, bad URLs and unreachable
sources end with a non-zero exit and a clear message. Unit level: a page applied twice
changes nothing, a failing page changes nothing at all."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from incidents.choices import ReportStatus
from incidents.models import Report
from incidents.services import report_transition
from monitoring.choices import ObserverRole
from monitoring.models import AuditEntry, SyncedRecord, SyncSource
from monitoring.services import (
    changes_purge,
    changes_sequence,
    partner_token_issue,
    partner_token_revoke,
)
from monitoring.sync import (
    RetryPolicy,
    SyncAuthError,
    SyncResyncRequired,
    SyncUsageError,
    base_url_normalise,
    retry_after_seconds,
    sync_from,
    synced_records_apply,
    synced_records_reset,
)
from tests.api_base import client_for
from tests.factories import ZoneTermFactory, report_file

S = ReportStatus
FEED = "/api/v1/changes/"
BASE_DIR = Path(django_settings.BASE_DIR)
# Writes while the mirror syncs: this many reports through the services. Two writers at once
# on PostgreSQL; one on SQLite, where writers take turns anyway and a second one only adds
# lock waits.
WRITES = 1000
WRITE_SECONDS_MAX = 150  # a bound only: 30 to 65 s were measured, depending on the load


@pytest.fixture(autouse=True)
def _fresh_throttle():
    """Throttle counts live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


# --- The mirror: another instance, in other processes, on its own database ----------------------


def mirror_env(db: Path, var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CEASEFIRE_SYNC_TOKEN"}
    env |= {
        "DATABASE_URL": f"sqlite:///{db}",
        "CEASEFIRE_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",  # progress lines arrive as they are written
    }
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


@pytest.fixture(scope="module")
def mirror_template(tmp_path_factory) -> Path:
    """A migrated mirror database, made once and copied for each test."""
    folder = tmp_path_factory.mktemp("mirror-template")
    db = folder / "mirror.sqlite3"
    done = subprocess.run(
        manage("migrate", "--noinput", "-v", "0"),
        env=mirror_env(db, folder / "var"),
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return db


@dataclass
class Mirror:
    db: Path
    env: dict[str, str]
    token_file: Path

    def command(self, url: str, *args: str) -> list[str]:
        return manage("sync_from", url, "--token-file", str(self.token_file), *args)

    def sync(self, url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(url, *args),
            env=self.env,
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, url: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(url, *args),
            env=self.env,
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def query(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db) as db:
            return db.execute(sql).fetchall()

    def copies(self) -> dict[tuple[str, str], dict]:
        rows = self.query("SELECT record_type, record_key, data FROM monitoring_syncedrecord")
        return {(kind, key): json.loads(data) for kind, key, data in rows}

    def seqs(self) -> dict[tuple[str, str], int]:
        rows = self.query("SELECT record_type, record_key, seq FROM monitoring_syncedrecord")
        return {(kind, key): seq for kind, key, seq in rows}

    def source(self) -> dict:
        rows = self.query(
            "SELECT base_url, cursor, records_applied, tombstones_applied, last_sync_at "
            "FROM monitoring_syncsource"
        )
        assert len(rows) <= 1
        if not rows:
            return {}
        names = ("base_url", "cursor", "records_applied", "tombstones_applied", "last_sync_at")
        return dict(zip(names, rows[0], strict=True))


# --- The source: the live server on the test database -------------------------------------


@dataclass
class Source:
    url: str
    secret: str
    author: object
    coordinator: object
    partner: object
    token: object = None

    def read_feed(self, after: int = 0) -> tuple[list[dict], int]:
        """Every entry after ``after``, over HTTP, as any partner tool reads them."""
        entries: list[dict] = []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {self.secret}"
            for _ in range(1000):
                response = session.get(
                    self.url + FEED, params={"after": after, "limit": 1000}, timeout=60
                )
                assert response.status_code == 200, response.text
                body = response.json()
                entries += body["results"]
                after = body["cursor"]
                if not body["has_more"]:
                    return entries, after
        raise AssertionError("the feed never ended")

    def expected(self) -> dict[tuple[str, str], dict]:
        """What an exact copy holds: a fresh full read's records, tombstones left out."""
        entries, _ = self.read_feed()
        keys = [(e["type"], e["id"]) for e in entries]
        assert len(keys) == len(set(keys))  # one entry per record in a full read
        return {(e["type"], e["id"]): e["record"] for e in entries if not e["deleted"]}


@pytest.fixture
def source(live_server, zone, center, make_member) -> Source:
    ZoneTermFactory(zone=zone)
    coordinator = make_member(ObserverRole.COORDINATOR)
    partner = make_member(ObserverRole.PARTNER)
    token, secret = partner_token_issue(partner_user=partner, name="mirror", actor=coordinator)
    return Source(
        url=live_server.url,
        secret=secret,
        author=make_member(ObserverRole.OBSERVER),
        coordinator=coordinator,
        partner=partner,
        token=token,
    )


@pytest.fixture
def mirror(mirror_template, tmp_path, source) -> Mirror:
    """A fresh mirror of ``source``, with the partner token in a file of its own."""
    db = tmp_path / "mirror.sqlite3"
    shutil.copyfile(mirror_template, db)
    token_file = tmp_path / "token"
    token_file.write_text(source.secret + "\n")
    token_file.chmod(0o600)
    return Mirror(db=db, env=mirror_env(db, tmp_path / "mirror-var"), token_file=token_file)


@pytest.fixture
def shares_unverified(settings):
    """Partners see submitted and disputed reports too, so a shared report can still be
    rejected or retracted (a tombstone)."""
    settings.PARTNER_REPORT_STATUSES = ("disputed", "submitted", "verified")


def reports(copies: dict) -> set[str]:
    return {key for kind, key in copies if kind == "report"}


def shared_reports() -> set[str]:
    statuses = django_settings.PARTNER_REPORT_STATUSES
    return {
        str(u) for u in Report.objects.filter(status__in=statuses).values_list("uuid", flat=True)
    }


# Fields a record's feed entry computes at read time rather than from the record: a zone's
# state "at" now (``at`` is the moment of the request). Copies keep the moment they were read.
READ_TIME_FIELDS = {"zone": {"at"}}


def comparable(records: dict[tuple[str, str], dict]) -> dict[tuple[str, str], dict]:
    return {
        (kind, key): {k: v for k, v in data.items() if k not in READ_TIME_FIELDS.get(kind, ())}
        for (kind, key), data in records.items()
    }


def assert_exact_copy(mirror: Mirror, source: Source) -> dict:
    raw = mirror.copies()
    copies, expected = comparable(raw), comparable(source.expected())
    assert set(copies) == set(expected)
    different = {
        key: [
            (k, copies[key].get(k), v) for k, v in expected[key].items() if copies[key].get(k) != v
        ]
        for key in expected
        if copies[key] != expected[key]
    }
    assert different == {}
    assert reports(copies) == shared_reports()
    seqs = mirror.seqs()
    assert max(seqs.values()) <= mirror.source()["cursor"]
    return raw


def page_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("page ")]


# --- (a) a full sync -------------------------------------------------------------------------


def test_a_full_sync_makes_an_exact_copy(source, mirror):
    verified = {
        str(report_file(source.author, status=S.VERIFIED, reviewer=source.coordinator).uuid)
        for _ in range(12)
    }
    hidden = report_file(source.author, status=S.SUBMITTED)  # not shared by default

    done = mirror.sync(source.url + "//", "--page-size", "5")

    assert done.returncode == 0, done.stderr
    copies = assert_exact_copy(mirror, source)
    assert reports(copies) == verified and str(hidden.uuid) not in reports(copies)
    assert {"zone", "center", "party"} <= {kind for kind, _ in copies}
    lines = page_lines(done.stdout)
    assert len(lines) >= 4
    assert re.fullmatch(r"page 1: \d records, 0 tombstones, cursor [\d,]+", lines[0])
    assert "Done:" in done.stdout and "in step" in done.stdout
    stored = mirror.source()
    assert stored["base_url"] == source.url  # the trailing slashes dropped
    _, cursor = source.read_feed()
    assert stored["cursor"] == cursor
    assert stored["records_applied"] == len(copies) and stored["last_sync_at"]


# --- (b) writes going on while the mirror syncs --------------------------------------------


@dataclass
class Writer:
    """Files reports through the services in a thread of its own; every tenth is submitted
    (shared), and of those some are verified, rejected or retracted later."""

    source: Source
    count: int
    deadline: float
    filed: int = 0
    withdrawn: int = 0
    error: BaseException | None = None
    pending: list = field(default_factory=list)

    def run(self) -> None:
        author, coordinator = self.source.author, self.source.coordinator
        try:
            for i in range(self.count):
                if time.monotonic() > self.deadline:
                    return
                if i % 10 == 0:
                    self.pending.append(report_file(author, status=S.SUBMITTED))
                else:
                    report_file(author, status=S.VERIFIED, reviewer=coordinator)
                self.filed += 1
                if i % 10 == 5 and self.pending:
                    report = self.pending.pop(0)
                    step = (i // 10) % 3
                    if step == 0:
                        report_transition(
                            report=report, to_status=S.REJECTED, actor=coordinator, comment="no"
                        )
                        self.withdrawn += 1
                    elif step == 1:
                        report_transition(
                            report=report, to_status=S.RETRACTED, actor=author, comment="oops"
                        )
                        self.withdrawn += 1
                    else:
                        report_transition(
                            report=report, to_status=S.VERIFIED, actor=coordinator, comment="ok"
                        )
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()  # the thread's own connection


def test_writes_while_the_mirror_follows_end_in_an_exact_copy(source, mirror, shares_unverified):
    report_file(source.author, status=S.VERIFIED, reviewer=source.coordinator)
    deadline = time.monotonic() + WRITE_SECONDS_MAX
    count = 2 if connection.vendor == "postgresql" else 1
    writers = [Writer(source, WRITES // count, deadline) for _ in range(count)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
    started = time.monotonic()
    follower = mirror.start(
        source.url, "--follow", "--interval", "0.5", "--max-seconds", "300", "--page-size", "100"
    )
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WRITE_SECONDS_MAX + 30)
        write_seconds = time.monotonic() - started
        assert all(not t.is_alive() for t in threads)
        time.sleep(0.5)  # let it poll once more while nothing is written
    finally:
        follower.send_signal(signal.SIGTERM)  # as a service manager stops it
        out, err = follower.communicate(timeout=60)
    assert [w.error for w in writers] == [None] * count
    assert sum(w.filed for w in writers) == WRITES, f"{write_seconds:.0f} s"
    assert follower.returncode == 0, err
    assert "Interrupted:" in out
    during = page_lines(out)
    # it kept copying while the reports were being written, in many rounds
    assert len([line for line in during if not line.startswith("page 1: 0 records")]) >= 3
    assert mirror.source()["tombstones_applied"] >= 1

    final = mirror.sync(source.url, "--page-size", "1000")

    assert final.returncode == 0, final.stderr
    copies = assert_exact_copy(mirror, source)
    withdrawn = sum(w.withdrawn for w in writers)
    assert len(reports(copies)) == 1 + WRITES - withdrawn
    print(f"\n{WRITES} reports written in {write_seconds:.1f} s while the mirror followed")


# --- (c) resume after a stop or a kill --------------------------------------------------------


@pytest.mark.faults
def test_a_run_stopped_or_killed_mid_way_resumes_where_it_stopped(source, mirror):
    for _ in range(30):
        report_file(source.author, status=S.VERIFIED, reviewer=source.coordinator)

    first = mirror.sync(source.url, "--page-size", "2", "--max-pages", "1")

    assert first.returncode == 0, first.stderr
    assert "more to read" in first.stdout
    stopped = mirror.source()["cursor"]
    assert 0 < len(mirror.copies()) <= 2 and stopped > 0

    process = mirror.start(source.url, "--page-size", "2")
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("page 3:"):
                process.send_signal(signal.SIGKILL)  # wherever it is: between pages or in one
                break
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, seen
    killed_at = mirror.source()
    partial = mirror.seqs()
    assert killed_at["cursor"] > stopped and 0 < len(partial) < 30
    assert max(partial.values()) <= killed_at["cursor"]  # pages whole or not at all

    last = mirror.sync(source.url, "--page-size", "2")

    assert last.returncode == 0, last.stderr
    copies = assert_exact_copy(mirror, source)
    # each record applied exactly once over the three runs: each started where the last ended
    assert mirror.source()["records_applied"] == len(copies)


# --- (d) tombstones -----------------------------------------------------------------------------


def test_tombstones_drop_the_copies_of_withdrawn_reports(source, mirror, shares_unverified):
    rejected, retracted, kept = (report_file(source.author, status=S.SUBMITTED) for _ in range(3))
    first = mirror.sync(source.url)
    assert first.returncode == 0, first.stderr
    assert {str(rejected.uuid), str(retracted.uuid), str(kept.uuid)} <= reports(mirror.copies())

    report_transition(report=rejected, to_status=S.REJECTED, actor=source.coordinator, comment="x")
    report_transition(report=retracted, to_status=S.RETRACTED, actor=source.author, comment="x")
    second = mirror.sync(source.url)

    assert second.returncode == 0, second.stderr
    assert page_lines(second.stdout)[0].startswith("page 1: 0 records, 2 tombstones, cursor ")
    copies = assert_exact_copy(mirror, source)
    assert reports(copies) == {str(kept.uuid)}
    assert mirror.source()["tombstones_applied"] == 2


# --- (e) 410 resync_required --------------------------------------------------------------------


def test_a_cursor_past_the_tombstone_horizon_resyncs_from_scratch(
    source, mirror, shares_unverified
):
    withdrawn = report_file(source.author, status=S.SUBMITTED)
    kept = report_file(source.author, status=S.VERIFIED, reviewer=source.coordinator)
    first = mirror.sync(source.url)
    assert first.returncode == 0, first.stderr
    assert str(withdrawn.uuid) in reports(mirror.copies())
    report_transition(report=withdrawn, to_status=S.REJECTED, actor=source.coordinator, comment="x")
    changes_sequence()
    purge = changes_purge(before=timezone.now() + timedelta(seconds=1))
    assert purge is not None and purge.through_seq > mirror.source()["cursor"]

    second = mirror.sync(source.url)

    assert second.returncode == 0, second.stderr
    assert "RESYNC REQUIRED" in second.stdout and "Dropping all" in second.stdout
    copies = assert_exact_copy(mirror, source)
    # the tombstone is gone from the feed: only the resync dropped the stale copy
    assert reports(copies) == {str(kept.uuid)}
    assert mirror.query("SELECT count(*) FROM monitoring_auditentry WHERE comment LIKE 'Resync%'")


def test_no_resync_refuses_and_keeps_the_copies(source, shares_unverified):
    withdrawn = report_file(source.author, status=S.SUBMITTED)
    sync_from(base_url=source.url, token=source.secret)
    report_transition(report=withdrawn, to_status=S.REJECTED, actor=source.coordinator, comment="x")
    changes_sequence()
    purge = changes_purge(before=timezone.now() + timedelta(seconds=1))
    copies = set(SyncedRecord.objects.values_list("record_key", flat=True))

    with pytest.raises(SyncResyncRequired, match="without --no-resync") as refused:
        sync_from(base_url=source.url, token=source.secret, resync=False)

    assert refused.value.horizon == purge.through_seq
    assert set(SyncedRecord.objects.values_list("record_key", flat=True)) == copies
    assert str(withdrawn.uuid) in copies


# --- (f) refusals and failures -------------------------------------------------------------


def test_a_refused_token_exits_non_zero_with_a_clear_message(source, mirror):
    report_file(source.author, status=S.VERIFIED, reviewer=source.coordinator)
    mirror.token_file.write_text("not-the-secret\n")

    done = mirror.sync(source.url)

    assert done.returncode == 1
    assert "refused the token (401" in done.stderr
    assert source.secret not in done.stderr + done.stdout
    assert mirror.copies() == {} and mirror.source() == {}  # no trace of the failed contact


def test_a_revoked_token_is_refused(source):
    partner_token_revoke(token=source.token, actor=source.coordinator)
    with pytest.raises(SyncAuthError, match=r"refused the token \(401"):
        sync_from(base_url=source.url, token=source.secret)
    assert not SyncSource.objects.exists() and not SyncedRecord.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org", "example.org", "http://", "https://u:p@example.org", "http://x/?a=1"],
)
def test_a_bad_url_exits_with_usage_status_before_any_request(db, url):
    with pytest.raises(CommandError, match="base URL") as refused:
        call_command("sync_from", url, token="abc")
    assert refused.value.returncode == 2
    assert not SyncSource.objects.exists()


def test_no_token_is_a_usage_error(db, monkeypatch, tmp_path):
    monkeypatch.delenv("CEASEFIRE_SYNC_TOKEN", raising=False)
    with pytest.raises(CommandError, match="no token") as refused:
        call_command("sync_from", "http://127.0.0.1:9")
    assert refused.value.returncode == 2
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(CommandError, match="is empty"):
        call_command("sync_from", "http://127.0.0.1:9", token_file=str(empty))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_source_exits_non_zero_after_bounded_retries(db, monkeypatch, capsys):
    monkeypatch.setenv("CEASEFIRE_SYNC_TOKEN", "abc")
    started = time.monotonic()
    with pytest.raises(CommandError, match=r"failed 3 time\(s\) in a row; last: could not reach"):
        call_command("sync_from", f"http://127.0.0.1:{closed_port()}", retries=2)
    assert time.monotonic() - started < 10
    assert capsys.readouterr().out.count("trying again in") == 2
    assert SyncedRecord.objects.count() == 0


def test_follow_rides_out_an_unreachable_source_but_ends_non_zero(db, monkeypatch, capsys):
    monkeypatch.setenv("CEASEFIRE_SYNC_TOKEN", "abc")
    url = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(CommandError, match=r"the last round failed: .* could not reach"):
        call_command("sync_from", url, follow=True, interval=0.2, max_seconds=1, retries=0)
    assert time.monotonic() - started < 10  # bounded by --max-seconds
    assert capsys.readouterr().out.count("Next try in 0.2 s.") >= 2  # it kept trying


def test_a_url_that_is_no_instance_is_a_clear_error(source):
    with pytest.raises(CommandError, match=r"no change feed at .*404"):
        call_command("sync_from", source.url + "/nowhere", token=source.secret)


def test_throttled_requests_wait_for_retry_after_and_go_on(source, settings):
    for _ in range(3):
        report_file(source.author, status=S.VERIFIED, reviewer=source.coordinator)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"partner": "1/s"},  # a second page within 1 s: 429
    }
    said: list[str] = []

    result = sync_from(base_url=source.url, token=source.secret, page_size=4, progress=said.append)

    assert any("answered 429; trying again in" in line for line in said), said
    assert result.in_step and result.records == SyncedRecord.objects.count()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"partner": "600/min"},
    }
    cache.clear()
    copies = {(r.record_type, r.record_key): r.data for r in SyncedRecord.objects.all()}
    assert comparable(copies) == comparable(source.expected())


# --- (g) unit level: the write path ----------------------------------------------------------


@pytest.fixture
def feed_page(zone, center, make_member, shares_unverified):
    """A real page of the feed (in-process), with one tombstone in it."""
    ZoneTermFactory(zone=zone)
    author = make_member(ObserverRole.OBSERVER)
    coordinator = make_member(ObserverRole.COORDINATOR)
    partner = make_member(ObserverRole.PARTNER)
    gone = report_file(author, status=S.SUBMITTED)
    for _ in range(3):
        report_file(author, status=S.VERIFIED, reviewer=coordinator)
    client = client_for(partner)
    first = client.get(reverse("api-changes")).json()
    report_transition(report=gone, to_status=S.REJECTED, actor=coordinator, comment="no")
    later = client.get(reverse("api-changes"), {"after": first["cursor"]}).json()
    return {"first": first, "later": later, "gone": str(gone.uuid)}


def state(source: SyncSource) -> tuple:
    source = SyncSource.objects.get(pk=source.pk)
    rows = list(
        SyncedRecord.objects.filter(source=source)
        .order_by("pk")
        .values_list("pk", "record_type", "record_key", "seq", "data", "synced_at")
    )
    counters = (source.cursor, source.last_sync_at, source.records_applied)
    return rows, counters, source.tombstones_applied


def test_applying_the_same_page_twice_changes_nothing(feed_page):
    source = SyncSource.objects.create(base_url="http://source.example")
    first, later = feed_page["first"], feed_page["later"]
    applied = synced_records_apply(source=source, entries=first["results"], cursor=first["cursor"])
    assert applied.records == len(first["results"]) and applied.tombstones == 0
    assert feed_page["gone"] in set(SyncedRecord.objects.values_list("record_key", flat=True))
    synced_records_apply(source=source, entries=later["results"], cursor=later["cursor"])
    assert feed_page["gone"] not in set(SyncedRecord.objects.values_list("record_key", flat=True))
    before = state(source)

    for page in (later, first):  # again, and an older page: both were applied already
        again = synced_records_apply(
            source=source,
            entries=page["results"],
            cursor=page["cursor"],
            at=timezone.now() + timedelta(hours=1),
        )
        assert (again.records, again.tombstones) == (0, 0)
        assert state(source) == before
    assert source.cursor == later["cursor"]  # the cursor never moves back


def test_a_page_that_fails_half_way_leaves_nothing_behind(feed_page):
    source = SyncSource.objects.create(base_url="http://source.example")
    first, later = feed_page["first"], feed_page["later"]
    synced_records_apply(source=source, entries=first["results"], cursor=first["cursor"])
    before = state(source)
    broken = [*later["results"], {**later["results"][0], "seq": later["cursor"] + 1}]
    broken[-1] |= {"id": "other", "deleted": False, "record": {"bad": {1, 2}}}  # not JSON

    with pytest.raises(TypeError):
        synced_records_apply(source=source, entries=broken, cursor=later["cursor"] + 1)

    assert state(source) == before  # the tombstone was not applied, the cursor did not move


def test_a_reset_drops_the_copies_and_starts_over_audited(feed_page):
    source = SyncSource.objects.create(base_url="http://source.example")
    first = feed_page["first"]
    synced_records_apply(source=source, entries=first["results"], cursor=first["cursor"])
    dropped = synced_records_reset(source=source, reason="test.")
    assert dropped == len(first["results"])
    assert source.cursor == 0 and not SyncedRecord.objects.filter(source=source).exists()
    entry = AuditEntry.objects.filter(object_pk=str(source.pk)).latest("at")
    assert entry.changes == {"cursor": [first["cursor"], 0]} and entry.comment.startswith("Resync")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("  HTTPS://CM.Example.org//  ", "https://cm.example.org"),
        ("https://example.org/monitor/", "https://example.org/monitor"),
    ],
)
def test_base_urls_are_normalised(raw, normal):
    assert base_url_normalise(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ftp://example.org",
        "file:///etc/passwd",
        "http://example.org:99999",
        "https://example.org/api/v1/changes/",
        "https://example.org/#x",
    ],
)
def test_bad_base_urls_are_refused(raw):
    with pytest.raises(SyncUsageError, match="base URL"):
        base_url_normalise(raw)


def test_retry_after_and_backoff():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:07 GMT", now=now) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    policy = RetryPolicy(backoff=1.0, backoff_max=4.0, retry_after_max=60)
    assert 1.0 <= policy.wait(1) <= 1.1 and 2.0 <= policy.wait(2) <= 2.2
    assert 4.0 <= policy.wait(5) <= 4.4  # capped
    assert policy.wait(1, "3600") == 60  # a Retry-After is honoured, within a bound
    with pytest.raises(SyncUsageError):
        RetryPolicy(attempts=0)


# --- The admin: read-only pages for administrators ------------------------------------------


def test_the_admin_shows_the_copies_read_only(client, administrator_user, make_member, db):
    source = SyncSource.objects.create(base_url="http://source.example", cursor=7)
    record = SyncedRecord.objects.create(
        source=source,
        record_type="party",
        record_key="un",
        seq=7,
        data={"name": "United Nations"},
        synced_at=timezone.now(),
    )
    client.force_login(administrator_user)
    listing = client.get(reverse("admin:monitoring_syncsource_changelist"))
    assert listing.status_code == 200 and "http://source.example" in listing.text
    detail = client.get(reverse("admin:monitoring_syncedrecord_change", args=[record.pk]))
    assert detail.status_code == 200 and "United Nations" in detail.text
    assert 'name="_save"' not in detail.text
    assert client.get(reverse("admin:monitoring_syncsource_add")).status_code == 403
    assert (
        client.post(
            reverse("admin:monitoring_syncedrecord_delete", args=[record.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert SyncedRecord.objects.filter(pk=record.pk).exists()
    client.force_login(make_member(ObserverRole.COORDINATOR))
    refused = client.get(reverse("admin:monitoring_syncedrecord_changelist"))
    assert refused.status_code == 302

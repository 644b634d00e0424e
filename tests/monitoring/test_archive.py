"""Archives (``export_archive`` / ``import_archive``): every record, history entry, summary
version and attachment round-tripped into an empty database in another process, compared
row by row; a non-empty target, a damaged archive and a failing restore write nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image

from incidents.choices import ReportStatus
from incidents.models import Report
from incidents.services import (
    attachment_add,
    corroboration_link,
    summary_compile,
    summary_publish,
)
from monitoring.archive import archived_models
from monitoring.choices import ObserverRole, PartyKind
from monitoring.models import Party
from monitoring.services import partner_token_issue, record_save
from tests.factories import (
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_file,
)
from zones.choices import PostKind

pytestmark = pytest.mark.django_db
BASE_DIR = Path(__file__).resolve().parents[2]
DAY = datetime(2017, 6, 3, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# --- Another process on its own SQLite file -----------------------------------------------------


def environment(where: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SQLITE_PATH", "DJANGO_MEDIA_ROOT"}}
    env.update(
        DATABASE_URL=f"sqlite:///{where / 'restored.sqlite3'}",
        CEASEFIRE_VAR_DIR=str(where / "var"),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_CONN_MAX_AGE="0",
    )
    return env


def manage(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment(where),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A freshly migrated SQLite file, made once; each test copies it."""
    where = tmp_path_factory.mktemp("migrated")
    done = manage(where, "migrate", "--no-input", "-v0")
    assert done.returncode == 0, done.stderr
    return where / "restored.sqlite3"


@pytest.fixture
def target(migrated, tmp_path) -> Path:
    where = tmp_path / "target"
    where.mkdir()
    shutil.copy(migrated, where / "restored.sqlite3")
    return where


def table_count(where: Path, table: str) -> int:
    with sqlite3.connect(where / "restored.sqlite3") as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


# --- A realistic source, built through the services --------------------------------------------


def png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def source(zone, center, make_member):
    ZoneTermFactory(zone=zone)
    author = make_member(ObserverRole.OBSERVER)
    colleague = make_member(ObserverRole.OBSERVER, delegation=PartyFactory(code="turkey"))
    coordinator = make_member(ObserverRole.COORDINATOR)
    partner = make_member(ObserverRole.PARTNER)
    checkpoint = PostFactory(zone=zone, kind=PostKind.CHECKPOINT, serves_humanitarian=True)
    sarc = PartyFactory(code="sarc", name="SARC", kind=PartyKind.HUMANITARIAN_ORG)
    seen = report_file(author, status=ReportStatus.VERIFIED, reviewer=coordinator)
    also_seen = report_file(colleague, status=ReportStatus.SUBMITTED)
    report_file(author, status=ReportStatus.RETURNED, reviewer=coordinator)
    convoy = report_file(
        author,
        kind="convoy",
        status=ReportStatus.SUBMITTED,
        occurred_at=DAY + timedelta(hours=3),
        detail={
            "operation": "road_convoy",
            "organizations": [sarc],
            "vehicle_count": 31,
            "origin": "Damascus warehouse",
            "destination": SettlementFactory(),
            "planned_at": DAY,
            "status": "delivered",
            "beneficiaries": 12000,
            "cargo": [{"category": "food", "quantity": Decimal("120.5"), "unit": "tonnes"}],
            "route": [{"post": checkpoint, "passed_at": DAY + timedelta(hours=1)}],
            "stages": [{"stage": "departed", "at": DAY + timedelta(minutes=20), "note": ""}],
        },
    )
    report_file(
        colleague,
        kind="checkpoint",
        occurred_at=DAY,
        detail={
            "checkpoint": checkpoint,
            "period_start": DAY,
            "period_end": DAY + timedelta(hours=8),
            "status": "restricted",
            "incidents": [{"kind": "denial", "count": 3, "party": sarc}],
        },
    )
    corroboration_link(report=seen, other=also_seen, actor=coordinator, note="Same shelling.")
    photo = png((200, 30, 30))
    attachment_add(
        report=seen,
        actor=author,
        upload=SimpleUploadedFile("crater.png", photo, content_type="image/png"),
    )
    version = summary_compile(center=center, day=seen.occurred_at.date())
    summary_publish(version=version, actor=coordinator)
    token, _secret = partner_token_issue(
        partner_user=partner, name="Partner dashboard", actor=coordinator
    )
    # No service manages Django's groups and permissions: they travel by natural key.
    reviewers = Group.objects.create(name="reviewers")
    reviewers.permissions.add(Permission.objects.get(codename="view_report"))
    coordinator.groups.add(reviewers)
    coordinator.user_permissions.add(Permission.objects.get(codename="change_party"))
    assert convoy.convoy.cargo.count() == 1 and token.pk
    return {"photo": photo, "attachment": seen.attachments.get()}


def archive_rows(path: Path) -> tuple[dict, dict[str, list], dict[str, bytes]]:
    """(manifest, rows by model, file bytes by name) of an archive."""
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        rows = {
            entry["model"]: [json.loads(line) for line in tar.extractfile(entry["member"])]
            for entry in manifest["models"]
        }
        files = {e["name"]: tar.extractfile(e["member"]).read() for e in manifest["media"]}
    return manifest, rows, files


def rewrite(path: Path, out: Path, change) -> None:
    """Copy an archive, letting ``change(name, data) -> data`` alter members (the manifest
    keeps the original hashes unless ``change`` rewrites it too)."""
    with tarfile.open(path) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


# --- The round trip ---------------------------------------------------------------------------


def test_everything_round_trips_into_an_empty_database_in_another_process(
    source, target, tmp_path, capsys
):
    first = tmp_path / "first.tar"
    call_command("export_archive", str(first))
    out = capsys.readouterr().out
    assert "incidents.report: 5/5" in out and "Archive written" in out
    manifest, rows, files = archive_rows(first)
    counts = {label: len(items) for label, items in rows.items()}
    assert {e["model"]: e["count"] for e in manifest["models"]} == counts
    assert counts["incidents.report"] == 5 and counts["incidents.attachment"] == 1
    assert counts["incidents.corroborationlink"] == 1 and counts["monitoring.partnertoken"] == 1
    assert counts["incidents.cargoline"] == counts["incidents.accessincident"] == 1
    assert counts["monitoring.auditentry"] > 20 and counts["incidents.reporttransition"] >= 5
    assert counts["auth.user_user_permissions"] == counts["auth.group_permissions"] == 1
    assert "monitoring.idempotencykey" not in counts and "auth.permission" not in counts
    published = [
        r for r in rows["incidents.summaryversion"] if r["fields"]["status"] == "published"
    ]
    assert len(published) == 1 and published[0]["fields"]["chain_sha256"]
    assert {r["fields"]["content_type"][0] for r in rows["monitoring.auditentry"]} >= {
        "incidents",
        "monitoring",
    }  # content types by natural key, never by id
    assert files == {source["attachment"].file.name: source["photo"]}
    # Microseconds kept (DjangoJSONEncoder alone would cut them to milliseconds).
    assert any(re.search(r"\.\d{6}\+", r["fields"]["at"]) for r in rows["monitoring.auditentry"])

    # The audit entries were sealed into their hash chain by the export, head included.
    assert all(r["fields"]["chain_seq"] for r in rows["monitoring.auditentry"])
    (head,) = rows["monitoring.auditchainhead"]
    assert head["fields"]["last_seq"] == counts["monitoring.auditentry"]

    restored = manage(target, "import_archive", str(first))
    assert restored.returncode == 0, restored.stderr
    assert "incidents.report: 5/5" in restored.stdout
    assert "Archive restored" in restored.stdout
    # The restored copy passes the audit chain's check, with the source's head.
    verified = manage(target, "audit_verify")
    assert verified.returncode == 0, verified.stderr
    assert (
        f"Audit chain intact: head #{head['fields']['last_seq']} "
        f"sha256 {head['fields']['last_sha256']}"
    ) in verified.stdout
    second = tmp_path / "second.tar"
    again = manage(target, "export_archive", str(second))
    assert again.returncode == 0, again.stderr

    _, rows_again, files_again = archive_rows(second)
    assert list(rows_again) == list(rows)
    for label, items in rows.items():
        assert rows_again[label] == items, label
    assert files_again == files
    stored = target / "var" / "media" / source["attachment"].file.name
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == source["attachment"].sha256

    # The restored database is a working one: a second restore is refused, nothing written.
    refused = manage(target, "import_archive", str(first))
    assert refused.returncode != 0
    assert "not empty" in refused.stderr and "Nothing was restored" in refused.stderr
    assert table_count(target, "incidents_report") == 5


def test_every_archived_model_is_in_the_archive_in_dependency_order():
    seen: set[str] = set()
    for model in archived_models():
        for field in model._meta.concrete_fields:
            related = field.related_model
            if related is not None and related is not model:
                label = related._meta.label_lower
                assert label in seen or label in {"contenttypes.contenttype", "auth.permission"}
        seen.add(model._meta.label_lower)
    assert {"incidents.summaryversion", "monitoring.auditentry", "auth.user"} <= seen
    assert "monitoring.monitoringcenter_zones" in seen  # many-to-many tables too


# --- Refusals: nothing written ----------------------------------------------------------------


def test_importing_into_a_database_with_records_is_refused(source, tmp_path):
    path = tmp_path / "a.tar"
    call_command("export_archive", str(path))
    before = {m._meta.label_lower: m._base_manager.count() for m in archived_models()}
    with pytest.raises(CommandError, match="not empty"):
        call_command("import_archive", str(path))
    assert {m._meta.label_lower: m._base_manager.count() for m in archived_models()} == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("file", "does not match its SHA-256"),
        ("rows", "does not match its SHA-256"),
        ("missing", "missing its member"),
        ("version", "Unknown archive format version 99"),
    ],
)
def test_a_damaged_archive_is_refused_and_nothing_is_written(source, tmp_path, damage, message):
    """Checked whole before anything is written (a failing restore: the test below)."""
    good = tmp_path / "good.tar"
    call_command("export_archive", str(good))
    bad = tmp_path / "bad.tar"

    def change(name: str, data: bytes):
        if damage == "file" and name.startswith("media/"):
            return data[:-1] + bytes([data[-1] ^ 1])
        if damage == "rows" and name == "data/incidents.report.ndjson":
            return data.replace(b'"verified"', b'"rejected"', 1)
        if damage == "missing" and name == "data/monitoring.auditentry.ndjson":
            return None
        if damage == "version" and name == "manifest.json":
            return json.dumps({**json.loads(data), "version": 99}).encode()
        return data

    rewrite(good, bad, change)
    before = {m._meta.label_lower: m._base_manager.count() for m in archived_models()}
    with pytest.raises(CommandError, match="Nothing was restored") as refused:
        call_command("import_archive", str(bad))
    assert message in str(refused.value)
    assert {m._meta.label_lower: m._base_manager.count() for m in archived_models()} == before


def test_a_restore_failing_half_way_leaves_nothing_behind(source, target, tmp_path):
    """A consistent archive (hashes right) whose last rows break a constraint: the rows
    inserted before, and the files, are gone again."""
    good = tmp_path / "good.tar"
    call_command("export_archive", str(good))
    manifest, rows, _ = archive_rows(good)
    broken = rows["incidents.attachment"][0]
    broken["fields"]["report"] = 999_999  # no such report
    payload = (json.dumps(broken) + "\n").encode()
    for entry in manifest["models"]:
        if entry["model"] == "incidents.attachment":
            entry["sha256"] = hashlib.sha256(payload).hexdigest()
    bad = tmp_path / "bad.tar"
    rewrite(
        good,
        bad,
        lambda name, data: (
            payload
            if name == "data/incidents.attachment.ndjson"
            else json.dumps(manifest).encode()
            if name == "manifest.json"
            else data
        ),
    )
    refused = manage(target, "import_archive", str(bad))
    assert refused.returncode != 0, refused.stdout
    assert table_count(target, "incidents_report") == table_count(target, "auth_user") == 0
    assert table_count(target, "monitoring_auditentry") == 0
    assert not any((target / "var" / "media").rglob("*.png"))


# --- Restoring into this process's database (PostgreSQL on a --database postgres run) --------


def test_a_restore_into_the_test_database_continues_ids_after_the_restored_ones(
    target, tmp_path, capsys
):
    """The archive comes from a seeded database of another process; after the restore, new
    rows get fresh ids (PostgreSQL's sequences are reset)."""
    seeded = manage(target, "seed")
    assert seeded.returncode == 0, seeded.stderr
    path = tmp_path / "seeded.tar"
    assert manage(target, "export_archive", str(path)).returncode == 0
    _, rows, _ = archive_rows(path)
    call_command("import_archive", str(path))
    out = capsys.readouterr().out
    assert f"monitoring.party: {len(rows['monitoring.party'])}/" in out
    assert Party.objects.count() == len(rows["monitoring.party"]) > 0
    highest = max(row["pk"] for row in rows["monitoring.party"])
    party, _ = record_save(
        instance=Party(code="new-party", name="New party", kind=PartyKind.STATE), actor=None
    )
    assert party.pk > highest
    assert Report.objects.count() == 0

"""The audit hash chain: entries written through the services are sealed into one chain
that ``manage.py audit_verify`` checks; tampering with it in SQL (an entry altered,
deleted, inserted with a forged place, two swapped, a transition altered) is named; open
writers are skipped by the sealing and sealed later without a gap; bulk demo data and the
upgrade migration give a chain that verifies."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from incidents.choices import ReportStatus
from incidents.models import ReportTransition
from monitoring.admin import AuditEntryAdmin
from monitoring.choices import AuditEntryAction, ObserverRole
from monitoring.models import (
    AUDIT_CHAIN_GENESIS,
    AuditChainHead,
    AuditEntry,
    Party,
    audit_entry_digest,
)
from monitoring.services import (
    audit_chain_seal,
    audit_chain_verify,
    audit_entry_create,
    partner_token_issue,
)
from monitoring.tasks import audit_chain_seal_task
from tests.factories import PartyFactory, report_file

S = ReportStatus
TABLE = AuditEntry._meta.db_table


@pytest.fixture
def history(db, make_member):
    """Some history written through the services: reports moved through the workflow,
    reference data, a partner token."""
    author = make_member(ObserverRole.OBSERVER)
    coordinator = make_member(ObserverRole.COORDINATOR)
    partner = make_member(ObserverRole.PARTNER)
    report_file(author, status=S.VERIFIED, reviewer=coordinator)
    report_file(author, status=S.RETURNED, reviewer=coordinator)
    report_file(author, status=S.SUBMITTED)
    PartyFactory(code="turkey", name="Türkiye")  # non-ASCII survives the hashing
    partner_token_issue(partner_user=partner, name="Dashboard", actor=coordinator)
    return {"author": author, "coordinator": coordinator}


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def verify(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def broken(*args: str) -> CommandError:
    with pytest.raises(CommandError) as failed:
        call_command("audit_verify", *args, stdout=StringIO(), stderr=StringIO())
    return failed.value


def chained() -> list[tuple[int, int, str, str]]:
    """(seq, id, prev_sha256, sha256) of the sealed entries, in chain order."""
    return list(
        AuditEntry.objects.filter(chain_seq__isnull=False)
        .order_by("chain_seq")
        .values_list("chain_seq", "pk", "prev_sha256", "sha256")
    )


# --- Sealing and a clean check ---------------------------------------------------------------


def test_entries_are_written_unsealed_then_sealed_in_id_order_into_one_chain(history):
    written = list(AuditEntry.objects.order_by("pk").values_list("pk", flat=True))
    assert len(written) > 10
    assert not AuditEntry.objects.filter(chain_seq__isnull=False).exists()
    assert audit_chain_seal(batch=4) == len(written)  # several batches, one chain
    links = chained()
    assert [pk for _, pk, _, _ in links] == written
    assert [seq for seq, *_ in links] == list(range(1, len(written) + 1))
    assert links[0][2] == AUDIT_CHAIN_GENESIS
    for (_, _, _, sha), (_, _, prev, _) in itertools.pairwise(links):
        assert prev == sha
    head = AuditChainHead.objects.get()
    assert (head.last_seq, head.last_sha256) == (len(written), links[-1][3])
    assert head.sealed_at is not None
    # The stored hash is the documented recipe over the entry's facts.
    entry = AuditEntry.objects.select_related("content_type").get(pk=written[3])
    assert entry.sha256 == audit_entry_digest(
        seq=4,
        previous=entry.prev_sha256,
        at=entry.at,
        actor_id=entry.actor_id,
        actor_label=entry.actor_label,
        source=entry.source,
        action=entry.action,
        content_type=f"{entry.content_type.app_label}.{entry.content_type.model}",
        object_pk=entry.object_pk,
        object_repr=entry.object_repr,
        changes=entry.changes,
        comment=entry.comment,
    )
    assert audit_chain_seal() == 0  # nothing left: a second run changes nothing
    assert chained() == links


def test_the_check_passes_and_names_the_head_and_later_entries_extend_the_chain(history):
    out = verify()
    count = AuditEntry.objects.count()
    transitions = ReportTransition.objects.count()
    assert f"Sealed {count} new entries" in out
    assert f"Checked {count} chained entries and {transitions} report transitions" in out
    head = AuditChainHead.objects.get()
    assert f"Audit chain intact: head #{count} sha256 {head.last_sha256}" in out
    assert transitions >= 4

    PartyFactory(code="jordan")
    assert AuditEntry.objects.filter(chain_seq__isnull=True).count() == 1
    assert audit_chain_seal_task() == 1  # the beat task (called here as a function)
    newest = AuditEntry.objects.get(chain_seq=count + 1)
    assert newest.prev_sha256 == head.last_sha256
    assert verify("--quiet") == ""
    check = audit_chain_verify()
    assert check.intact and check.entries == count + 1 and check.unsealed == 0


def test_an_entry_left_unsealed_too_long_is_warned_about(history):
    audit_chain_seal()
    party = Party.objects.get(code="turkey")
    late = audit_entry_create(actor=None, action=AuditEntryAction.UPDATE, instance=party)
    AuditEntry.objects.filter(pk=late.pk).update(at=timezone.now() - timedelta(minutes=30))
    failed = broken("--no-seal")
    assert failed.returncode == 3
    assert "intact" in str(failed) and f"the oldest id {late.pk}" in str(failed)
    assert verify("--no-seal", "--unsealed-minutes", "60").count("intact") == 1
    assert "Audit chain intact" in verify()  # sealing it ends the warning


def test_the_admin_shows_the_audit_log_and_its_chain_read_only(db):
    assert {"chain_seq", "prev_sha256", "sha256"} <= set(AuditEntryAdmin.readonly_fields)
    admin = AuditEntryAdmin(AuditEntry, None)
    assert not admin.has_add_permission(None)
    assert not admin.has_change_permission(None)
    assert not admin.has_delete_permission(None)


# --- Tampering --------------------------------------------------------------------------------


def _alter(links):
    seq, pk = links[5][:2]
    sql(f"UPDATE {TABLE} SET changes = %s WHERE id = %s", ['{"status": ["draft", "x"]}', pk])  # noqa: S608
    return f"entry #{seq} (id {pk}): altered"


def _delete(links):
    seq, pk = links[5][:2]
    sql(f"DELETE FROM {TABLE} WHERE id = %s", [pk])  # noqa: S608
    return f"entry #{seq + 1} (id {links[6][1]}): the chain has a gap: #{seq} missing"


def _delete_last(links):
    seq, pk = links[-1][:2]
    sql(f"DELETE FROM {TABLE} WHERE id = %s", [pk])  # noqa: S608
    return f"entry #{seq}: the chain ends at #{seq - 1} but its head records #{seq}"


def _insert(links):
    """A forged entry at #6, the later ones moved up one place, its own hash right."""
    seq, _, prev, _ = links[5]
    sql(f"UPDATE {TABLE} SET chain_seq = chain_seq + 1000000 WHERE chain_seq >= %s", [seq])  # noqa: S608
    sql(f"UPDATE {TABLE} SET chain_seq = chain_seq - 999999 WHERE chain_seq > 1000000")  # noqa: S608
    at = timezone.now()
    facts = {
        "at": at,
        "actor_label": "system:command",
        "source": "command",
        "action": "update",
        "object_pk": "1",
        "object_repr": "forged",
        "changes": {"name": ["A", "B"]},
        "comment": "",
    }
    digest = audit_entry_digest(
        seq=seq, previous=prev, actor_id=None, content_type="monitoring.party", **facts
    )
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                content_type=ContentType.objects.get_for_model(Party),
                chain_seq=seq,
                prev_sha256=prev,
                sha256=digest,
                **facts,
            )
        ]
    )
    return f"entry #{seq + 1} (id {links[5][1]}): does not link to the entry before it"


def _swap(links):
    (one, first), (two, second) = links[3][:2], links[4][:2]
    sql(f"UPDATE {TABLE} SET chain_seq = 999999 WHERE id = %s", [first])  # noqa: S608
    sql(f"UPDATE {TABLE} SET chain_seq = %s WHERE id = %s", [one, second])  # noqa: S608
    sql(f"UPDATE {TABLE} SET chain_seq = %s WHERE id = %s", [two, first])  # noqa: S608
    return f"entry #{one} (id {second}): does not link to the entry before it, #{one - 1}"


def _alter_transition(links):
    transition = ReportTransition.objects.filter(to_status=S.VERIFIED).get()
    table = ReportTransition._meta.db_table
    sql(f"UPDATE {table} SET to_status = 'rejected' WHERE id = %s", [transition.pk])  # noqa: S608
    return f"the transition of report id {transition.report_id} from submitted to rejected"


def _delete_transition(links):
    transition = ReportTransition.objects.filter(to_status=S.RETURNED).get()
    entry = AuditEntry.objects.get(
        action=AuditEntryAction.TRANSITION,
        object_pk=str(transition.report_id),
        changes__status=[S.SUBMITTED, S.RETURNED],
    )
    table = ReportTransition._meta.db_table
    sql(f"DELETE FROM {table} WHERE id = %s", [transition.pk])  # noqa: S608
    return f"entry #{entry.chain_seq} (id {entry.pk}): records a transition of report id"


@pytest.mark.parametrize(
    "tamper",
    [_alter, _delete, _delete_last, _insert, _swap, _alter_transition, _delete_transition],
    ids=lambda f: f.__name__.strip("_"),
)
def test_tampering_with_the_history_in_sql_is_named(history, tamper):
    audit_chain_seal()
    assert audit_chain_verify().intact
    links = chained()
    first_problem = tamper(links)
    failed = broken()
    assert failed.returncode == 1
    assert "The audit chain is broken" in str(failed)
    assert f"first: {first_problem}" in str(failed), str(failed)
    assert not audit_chain_verify().intact


# --- Concurrent writers ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sealing_skips_a_writer_still_open_and_seals_it_later_without_a_gap():
    """PostgreSQL: the sealing neither waits for the open writer nor sees its entry; the
    entry is sealed by the next run, after a later-written one. SQLite has one writer at a
    time: the sealing waits for it and seals both in id order."""
    PartyFactory(code="before")
    audit_chain_seal()
    sealed_before = AuditEntry.objects.count()
    started, go = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def open_writer() -> None:
        try:
            with transaction.atomic():
                PartyFactory(code="held-open")
                started.set()
                go.wait(timeout=1)  # PostgreSQL: released below; SQLite: after the timeout
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=open_writer)
    writer.start()
    try:
        assert started.wait(timeout=10)
        if connection.vendor == "postgresql":
            PartyFactory(code="after")
            began = time.monotonic()
            assert audit_chain_seal() == 1  # "after" only: "held-open" is not committed
            assert time.monotonic() - began < 0.9, "the sealing waited for the writer"
            assert AuditEntry.objects.get(chain_seq=sealed_before + 1).changes["code"] == [
                None,
                "after",
            ]
    finally:
        go.set()
        writer.join(timeout=30)
    assert not failures and not writer.is_alive()
    if connection.vendor != "postgresql":
        PartyFactory(code="after")
    audit_chain_seal()
    check = audit_chain_verify()
    assert check.intact and check.unsealed == 0
    assert check.entries == AuditEntry.objects.count() == sealed_before + 2
    held = AuditEntry.objects.get(changes__code=[None, "held-open"])
    after = AuditEntry.objects.get(changes__code=[None, "after"])
    assert held.pk < after.pk
    if connection.vendor == "postgresql":
        assert held.chain_seq == after.chain_seq + 1  # sealed later, at the chain's end
    else:
        assert held.chain_seq == after.chain_seq - 1


@pytest.mark.django_db(transaction=True)
def test_writers_and_sealers_at_once_give_one_whole_chain():
    failures: list[BaseException] = []
    done = threading.Event()

    def writer(n: int) -> None:
        try:
            for i in range(6):
                with transaction.atomic():
                    PartyFactory(code=f"w{n}-{i}")
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    def sealer() -> None:
        try:
            for _ in range(200):
                audit_chain_seal(batch=3)
                if done.is_set():
                    break
                time.sleep(0.01)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=sealer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads[:3]:
        thread.join(timeout=60)
    done.set()
    for thread in threads[3:]:
        thread.join(timeout=60)
    assert not failures and not any(t.is_alive() for t in threads)
    audit_chain_seal()
    check = audit_chain_verify()
    assert check.intact, [str(p) for p in check.problems]
    assert check.entries == AuditEntry.objects.count()
    assert AuditEntry.objects.filter(changes__code__1__startswith="w").count() == 18


# --- Bulk demo data and the upgrade ------------------------------------------------------------


def test_bulk_demo_data_written_in_sql_seals_and_verifies(db, settings):
    settings.DEBUG = True
    settings.DEMO_PASSWORD = "demo-pass-for-tests"
    call_command("seed", stdout=StringIO())
    call_command(
        "demo_data", "--bulk", "--reports", "60", "--days", "3", "--until", "2017-10-20",
        stdout=StringIO(),
    )  # fmt: skip
    unsealed = AuditEntry.objects.filter(chain_seq__isnull=True).count()
    assert unsealed > 120
    out = verify()
    assert f"Sealed {unsealed} new entries" in out and "Audit chain intact" in out
    assert audit_chain_verify().transitions == ReportTransition.objects.count() > 60


def test_the_upgrade_migration_seals_the_entries_written_before_it(history):
    """The migration's sealing gives the chain the service gives: unsealed before, sealed
    and verifying after."""
    audit_chain_seal()
    by_service = chained()
    sql(f"UPDATE {TABLE} SET chain_seq = NULL, prev_sha256 = '', sha256 = ''")  # noqa: S608
    AuditChainHead.objects.all().delete()
    assert not AuditEntry.objects.filter(chain_seq__isnull=False).exists()
    module = importlib.import_module("monitoring.migrations.0007_audit_chain")
    module.seal_existing(apps, None)
    assert chained() == by_service
    head = AuditChainHead.objects.get()
    assert (head.last_seq, head.last_sha256) == (by_service[-1][0], by_service[-1][3])
    assert audit_chain_verify().intact


def test_a_rewritten_chain_passes_alone_but_not_against_a_head_recorded_elsewhere(history):
    """Whoever can write the whole database can recompute every hash; a head recorded off
    the machine still tells."""
    out = verify()
    head = AuditChainHead.objects.get()
    recorded = f"{head.last_seq}:{head.last_sha256}"
    assert f"head #{head.last_seq} sha256 {head.last_sha256}" in out
    assert "Audit chain intact" in verify("--expect", recorded)
    victim = AuditEntry.objects.get(chain_seq=2)
    sql(f"UPDATE {TABLE} SET comment = 'rewritten' WHERE id = %s", [victim.pk])  # noqa: S608
    sql(f"UPDATE {TABLE} SET chain_seq = NULL, prev_sha256 = '', sha256 = ''")  # noqa: S608
    AuditChainHead.objects.all().delete()
    assert "Audit chain intact" in verify()  # the rewritten chain is whole in itself
    failed = broken("--expect", recorded)
    assert failed.returncode == 1
    assert f"first: entry #{head.last_seq}" in str(failed)
    assert "is not the entry recorded as head" in str(failed)
    with pytest.raises(CommandError, match="give SEQ:SHA256"):
        call_command("audit_verify", "--expect", "12:abc", stdout=StringIO())


def test_an_upgraded_instance_starts_chained(tmp_path):
    """A real upgrade, in another process on its own SQLite file: entries written at
    monitoring 0006 (no chain) are all sealed by migrating to 0007, and verify."""
    env = {k: v for k, v in os.environ.items() if k not in {"SQLITE_PATH", "DJANGO_MEDIA_ROOT"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'upgrade.sqlite3'}",
        CEASEFIRE_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="config.settings",
    )

    def manage(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done

    manage("migrate", "monitoring", "0006", "--no-input", "-v0")  # before the chain
    with sqlite3.connect(tmp_path / "upgrade.sqlite3") as db:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({TABLE})")}
        party_type = db.execute(
            "SELECT id FROM django_content_type WHERE app_label = 'monitoring' AND model = 'party'"
        ).fetchone()[0]
        db.executemany(
            f"INSERT INTO {TABLE} (at, actor_id, actor_label, source, action, content_type_id, "  # noqa: S608
            "object_pk, object_repr, changes, comment) VALUES (?, NULL, 'system:command', "
            "'command', ?, ?, ?, ?, ?, '')",
            [
                (
                    f"2017-06-0{1 + n % 9} 0{n % 10}:00:00.{n:06d}",
                    "create" if n % 3 else "update",
                    party_type,
                    str(n),
                    f"Party {n} — Türkiye",
                    json.dumps({"name": [None, f"Party {n}"], "weight": [n / 7, None]}),
                )
                for n in range(40)
            ],
        )
        entries = db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]  # noqa: S608
    assert "chain_seq" not in columns and entries == 40
    manage("migrate", "--no-input", "-v0")
    with sqlite3.connect(tmp_path / "upgrade.sqlite3") as db:
        sealed = db.execute(f"SELECT count(chain_seq), max(chain_seq) FROM {TABLE}").fetchone()  # noqa: S608
    assert sealed == (entries, entries)
    out = manage("audit_verify", "--no-seal").stdout
    assert f"Checked {entries} chained entries" in out and f"head #{entries} " in out

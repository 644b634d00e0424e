"""Whole-instance archives: every record, history entry, summary version and attachment in
one ``.tar`` file, restored into an empty database with nothing lost (docs/archive.md).

Layout of the tar (uncompressed, so members can be read one at a time):

- ``manifest.json``: format and version, when and from what it was made, the applied
  migrations, and per member its row count (or size) and SHA-256;
- ``data/<app_label>.<model>.ndjson``: one line per row, Django's "python" serializer output
  (``{"model", "pk", "fields"}``) with primary keys kept; foreign keys to content types and
  permissions are written as natural keys (``["incidents", "report"]``), since their ids
  differ between databases;
- ``media/<Attachment.file.name>``: the attachment files, checked against
  ``Attachment.sha256`` when written and when restored.

The audit entries are sealed into their hash chain before the export (``AuditEntry``'s chain
fields and the ``AuditChainHead`` row travel like any other), so a restored copy passes
``manage.py audit_verify``.

Export and import go model by model in chunks, never the whole database in memory. An
import is a restore, not new writing: rows are inserted with ``bulk_create`` as they were
(no services, signals, audit entries or change-feed touches), in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import django
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.core.serializers import python as python_serializer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from .services import audit_chain_seal

FORMAT = "ceasefire-monitor-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 2000
# Apps whose every concrete model (auto-created many-to-many tables included) is archived.
APP_LABELS = ("auth", "admin", "monitoring", "zones", "incidents")
# Not archived: permissions are created by ``migrate`` on the target (referenced by natural
# key); idempotency keys are a 24-hour replay cache.
SKIPPED = frozenset({"auth.permission", "monitoring.idempotencykey"})
# Migrations compared between the archive and the target (same schema on both sides).
MIGRATION_APPS = (*APP_LABELS, "contenttypes")
# Present in a freshly migrated database (monitoring 0005, 0007): replaced, not inserted.
SINGLETONS = frozenset({"monitoring.changecounter", "monitoring.auditchainhead"})
MANIFEST_FIELDS = {
    "models": {"model", "member", "count", "sha256"},
    "media": {"name", "member", "size", "sha256"},
}

Progress = Callable[[str], None]


class ArchiveError(Exception):
    """The archive cannot be written or restored; nothing was written."""


@dataclass
class ArchiveSummary:
    """What an export wrote or an import restored."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    media_files: int = 0
    media_bytes: int = 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        width = max((len(label) for label in self.counts), default=10)
        out = [f"{label:<{width}}  {count:>10,}" for label, count in self.counts.items()]
        out.append(f"{'rows':<{width}}  {self.rows:>10,}")
        out.append(f"{'attachment files':<{width}}  {self.media_files:>10,}")
        out.append(f"{'attachment bytes':<{width}}  {self.media_bytes:>10,}")
        return out


class ArchiveJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder keeping microseconds (it cuts datetimes and times to milliseconds)."""

    def default(self, o):
        if isinstance(o, dt.datetime | dt.time):
            return o.isoformat()
        return super().default(o)


# --- Which models, in which order -------------------------------------------------------------


def archived_models() -> list[type[models.Model]]:
    """The archived models, each after every model it refers to."""
    chosen: dict[str, type[models.Model]] = {}
    for app_label in APP_LABELS:
        if app_label not in apps.app_configs:
            continue
        for model in apps.get_app_config(app_label).get_models(include_auto_created=True):
            opts = model._meta
            if opts.proxy or not opts.managed or opts.label_lower in SKIPPED:
                continue
            chosen[opts.label_lower] = model
    ordered: list[type[models.Model]] = []
    done: set[str] = set()

    def visit(model, trail: tuple[str, ...]) -> None:
        label = model._meta.label_lower
        if label in done:
            return
        if label in trail:
            raise ArchiveError(f"foreign keys form a cycle: {' -> '.join((*trail, label))}")
        for f in model._meta.concrete_fields:
            target = f.related_model if f.is_relation else None
            if target is None or target is model:
                continue
            target_label = target._meta.label_lower
            if target_label in chosen:
                visit(chosen[target_label], (*trail, label))
        done.add(label)
        ordered.append(model)

    for model in sorted(chosen.values(), key=lambda m: m._meta.label_lower):
        visit(model, ())
    return ordered


def _member(label: str) -> str:
    return f"data/{label}.ndjson"


def _field_names(model) -> list[str]:
    """Concrete fields except the primary key (written as ``pk``); many-to-many relations
    travel as rows of their own table."""
    return [f.name for f in model._meta.concrete_fields if not f.primary_key]


def _natural_fields(model) -> dict[str, type[models.Model]]:
    """Foreign keys written as natural keys: to content types and permissions."""
    return {
        f.name: f.related_model
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model in (ContentType, Permission)
    }


def _applied_migrations() -> list[list[str]]:
    applied = MigrationRecorder(connection).applied_migrations()
    return sorted([app, name] for app, name in applied if app in MIGRATION_APPS)


# --- Export -------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n=-1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _export_model(model, out, progress: Progress | None) -> tuple[int, str]:
    """Write ``model``'s rows as NDJSON to ``out``; returns (rows, sha256)."""
    digest = hashlib.sha256()
    names = _field_names(model)
    natural = _natural_fields(model)
    keys: dict[tuple[type, object], list] = {}
    total = model._base_manager.count()
    label = model._meta.label_lower
    count = 0

    def natural_key(target, pk):
        if pk is None:
            return None
        if (target, pk) not in keys:
            if target is ContentType:
                keys[(target, pk)] = list(ContentType.objects.get_for_id(pk).natural_key())
            else:
                keys[(target, pk)] = list(Permission.objects.get(pk=pk).natural_key())
        return keys[(target, pk)]

    def flush(chunk) -> None:
        nonlocal count
        for row in python_serializer.Serializer().serialize(chunk, fields=names):
            for name, target in natural.items():
                row["fields"][name] = natural_key(target, row["fields"][name])
            line = json.dumps(row, cls=ArchiveJSONEncoder, ensure_ascii=False) + "\n"
            data = line.encode()
            digest.update(data)
            out.write(data)
        count += len(chunk)
        _say(progress, f"{label}: {count:,}/{total:,}")

    chunk: list = []
    for obj in model._base_manager.order_by("pk").iterator(chunk_size=CHUNK):
        chunk.append(obj)
        if len(chunk) >= CHUNK:
            flush(chunk)
            chunk = []
    if chunk or count == 0:
        flush(chunk)
    return count, digest.hexdigest()


def _source_description() -> str:
    db = connection.settings_dict
    where = db.get("HOST") or ""
    name = Path(str(db.get("NAME") or "")).name if connection.vendor == "sqlite" else db["NAME"]
    return f"{connection.vendor} database {name}{' on ' + where if where else ''}"


def archive_export(*, path: Path | str, progress: Progress | None = None) -> ArchiveSummary:
    """Write every archived record and attachment file to the tar file ``path``.

    Read in one transaction (a consistent snapshot on PostgreSQL; SQLite holds writers back
    while it runs). The file appears at ``path`` only once complete.
    """
    path = Path(path)
    if path.is_dir():
        raise ArchiveError(f"{path} is a folder; give the archive's file name.")
    if not path.parent.is_dir():
        raise ArchiveError(f"The folder {path.parent} does not exist.")
    summary = ArchiveSummary(path=path)
    Attachment = apps.get_model("incidents", "Attachment")
    partial = path.with_name(path.name + ".partial")
    # The audit entries written so far join the hash chain first, so that the archive
    # carries them sealed and its copy passes `audit_verify` (later ones are sealed there).
    audit_chain_seal()
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".archive-") as spool:
            with transaction.atomic():
                if connection.vendor == "postgresql" and not _nested_in_callers_transaction():
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                manifest_models = []
                for model in archived_models():
                    label = model._meta.label_lower
                    spooled = Path(spool) / f"{label}.ndjson"
                    with spooled.open("wb") as out:
                        count, sha = _export_model(model, out, progress)
                    summary.counts[label] = count
                    manifest_models.append(
                        {"model": label, "member": _member(label), "count": count, "sha256": sha}
                    )
                attachments = list(
                    Attachment.objects.order_by("pk").values_list("file", "sha256").iterator()
                )
                manifest = {
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "created_at": timezone.now().isoformat(),
                    "source": _source_description(),
                    "django": django.get_version(),
                    "migrations": _applied_migrations(),
                    "models": manifest_models,
                    "media": [],
                }
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                for entry in manifest_models:
                    tar.add(Path(spool) / f"{entry['model']}.ndjson", arcname=entry["member"])
                for name, expected in attachments:
                    size, sha = _add_media(tar, name, expected)
                    manifest["media"].append(
                        {"name": name, "member": f"media/{name}", "size": size, "sha256": sha}
                    )
                    summary.media_files += 1
                    summary.media_bytes += size
                    _say(
                        progress, f"attachment files: {summary.media_files:,}/{len(attachments):,}"
                    )
                data = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size = len(data)
                info.mtime = int(timezone.now().timestamp())
                tar.addfile(info, io.BytesIO(data))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return summary


def _nested_in_callers_transaction() -> bool:
    """True inside a caller's transaction (a test's): the isolation level is theirs."""
    return len(connection.atomic_blocks) > 1


def _add_media(tar: tarfile.TarFile, name: str, expected: str) -> tuple[int, str]:
    if not name or not default_storage.exists(name):
        raise ArchiveError(f"Attachment file {name!r} is missing from the media storage.")
    size = default_storage.size(name)
    info = tarfile.TarInfo(f"media/{name}")
    info.size = size
    info.mtime = int(default_storage.get_modified_time(name).timestamp())
    with default_storage.open(name, "rb") as raw:
        reader = _HashingReader(raw)
        tar.addfile(info, reader)
    sha = reader.digest.hexdigest()
    if sha != expected:
        raise ArchiveError(
            f"Attachment file {name!r} does not match its recorded SHA-256 "
            f"(recorded {expected}, file {sha}): the stored file was changed."
        )
    return size, sha


# --- Import -------------------------------------------------------------------------------


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        raw = tar.extractfile(MANIFEST)
    except KeyError:
        raise ArchiveError(f"Not an archive: it has no {MANIFEST}.") from None
    try:
        manifest = json.load(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"The archive's {MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"Not a {FORMAT} archive.")
    if manifest.get("version") != FORMAT_VERSION:
        raise ArchiveError(
            f"Unknown archive format version {manifest.get('version')!r}; this software "
            f"reads version {FORMAT_VERSION}."
        )
    for key, fields in MANIFEST_FIELDS.items():
        entries = manifest.get(key)
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and fields <= e.keys() for e in entries
        ):
            raise ArchiveError(f"The archive's manifest has no valid {key} list.")
    if not isinstance(manifest.get("migrations"), list):
        raise ArchiveError("The archive's manifest has no migrations list.")
    for entry in manifest["media"]:
        name = str(entry["name"])
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArchiveError(f"The archive names an attachment file {name!r}: refused.")
    return manifest


def _open_member(tar: tarfile.TarFile, member: str):
    try:
        handle = tar.extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise ArchiveError(f"The archive is missing its member {member}.")
    return handle


def _verify_members(tar: tarfile.TarFile, manifest: dict, progress: Progress | None) -> None:
    """Every member the manifest lists is there with its SHA-256 (read through once)."""
    entries = [*manifest["models"], *manifest["media"]]
    for index, entry in enumerate(entries, 1):
        handle = _open_member(tar, entry["member"])
        digest = hashlib.sha256()
        while block := handle.read(1 << 20):
            digest.update(block)
        if digest.hexdigest() != entry["sha256"]:
            raise ArchiveError(
                f"The archive is damaged: {entry['member']} does not match its SHA-256 "
                "in the manifest."
            )
        if index % 100 == 0 or index == len(entries):
            _say(progress, f"checked: {index:,}/{len(entries):,} members")


def _check_target(manifest: dict, known: dict[str, type[models.Model]]) -> None:
    unknown = [e["model"] for e in manifest["models"] if e["model"] not in known]
    if unknown:
        raise ArchiveError(f"The archive holds models this software lacks: {', '.join(unknown)}.")
    archived = sorted(map(list, manifest["migrations"]))
    if archived != _applied_migrations():
        theirs, ours = {tuple(m) for m in archived}, {tuple(m) for m in _applied_migrations()}
        missing = sorted(f"{a}.{n}" for a, n in theirs - ours)
        extra = sorted(f"{a}.{n}" for a, n in ours - theirs)
        raise ArchiveError(
            "The archive was made with a different database schema. Restore it with the "
            "software version that made it (then upgrade with `migrate`). "
            f"Not applied here: {', '.join(missing) or 'none'}; "
            f"applied here only: {', '.join(extra) or 'none'}."
        )
    occupied = []
    for label, model in known.items():
        rows = model._base_manager.all()
        if label in SINGLETONS:
            rows = rows.exclude(**{f.name: f.get_default() for f in _singleton_fields(model)})
        if rows.exists():
            occupied.append(label)
    if occupied:
        raise ArchiveError(
            "The target database is not empty (it holds rows of "
            f"{', '.join(occupied)}). Restore into a freshly migrated, empty database."
        )


def _singleton_fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _rows(handle) -> Iterator[dict]:
    for number, line in enumerate(handle, 1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ArchiveError(f"line {number} is not valid JSON: {exc}") from None
        yield row


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _NaturalKeys:
    """Content types and permissions of the target, by natural key."""

    def __init__(self) -> None:
        self.content_types = {(ct.app_label, ct.model): ct.pk for ct in ContentType.objects.all()}
        self.permissions = {
            (p.codename, p.content_type.app_label, p.content_type.model): p.pk
            for p in Permission.objects.select_related("content_type")
        }

    def resolve(self, target, key):
        if key is None:
            return None
        table = self.content_types if target is ContentType else self.permissions
        try:
            return table[tuple(key)]
        except (KeyError, TypeError):
            raise ArchiveError(
                f"The target has no {target._meta.verbose_name} {key!r} (run `migrate`)."
            ) from None


def _import_model(
    tar, entry: dict, model, keys: _NaturalKeys, progress: Progress | None
) -> list[tuple[str, str]]:
    """Insert one member's rows; returns the attachment (file, sha256) pairs if any."""
    label = entry["model"]
    natural = _natural_fields(model)
    files: list[tuple[str, str]] = []
    if label in SINGLETONS:
        model._base_manager.all().delete()
    count = 0
    handle = _open_member(tar, entry["member"])
    for chunk in _chunks(_rows(io.TextIOWrapper(handle, encoding="utf-8")), CHUNK):
        for row in chunk:
            if row.get("model") != label:
                raise ArchiveError(f"{entry['member']} holds a row of {row.get('model')!r}.")
            for name, target in natural.items():
                row["fields"][name] = keys.resolve(target, row["fields"].get(name))
        try:
            objects = [d.object for d in python_serializer.Deserializer(chunk)]
        except Exception as exc:  # DeserializationError wraps the field's own error
            raise ArchiveError(f"{label}: a row cannot be read: {exc}") from None
        model._base_manager.bulk_create(objects)
        if label == "incidents.attachment":
            files.extend((obj.file.name, obj.sha256) for obj in objects)
        count += len(objects)
        _say(progress, f"{label}: {count:,}/{entry['count']:,}")
    if count != entry["count"]:
        raise ArchiveError(
            f"{label}: the archive holds {count} rows, its manifest {entry['count']}."
        )
    return files


def archive_import(*, path: Path | str, progress: Progress | None = None) -> ArchiveSummary:
    """Restore the archive at ``path`` into this (empty, freshly migrated) database.

    All or nothing: the archive is checked whole first (manifest, format version, every
    member's SHA-256, the schema, an empty target), then every row is inserted in one
    transaction; on any error the transaction is rolled back and the files written so far
    are removed. Rows are restored as they were: no services, signals or audit entries run.
    """
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"No archive at {path}.")
    summary = ArchiveSummary(path=path)
    written: list[str] = []
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as exc:
        raise ArchiveError(f"{path} is not a tar archive: {exc}") from None
    with tar:
        manifest = _read_manifest(tar)
        _verify_members(tar, manifest, progress)
        known = {m._meta.label_lower: m for m in archived_models()}
        try:
            with transaction.atomic():
                _check_target(manifest, known)
                keys = _NaturalKeys()
                files: list[tuple[str, str]] = []
                for entry in manifest["models"]:
                    files += _import_model(tar, entry, known[entry["model"]], keys, progress)
                    summary.counts[entry["model"]] = entry["count"]
                _restore_media(tar, manifest, files, written, summary, progress)
                _reset_sequences(list(known.values()))
                for entry in manifest["models"]:
                    actual = known[entry["model"]]._base_manager.count()
                    if actual != entry["count"]:
                        raise ArchiveError(
                            f"{entry['model']}: {actual} rows after the restore, "
                            f"the manifest says {entry['count']}."
                        )
        except BaseException:
            for name in written:
                default_storage.delete(name)
            raise
    return summary


def _restore_media(tar, manifest, files, written, summary, progress) -> None:
    media = {entry["name"]: entry for entry in manifest["media"]}
    for name, sha in files:
        entry = media.get(name)
        if entry is None:
            raise ArchiveError(f"The archive lacks the file of attachment {name!r}.")
        if entry["sha256"] != sha:
            raise ArchiveError(f"Attachment {name!r}: the file's SHA-256 is not the recorded one.")
    for index, entry in enumerate(manifest["media"], 1):
        name = entry["name"]
        if default_storage.exists(name):
            raise ArchiveError(
                f"The media storage already holds {name!r}; restore into an empty one."
            )
        handle = _open_member(tar, entry["member"])
        saved = default_storage.save(name, File(handle, name=name))
        written.append(saved)
        if saved != name:
            raise ArchiveError(f"The media storage stored {name!r} as {saved!r}.")
        summary.media_files += 1
        summary.media_bytes += entry["size"]
        _say(progress, f"attachment files: {index:,}/{len(manifest['media']):,}")


def _reset_sequences(model_list: list[type[models.Model]]) -> None:
    """New rows get ids above the restored ones (PostgreSQL; SQLite needs nothing)."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

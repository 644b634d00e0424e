"""``manage.py import_archive <path>``: restore an archive of ``export_archive`` into this
empty, freshly migrated database, all or nothing (monitoring.archive; docs/archive.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from monitoring.archive import ArchiveError, archive_import


class Command(BaseCommand):
    help = (
        "Restore an archive written by export_archive into this database, which must be "
        "freshly migrated and empty. All or nothing: on any error nothing is written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="the archive file to read (.tar)")

    def handle(self, *args, path: Path, **options) -> None:
        try:
            summary = archive_import(path=path, progress=self.stdout.write)
        except ArchiveError as exc:
            raise CommandError(f"Nothing was restored. {exc}") from exc
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Archive restored: {summary.path}"))

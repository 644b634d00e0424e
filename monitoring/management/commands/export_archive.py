"""``manage.py export_archive <path>``: write every record, history entry, summary version
and attachment file to one tar archive (monitoring.archive; docs/archive.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from monitoring.archive import ArchiveError, archive_export


class Command(BaseCommand):
    help = (
        "Write the whole database (records, history, summary versions) and the attachment "
        "files to one .tar archive, restorable into an empty database with import_archive."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="the archive file to write (.tar)")

    def handle(self, *args, path: Path, **options) -> None:
        try:
            summary = archive_export(path=path, progress=self.stdout.write)
        except ArchiveError as exc:
            raise CommandError(f"No archive was written. {exc}") from exc
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Archive written: {summary.path}"))

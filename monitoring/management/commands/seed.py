"""``manage.py seed [--path DIR]``: load the reference data in ``seeds/`` (idempotent).

The work is done by :func:`monitoring.seeding.seed_load`; see its module for how records
are matched and how boundary revisions are kept.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source
from monitoring.seeding import SeedError, default_seed_path, seed_load
from zones.services import zones_extend_all


class Command(BaseCommand):
    help = (
        "Load the seed data (parties, agreements, zones, areas, centers, settlements, posts). "
        "Running it twice changes nothing; after a file is edited it updates the records."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--path",
            type=Path,
            default=None,
            help=f"folder holding the seed files (default: {default_seed_path()})",
        )

    def handle(self, *args, path: Path | None = None, **options) -> None:
        with audit_source(AuditEntrySource.COMMAND):
            try:
                report = seed_load(path=path, log=self.stdout.write)
            except SeedError as exc:
                raise CommandError(f"Nothing was loaded. {exc}") from exc
            # Agreements that extend automatically: add the extensions due by now, as beat's
            # hourly zones_extend_terms would, so a fresh instance shows the zones' real state.
            extensions = zones_extend_all(until=timezone.now(), actor=None)
        self.stdout.write(report.table())
        self.stdout.write(f"Automatic extensions due by now: {len(extensions)} added.")
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        style = self.style.SUCCESS if report.changed else self.style.NOTICE
        self.stdout.write(style("Seed data loaded." if report.changed else "Seed data up to date."))

"""``manage.py demo_data``: plausible reports of every kind for the seeded centers.

Normal mode files each report through the services, as observers and coordinators would
(``--days`` days ending yesterday or ``--until``); ``--bulk --reports N`` writes N reports
with bulk inserts, for benchmarks. Debug mode only; the demo accounts are created when
missing. See :mod:`incidents.demo` and docs/operations.md.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from incidents.demo import (
    BULK_DEFAULT_DAYS,
    DEFAULT_SEED,
    DemoDataError,
    demo_data_bulk,
    demo_data_create,
)
from incidents.models import Report
from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--until {value!r} is not a date (YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = (
        "Fill the instance with demo reports of every kind (violations, convoys, checkpoint "
        "shifts), moved through the workflow. Debug mode only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"days of reports (default 14; {BULK_DEFAULT_DAYS} with --bulk)",
        )
        parser.add_argument("--until", type=_day, default=None, help="last day (default yesterday)")
        parser.add_argument(
            "--center",
            action="append",
            dest="centers",
            metavar="CODE",
            help="only this center (repeatable; default: every center)",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
        parser.add_argument(
            "--append",
            action="store_true",
            help="add to a center that already has demo reports",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing (and succeed) when the instance has any report (for make run)",
        )
        parser.add_argument(
            "--bulk", action="store_true", help="bulk inserts (benchmarks); needs --reports"
        )
        parser.add_argument("--reports", type=int, default=None, help="how many, with --bulk")
        parser.add_argument(
            "--batch-size", type=int, default=10_000, help="reports per insert batch (--bulk)"
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_data runs only in debug mode (DJANGO_DEBUG=true): it files reports as "
                "the demo accounts, which share a published password."
            )
        bulk, reports = options["bulk"], options["reports"]
        if reports is not None and not bulk:
            raise CommandError("--reports goes with --bulk.")
        if bulk and (reports is None or reports < 1):
            raise CommandError("--bulk needs --reports N (N at least 1).")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["if_empty"] and Report.objects.exists():
            self.stdout.write("The instance has reports already: no demo data added.")
            return
        days = options["days"]
        common = {
            "centers": options["centers"],
            "until": options["until"],
            "seed": options["seed"],
            "append": options["append"],
            "password": settings.DEMO_PASSWORD,
            "log": self.stdout.write,
        }
        with audit_source(AuditEntrySource.COMMAND):
            try:
                if bulk:
                    summary = demo_data_bulk(
                        reports=reports,
                        days=BULK_DEFAULT_DAYS if days is None else days,
                        batch_size=options["batch_size"],
                        **common,
                    )
                else:
                    summary = demo_data_create(days=14 if days is None else days, **common)
            except DemoDataError as exc:
                raise CommandError(f"No demo data was written. {exc}") from exc
        self.stdout.write(summary.table())
        for note in summary.notes:
            self.stdout.write(f"note: {note}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary.reports:,} demo reports for {', '.join(summary.centers)} "
                f"({summary.links:,} corroboration links) in {summary.seconds:.1f} s."
            )
        )

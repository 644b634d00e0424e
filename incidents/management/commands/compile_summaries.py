"""``manage.py compile_summaries [--center CODE] [--date D | --from D --to D | --due]``:
compile daily summaries now, in this process (what the Celery task does)."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source
from monitoring.models import MonitoringCenter

from ...selectors.summaries import last_closed_day
from ...services import summaries_compile_due, summary_compile


def _day(value: str, option: str) -> date:
    day = parse_date(value)
    if day is None:
        raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD).")
    return day


class Command(BaseCommand):
    help = "Compile the daily summaries of a center (or all) for a day or a range of days."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--center", help="center code (default: every center)")
        parser.add_argument("--date", help="the reporting day (default: the last closed one)")
        parser.add_argument("--from", dest="first", help="first day of a range")
        parser.add_argument("--to", dest="last", help="last day of a range")
        parser.add_argument(
            "--due",
            action="store_true",
            help="what the beat sweep compiles: stale, missing and just-closed days",
        )

    def handle(self, *args, center=None, date=None, first=None, last=None, due=False, **options):
        with audit_source(AuditEntrySource.COMMAND):
            if due:
                count = summaries_compile_due(log=self.stdout.write)
                self.stdout.write(self.style.SUCCESS(f"{count} summaries compiled."))
                return
            centers = MonitoringCenter.objects.order_by("code")
            if center:
                centers = centers.filter(code=center.upper())
                if not centers.exists():
                    known = ", ".join(MonitoringCenter.objects.values_list("code", flat=True))
                    raise CommandError(f"--center: no center {center!r} (known: {known}).")
            if (first is None) != (last is None):
                raise CommandError("--from and --to go together.")
            if date and first:
                raise CommandError("Give --date or --from/--to, not both.")
            count = 0
            for one in centers:
                if first:
                    start, end = _day(first, "--from"), _day(last, "--to")
                    if end < start:
                        raise CommandError("--to is before --from.")
                    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
                else:
                    days = [_day(date, "--date") if date else last_closed_day(one, timezone.now())]
                for n, day in enumerate(days, 1):
                    version = summary_compile(center=one, day=day)
                    count += 1
                    self.stdout.write(
                        f"[{n}/{len(days)}] {one.code} {day}: version {version.number} "
                        f"({version.get_status_display().lower()}), "
                        f"{version.content['source_count']} reports"
                    )
        self.stdout.write(self.style.SUCCESS(f"{count} summaries compiled."))

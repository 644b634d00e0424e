"""``manage.py reclassify_reports [--since DATE]``: re-check the reports' zones and flags
against the zone lines, terms and areas now known (what the Celery task does after a change
of lines; run by hand when the broker was down). Each report that changes gets a new
revision and an audit entry; the others are not touched."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source
from zones import classifier

from ...services import reports_reclassify


def _moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since: {value!r} is not a date (YYYY-MM-DD) nor a moment.")
        moment = datetime.combine(day, time(0, 0), tzinfo=ZoneInfo("Asia/Damascus"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment


class Command(BaseCommand):
    help = "Re-check the reports' zones and flags against the current zone lines."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--since",
            default=None,
            help="only reports that occurred from this date (Damascus) or ISO moment",
        )

    def handle(self, *args, since: str | None = None, **options) -> None:
        moment = _moment(since) if since else None
        classifier.invalidate()
        with audit_source(AuditEntrySource.COMMAND):
            checked, changed = reports_reclassify(
                since=moment, actor=None, progress=self.stdout.write
            )
        self.stdout.write(self.style.SUCCESS(f"{checked:,} reports checked, {changed:,} changed."))

"""``manage.py verify_summaries [--center CODE]``: walk each center's chain of published
summary versions and name every version whose stored content no longer matches its
SHA-256 or whose link is broken. Exits non-zero when anything is wrong."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from monitoring.models import MonitoringCenter

from ...services import summaries_verify


class Command(BaseCommand):
    help = "Verify the hash chain of published daily summaries."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--center", help="center code (default: every center)")

    def handle(self, *args, center=None, **options) -> None:
        one = None
        if center:
            one = MonitoringCenter.objects.filter(code=center.upper()).first()
            if one is None:
                raise CommandError(f"--center: no center {center!r}.")
        checked, problems = summaries_verify(center=one)
        for problem in problems:
            self.stderr.write(f"TAMPERED {problem}")
        if problems:
            raise CommandError(
                f"{len(problems)} problem(s) in {checked} published version(s) checked."
            )
        self.stdout.write(
            self.style.SUCCESS(f"{checked} published version(s) verified, chain intact.")
        )

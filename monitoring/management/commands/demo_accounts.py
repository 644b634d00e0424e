"""``manage.py demo_accounts``: demo logins for every role (debug mode only; idempotent).

One observer per delegation of each monitoring center (``obs-russia-jwg``), a coordinator
per center (``coord-jwg``), a partner (``demo-partner``) and an administrator
(``demo-admin``), all with the password ``settings.DEMO_PASSWORD``. Load the seed data
first (``manage.py seed``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.choices import AuditEntrySource, ObserverRole
from monitoring.context import audit_source
from monitoring.seeding import CREATED, UPDATED, demo_accounts_ensure


class Command(BaseCommand):
    help = "Create the demo accounts (DEBUG only) and print their logins."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_accounts runs only in debug mode (DJANGO_DEBUG=true): the accounts "
                "share a published password."
            )
        with audit_source(AuditEntrySource.COMMAND):
            accounts = demo_accounts_ensure(password=settings.DEMO_PASSWORD)
        if not accounts:
            raise CommandError(
                "No monitoring center to attach accounts to: load the seed data first "
                "(manage.py seed)."
            )
        labels = dict(ObserverRole.choices)
        rows = [("username", "role", "center", "delegation")] + [
            (a.username, labels[a.role], a.center, a.delegation) for a in accounts
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        self.stdout.write(f"Demo accounts (password: {settings.DEMO_PASSWORD})")
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        if settings.TWO_FACTOR_ROLES:
            roles = ", ".join(sorted(settings.TWO_FACTOR_ROLES))
            self.stdout.write(
                f"Roles with a second factor ({roles}) set up an authenticator app at their "
                "first sign-in."
            )
        created = sum(a.outcome == CREATED for a in accounts)
        updated = sum(a.outcome == UPDATED for a in accounts)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(accounts)} accounts: {created} created, {updated} updated, "
                f"{len(accounts) - created - updated} unchanged."
            )
        )

"""``manage.py two_factor_reset USERNAME``: remove an account's second factor (a lost phone and
lost backup codes). The account sets up an authenticator app again at its next sign-in.

For the operator of the machine (the command acts as ``system:command``, audited); in the
web, administrators can do the same from the admin (OTP devices).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source
from monitoring.services import two_factor_reset


class Command(BaseCommand):
    help = "Remove an account's second-factor devices; it sets one up at its next sign-in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reason", default="", help="Why (kept in the audit entry).")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No account named {options['username']!r}.")
        with audit_source(AuditEntrySource.COMMAND):
            removed = two_factor_reset(user=user, actor=None, comment=options["reason"])
        if not removed:
            self.stdout.write(f"{user.get_username()} had no second factor: nothing to remove.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Removed {removed} second-factor device(s) of {user.get_username()}; "
                "they set up an authenticator app at their next sign-in."
            )
        )

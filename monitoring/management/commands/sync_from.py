"""``manage.py sync_from <base_url> --token-file FILE``: mirror another instance's change feed
into read-only copies here (monitoring.sync; docs/sync-client.md).

Exit status: 0 done (or ``--follow`` stopped by Ctrl-C / SIGTERM / ``--max-seconds``);
1 the sync stopped (token refused, source unreachable after the retries, an answer it cannot
use, a resync refused by ``--no-resync``); 2 bad arguments; 130 interrupted (one-shot run).
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.choices import AuditEntrySource
from monitoring.context import audit_source
from monitoring.sync import (
    PAGE_DEFAULT,
    PAGE_MAX,
    RetryPolicy,
    SyncError,
    SyncResult,
    SyncUsageError,
    sync_follow,
    sync_from,
    sync_state,
)

TOKEN_ENV = "CEASEFIRE_SYNC_TOKEN"  # noqa: S105 - a variable name, not a secret
USAGE = 2
INTERRUPTED = 130


@contextmanager
def sigterm_interrupts():
    """SIGTERM (a service manager stopping us) ends the run like Ctrl-C: the page being
    applied is rolled back whole, every page before it is kept."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave the signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Command(BaseCommand):
    help = (
        "Copy another instance's records through its change feed (/api/v1/changes/) into "
        "read-only copies here, from where the last run stopped. Give the token with "
        f"--token-file or {TOKEN_ENV} (--token is visible in the process list)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("base_url", help="root URL of the source, e.g. https://cm.example.org")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--token-file", type=Path, help="file holding the partner token")
        secret.add_argument("--token", help=f"the partner token (prefer --token-file, {TOKEN_ENV})")
        parser.add_argument(
            "--page-size",
            type=int,
            default=PAGE_DEFAULT,
            help=f"changes per request, 1 to {PAGE_MAX} (default {PAGE_DEFAULT})",
        )
        parser.add_argument(
            "--max-pages", type=int, default=None, help="stop after this many pages (resumable)"
        )
        parser.add_argument("--follow", action="store_true", help="keep polling until interrupted")
        parser.add_argument(
            "--interval",
            type=float,
            default=30.0,
            help="with --follow: seconds between polls (default 30)",
        )
        parser.add_argument(
            "--max-seconds",
            type=float,
            default=None,
            help="with --follow: stop after this many seconds",
        )
        parser.add_argument(
            "--no-resync",
            action="store_true",
            help="when the source asks for a resync (410), stop instead of dropping the copies "
            "and copying everything again",
        )
        parser.add_argument(
            "--retries",
            type=int,
            default=RetryPolicy.attempts - 1,
            help="retries of a request after connection errors, timeouts, 5xx and 429, "
            f"with backoff (default {RetryPolicy.attempts - 1})",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=RetryPolicy.read_timeout,
            help=f"seconds to wait for an answer (default {RetryPolicy.read_timeout:g})",
        )

    def handle(self, *args, **options) -> None:
        token = self._token(options)
        if not options["follow"] and options["max_seconds"] is not None:
            raise CommandError("--max-seconds needs --follow.", returncode=USAGE)
        if options["follow"] and options["max_pages"] is not None:
            raise CommandError("--max-pages cannot be used with --follow.", returncode=USAGE)
        if options["retries"] < 0:
            raise CommandError("--retries cannot be negative.", returncode=USAGE)
        try:
            policy = RetryPolicy(attempts=options["retries"] + 1, read_timeout=options["timeout"])
        except SyncUsageError as exc:
            raise CommandError(str(exc), returncode=USAGE) from exc
        common = {
            "base_url": options["base_url"],
            "token": token,
            "page_size": options["page_size"],
            "progress": self.stdout.write,
            "policy": policy,
            "resync": not options["no_resync"],
        }
        result: SyncResult | None = None
        try:
            with audit_source(AuditEntrySource.COMMAND), sigterm_interrupts():
                if options["follow"]:
                    result = sync_follow(
                        **common,
                        interval=options["interval"],
                        max_seconds=options["max_seconds"],
                    )
                else:
                    result = sync_from(**common, max_pages=options["max_pages"])
        except KeyboardInterrupt as exc:
            message = (
                f"Interrupted: {sync_state(base_url=options['base_url'])}; every page applied "
                "before is kept, a run resumes from the stored cursor."
            )
            if options["follow"]:
                self.stdout.write(message)
                return
            raise CommandError(message, returncode=INTERRUPTED) from exc
        except SyncUsageError as exc:
            raise CommandError(str(exc), returncode=USAGE) from exc
        except SyncError as exc:
            raise CommandError(f"Sync stopped: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Done: {result.summary()}"))
        if result.errors:
            raise CommandError(f"Sync stopped: the last round failed: {result.errors[-1]}")

    def _token(self, options) -> str:
        path = Path(options["token_file"]) if options["token_file"] else None
        if path is not None:
            try:
                token = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(
                    f"cannot read the token file {path}: {exc}", returncode=USAGE
                ) from exc
            if not token:
                raise CommandError(f"the token file {path} is empty.", returncode=USAGE)
            return token
        if options["token"]:
            self.stderr.write(
                "note: --token is visible to other users in the process list; prefer "
                f"--token-file or {TOKEN_ENV}."
            )
            return options["token"]
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise CommandError(
                f"no token: give --token-file FILE (or set {TOKEN_ENV}) with a partner token "
                "of the source instance.",
                returncode=USAGE,
            )
        return token

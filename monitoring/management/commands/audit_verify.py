"""``manage.py audit_verify``: seal the audit entries written since the last sealing, then
check the whole audit hash chain and the report transitions against it
(docs/security.md#audit-chain).

Exit status: 0 the chain is intact; 1 it is broken (the first broken link is named);
2 wrong arguments; 3 intact, but entries older than ``--unsealed-minutes`` are still
unsealed (a writer's transaction open that long, or sealing is not running).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from monitoring.services import AUDIT_CHAIN_BATCH, audit_chain_seal, audit_chain_verify

EXIT_BROKEN = 1
EXIT_UNSEALED = 3


class Command(BaseCommand):
    help = (
        "Seal new audit entries into the hash chain, then verify every link of it and the "
        "report transitions against it. Exit status 0 intact, 1 broken, 3 intact but old "
        "entries unsealed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--quiet", action="store_true", help="print nothing unless something is wrong"
        )
        parser.add_argument(
            "--unsealed-minutes",
            type=int,
            default=10,
            help="warn (exit status 3) about entries unsealed for longer (default: 10)",
        )
        parser.add_argument(
            "--no-seal",
            action="store_true",
            help="check only, seal nothing (to see whether the sealing task keeps up)",
        )
        parser.add_argument(
            "--expect",
            metavar="SEQ:SHA256",
            action="append",
            default=[],
            help="a head recorded earlier (repeatable): the chain must still hold that entry "
            "with that hash",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=AUDIT_CHAIN_BATCH,
            help=f"entries read at a time (default: {AUDIT_CHAIN_BATCH})",
        )

    def handle(
        self,
        *args,
        quiet: bool,
        unsealed_minutes: int,
        no_seal: bool,
        expect: list[str],
        batch: int,
        **options,
    ) -> None:
        if batch < 1 or unsealed_minutes < 0:
            raise CommandError(
                "--batch must be at least 1 and --unsealed-minutes not negative.", returncode=2
            )
        expected = [self._recorded_head(value) for value in expect]
        say = None if quiet else self.stdout.write
        sealed = 0 if no_seal else audit_chain_seal(batch=batch, progress=say)
        check = audit_chain_verify(
            batch=batch, unsealed_minutes=unsealed_minutes, expected=expected, progress=say
        )
        if not quiet:
            self.stdout.write(
                f"Sealed {sealed:,} new entries. Checked {check.entries:,} chained entries and "
                f"{check.transitions:,} report transitions; {check.unsealed:,} entries unsealed."
            )
        if not check.intact:
            for problem in check.problems:
                self.stderr.write(f"  {problem}")
            if check.problems_total > len(check.problems):
                self.stderr.write(f"  ... {check.problems_total - len(check.problems)} more")
            raise CommandError(
                f"The audit chain is broken ({check.problems_total} problem"
                f"{'s' if check.problems_total > 1 else ''}); first: "
                f"{check.problems[0]}",
                returncode=EXIT_BROKEN,
            )
        head = f"head #{check.head_seq} sha256 {check.head_sha256}"
        if check.stale_unsealed:
            oldest_pk, oldest_at = check.stale_unsealed[0]
            raise CommandError(
                f"The audit chain is intact ({head}), but {check.stale_unsealed_total} entries "
                f"older than {unsealed_minutes} minutes are unsealed, the oldest id {oldest_pk} "
                f"of {oldest_at:%Y-%m-%d %H:%M:%S} UTC: a transaction open that long, or "
                "sealing is not running.",
                returncode=EXIT_UNSEALED,
            )
        if not quiet:
            self.stdout.write(
                self.style.SUCCESS(f"Audit chain intact: {head}. Record the head elsewhere.")
            )

    @staticmethod
    def _recorded_head(value: str) -> tuple[int, str]:
        seq, _, sha = value.partition(":")
        sha = sha.strip().lower()
        if not seq.strip().isdigit() or len(sha) != 64 or set(sha) - set("0123456789abcdef"):
            raise CommandError(
                f"--expect {value!r}: give SEQ:SHA256, e.g. 1234:<64 hex digits>.", returncode=2
            )
        return int(seq), sha

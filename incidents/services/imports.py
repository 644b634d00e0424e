"""Bulk filing: a batch of reports from a partner's or an observer's offline collection,
each row filed through :func:`report_create` (and, when asked, submitted through
:func:`report_transition`) exactly as one filing would be.

- By default each row is its own transaction: the rows that pass are saved, the rows that
  fail are reported and not saved. With ``atomic=True`` the batch is all or nothing: every
  row is still tried (so the report names every problem), then everything is rolled back
  if any row failed.
- A row is never half saved: its filing and its submission share one transaction.
- Rows are filed as ``actor``, with their center and delegation.

The input layer (the API) reads and checks the rows; a row it refused comes in with its
errors, is reported as they are, and is not sent to the services.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from monitoring.selectors import observer_for_user

from ..choices import ReportStatus
from ..models import Report
from .reports import FILING_ROLES, report_create, report_transition

logger = logging.getLogger(__name__)

# The most rows one batch holds; a larger collection is sent in several batches. Filing a
# row costs what a single filing costs (~50 queries, 10-40 ms): a batch of this size is
# answered well within a web worker's timeout (gunicorn's default: 30 s).
IMPORT_MAX_ROWS = 1000
# A progress line in the log every so many rows.
IMPORT_LOG_EVERY = 500


@dataclass(frozen=True)
class ImportRow:
    """One row of a batch as the input layer prepared it.

    ``number`` counts the rows from 1; ``line`` is where the row starts in the uploaded
    file. A sound row has ``kind`` and ``arguments`` (the keyword arguments of
    :func:`report_create` besides ``actor`` and ``kind``); a refused one has ``refused``
    (the input layer's errors, reported as they are).
    """

    number: int
    line: int
    kind: str | None = None
    arguments: Mapping[str, Any] | None = None
    submit: bool = False
    refused: Any = None


@dataclass
class ImportOutcome:
    """What became of one row: its report, or the services' refusal, or the input
    layer's; ``rolled_back`` when the row passed but an atomic batch was undone."""

    row: ImportRow
    report: Report | None = None
    error: ValidationError | None = None
    rolled_back: bool = False

    @property
    def created(self) -> bool:
        return self.report is not None and not self.rolled_back

    @property
    def failed(self) -> bool:
        return self.report is None and not self.rolled_back


@dataclass
class ImportResult:
    atomic: bool
    outcomes: list[ImportOutcome] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(outcome.created for outcome in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(outcome.failed for outcome in self.outcomes)

    @property
    def saved(self) -> bool:
        """Whether anything of the batch was kept."""
        return self.created > 0


class _BatchFailed(Exception):
    """Undoes an atomic batch that had a failing row."""


def _may_file(actor: AbstractBaseUser) -> None:
    observer = observer_for_user(actor)
    if observer is None:
        raise PermissionDenied("You need an active observer profile.")
    if observer.role not in FILING_ROLES:
        raise PermissionDenied("Only observers, coordinators and partners file reports.")


def _file(actor: AbstractBaseUser, row: ImportRow) -> ImportOutcome:
    if row.refused is not None:
        return ImportOutcome(row=row)
    assert row.kind is not None and row.arguments is not None
    try:
        with transaction.atomic():
            report = report_create(actor=actor, kind=row.kind, **row.arguments)
            if row.submit:
                report = report_transition(
                    report=report, to_status=ReportStatus.SUBMITTED, actor=actor
                )
    except ValidationError as exc:
        return ImportOutcome(row=row, error=exc)
    return ImportOutcome(row=row, report=report)


def _file_all(
    actor: AbstractBaseUser, rows: Sequence[ImportRow], result: ImportResult, log_every: int
) -> None:
    who = actor.get_username()
    for done, row in enumerate(rows, start=1):
        result.outcomes.append(_file(actor, row))
        if done % log_every == 0 and done < len(rows):
            logger.info(
                "Report import by %s: %d of %d rows done (%d filed, %d failed).",
                who,
                done,
                len(rows),
                result.created,
                result.failed,
            )


def reports_import(
    *,
    actor: AbstractBaseUser,
    rows: Sequence[ImportRow],
    atomic: bool = False,
    log_every: int = IMPORT_LOG_EVERY,
) -> ImportResult:
    """File each row as a draft by ``actor`` (submitted when the row asks), in order.

    Refuses a batch without rows or with more than :data:`IMPORT_MAX_ROWS`
    (``ValidationError``) and an actor who does not file reports (``PermissionDenied``),
    before anything is written. Returns every row's outcome; logs a line at INFO every
    ``log_every`` rows and one at the end.
    """
    if not rows:
        raise ValidationError("The batch holds no rows.", code="empty")
    if len(rows) > IMPORT_MAX_ROWS:
        raise ValidationError(
            f"The batch holds {len(rows):,} rows; the limit is {IMPORT_MAX_ROWS:,}.",
            code="too_many",
        )
    _may_file(actor)
    result = ImportResult(atomic=atomic)
    if atomic:
        try:
            with transaction.atomic():
                _file_all(actor, rows, result, log_every)
                if result.failed:
                    raise _BatchFailed
        except _BatchFailed:
            for outcome in result.outcomes:
                if outcome.report is not None:
                    outcome.rolled_back = True
    else:
        _file_all(actor, rows, result, log_every)
    logger.info(
        "Report import by %s: %d rows, %d filed, %d failed%s.",
        actor.get_username(),
        len(rows),
        result.created,
        result.failed,
        " (atomic: nothing saved)" if atomic and result.failed else "",
    )
    return result

"""A reference sync client for the change feed: keep read-only copies of another instance's
records (``manage.py sync_from``, docs/sync-client.md).

The client pages through ``GET {base_url}/api/v1/changes/?after=<cursor>&limit=<n>`` with a
partner token and applies each page here in one transaction together with the new cursor
(:func:`synced_records_apply`), so a run killed at any moment resumes from the stored cursor
and ends with the same copies as a run that never stopped. Entries are upserted into
:class:`~monitoring.models.SyncedRecord`, tombstones delete the copy. A source that answers
410 ``resync_required`` (the cursor is older than the tombstones it keeps) is copied again
from the beginning: its copies are dropped first, loudly (:func:`synced_records_reset`).

HTTP: ``requests`` with connect and read timeouts; connection errors, timeouts, 5xx and 429
are retried a bounded number of times with exponential backoff (429 and 503 wait for their
``Retry-After``). A refused token, a missing feed or an answer this client cannot read stops
the sync with a :class:`SyncError` that says what to do.

The write functions below are this client's services (keyword-only, ``<entity>_<verb>``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .choices import AuditEntryAction
from .models import SyncedRecord, SyncSource
from .services import audit_entry_create

FEED_PATH = "/api/v1/changes/"
PAGE_DEFAULT = 500
PAGE_MAX = 1000  # the feed's own maximum
RESYNCS_MAX = 2  # full copies started in one run before giving up
USER_AGENT = "ceasefire-monitor-sync/1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures of the network, not of the request: tried again.
TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

Progress = Callable[[str], None]


class SyncError(Exception):
    """The sync stopped; the message tells a person why and what to do. Everything applied
    before it is kept (each page is applied whole or not at all)."""


class SyncUsageError(SyncError):
    """Bad arguments (base URL, token, page size): nothing was requested."""


class SyncAuthError(SyncError):
    """The source refused the token (401 or 403)."""


class SyncNetworkError(SyncError):
    """The source could not be reached, or kept failing (5xx, 429), after every retry."""


class SyncResponseError(SyncError):
    """The source answered something this client cannot use (no feed there, a bad page)."""


class SyncResyncRequired(SyncError):
    """The source no longer keeps the tombstones after our cursor (410), and a resync was not
    allowed (``resync=False``, ``--no-resync``)."""

    def __init__(self, message: str, *, horizon: int) -> None:
        super().__init__(message)
        self.horizon = horizon


class _Gone(Exception):
    """The feed answered 410 ``resync_required``."""

    def __init__(self, horizon: int) -> None:
        super().__init__(horizon)
        self.horizon = horizon


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and retries of each request: ``attempts`` tries in all, waiting ``backoff``
    seconds after the first failure and twice as long after each next one (at most
    ``backoff_max``); a ``Retry-After`` from the source is honoured up to ``retry_after_max``.
    """

    attempts: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise SyncUsageError("retries: at least 1 attempt is needed.")
        if self.backoff < 0 or self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise SyncUsageError("timeouts must be positive and the backoff not negative.")

    def wait(self, failures: int, retry_after: str | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed try in a row."""
        told = retry_after_seconds(retry_after)
        if told is not None:
            return min(told, self.retry_after_max)
        delay = min(self.backoff * 2 ** (failures - 1), self.backoff_max)
        return delay + random.uniform(0, delay / 10)  # jitter: mirrors do not poll in step


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds (delay-seconds or an HTTP date), None if absent or
    unreadable; never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


@dataclass
class PageApplied:
    """What one page changed here: copies written, tombstones applied, the cursor after it."""

    records: int
    tombstones: int
    cursor: int


@dataclass
class SyncResult:
    """What a run did. ``in_step``: the source said nothing more to read (``has_more`` false)
    when the run ended; otherwise ``max_pages`` or the deadline stopped it first."""

    base_url: str
    cursor: int = 0
    pages: int = 0
    records: int = 0
    tombstones: int = 0
    resyncs: int = 0
    in_step: bool = False
    copies: int = 0
    rounds: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SyncResult) -> None:
        """Fold a later run (a round of ``--follow``) into this one."""
        self.cursor = other.cursor
        self.pages += other.pages
        self.records += other.records
        self.tombstones += other.tombstones
        self.resyncs += other.resyncs
        self.in_step = other.in_step
        self.copies = other.copies
        self.rounds += other.rounds

    def summary(self) -> str:
        state = "in step" if self.in_step else "more to read (run again to go on)"
        text = (
            f"{self.pages:,} page{'s' if self.pages != 1 else ''}: {self.records:,} records "
            f"and {self.tombstones:,} tombstones applied; cursor {self.cursor:,}; "
            f"{self.copies:,} copies of {self.base_url} kept; {state}."
        )
        if self.resyncs:
            text += f" Copied everything again {self.resyncs} time(s) (resync)."
        return text


# --- Arguments -------------------------------------------------------------------------------


def base_url_normalise(raw: str) -> str:
    """The root URL of a source as it is stored: http or https, a host, no credentials,
    query or fragment, no trailing slash (``https://Example.org/cm/`` ->
    ``https://example.org/cm``). Raises :class:`SyncUsageError` naming what is wrong."""
    text = (raw or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise SyncUsageError(f"base URL {text!r} is not a URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise SyncUsageError(
            f"base URL {text!r} must start with http:// or https:// (the instance's root URL)."
        )
    if not parts.hostname:
        raise SyncUsageError(f"base URL {text!r} names no host.")
    if parts.username or parts.password:
        raise SyncUsageError(
            "base URL must not hold credentials; give the token with --token-file or "
            "CEASEFIRE_SYNC_TOKEN."
        )
    if parts.query or parts.fragment:
        raise SyncUsageError(f"base URL {text!r} must have no query (?...) or fragment (#...).")
    path = parts.path.rstrip("/")
    if path.endswith(("/api/v1/changes", "/api")) or "/api/v1" in path:
        raise SyncUsageError(
            f"base URL {text!r} points into the API; give the instance's root URL "
            f"(the client adds {FEED_PATH})."
        )
    url = f"{scheme}://{parts.netloc.lower()}{path}"
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise SyncUsageError(f"base URL {text!r} is not a valid URL.") from exc
    if len(url) > SyncSource._meta.get_field("base_url").max_length:
        raise SyncUsageError("base URL is too long (200 characters at most).")
    return url


# --- Services: the copies ----------------------------------------------------------------------


def sync_source_ensure(*, base_url: str) -> SyncSource:
    """The :class:`SyncSource` of ``base_url`` (normalised), created (and audited) on first
    use."""
    url = base_url_normalise(base_url)
    found = SyncSource.objects.filter(base_url=url).first()
    if found is not None:
        return found
    source = SyncSource(base_url=url)
    source.full_clean()
    try:
        with transaction.atomic():
            source.save()
            audit_entry_create(
                actor=None,
                action=AuditEntryAction.CREATE,
                instance=source,
                changes={"base_url": [None, url], "cursor": [None, 0]},
                comment="Sync source added by sync_from.",
            )
    except IntegrityError:  # another sync of the same source created it first
        return SyncSource.objects.get(base_url=url)
    return source


def synced_records_apply(
    *,
    source: SyncSource,
    entries: Sequence[Mapping[str, Any]],
    cursor: int,
    horizon: int = 0,
    at: datetime | None = None,
) -> PageApplied:
    """Apply one page of the source's feed and move its cursor (with the page's tombstone
    ``horizon``, sent back with the next request), in one transaction.

    Non-deleted entries replace the copy of their record (``record`` as ``data``, ``seq``),
    tombstones delete it. Entries at or below the stored cursor were applied already (a page
    is only ever stored with its cursor) and are passed over, so applying a page again
    changes nothing. The cursor never moves back. ``source`` is updated in place.
    """
    at = at or timezone.now()
    with transaction.atomic():
        locked = SyncSource.objects.select_for_update().get(pk=source.pk)
        latest: dict[tuple[str, str], Mapping[str, Any]] = {}
        for entry in sorted(entries, key=lambda e: e["seq"]):
            if entry["seq"] > locked.cursor:
                latest[(str(entry["type"]), str(entry["id"]))] = entry
        upserts = [(key, e) for key, e in latest.items() if not e["deleted"]]
        gone = [key for key, e in latest.items() if e["deleted"]]
        if gone:
            by_type: dict[str, list[str]] = {}
            for record_type, record_key in gone:
                by_type.setdefault(record_type, []).append(record_key)
            match = Q()
            for record_type, keys in by_type.items():
                match |= Q(record_type=record_type, record_key__in=keys)
            SyncedRecord.objects.filter(source=locked).filter(match).delete()
        if upserts:
            SyncedRecord.objects.bulk_create(
                [
                    SyncedRecord(
                        source=locked,
                        record_type=record_type,
                        record_key=record_key,
                        seq=entry["seq"],
                        data=entry["record"],
                        synced_at=at,
                    )
                    for (record_type, record_key), entry in upserts
                ],
                update_conflicts=True,
                unique_fields=["source", "record_type", "record_key"],
                update_fields=["seq", "data", "synced_at"],
                batch_size=500,
            )
        new_cursor = max(locked.cursor, cursor)
        new_horizon = max(locked.horizon, horizon)
        if new_cursor != locked.cursor or latest or new_horizon != locked.horizon:
            SyncSource.objects.filter(pk=locked.pk).update(
                cursor=new_cursor,
                horizon=new_horizon,
                records_applied=F("records_applied") + len(upserts),
                tombstones_applied=F("tombstones_applied") + len(gone),
                last_sync_at=at,
            )
        locked.refresh_from_db()
    _copy_state(locked, source)
    return PageApplied(records=len(upserts), tombstones=len(gone), cursor=locked.cursor)


def synced_records_reset(*, source: SyncSource, reason: str) -> int:
    """Drop every copy of ``source`` and set its cursor back to 0, so that the next page
    starts a full copy (a resync); audited with ``reason``. Returns the copies dropped."""
    with transaction.atomic():
        locked = SyncSource.objects.select_for_update().get(pk=source.pk)
        dropped, _ = SyncedRecord.objects.filter(source=locked).delete()
        before = locked.cursor
        locked.cursor = 0
        locked.horizon = 0
        locked.save(update_fields=["cursor", "horizon"])
        audit_entry_create(
            actor=None,
            action=AuditEntryAction.UPDATE,
            instance=locked,
            changes={"cursor": [before, 0]},
            comment=f"Resync: {reason} {dropped} copies dropped.",
        )
    _copy_state(locked, source)
    return dropped


def sync_source_touch(*, source: SyncSource, at: datetime | None = None) -> None:
    """Record that the copies of ``source`` were found in step with it at ``at``."""
    at = at or timezone.now()
    SyncSource.objects.filter(pk=source.pk).update(last_sync_at=at)
    source.last_sync_at = at


def sync_state(*, base_url: str) -> str:
    """One line on the copies of ``base_url`` kept here (cursor, copies, counters)."""
    source = SyncSource.objects.filter(base_url=base_url_normalise(base_url)).first()
    if source is None:
        return f"nothing copied from {base_url} yet"
    copies = SyncedRecord.objects.filter(source=source).count()
    return (
        f"{copies:,} copies of {source.base_url} kept at cursor {source.cursor:,} "
        f"({source.records_applied:,} records and {source.tombstones_applied:,} tombstones "
        "applied in all)"
    )


def _copy_state(fresh: SyncSource, target: SyncSource) -> None:
    for name in ("cursor", "horizon", "last_sync_at", "records_applied", "tombstones_applied"):
        setattr(target, name, getattr(fresh, name))


# --- The client ------------------------------------------------------------------------------


class FeedClient:
    """GETs pages of one source's change feed, with timeouts and bounded retries."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url
        self.url = base_url + FEED_PATH
        self.policy = policy or RetryPolicy()
        self.progress = progress or (lambda _message: None)
        self.sleep = sleep
        self.session = session if session is not None else requests.Session()
        self.owns_session = session is None
        self.headers = {
            "Authorization": f"Token {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def close(self) -> None:
        if self.owns_session:
            self.session.close()

    def page(self, *, after: int, limit: int, horizon: int = 0) -> dict[str, Any]:
        """One page after ``after`` (read with the source's tombstone ``horizon`` of the
        page the cursor came from), checked; raises :class:`_Gone` on 410."""
        params = {"after": after, "limit": limit, "horizon": horizon}
        failures = 0
        while True:
            problem, retry_after = self._try(params)
            if isinstance(problem, dict):
                return _checked_page(problem, after=after, url=self.url)
            failures += 1
            if failures >= self.policy.attempts:
                raise SyncNetworkError(
                    f"{self.base_url} failed {failures} time(s) in a row; last: {problem}. "
                    "Nothing more was applied; run again later (the sync resumes from "
                    "the stored cursor)."
                )
            delay = self.policy.wait(failures, retry_after)
            self.progress(
                f"{problem}; trying again in {delay:.1f} s "
                f"(retry {failures} of {self.policy.attempts - 1})"
            )
            self.sleep(delay)

    def _try(self, params: dict[str, int]) -> tuple[dict[str, Any] | str, str | None]:
        """One GET: the page's body, or a retryable problem (and its Retry-After)."""
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        try:
            response = self.session.get(
                self.url, params=params, headers=self.headers, timeout=timeout
            )
        except TRANSIENT_ERRORS as exc:
            return f"could not reach {self.base_url} ({type(exc).__name__}: {_short(exc)})", None
        except requests.RequestException as exc:  # too many redirects, an invalid URL...
            raise SyncResponseError(f"cannot read {self.url}: {_short(exc)}") from exc
        status = response.status_code
        if status in RETRY_STATUSES:
            return f"{self.base_url} answered {status}", response.headers.get("Retry-After")
        if status in (401, 403):
            raise SyncAuthError(
                f"{self.base_url} refused the token ({status}: {_detail(response)}). Check "
                "that it is a partner token of that instance, with the read scope, not revoked "
                "or expired."
            )
        if status == 410:
            body = _json(response)
            if isinstance(body, dict) and body.get("status") == "resync_required":
                horizon = body.get("horizon")
                raise _Gone(horizon if isinstance(horizon, int) else 0)
        if status == 404:
            raise SyncResponseError(
                f"no change feed at {self.url} (404): is {self.base_url} the root URL of a "
                "ceasefire-monitor instance?"
            )
        if status != 200:
            raise SyncResponseError(f"{self.url} answered {status}: {_detail(response)}")
        body = _json(response)
        if not isinstance(body, dict):
            raise SyncResponseError(
                f"{self.url} did not answer JSON (is {self.base_url} a ceasefire-monitor "
                "instance?)."
            )
        return body, None


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: requests.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])[:300]
    return (response.text or response.reason or "").strip()[:300] or "no detail"


def _checked_page(body: dict[str, Any], *, after: int, url: str) -> dict[str, Any]:
    """The page if it has the feed's shape and keeps its promises (seq increasing, all after
    ``after``, the cursor not behind them); :class:`SyncResponseError` otherwise."""

    def bad(why: str) -> SyncResponseError:
        return SyncResponseError(f"{url} gave a page this client cannot use: {why}.")

    results, cursor, has_more = body.get("results"), body.get("cursor"), body.get("has_more")
    if not isinstance(results, list) or not isinstance(has_more, bool):
        raise bad("no results list or has_more flag")
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < after:
        raise bad(f"cursor {cursor!r} is not a number at or after {after}")
    if has_more and cursor == after:
        raise bad(f"it says there is more but its cursor stays at {after}")
    last = after
    type_length = SyncedRecord._meta.get_field("record_type").max_length
    key_length = SyncedRecord._meta.get_field("record_key").max_length
    for entry in results:
        if not isinstance(entry, dict):
            raise bad("an entry is not an object")
        seq, kind, key = entry.get("seq"), entry.get("type"), entry.get("id")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= last or seq > cursor:
            raise bad(f"seq {seq!r} is out of order (after {last}, cursor {cursor})")
        if not isinstance(kind, str) or not kind or len(kind) > type_length:
            raise bad(f"entry {seq} has a bad type {kind!r}")
        if not isinstance(key, str) or not key or len(key) > key_length:
            raise bad(f"entry {seq} has a bad id {key!r}")
        deleted = entry.get("deleted")
        if not isinstance(deleted, bool):
            raise bad(f"entry {seq} has no deleted flag")
        if not deleted and not isinstance(entry.get("record"), dict):
            raise bad(f"entry {seq} is neither deleted nor carries a record")
        last = seq
    return body


def _page_size(page_size: int) -> int:
    if not isinstance(page_size, int) or not 1 <= page_size <= PAGE_MAX:
        raise SyncUsageError(f"page size must be 1 to {PAGE_MAX}, got {page_size!r}.")
    return page_size


def _token(token: str) -> str:
    token = (token or "").strip()
    if not token:
        raise SyncUsageError(
            "no token: give --token-file, --token or CEASEFIRE_SYNC_TOKEN (a partner token "
            "of the source instance)."
        )
    if not token.isascii() or not token.isprintable() or any(ch.isspace() for ch in token):
        raise SyncUsageError("the token holds spaces or characters no token has; check it.")
    return token


def sync_from(
    *,
    base_url: str,
    token: str,
    page_size: int = PAGE_DEFAULT,
    max_pages: int | None = None,
    progress: Progress | None = None,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    resync: bool = True,
    deadline: float | None = None,
    quiet_when_idle: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncResult:
    """Bring the copies of ``base_url``'s records in step with its change feed.

    Reads pages from the stored cursor until the source has nothing more (``has_more``
    false), ``max_pages`` pages were read, or ``time.monotonic()`` passed ``deadline``
    (checked after each page). Each page is applied with its cursor in one transaction.
    On 410 ``resync_required`` the copies are dropped and copied again from the beginning
    (``resync=False``: :class:`SyncResyncRequired` instead, nothing dropped). ``progress``
    gets one line per page (``quiet_when_idle``: not for a page that brought nothing).
    Raises a :class:`SyncError` subclass when it cannot go on.
    """
    url = base_url_normalise(base_url)
    token = _token(token)
    page_size = _page_size(page_size)
    if max_pages is not None and max_pages < 1:
        raise SyncUsageError(f"max pages must be at least 1, got {max_pages}.")
    say = progress or (lambda _message: None)
    # The source is recorded at its first page: a refused token or a wrong URL leaves no trace.
    source = SyncSource.objects.filter(base_url=url).first()
    client = FeedClient(
        base_url=url, token=token, session=session, policy=policy, progress=say, sleep=sleep
    )
    result = SyncResult(base_url=url, cursor=source.cursor if source else 0, rounds=1)
    try:
        while max_pages is None or result.pages < max_pages:
            after = source.cursor if source else 0
            try:
                body = client.page(
                    after=after, limit=page_size, horizon=source.horizon if source else 0
                )
            except _Gone as gone:
                if source is None:  # the feed never answers 410 to after=0
                    raise SyncResponseError(f"{url} asked for a resync of nothing.") from gone
                _resync(source=source, gone=gone, result=result, allowed=resync, say=say)
                continue
            if source is None:
                source = sync_source_ensure(base_url=url)
            applied = synced_records_apply(
                source=source,
                entries=body["results"],
                cursor=body["cursor"],
                horizon=body.get("horizon", 0) if isinstance(body.get("horizon"), int) else 0,
            )
            result.pages += 1
            result.records += applied.records
            result.tombstones += applied.tombstones
            if not (quiet_when_idle and not body["results"] and applied.cursor == after):
                say(
                    f"page {result.pages}: {applied.records:,} records, "
                    f"{applied.tombstones:,} tombstones, cursor {applied.cursor:,}"
                )
            if not body["has_more"]:
                result.in_step = True
                sync_source_touch(source=source)
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        client.close()
        if source is not None:
            result.cursor = source.cursor
            result.copies = SyncedRecord.objects.filter(source=source).count()
    return result


def _resync(
    *, source: SyncSource, gone: _Gone, result: SyncResult, allowed: bool, say: Progress
) -> None:
    cursor = source.cursor
    why = (
        f"{source.base_url} no longer keeps the tombstones before #{gone.horizon:,} and "
        f"these copies are at #{cursor:,}"
    )
    if not allowed:
        raise SyncResyncRequired(
            f"{why}: they may hold records withdrawn since. Nothing was changed; run again "
            "without --no-resync to copy everything again.",
            horizon=gone.horizon,
        )
    if result.resyncs >= RESYNCS_MAX:
        raise SyncResponseError(
            f"{why}, again, after {result.resyncs} full copies in this run (cursor "
            f"#{cursor:,}): the source keeps asking for a resync. Stopped; the copies "
            "are incomplete until a run gets through."
        )
    copies = SyncedRecord.objects.filter(source=source).count()
    say(
        f"RESYNC REQUIRED: {why}. Dropping all {copies:,} copies of this source and "
        "copying everything again from the beginning."
    )
    synced_records_reset(source=source, reason=f"{why}.")
    result.resyncs += 1


def sync_follow(
    *,
    base_url: str,
    token: str,
    page_size: int = PAGE_DEFAULT,
    interval: float = 30.0,
    max_seconds: float | None = None,
    progress: Progress | None = None,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    resync: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncResult:
    """Keep in step: :func:`sync_from` again every ``interval`` seconds, until interrupted
    (KeyboardInterrupt) or ``max_seconds`` have passed. A source that cannot be reached is
    tried again at the next round (its errors are kept in ``errors``); a refused token or an
    unusable answer ends the loop with its :class:`SyncError`."""
    if interval <= 0:
        raise SyncUsageError(f"interval must be positive, got {interval}.")
    if max_seconds is not None and max_seconds <= 0:
        raise SyncUsageError(f"max seconds must be positive, got {max_seconds}.")
    url = base_url_normalise(base_url)
    say = progress or (lambda _message: None)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    total = SyncResult(base_url=url)
    own = session is None
    session = session if session is not None else requests.Session()
    try:
        while True:
            try:
                total.add(
                    sync_from(
                        base_url=url,
                        token=token,
                        page_size=page_size,
                        progress=say,
                        session=session,
                        policy=policy,
                        resync=resync,
                        deadline=deadline,
                        quiet_when_idle=True,
                        sleep=sleep,
                    )
                )
                total.errors.clear()
            except SyncNetworkError as exc:
                total.rounds += 1
                total.errors.append(str(exc))
                say(f"{exc} Next try in {interval:g} s.")
            if deadline is not None and time.monotonic() >= deadline:
                break
            pause = interval
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            sleep(pause)
    finally:
        if own:
            session.close()
    source = SyncSource.objects.filter(base_url=url).first()
    if source is not None:
        total.cursor = source.cursor
        total.copies = SyncedRecord.objects.filter(source=source).count()
    return total

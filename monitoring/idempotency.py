"""Idempotency keys: a POST sent with an ``Idempotency-Key`` header is carried out once per
(user, key); a retry gets the first response back (docs/api.md#safe-writes).

How a request uses them (``monitoring.api.conditional.IdempotentPostMixin``), all in one
transaction that wraps the whole request:

1. :func:`idempotency_key_claim` inserts the key's row first. A concurrent request with the
   same key waits on the unique index (PostgreSQL) or on the write lock (SQLite's IMMEDIATE
   transactions) until the first one commits or rolls back, and then finds its row.
2. The view runs; :func:`idempotency_key_complete` stores its response on the row, in the
   same transaction as the writes the request made: both are kept, or neither.
3. A 5xx, or an exception, rolls the whole transaction back: the key is free again.

Keys older than ``settings.IDEMPOTENCY_KEY_HOURS`` are forgotten: deleted by the hourly
``monitoring.services.idempotency_keys_purge``, and treated as absent until then.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import IdempotencyKey

# 1 to 255 printable ASCII characters (a UUID is the usual choice).
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
# The status of a row whose request is still running (only ever seen by that request: the
# row is inserted and completed in one transaction).
PENDING = 0
# The response headers a replay repeats; the others are the server's of the moment.
REPLAYED_HEADERS = ("Location", "Content-Location", "ETag", "Retry-After")
# How often a claim is tried again when the row it found vanished meanwhile (released by a
# rolled-back request, or forgotten).
CLAIM_ATTEMPTS = 3


class IdempotencyKeyBusy(Exception):
    """The key could not be claimed, nor its response found: the client should retry."""


def idempotency_key_valid(key: str) -> bool:
    return KEY_PATTERN.fullmatch(key) is not None


def _file_part(upload: UploadedFile) -> dict[str, Any]:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)  # the view reads it again
    return {"file": upload.name, "size": upload.size, "sha256": digest.hexdigest()}


def _canonical(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        return _file_part(value)
    if hasattr(value, "lists"):  # a form or multipart body (QueryDict): every value of a name
        return {str(name): [_canonical(v) for v in values] for name, values in value.lists()}
    if isinstance(value, Mapping):
        return {str(name): _canonical(v) for name, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def idempotency_fingerprint(*, method: str, path: str, data: Any) -> str:
    """SHA-256 of the request: method, path with query string, and the parsed body as
    canonical JSON (sorted keys, no spaces; an uploaded file as its name, size and SHA-256),
    so that the same body sent again with other spacing, member order or multipart boundary
    is the same request."""
    # ASCII escapes: any text the parser let through (a lone surrogate too) hashes.
    body = json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"), default=str)
    text = f"{method.upper()}\n{path}\n{body}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def idempotency_key_claim(
    *,
    user: AbstractBaseUser,
    key: str,
    fingerprint: str,
    at: datetime | None = None,
) -> tuple[IdempotencyKey, bool]:
    """Claim ``user``'s ``key`` for the request being served, in the caller's transaction.

    Returns ``(row, True)`` for a new claim (the row is :data:`PENDING` until
    :func:`idempotency_key_complete`), or ``(row, False)`` with the row of an earlier
    request, whose response (or fingerprint) the caller compares. A row older than
    ``settings.IDEMPOTENCY_KEY_HOURS`` is forgotten and the key claimed anew.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("idempotency_key_claim() runs inside the request's transaction.")
    now = at or timezone.now()
    horizon = now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    for _attempt in range(CLAIM_ATTEMPTS):
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    fingerprint=fingerprint,
                    status_code=PENDING,
                    body=None,
                    headers={},
                    created_at=now,
                )
            return row, True
        except IntegrityError:
            pass  # the key is taken: by now its request has committed (we waited for it)
        row = IdempotencyKey.objects.filter(user=user, key=key).first()
        if row is None:
            continue  # released or forgotten meanwhile: claim it again
        if row.created_at >= horizon:
            return row, False
        IdempotencyKey.objects.filter(pk=row.pk).delete()  # past its hours: forgotten
    raise IdempotencyKeyBusy(f"Idempotency key {key!r} could not be claimed; retry.")


def idempotency_key_complete(
    *,
    claim: IdempotencyKey,
    status_code: int,
    body: str | None,
    headers: Mapping[str, str],
) -> IdempotencyKey:
    """Store the response of the claimed key's request: its status, its body as the JSON
    text sent (so that a replay is the same text, member order included), and the headers
    of :data:`REPLAYED_HEADERS` it had."""
    if claim.status_code != PENDING:
        raise ValueError(f"Idempotency key {claim.key!r} already holds a response.")
    claim.status_code = status_code
    claim.body = body
    claim.headers = {name: headers[name] for name in REPLAYED_HEADERS if name in headers}
    claim.save(update_fields=["status_code", "body", "headers"])
    return claim

"""Safe writes for partner tools: ``ETag`` / ``If-None-Match`` / ``If-Match`` on records,
and ``Idempotency-Key`` on POST (docs/api.md#safe-writes).

- :class:`ConditionalRecordMixin` gives every record response (a detail GET, and the record
  a create, an edit or a transition answers with) a strong ``ETag``: the SHA-256 of the
  record's canonical JSON (sorted keys, no spaces, UTF-8) as the caller gets it. A GET whose
  ``If-None-Match`` names it answers 304; a write on a record whose ``If-Match`` does not
  name the record's current ETag answers 412 and writes nothing. The check is made under
  the record's row lock, in the transaction of the write, so a concurrent writer between
  the check and the write cannot be overwritten.
- :class:`IdempotentPostMixin` carries out a POST with an ``Idempotency-Key`` header once
  per (user, key): the response is stored with the writes in one transaction, and a retry
  gets it back (``Idempotent-Replayed: true``) without doing anything again
  (``monitoring.idempotency``).
- :class:`SafeWritesAutoSchema` documents both in the OpenAPI schema.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.db import connection, transaction
from django.http import HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from ..idempotency import (
    IdempotencyKeyBusy,
    idempotency_fingerprint,
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_valid,
)
from ..models import IdempotencyKey

IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"
IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
# The actions whose response is one record (and detail routes that write: the transitions).
RECORD_ACTIONS = frozenset({"retrieve", "create", "update", "partial_update"})


# --- ETags ---------------------------------------------------------------------------------------


def record_etag(representation: Any) -> str:
    """The strong ETag of a record's representation: SHA-256 of its canonical JSON."""
    text = json.dumps(
        representation,
        cls=JSONEncoder,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f'"{hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}"'


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def if_none_match_hits(header: str, current: str) -> bool:
    """``If-None-Match`` names the current version: ``*``, or any tag of the list by the
    weak comparison (RFC 9110, 13.1.2)."""
    tags = parse_etags(header)
    return "*" in tags or any(_opaque(tag) == _opaque(current) for tag in tags)


def if_match_passes(header: str, current: str) -> bool:
    """``If-Match`` names the current version: ``*`` (the record exists), or a tag of the
    list equal by the strong comparison (RFC 9110, 13.1.1: a weak tag never matches)."""
    tags = parse_etags(header)
    return "*" in tags or current in tags


def is_record_action(view: Any, method: str) -> bool:
    """Whether ``view`` answers ``method`` with one record: a detail GET, a create, an
    edit, or a write on a detail route (a transition)."""
    if getattr(view, "action", None) in RECORD_ACTIONS:
        return True
    return bool(getattr(view, "detail", False)) and method.upper() not in SAFE_METHODS


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "The record changed since you read it."


class ConditionalRecordMixin:
    """ETag on every record; If-None-Match gives 304; a stale If-Match gives 412.

    For a viewset of :class:`~rest_framework.viewsets.GenericViewSet`: the ETag is that of
    the record as its detail GET gives it (:meth:`record_representation`), so the ETag of
    an edit's response is the one the next GET gives. ``etag_ignored_fields`` names the
    top-level members that echo the request rather than describe the record (a zone's
    ``at``, default now): they are left out of the hash, so the ETag stays while the
    record does.
    """

    etag_ignored_fields: tuple[str, ...] = ()
    _current_etag: str | None = None

    def record_etag(self, representation: Any) -> str:
        if self.etag_ignored_fields and isinstance(representation, Mapping):
            ignored = set(self.etag_ignored_fields)
            representation = {k: v for k, v in representation.items() if k not in ignored}
        return record_etag(representation)

    def dispatch(self, request, *args, **kwargs):
        if request.method not in SAFE_METHODS and IF_MATCH in request.headers:
            # The check and the write in one transaction, the check under the row lock.
            with transaction.atomic():
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def record_representation(self, instance: Any) -> Any:
        """``instance`` as the detail GET gives it to this request's caller."""
        action = self.action
        self.action = "retrieve"  # the retrieve's serializer, whatever this action writes with
        try:
            return self.get_serializer(instance).data
        finally:
            self.action = action

    def get_object(self):
        instance = super().get_object()
        request = self.request
        header = request.headers.get(IF_MATCH)
        if request.method in SAFE_METHODS or header is None:
            return instance
        if connection.in_atomic_block:  # always, from dispatch; not for a view built by hand
            # Wait for any writer of this record to commit, then read what it wrote: every
            # service that changes a record locks its row first, so nothing can change the
            # record between this check and this request's own write.
            model = type(instance)
            list(
                model._default_manager.select_for_update()
                .filter(pk=instance.pk)
                .values_list("pk", flat=True)
            )
            instance = super().get_object()
        current = self.record_etag(self.record_representation(instance))
        if not if_match_passes(header, current):
            self._current_etag = current
            name = instance._meta.verbose_name
            raise PreconditionFailed(
                {
                    IF_MATCH: [
                        f"The {name} changed since you read it (current ETag {current}). "
                        "Read it again and apply your change to what it is now."
                    ]
                }
            )
        return instance

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == status.HTTP_412_PRECONDITION_FAILED and self._current_etag:
            response["ETag"] = self._current_etag
            return response
        if not (
            isinstance(response, Response)
            and status.is_success(response.status_code)
            and isinstance(response.data, Mapping)
            and getattr(response.accepted_renderer, "format", None) == "json"
            and is_record_action(self, request.method)
        ):
            return response
        if not response.has_header("ETag"):  # a replayed response keeps its own
            response["ETag"] = self.record_etag(response.data)
        etag = response["ETag"]
        header = request.headers.get(IF_NONE_MATCH)
        if (
            request.method in ("GET", "HEAD")
            and response.status_code == status.HTTP_200_OK
            and header is not None
            and if_none_match_hits(header, etag)
        ):
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag
            if response.has_header("Vary"):
                not_modified["Vary"] = response["Vary"]
            return not_modified
        return response


# --- Idempotency keys ------------------------------------------------------------------------


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used for another request."


class IdempotencyKeyInProgress(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_progress"
    default_detail = "A request with this Idempotency-Key is still being served; retry."


class _Replay(Exception):
    """Raised from :meth:`IdempotentPostMixin.initial` to answer with a stored response."""

    def __init__(self, row: IdempotencyKey) -> None:
        super().__init__(row.key)
        self.row = row

    def response(self) -> Response:
        data = json.loads(self.row.body) if self.row.body is not None else None
        headers = {**self.row.headers, REPLAYED: "true"}
        return Response(data, status=self.row.status_code, headers=headers)


class IdempotentPostMixin:
    """A POST with an Idempotency-Key header is answered once; a retry gets that answer.

    The whole request runs in one transaction that first claims (user, key): concurrent
    requests with the key wait for it and replay its response. A 5xx (or an exception)
    rolls everything back, the key included, so that the request can be retried. Celery
    hooks (``transaction.on_commit``) run after that transaction commits, as before.
    """

    _idempotency_claim: IdempotencyKey | None = None

    def dispatch(self, request, *args, **kwargs):
        if request.method != "POST" or IDEMPOTENCY_KEY not in request.headers:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            claim = self._idempotency_claim
            if claim is not None:
                if status.is_server_error(response.status_code):
                    transaction.set_rollback(True)  # nothing done, the key free again
                elif isinstance(response, Response):
                    body = None
                    if response.data is not None:
                        body = JSONRenderer().render(response.data).decode("utf-8")
                    idempotency_key_complete(
                        claim=claim,
                        status_code=response.status_code,
                        body=body,
                        headers=response.headers,
                    )
                else:  # not a JSON response (a file): it cannot be replayed, so not kept
                    IdempotencyKey.objects.filter(pk=claim.pk).delete()
        return response

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authenticated, allowed, not throttled
        key = request.headers.get(IDEMPOTENCY_KEY)
        if request.method != "POST" or key is None:
            return
        if not idempotency_key_valid(key):
            raise ValidationError(
                {IDEMPOTENCY_KEY: ["Give 1 to 255 printable ASCII characters (e.g. a UUID)."]}
            )
        fingerprint = idempotency_fingerprint(
            method=request.method, path=request.get_full_path(), data=request.data
        )
        try:
            row, claimed = idempotency_key_claim(
                user=request.user, key=key, fingerprint=fingerprint
            )
        except IdempotencyKeyBusy as exc:
            raise IdempotencyKeyInProgress() from exc
        if claimed:
            self._idempotency_claim = row
            return
        if row.status_code == 0:
            raise IdempotencyKeyInProgress()
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                {
                    IDEMPOTENCY_KEY: [
                        f"This key was used at {row.created_at:%Y-%m-%d %H:%M:%S} UTC for "
                        "another request (method, path or body). Use a new key for a new "
                        "request, and the same key only to retry the same one."
                    ]
                }
            )
        raise _Replay(row)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return exc.response()
        return super().handle_exception(exc)


# --- The schema ------------------------------------------------------------------------------

_MESSAGES = {"type": "array", "items": {"type": "string"}}
_ETAG = {
    "schema": {"type": "string"},
    "description": (
        "The record's version: a strong ETag, the SHA-256 of its canonical JSON. Send it "
        "back in `If-None-Match` (a GET) or `If-Match` (a write)."
    ),
}
_REPLAYED = {
    "schema": {"type": "string", "enum": ["true"]},
    "description": "Present on a replay: the stored response of the first request with "
    "this `Idempotency-Key`; nothing was done again.",
}


def _named_error(header: str, description: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {header: _MESSAGES}, "required": [header]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PARAMETER_IF_NONE_MATCH = OpenApiParameter(
    IF_NONE_MATCH,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="ETags of the versions you hold (or `*`): 304 with no body if the record "
    "is still one of them (weak comparison).",
)
PARAMETER_IF_MATCH = OpenApiParameter(
    IF_MATCH,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The ETag of the version you read (or `*`): if the record is no longer "
    "that version, 412 and nothing is written.",
)
PARAMETER_IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_KEY,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=r"^[\x20-\x7e]{1,255}$",
    description="1 to 255 printable ASCII characters (a UUID), new for each request: a "
    "retry with the same key and the same request gets the first response again "
    f"(`{REPLAYED}: true`) and does nothing again; remembered for "
    "`IDEMPOTENCY_KEY_HOURS` (24 by default).",
)


class SafeWritesAutoSchema(AutoSchema):
    """Documents the conditional and idempotency headers of the operations that take them:
    ``If-None-Match`` and 304 on record GETs, ``If-Match`` and 412 on record writes, the
    ``ETag`` response header, ``Idempotency-Key`` and 422 on POSTs."""

    def _conditional(self) -> bool:
        return isinstance(self.view, ConditionalRecordMixin) and is_record_action(
            self.view, self.method
        )

    def _idempotent(self) -> bool:
        return isinstance(self.view, IdempotentPostMixin) and self.method == "POST"

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if self._conditional():
            if self.method == "GET":
                parameters.append(PARAMETER_IF_NONE_MATCH)
            elif getattr(self.view, "detail", False):
                parameters.append(PARAMETER_IF_MATCH)
        if self._idempotent():
            parameters.append(PARAMETER_IDEMPOTENCY_KEY)
        return parameters

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        if self._conditional():
            for code, response in responses.items():
                if code in ("200", "201"):
                    response.setdefault("headers", {})["ETag"] = _ETAG
            if self.method == "GET":
                responses.setdefault(
                    "304",
                    {
                        "description": "Not modified: the record is still the version named "
                        "in `If-None-Match`. No body.",
                        "headers": {"ETag": _ETAG},
                    },
                )
            elif getattr(self.view, "detail", False):
                responses["412"] = _named_error(
                    IF_MATCH,
                    "The record changed since the version named in `If-Match`; nothing was "
                    "written. Read it again (the response's `ETag` is the current version).",
                )
                responses["412"]["headers"] = {"ETag": _ETAG}
        if self._idempotent():
            for code, response in responses.items():
                if code.startswith("2"):
                    response.setdefault("headers", {})[REPLAYED] = _REPLAYED
            responses["422"] = _named_error(
                IDEMPOTENCY_KEY,
                "This `Idempotency-Key` was used for another request (method, path or body).",
            )
        operation["responses"] = dict(sorted(responses.items()))
        return operation


# The mixins' schema class (a view's ``schema`` descriptor), set here below its definition.
ConditionalRecordMixin.schema = SafeWritesAutoSchema()
IdempotentPostMixin.schema = SafeWritesAutoSchema()

"""The OpenAPI schema's error responses, documented once for every operation.

Each operation answers with DRF's error bodies (docs/api-errors.md). :class:`AutoSchema`
adds them to every operation from what its view is, so no view repeats them:

- 400, bad input (a field, a filter, a body that cannot be parsed) or a write the rules
  refuse: on writes and on operations with query parameters. Body ``ValidationError``
  (each field's messages, ``non_field_errors``) or ``Error`` (``{"detail": ...}``).
- 401, a partner token that is malformed, unknown, revoked or expired: on views with an
  authentication that challenges (anything but the session alone). ``Error`` and the
  ``WWW-Authenticate`` header.
- 403, no profile, a role that may not, a token without the scope, a missing CSRF token:
  on views with permission classes. ``Error``.
- 404, no record of that id that the caller may see: on operations with path parameters.
- 409, an edit or a decision on a stale ``revision``: on operations on one record whose
  request has a ``revision`` field; a retry while the first request with its
  ``Idempotency-Key`` is still served: on operations with that header parameter.
- 412 (``If-Match`` names another version) and 304 (``If-None-Match`` names the current
  one, no body): on operations with those header parameters.
- 415, a body in a media type the view does not parse: on operations with a request body.
- 429, a partner token over its rate: on views with throttles. ``Error`` and
  ``Retry-After``.
- 503, the database cannot be reached (a restart): on every operation.
  ``ServiceUnavailable`` (``{"status": "unavailable", "detail": ...}``, always JSON, from
  monitoring/outage.py) and ``Retry-After``.

What a view declares itself (``@extend_schema(responses={...})``) is kept, its description
and its body. A declared error response without a body gets the standard one: a view that
declares ``409: OpenApiResponse(description=...)`` gives the reason, this class the shape.
Error bodies come in the view's own media types: DRF renders an error with the renderer it
negotiated, so a GeoJSON endpoint's errors are ``application/geo+json`` too.

:class:`SchemaGenerator` (``SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]``) gives every
view's schema these responses, also the schema classes that ``@extend_schema`` and views
build on DRF's ``DEFAULT_SCHEMA_CLASS``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from drf_spectacular import generators, openapi
from drf_spectacular.plumbing import ResolvedComponent, analyze_named_regex_pattern, force_instance
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS

# --- The error bodies -------------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "DRF's error body: one message saying what went wrong.",
    "properties": {"detail": {"type": "string", "description": "What went wrong, in English."}},
    "required": ["detail"],
}
_MESSAGES = {"type": "array", "items": {"type": "string"}}
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "The input's errors, each under the name of the field, filter or parameter it is about "
        "(a field of a nested object under its dotted name, e.g. `detail.events`, or nested as "
        "an object); errors about no one field under `non_field_errors`."
    ),
    "properties": {
        "non_field_errors": {**_MESSAGES, "description": "Errors about the input as a whole."}
    },
    "additionalProperties": {
        "oneOf": [
            {
                "type": "array",
                "items": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                "description": "The messages about this field (objects: one per list item).",
            },
            {"type": "object", "description": "A nested object's errors, by its fields."},
        ]
    },
}
SERVICE_UNAVAILABLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The service cannot reach its database (a restart): try again later.",
    "properties": {
        "status": {"type": "string", "enum": ["unavailable"]},
        "detail": {"type": "string", "description": "What went wrong, in English."},
    },
    "required": ["status", "detail"],
}
# The 503 is answered before any renderer is chosen: JSON whatever the endpoint's formats.
SERVICE_UNAVAILABLE_MEDIA_TYPE = "application/json"
HEADER_WWW_AUTHENTICATE = {
    "schema": {"type": "string"},
    "description": 'The scheme to authenticate with: `Token realm="api"`.',
    "required": True,
}
HEADER_RETRY_AFTER = {
    "schema": {"type": "integer", "minimum": 0},
    "description": "Seconds to wait before the next request.",
    "required": True,
}

# Status code -> description, for the responses added here.
DESCRIPTIONS = {
    "304": "Not modified: the record is still the version named in `If-None-Match`.",
    "400": (
        "Bad input: each error under the field, filter or parameter it is about "
        "(`non_field_errors` for the whole); a body that cannot be parsed gets `detail`."
    ),
    "401": (
        "The partner token is missing a word, unknown, revoked or expired, or its account is "
        "no longer an active partner (the reason in `detail`)."
    ),
    "403": (
        "Not allowed: no active profile (or not signed in), a role that may not do this, a "
        "partner token without the scope, or a session request without its CSRF token."
    ),
    "404": "No such record that you may see (another center's records are not found either).",
    "409": (
        "The record changed since the `revision` you give (read it again), or a request with "
        "this `Idempotency-Key` is still being served (retry)."
    ),
    "412": "The record changed since the version named in `If-Match`: read it again.",
    "415": "The request body is in a media type this endpoint does not read.",
    "429": "Too many requests with this partner token: wait `Retry-After` seconds.",
    "503": (
        "The service cannot reach its database at the moment (e.g. it is restarting): "
        "try again after `Retry-After` seconds."
    ),
}
# Request fields that make a write conditional on the version the client read.
REVISION_FIELDS = frozenset({"revision"})
# A time of day without an offset, as DRF's TimeField writes and reads it.
TIME_OF_DAY = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"
_DIGITS = re.compile(r"^(?:\[0-9\]|\\d)[+*]$")


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses every operation can give, and
    times of day as DRF writes them."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.TimeField) and schema.get("format") == "time":
            # A wall-clock time ("00:00:00"), which JSON Schema's "time" (RFC 3339's
            # full-time, with an offset: "00:00:00Z") is not.
            del schema["format"]
            schema["pattern"] = TIME_OF_DAY
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self._bound_path_parameters(operation, path_regex)
        self._add_error_responses(operation)
        return operation

    # --- which errors this operation can answer -----------------------------------------------

    def error_status_codes(self, operation: dict[str, Any]) -> list[str]:
        """The status codes this operation can answer besides its own (see the module)."""
        parameters = operation.get("parameters", [])
        locations = {parameter["in"] for parameter in parameters}
        headers = {
            parameter["name"].lower() for parameter in parameters if parameter["in"] == "header"
        }
        has_body = "requestBody" in operation
        writes = self.method not in SAFE_METHODS
        codes = []
        if has_body or writes or "query" in locations:
            codes.append("400")
        if any(not isinstance(a, SessionAuthentication) for a in self.view.get_authenticators()):
            codes.append("401")
        if self.view.get_permissions():
            codes.append("403")
        if "path" in locations:
            codes.append("404")
        stale = has_body and "path" in locations and self._request_fields() & REVISION_FIELDS
        if stale or "idempotency-key" in headers:
            codes.append("409")
        if "if-match" in headers:
            codes.append("412")
        if "if-none-match" in headers:
            codes.append("304")
        if has_body:
            codes.append("415")
        if self.view.get_throttles():
            codes.append("429")
        codes.append("503")
        return codes

    def _request_fields(self) -> set[str]:
        serializer = force_instance(self.get_request_serializer())
        return set(getattr(serializer, "fields", {}) or {})

    # --- building them -----------------------------------------------------------------------

    def _add_error_responses(self, operation: dict[str, Any]) -> None:
        responses = operation["responses"]
        media_types = self.map_renderers("media_type")
        for code in self.error_status_codes(operation):
            responses.setdefault(code, {"description": DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code == "304" or not code.isdigit() or int(code) < 400:
                continue
            if not response.get("description"):
                response["description"] = DESCRIPTIONS.get(code, "")
            if not response.get("content") and code == "503":
                schema = self._component("ServiceUnavailable", SERVICE_UNAVAILABLE_SCHEMA)
                response["content"] = {SERVICE_UNAVAILABLE_MEDIA_TYPE: {"schema": schema}}
            elif not response.get("content"):
                schema = self._error_body(code)
                response["content"] = {media_type: {"schema": schema} for media_type in media_types}
            if code == "401":
                response.setdefault("headers", {}).setdefault(
                    "WWW-Authenticate", HEADER_WWW_AUTHENTICATE
                )
            if code in ("429", "503"):
                response.setdefault("headers", {}).setdefault("Retry-After", HEADER_RETRY_AFTER)
        operation["responses"] = dict(sorted(responses.items()))

    def _component(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        # A copy: drf-spectacular's postprocessing rewrites component schemas in place (an
        # enum becomes a reference), and the next generation must start from the original.
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, schema=copy.deepcopy(schema), object=name
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _error_body(self, code: str) -> dict[str, Any]:
        error = self._component("Error", ERROR_SCHEMA)
        if code == "400":
            return {"oneOf": [self._component("ValidationError", VALIDATION_ERROR_SCHEMA), error]}
        return error

    # --- path parameters as narrow as the URL ----------------------------------------------------

    def _bound_path_parameters(self, operation: dict[str, Any], path_regex: str) -> None:
        """An integer path parameter whose URL pattern takes digits only is at least 0 (a
        negative number does not reach the view: the URL does not match)."""
        patterns = analyze_named_regex_pattern(path_regex)
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "path" or parameter["schema"].get("type") != "integer":
                continue
            pattern = patterns.get(parameter["name"]) or patterns.get("pk")
            if pattern and _DIGITS.match(pattern):
                parameter["schema"].setdefault("minimum", 0)


def _with_error_responses(schema_class: type) -> type:
    """``schema_class`` (a view's or ``@extend_schema``'s) with :class:`AutoSchema` mixed in
    (made per view and generation, as drf-spectacular makes its own rearranged classes)."""
    return type(schema_class.__name__, (AutoSchema, schema_class), {})


class SchemaGenerator(generators.SchemaGenerator):
    """Gives every view's schema :class:`AutoSchema`'s error responses.

    A view decorated with ``@extend_schema`` gets a schema class built on DRF's
    ``DEFAULT_SCHEMA_CLASS``; this mixes :class:`AutoSchema` in wherever it is missing.
    """

    def create_view(self, callback, method, request=None):
        view = super().create_view(callback, method, request)
        schema = getattr(view, "schema", None)
        if isinstance(schema, openapi.AutoSchema) and not isinstance(schema, AutoSchema):
            # view.schema may be a weak proxy: its __class__ is the schema's class.
            self._set_schema_to_view(view, _with_error_responses(schema.__class__)())
        return view

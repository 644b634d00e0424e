"""Bulk import of reports from an offline collection (NDJSON or CSV), row by row.

``POST /api/v1/reports/import/`` takes NDJSON (one filing a line, the body of
``POST reports/``), CSV (a header row, then one filing a row) or either as the ``file`` of a
multipart upload. Each row is checked by the same serializer and filed by the same services
as a single filing; the answer reports every row (docs/api.md, "Importing reports").
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.settings import api_settings

from ..choices import ReportKind, ReportStatus
from ..services.imports import IMPORT_MAX_ROWS, ImportOutcome, ImportRow, reports_import
from .serializers import DETAIL_INPUT, ReportInputSerializer

# The largest body (or uploaded file) an import takes: 10 MiB.
IMPORT_MAX_BYTES = 10 * 1024 * 1024
NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
NDJSON = "application/x-ndjson"
CSV = "text/csv"
# In a CSV cell, a list of codes (a convoy's organizations) is separated by semicolons.
CSV_CODE_SEPARATOR = ";"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The upload is too large."


def _too_many_rows() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload holds more than {IMPORT_MAX_ROWS:,} rows, the limit of one batch: "
        "send it in several batches."
    )


# --- Reading the upload ------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedRow:
    """A row as read from the upload: its fields (``None`` when the line is unreadable) and
    the problems found while reading it, keyed as the API keys errors."""

    number: int
    line: int
    data: dict[str, Any] | None
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportUpload:
    """A parsed upload (``request.data`` of an NDJSON or CSV body)."""

    format: str  # "ndjson" or "csv"
    rows: list[ParsedRow]

    def __str__(self) -> str:
        """Canonical JSON of the rows (sorted keys): an ``Idempotency-Key`` retry of the same
        rows has the same fingerprint (monitoring.idempotency)."""
        rows = [[row.line, row.data, row.errors] for row in self.rows]
        return json.dumps([self.format, rows], sort_keys=True, separators=(",", ":"))


def _malformed(number: int, line: int, message: str) -> ParsedRow:
    return ParsedRow(number=number, line=line, data=None, errors={NON_FIELD: [message]})


def _read_limited(read: Callable[[int], bytes]) -> bytes:
    """The whole body, refused with a 413 as soon as it passes IMPORT_MAX_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = read(min(1 << 16, IMPORT_MAX_BYTES + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > IMPORT_MAX_BYTES:
            raise _too_large()


def _too_large(size: int | None = None) -> PayloadTooLarge:
    given = f" ({size / (1 << 20):.1f} MiB)" if size else ""
    return PayloadTooLarge(
        f"The upload{given} is larger than the limit of {IMPORT_MAX_BYTES >> 20} MiB: "
        "send it in several batches."
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def ndjson_rows(data: bytes) -> list[ParsedRow]:
    """One JSON object a line; blank lines are skipped. A line that is not UTF-8, not JSON
    or not an object is that row's error."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    rows: list[ParsedRow] = []
    for line, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        if len(rows) == IMPORT_MAX_ROWS:
            raise _too_many_rows()
        rows.append(_ndjson_row(len(rows) + 1, line, raw))
    return rows


def _ndjson_row(number: int, line: int, raw: bytes) -> ParsedRow:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _malformed(number, line, f"Line {line} is not UTF-8 text (byte {exc.start + 1}).")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return _malformed(
            number, line, f"Line {line} is not valid JSON: {exc.msg} (column {exc.colno})."
        )
    except ValueError as exc:
        return _malformed(number, line, f"Line {line} is not valid JSON: {exc}.")
    except RecursionError:
        return _malformed(number, line, f"Line {line} is nested too deeply.")
    if not isinstance(value, dict):
        found = "a list" if isinstance(value, list) else "a single value"
        return _malformed(
            number, line, f"Line {line} is {found}; each line is one report's JSON object."
        )
    return ParsedRow(number=number, line=line, data=value)


@cache
def csv_columns() -> tuple[frozenset[str], dict[str, frozenset[str]], frozenset[str]]:
    """What a CSV header may name: the common columns, the ``detail.<field>`` columns of
    each kind, and the detail lists that only NDJSON carries (rows of their own)."""
    common = frozenset(ReportImportRowSerializer().fields) - {"detail"}
    by_kind: dict[str, frozenset[str]] = {}
    nested: set[str] = set()
    for kind, serializer_class in DETAIL_INPUT.items():
        simple = set()
        for name, detail_field in serializer_class().fields.items():
            if isinstance(detail_field, serializers.ListSerializer | serializers.Serializer):
                nested.add(f"detail.{name}")
            else:
                simple.add(name)
        by_kind[kind] = frozenset(simple)
    return common, by_kind, frozenset(nested)


def _csv_header(record: list[str], line: int) -> list[str]:
    common, by_kind, nested = csv_columns()
    detail = {f"detail.{name}" for names in by_kind.values() for name in names}
    names = [cell.strip() for cell in record]
    problems = []
    for place, name in enumerate(names, start=1):
        if not name:
            problems.append(f"column {place} has no name")
        elif name in nested:
            problems.append(f"{name} is a list of rows: give such reports as NDJSON")
        elif name not in common and name not in detail:
            problems.append(f"unknown column {name!r}")
        elif names.index(name) != place - 1:
            problems.append(f"column {name} is given twice")
    if "kind" not in names:
        problems.append("the column kind is missing")
    if problems:
        raise ParseError(
            f"Line {line}, the header: {'; '.join(problems)}. The columns are the fields of "
            "a filing (kind, latitude, ...) and detail.<field> for the kind's own fields."
        )
    return names


def _csv_row(number: int, line: int, header: list[str], record: list[str]) -> ParsedRow:
    if len(record) != len(header):
        return _malformed(
            number,
            line,
            f"Line {line} has {len(record)} fields; the header has {len(header)}.",
        )
    data: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for name, cell in zip(header, record, strict=True):
        value = cell.strip()
        if not value:  # an empty cell gives nothing: the field takes its default
            continue
        if name.startswith("detail."):
            detail[name.removeprefix("detail.")] = value
        else:
            data[name] = value
    errors: dict[str, list[str]] = {}
    kind = data.get("kind")
    _, by_kind, _ = csv_columns()
    if kind in by_kind:
        label = ReportKind(kind).label.lower()
        for key in detail:
            if key not in by_kind[kind]:
                errors[f"detail.{key}"] = [f"Not a field of a {label} report: leave it empty."]
    if kind == ReportKind.CONVOY and "organizations" in detail:
        codes = detail["organizations"].split(CSV_CODE_SEPARATOR)
        detail["organizations"] = [code.strip() for code in codes if code.strip()]
    if detail:
        data["detail"] = detail
    return ParsedRow(number=number, line=line, data=data, errors=errors)


def _csv_records(text: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(line, record, problem)`` for each CSV record: the line it starts on, its cells
    (``None`` when unreadable) and why it is unreadable."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num < start:  # nothing consumed: the reader cannot go on
                return
            yield start, None, str(exc)
            continue
        yield start, record, ""


def csv_rows(data: bytes) -> list[ParsedRow]:
    """A header row, then one report a row; blank rows are skipped. A row with the wrong
    number of fields, or that is not valid CSV, is that row's error."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ParseError(
            f"The CSV is not UTF-8 text: line {line} holds a byte that is not "
            f"(byte {exc.start + 1} of the upload)."
        ) from exc
    header: list[str] | None = None
    rows: list[ParsedRow] = []
    for line, record, problem in _csv_records(text):
        if record is not None and not any(cell.strip() for cell in record):
            continue
        if header is None:
            if record is None:
                raise ParseError(f"Line {line}, the header, is not valid CSV: {problem}.")
            header = _csv_header(record, line)
            continue
        if len(rows) == IMPORT_MAX_ROWS:
            raise _too_many_rows()
        if record is None:
            rows.append(
                _malformed(len(rows) + 1, line, f"Line {line} is not valid CSV: {problem}.")
            )
        else:
            rows.append(_csv_row(len(rows) + 1, line, header, record))
    return rows


READERS = {"ndjson": ndjson_rows, "csv": csv_rows}


class NDJSONParser(BaseParser):
    """Newline-delimited JSON: one report's JSON object a line."""

    media_type = NDJSON
    format = "ndjson"

    def parse(self, stream, media_type=None, parser_context=None) -> ImportUpload:
        return _parse_body(stream, parser_context, file_format=self.format)


class CSVParser(BaseParser):
    """CSV, UTF-8: a header row naming the fields, then one report a row."""

    media_type = CSV
    format = "csv"

    def parse(self, stream, media_type=None, parser_context=None) -> ImportUpload:
        return _parse_body(stream, parser_context, file_format=self.format)


def _parse_body(stream, parser_context, *, file_format: str) -> ImportUpload:
    request = (parser_context or {}).get("request")
    meta = getattr(request, "META", {})
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > IMPORT_MAX_BYTES:
        raise _too_large(length)
    rows = READERS[file_format](_read_limited(stream.read))
    return ImportUpload(format=file_format, rows=rows)


def _file_format(upload: UploadedFile) -> str:
    content_type = (upload.content_type or "").split(";", 1)[0].strip().lower()
    name = (upload.name or "").lower()
    if content_type == CSV:
        return "csv"
    if content_type == NDJSON:
        return "ndjson"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".ndjson", ".jsonl")):
        return "ndjson"
    raise ValidationError(
        {"file": [f"Give a CSV ({CSV}, .csv) or an NDJSON ({NDJSON}, .ndjson) file."]}
    )


def _upload_of(request: Request) -> ImportUpload:
    data = request.data
    if isinstance(data, ImportUpload):
        upload = data
    elif request.content_type.startswith("multipart/"):
        file = request.FILES.get("file")
        if file is None:
            raise ValidationError({"file": ["No file was submitted."]})
        if file.size is not None and file.size > IMPORT_MAX_BYTES:
            raise _too_large(file.size)
        file_format = _file_format(file)
        file.seek(0)
        rows = READERS[file_format](_read_limited(file.read))
        upload = ImportUpload(format=file_format, rows=rows)
    else:
        upload = ImportUpload(format="", rows=[])
    if not upload.rows:
        raise ParseError(
            "The upload holds no rows: send NDJSON (one report a line) or CSV (a header "
            "row, then one report a row)."
        )
    return upload


# --- Serializers (input rows, the answer) ------------------------------------------------------


class ReportImportRowSerializer(ReportInputSerializer):
    """One row of an import: a filing as ``POST reports/`` takes it, plus ``submit``."""

    submit = serializers.BooleanField(
        default=False,
        help_text="Submit the report once filed (default: it stays a draft).",
    )

    class Meta(ReportInputSerializer.Meta):
        fields = [
            *(name for name in ReportInputSerializer.Meta.fields if name != "revision"),
            "submit",
        ]


class ReportImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A .csv or .ndjson file (by its content type, else its name)."
    )


class ReportImportQuerySerializer(serializers.Serializer):
    atomic = serializers.BooleanField(
        default=False,
        help_text="All or nothing: if any row fails, nothing is saved (400 with every row's "
        "outcome). Default: each row on its own.",
    )


class ReportImportRowResultSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row's place in the batch, from 1.")
    line = serializers.IntegerField(
        help_text="The line of the upload the row starts on (a CSV's header is a line)."
    )
    status = serializers.ChoiceField(
        choices=["created", "error", "rolled_back"],
        help_text="rolled_back: the row passed but the atomic batch was not saved.",
    )
    id = serializers.UUIDField(required=False, help_text="The new report's uuid.")
    reference = serializers.CharField(required=False)
    url = serializers.URLField(required=False)
    report_status = serializers.ChoiceField(
        choices=ReportStatus.choices, required=False, help_text="draft, or submitted."
    )
    errors = serializers.DictField(
        required=False,
        help_text="Keyed as the errors of POST reports/; an unreadable line under "
        "non_field_errors.",
    )


class ReportImportResultSerializer(serializers.Serializer):
    atomic = serializers.BooleanField()
    created = serializers.IntegerField(help_text="Reports filed and saved.")
    failed = serializers.IntegerField(help_text="Rows refused (nothing of them saved).")
    rolled_back = serializers.IntegerField(
        help_text="Rows that passed but were not saved: an atomic batch with a failing row."
    )
    rows = ReportImportRowResultSerializer(many=True)


# --- The endpoint ------------------------------------------------------------------------------


def _prepare(parsed: ParsedRow, context: dict[str, Any]) -> ImportRow:
    """The row checked by the filing's serializer: service arguments, or its errors."""
    where = {"number": parsed.number, "line": parsed.line}
    if parsed.data is None:
        return ImportRow(**where, refused=parsed.errors)
    payload = ReportImportRowSerializer(data=parsed.data, context=context)
    if payload.is_valid() and not parsed.errors:
        return ImportRow(
            **where,
            kind=payload.validated_data["kind"],
            arguments=payload.service_arguments(),
            submit=payload.validated_data["submit"],
        )
    return ImportRow(**where, refused={**payload.errors, **parsed.errors})


def _row_answer(outcome: ImportOutcome, request: Request, service_errors) -> dict[str, Any]:
    row = outcome.row
    answer: dict[str, Any] = {"row": row.number, "line": row.line}
    if outcome.created:
        report = outcome.report
        assert report is not None
        url = reverse("incidents-api:report-detail", kwargs={"uuid": report.uuid}, request=request)
        answer.update(
            status="created",
            id=str(report.uuid),
            reference=report.reference,
            url=url,
            report_status=report.status,
        )
    elif outcome.rolled_back:
        answer["status"] = "rolled_back"
    elif outcome.error is not None:
        detail = service_errors(outcome.error, row.kind).detail
        answer.update(
            status="error", errors=detail if isinstance(detail, dict) else {NON_FIELD: detail}
        )
    else:
        answer.update(status="error", errors=row.refused)
    return answer


NDJSON_EXAMPLE = (
    '{"kind": "violation", "latitude": 35.93, "longitude": 36.63, '
    '"occurred_at": "2017-06-03T11:00:00+03:00", "source": "seen", '
    '"detail": {"category": "shelling", "events": 2}}\n'
    '{"kind": "checkpoint", "latitude": 35.9, "longitude": 36.6, '
    '"occurred_at": "2017-06-03T16:00:00+03:00", "source": "seen", "submit": true, '
    '"detail": {"checkpoint": "CP-7", "period_start": "2017-06-03T08:00:00+03:00", '
    '"period_end": "2017-06-03T16:00:00+03:00", "status": "open", "civilians_in": 240}}\n'
)
CSV_EXAMPLE = (
    "kind,latitude,longitude,occurred_at,source,narrative,detail.category,detail.events,submit\n"
    "violation,35.93,36.63,2017-06-03T11:00:00+03:00,seen,Two mortar rounds,shelling,2,true\n"
)


class ReportImportMixin:
    """``POST reports/import/``: each row filed through the report services."""

    @extend_schema(
        summary="Import reports (NDJSON or CSV), each row filed as by POST reports/",
        description=(
            "NDJSON: one filing a line, the body of POST reports/ plus an optional "
            "`submit`. CSV: a header row naming the fields (`kind`, `latitude`, ..., "
            "`submit`, and `detail.<field>` for the kind's simple fields; a convoy's "
            "`detail.organizations` as codes separated by `;`); the lists of rows (cargo, "
            "route, stages, a shift's incidents) only in NDJSON. Or either as the `file` "
            "of a multipart upload. At most "
            f"{IMPORT_MAX_ROWS:,} rows and {IMPORT_MAX_BYTES >> 20} MiB. Each row is its "
            "own transaction unless `atomic=true`. An `Idempotency-Key` header makes a "
            "retried batch safe."
        ),
        parameters=[ReportImportQuerySerializer],
        request={
            NDJSON: ReportImportRowSerializer,
            CSV: OpenApiTypes.STR,
            "multipart/form-data": ReportImportUploadSerializer,
        },
        examples=[
            OpenApiExample("NDJSON", value=NDJSON_EXAMPLE, media_type=NDJSON, request_only=True),
            OpenApiExample("CSV", value=CSV_EXAMPLE, media_type=CSV, request_only=True),
        ],
        responses={
            200: OpenApiResponse(
                ReportImportResultSerializer, description="Every row's outcome, in order."
            ),
            400: OpenApiResponse(
                {
                    "anyOf": [
                        {"$ref": "#/components/schemas/ReportImportResult"},
                        {"$ref": "#/components/schemas/Error"},
                        {"$ref": "#/components/schemas/ValidationError"},
                    ]
                },
                description="An atomic batch with a failing row: every row's outcome, "
                "nothing saved. Or an upload that cannot be read at all (empty, a bad CSV "
                "header): `detail` says why; a multipart upload without its `file`: `file`.",
            ),
            403: OpenApiResponse(description="Not one who files reports, or a read token."),
            413: OpenApiResponse(description="More rows or bytes than one batch takes."),
            415: OpenApiResponse(description="Neither NDJSON, CSV nor a multipart upload."),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[NDJSONParser, CSVParser, MultiPartParser],
        filter_backends=[],
        pagination_class=None,
    )
    def import_reports(self, request: Request) -> Response:
        from .views import _service_errors  # views.py imports this module

        query = ReportImportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        upload = _upload_of(request)
        context = self.get_serializer_context()
        rows = [_prepare(parsed, context) for parsed in upload.rows]
        try:
            result = reports_import(
                actor=request.user, rows=rows, atomic=query.validated_data["atomic"]
            )
        except DjangoValidationError as exc:
            raise ParseError(" ".join(exc.messages)) from exc
        body = {
            "atomic": result.atomic,
            "created": result.created,
            "failed": result.failed,
            "rolled_back": sum(outcome.rolled_back for outcome in result.outcomes),
            "rows": [_row_answer(outcome, request, _service_errors) for outcome in result.outcomes],
        }
        refused = result.atomic and result.failed
        return Response(body, status=status.HTTP_400_BAD_REQUEST if refused else status.HTTP_200_OK)

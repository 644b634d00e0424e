"""Bulk import of reports (``POST /api/v1/reports/import/``): NDJSON and CSV rows filed
through the same serializer and services as ``POST reports/``, one transaction a row (or all
or nothing with ``?atomic=true``), every row's outcome in the answer with errors keyed as a
single filing's, unreadable lines and oversized batches refused, and each role's rule with
its negative case."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from incidents.api.imports import IMPORT_MAX_BYTES, NDJSONParser, PayloadTooLarge
from incidents.choices import ReportKind, ReportStatus
from incidents.models import CargoLine, Report, ReportTransition
from incidents.services.imports import IMPORT_MAX_ROWS, ImportRow, reports_import
from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole
from monitoring.models import AuditEntry
from tests.api_base import client_for
from tests.api_base import token_client as token_client_for
from tests.factories import (
    REPORT_OCCURRED,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_values,
)
from tests.factories import violation_payload as violation

pytestmark = pytest.mark.django_db
S = ReportStatus
LIST = reverse("incidents-api:report-list")
IMPORT = reverse("incidents-api:report-import")
NDJSON = "application/x-ndjson"
CSV = "text/csv"
START = REPORT_OCCURRED - timedelta(hours=8)
# What filing one violation costs (validation, constraints, reference, audit, change feed).
QUERIES_PER_ROW = 55


@pytest.fixture(autouse=True)
def _fresh_throttle():
    """Partner tokens are throttled through the cache: each test starts with no counts."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def people(zone, make_member):
    ZoneTermFactory(zone=zone)
    return {
        "observer": make_member(ObserverRole.OBSERVER),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "administrator": make_member(ObserverRole.ADMINISTRATOR),
    }


@pytest.fixture
def places(zone):
    return {
        "checkpoint": PostFactory(zone=zone, kind="checkpoint", serves_humanitarian=True),
        "town": SettlementFactory(),
        "sarc": PartyFactory(code="sarc", name="Syrian Arab Red Crescent", kind="humanitarian_org"),
    }


def shift(places, start=START, **overrides) -> dict:
    return violation(
        kind="checkpoint",
        detail={
            "checkpoint": places["checkpoint"].code,
            "period_start": start.isoformat(),
            "period_end": (start + timedelta(hours=8)).isoformat(),
            "status": "restricted",
            "civilians_in": 240,
            "incidents": [{"kind": "delay", "count": 3, "reason_cited": "Document checks"}],
        },
        **overrides,
    )


def convoy(places) -> dict:
    return violation(
        kind="convoy",
        detail={
            "operation": "road_convoy",
            "organizations": [places["sarc"].code],
            "vehicle_count": 12,
            "origin": "Damascus warehouse",
            "destination": places["town"].code,
            "planned_at": START.isoformat(),
            "status": "delivered",
            "cargo": [
                {"category": "food", "quantity": "40.5", "unit": "tonnes"},
                {"category": "medicine", "quantity": "2", "unit": "tonnes"},
            ],
            "route": [{"post": places["checkpoint"].code}],
            "stages": [{"stage": "departed", "at": START.isoformat()}],
        },
    )


def ndjson(*rows) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def post_ndjson(client: APIClient, body: str | bytes, **params):
    url = IMPORT + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
    return client.post(url, body, content_type=NDJSON)


def post_csv(client: APIClient, body: str | bytes):
    return client.post(IMPORT, body, content_type=CSV)


def token_client(people, scopes: str) -> APIClient:
    return token_client_for(
        people["partner"], actor=people["coordinator"], scopes=scopes, name="Offline collection"
    )


def imported_nothing() -> bool:
    return (
        not Report.objects.exists()
        and not AuditEntry.objects.filter(content_type__model="report").exists()
    )


# --- NDJSON ----------------------------------------------------------------------------------


def test_ndjson_files_each_kind_as_the_caller(people, places):
    body = ndjson(violation(), shift(places, submit=True), convoy(places))
    response = post_ndjson(client_for(people["observer"]), body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["created"], answer["failed"], answer["rolled_back"]) == (3, 0, 0), answer
    assert [row["row"] for row in answer["rows"]] == [1, 2, 3]
    assert [row["line"] for row in answer["rows"]] == [1, 2, 3]
    assert {row["status"] for row in answer["rows"]} == {"created"}
    reports = {row["id"]: row for row in answer["rows"]}
    stored = Report.objects.in_bulk(list(reports), field_name="uuid")
    assert len(stored) == 3
    for uuid, report in stored.items():
        row = reports[str(uuid)]
        assert row["reference"] == report.reference
        assert row["url"].endswith(reverse("incidents-api:report-detail", args=[uuid]))
        assert report.author == people["observer"]
        entry = AuditEntry.objects.get(
            content_type__model="report", object_pk=str(report.pk), action=AuditEntryAction.CREATE
        )
        assert (entry.actor, entry.source) == (people["observer"], AuditEntrySource.API)
    kinds = {report.kind: report for report in stored.values()}
    # The row that asked for it is submitted through the workflow; the others stay drafts.
    assert kinds["checkpoint"].status == S.SUBMITTED
    assert answer["rows"][1]["report_status"] == "submitted"
    assert ReportTransition.objects.get(report=kinds["checkpoint"]).to_status == S.SUBMITTED
    assert kinds["violation"].status == kinds["convoy"].status == S.DRAFT
    assert kinds["checkpoint"].checkpoint.incidents.get().count == 3
    assert CargoLine.objects.filter(convoy__report=kinds["convoy"]).count() == 2
    # The imported report reads as any other.
    read = client_for(people["observer"]).get(answer["rows"][2]["url"])
    assert read.status_code == 200 and read.json()["convoy"]["cargo"][0]["quantity"] == "40.500"


def test_a_coordinator_imports_too(people):
    response = post_ndjson(client_for(people["coordinator"]), ndjson(violation()))
    assert response.status_code == 200, response.content
    assert Report.objects.get().author == people["coordinator"]


def test_blank_lines_crlf_and_a_byte_order_mark_are_fine(people):
    body = "\ufeff" + json.dumps(violation()) + "\r\n\r\n   \n" + json.dumps(violation()) + "\r\n"
    answer = post_ndjson(client_for(people["observer"]), body.encode()).json()
    assert answer["created"] == 2
    assert [row["line"] for row in answer["rows"]] == [1, 4]


# --- Errors, row by row ----------------------------------------------------------------------

BAD_ROWS = [
    violation(latitude=95),  # the serializer's range
    violation(occurred_at="2031-01-01T00:00:00Z"),  # the service: not in the future
    violation(kind="earthquake"),
    violation(detail={"category": "earthquake"}),  # the detail's serializer
    violation(
        detail={  # the service's rule on the detail: low <= best <= high
            "category": "shelling",
            "civilians_injured_low": 9,
            "civilians_injured_best": 3,
            "civilians_injured_high": 5,
        }
    ),
    violation(settlement="atlantis"),
    violation(submit="perhaps"),
]


def test_each_row_is_filed_or_refused_on_its_own(people):
    client = client_for(people["observer"])
    body = ndjson(violation(narrative="First."), *BAD_ROWS, violation(narrative="Last."))
    response = post_ndjson(client, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["created"], answer["failed"]) == (2, len(BAD_ROWS))
    statuses = [row["status"] for row in answer["rows"]]
    assert statuses == ["created", *["error"] * len(BAD_ROWS), "created"]
    assert set(Report.objects.values_list("narrative", flat=True)) == {"First.", "Last."}
    errors = [row["errors"] for row in answer["rows"][1:-1]]
    assert "latitude" in errors[0] and "occurred_at" in errors[1] and "kind" in errors[2]
    assert errors[3]["detail"]["category"]
    assert "detail.civilians_injured_best" in errors[4]
    assert "settlement" in errors[5] and "submit" in errors[6]
    assert all("id" not in row for row in answer["rows"][1:-1])


def test_row_errors_are_keyed_as_a_single_filings(people):
    """The same payload answers the same errors, whether filed alone or in a batch."""
    client = client_for(people["observer"])
    answer = post_ndjson(client, ndjson(*BAD_ROWS[:-1])).json()
    for payload, row in zip(BAD_ROWS[:-1], answer["rows"], strict=True):
        single = client.post(LIST, payload, format="json")
        assert single.status_code == 400
        assert row["errors"] == single.json(), payload
    assert imported_nothing()


def test_rows_of_one_batch_see_each_other(people, places):
    """Rows are filed in order: a second shift overlapping the first is refused."""
    client = client_for(people["observer"])
    answer = post_ndjson(client, ndjson(shift(places), shift(places))).json()
    assert [row["status"] for row in answer["rows"]] == ["created", "error"]
    first = Report.objects.get()
    assert first.reference in answer["rows"][1]["errors"]["detail.period_start"][0]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b'{"kind": "violation", "latitude": 35.9,', "not valid JSON"),
        (b'[{"kind": "violation"}]', "is a list"),
        (b"42", "a single value"),
        (b'{"kind": "violation", "latitude": NaN}', "NaN"),
        (b'{"narrative": "caf\xe9"}', "not UTF-8"),
        (b"[" * 100_000, "Line 2"),
    ],
)
def test_an_unreadable_line_is_that_rows_error(people, line, says):
    good = json.dumps(violation()).encode()
    body = b"\n".join([good, line, good]) + b"\n"
    response = post_ndjson(client_for(people["observer"]), body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["created"], answer["failed"]) == (2, 1)
    bad = answer["rows"][1]
    assert (bad["row"], bad["line"], bad["status"]) == (2, 2, "error")
    (message,) = bad["errors"]["non_field_errors"]
    assert message.startswith("Line 2 ") and says in message


# --- All or nothing --------------------------------------------------------------------------


def test_atomic_batch_with_a_failing_row_saves_nothing(people, places):
    client = client_for(people["observer"])
    body = ndjson(violation(), shift(places, submit=True), violation(latitude=95), convoy(places))
    response = post_ndjson(client, body, atomic="true")
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["atomic"] is True
    assert (answer["created"], answer["failed"], answer["rolled_back"]) == (0, 1, 3)
    statuses = [row["status"] for row in answer["rows"]]
    assert statuses == ["rolled_back", "rolled_back", "error", "rolled_back"]
    assert "latitude" in answer["rows"][2]["errors"]
    assert imported_nothing()
    assert not ReportTransition.objects.exists() and not CargoLine.objects.exists()
    # Fixed, the same batch goes through whole.
    fixed = ndjson(violation(), shift(places, submit=True), violation(), convoy(places))
    response = post_ndjson(client, fixed, atomic="true")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 4 and Report.objects.count() == 4


def test_atomic_reports_a_service_refusal_after_an_unreadable_line(people, places):
    """Every row is tried, so the report names every problem, then all is undone."""
    body = b"not json\n" + ndjson(shift(places), shift(places)).encode()
    response = post_ndjson(client_for(people["observer"]), body, atomic="1")
    assert response.status_code == 400
    statuses = [row["status"] for row in response.json()["rows"]]
    assert statuses == ["error", "rolled_back", "error"]
    assert "detail.period_start" in response.json()["rows"][2]["errors"]
    assert imported_nothing()


def test_a_bad_atomic_value_is_a_400_naming_it(people):
    response = post_ndjson(client_for(people["observer"]), ndjson(violation()), atomic="maybe")
    assert response.status_code == 400 and "atomic" in response.json()
    assert imported_nothing()


# --- CSV -------------------------------------------------------------------------------------

CSV_COLUMNS = [
    *("kind", "latitude", "longitude", "occurred_at", "source", "narrative", "submit"),
    *("detail.category", "detail.events"),
    *(
        "detail.civilians_killed_low",
        "detail.civilians_killed_best",
        "detail.civilians_killed_high",
    ),
    *("detail.checkpoint", "detail.period_start", "detail.period_end", "detail.status"),
    "detail.civilians_in",
    *("detail.operation", "detail.organizations", "detail.vehicle_count", "detail.origin"),
    *("detail.destination", "detail.planned_at"),
]


def csv_row(**cells) -> dict:
    common = {
        "kind": "violation",
        "latitude": "35.9",
        "longitude": "36.6",
        "occurred_at": REPORT_OCCURRED.isoformat(),
        "source": "seen",
        "narrative": "Seen from the post.",
    }
    return {**common, **{key.replace("__", "."): value for key, value in cells.items()}}


def csv_text(*rows: dict | str) -> str:
    """A header of CSV_COLUMNS, then the rows (a dict by column; a string as it is)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        if isinstance(row, str):
            out.write(row + "\r\n")
        else:
            writer.writerow(row)
    return out.getvalue()


def test_csv_files_violations_shifts_and_convoys(people, places):
    body = csv_text(
        csv_row(
            narrative="Shelling, two rounds",
            detail__category="shelling",
            detail__events="2",
            detail__civilians_killed_low="1",
            detail__civilians_killed_best="1",
            detail__civilians_killed_high="2",
        ),
        "",
        csv_row(
            kind="checkpoint",
            submit="true",
            detail__checkpoint=places["checkpoint"].code,
            detail__period_start=START.isoformat(),
            detail__period_end=REPORT_OCCURRED.isoformat(),
            detail__status="open",
            detail__civilians_in="240",
        ),
        csv_row(
            kind="convoy",
            detail__operation="road_convoy",
            detail__organizations=" sarc ; ",
            detail__vehicle_count="7",
            detail__origin="Damascus warehouse",
            detail__destination=places["town"].code,
            detail__planned_at=START.isoformat(),
            detail__status="delivered",
        ),
    )
    response = post_csv(client_for(people["observer"]), "\ufeff" + body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["created"] == 3, answer
    assert [row["line"] for row in answer["rows"]] == [2, 4, 5]
    by_kind = {report.kind: report for report in Report.objects.all()}
    assert by_kind["violation"].narrative == "Shelling, two rounds"
    assert by_kind["violation"].violation.civilians_killed_high == 2
    assert by_kind["checkpoint"].status == S.SUBMITTED
    assert by_kind["checkpoint"].checkpoint.civilians_in == 240
    assert list(by_kind["convoy"].convoy.organizations.values_list("code", flat=True)) == ["sarc"]
    assert by_kind["convoy"].convoy.vehicle_count == 7


def test_csv_row_errors_name_the_field_or_the_line(people):
    body = csv_text(
        csv_row(detail__category="shelling"),
        csv_row(latitude="95", detail__category="shelling"),
        csv_row(detail__category="shelling", detail__vehicle_count="7"),  # a convoy's column
        "violation,35.9,36.6",  # too few fields
        csv_row(),  # no detail at all
        csv_row(detail__category="shelling", detail__civilians_killed_best="4"),  # above high
        'violation,35.9,"36.6"x',  # a stray character after a quoted value
        'violation,35.9,"36.6',  # a quote never closed: the rest of the file is its value
        csv_row(detail__category="shelling"),
    )
    answer = post_csv(client_for(people["observer"]), body).json()
    assert (answer["created"], answer["failed"]) == (1, 7)
    rows = answer["rows"]
    assert "latitude" in rows[1]["errors"]
    assert rows[2]["errors"] == {
        "detail.vehicle_count": ["Not a field of a ceasefire violation report: leave it empty."]
    }
    assert rows[3]["errors"]["non_field_errors"] == [
        f"Line 5 has 3 fields; the header has {len(CSV_COLUMNS)}."
    ]
    assert "detail" in rows[4]["errors"]
    assert "detail.civilians_killed_best" in rows[5]["errors"]
    assert rows[6]["errors"]["non_field_errors"] == [
        "Line 8 is not valid CSV: ',' expected after '\"'."
    ]
    assert rows[7]["errors"]["non_field_errors"] == [
        "Line 9 is not valid CSV: unexpected end of data."
    ]
    assert Report.objects.count() == 1


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("kind,latitude,colour", "unknown column 'colour'"),
        (
            "kind,latitude,detail.cargo",
            "detail.cargo is a list of rows: give such reports as NDJSON",
        ),
        ("latitude,longitude", "the column kind is missing"),
        ("kind,latitude,latitude", "column latitude is given twice"),
        ("kind,,latitude", "column 2 has no name"),
    ],
)
def test_a_bad_csv_header_refuses_the_batch(people, header, says):
    body = f"{header}\nviolation,35.9,36.6\n"
    response = post_csv(client_for(people["observer"]), body)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("Line 1, the header:") and says in detail
    assert imported_nothing()


def test_a_csv_that_is_not_utf8_is_refused_naming_the_line(people):
    body = "kind,narrative\nviolation,ok\nviolation,caf\xe9\n".encode("latin-1")
    response = post_csv(client_for(people["observer"]), body)
    assert response.status_code == 400
    assert "line 3" in response.json()["detail"]
    assert imported_nothing()


# --- Multipart upload ------------------------------------------------------------------------


def test_a_file_upload_is_read_by_its_type_or_name(people):
    client = client_for(people["observer"])
    files = [
        SimpleUploadedFile(
            "collection.ndjson", ndjson(violation()).encode(), "application/octet-stream"
        ),
        SimpleUploadedFile(
            "export",
            csv_text(csv_row(detail__category="shelling")).encode(),
            CSV,
        ),
    ]
    for upload in files:
        response = client.post(IMPORT, {"file": upload}, format="multipart")
        assert response.status_code == 200, response.content
        assert response.json()["created"] == 1
    assert Report.objects.count() == 2
    odd = SimpleUploadedFile("notes.txt", b"hello", "text/plain")
    response = client.post(IMPORT, {"file": odd}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    response = client.post(IMPORT, {"other": "x"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    assert Report.objects.count() == 2


# --- Limits ----------------------------------------------------------------------------------


def test_an_empty_upload_is_a_400(people):
    client = client_for(people["observer"])
    for body, content_type in [
        ("", NDJSON),
        ("\n\n  \n", NDJSON),
        ("", CSV),
        ("kind,latitude\n", CSV),
    ]:
        response = client.post(IMPORT, body, content_type=content_type)
        assert response.status_code == 400, (body, content_type)
        assert "no rows" in response.json()["detail"]
    empty = SimpleUploadedFile("empty.csv", b"", CSV)
    assert client.post(IMPORT, {"file": empty}, format="multipart").status_code == 400
    assert imported_nothing()


def test_more_rows_than_a_batch_takes_are_refused(people):
    line = json.dumps(violation())
    body = "\n".join([line] * (IMPORT_MAX_ROWS + 1))
    response = post_ndjson(client_for(people["observer"]), body)
    assert response.status_code == 413
    assert f"{IMPORT_MAX_ROWS:,} rows" in response.json()["detail"]
    csv_text = "kind\n" + "violation\n" * (IMPORT_MAX_ROWS + 1)
    response = post_csv(client_for(people["observer"]), csv_text)
    assert response.status_code == 413
    assert imported_nothing()


def test_more_bytes_than_a_batch_takes_are_refused(people):
    limit = f"{IMPORT_MAX_BYTES >> 20} MiB"
    big = b"\n" * (IMPORT_MAX_BYTES + 1)
    client = client_for(people["observer"])
    response = post_ndjson(client, big)
    assert response.status_code == 413 and limit in response.json()["detail"]
    upload = SimpleUploadedFile("big.ndjson", big, NDJSON)
    response = client.post(IMPORT, {"file": upload}, format="multipart")
    assert response.status_code == 413 and limit in response.json()["detail"]
    # Without a Content-Length to go by, the reading stops past the limit.
    with pytest.raises(PayloadTooLarge):
        NDJSONParser().parse(io.BytesIO(big + b"\n" * 1000), NDJSON, {})
    assert imported_nothing()


def test_other_media_types_are_415(people):
    response = client_for(people["observer"]).post(IMPORT, [violation()], format="json")
    assert response.status_code == 415
    assert imported_nothing()


def test_a_batch_retried_with_its_idempotency_key_is_filed_once(people):
    """The import is a plain POST: an ``Idempotency-Key`` retry replays the first answer."""
    client = client_for(people["observer"])
    rows = [violation(), violation(latitude=95)]
    first = client.post(IMPORT, ndjson(*rows), content_type=NDJSON, HTTP_IDEMPOTENCY_KEY="b-1")
    assert first.status_code == 200, first.content
    # The same rows, members in another order: the same request.
    reordered = ndjson(*[dict(reversed(row.items())) for row in rows])
    again = client.post(IMPORT, reordered, content_type=NDJSON, HTTP_IDEMPOTENCY_KEY="b-1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Report.objects.count() == 1
    other = client.post(
        IMPORT, ndjson(violation()), content_type=NDJSON, HTTP_IDEMPOTENCY_KEY="b-1"
    )
    assert other.status_code == 422
    assert Report.objects.count() == 1


# --- Who imports -----------------------------------------------------------------------------


def test_a_partner_imports_through_a_write_token(people):
    response = post_ndjson(token_client(people, "read write"), ndjson(violation(), violation()))
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2
    assert set(Report.objects.values_list("author", flat=True)) == {people["partner"].pk}


def test_a_read_token_may_not_import(people):
    response = post_ndjson(token_client(people, "read"), ndjson(violation()))
    assert response.status_code == 403
    assert "write" in response.json()["detail"]
    assert imported_nothing()


def test_a_partner_session_may_not_import(people):
    response = post_ndjson(client_for(people["partner"]), ndjson(violation()))
    assert response.status_code == 403
    assert "token" in response.json()["detail"]
    assert imported_nothing()


@pytest.mark.parametrize("rows", [[violation()], [violation(latitude=95)]])
def test_an_administrator_may_not_import(people, rows):
    """Refused as a whole, whether or not any row would pass."""
    response = post_ndjson(client_for(people["administrator"]), ndjson(*rows))
    assert response.status_code == 403
    assert "file reports" in response.json()["detail"]
    response = post_ndjson(client_for(people["administrator"]), ndjson(*rows), atomic="true")
    assert response.status_code == 403
    assert imported_nothing()


def test_anonymous_and_profileless_callers_may_not_import(people, user_without_role):
    for client in (client_for(None), client_for(user_without_role)):
        assert post_ndjson(client, ndjson(violation())).status_code in (401, 403)
    assert client_for(None).get(IMPORT).status_code in (401, 403)
    assert client_for(people["observer"]).get(IMPORT).status_code == 405
    assert imported_nothing()


# --- Cost, progress, the service -------------------------------------------------------------


class QueryCounter:
    """Counts every query the connection runs (no log to overflow on big batches)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def test_a_batch_costs_a_fixed_number_of_queries_a_row(people):
    """200 rows cost what 20 rows cost plus a fixed amount a row: nothing is looked up
    again and again as the batch grows."""
    client = client_for(people["observer"])

    def queries(count: int) -> int:
        body = ndjson(*[violation(narrative=f"Row {n}") for n in range(count)])
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            response = post_ndjson(client, body)
        assert response.status_code == 200 and response.json()["created"] == count
        return counter.count

    few, many = queries(20), queries(200)
    per_row = (many - few) / 180
    assert per_row <= QUERIES_PER_ROW, per_row
    assert few <= 20 * QUERIES_PER_ROW + 30, few
    assert Report.objects.count() == 220


def test_progress_is_logged_every_so_many_rows(people, caplog):
    rows = [
        ImportRow(number=n, line=n, kind="violation", arguments=_arguments()) for n in range(1, 6)
    ]
    with caplog.at_level(logging.INFO, logger="incidents.services.imports"):
        result = reports_import(actor=people["observer"], rows=rows, log_every=2)
    assert result.created == 5
    messages = [r.getMessage() for r in caplog.records if r.name == "incidents.services.imports"]
    assert messages == [
        f"Report import by {people['observer'].username}: 2 of 5 rows done (2 filed, 0 failed).",
        f"Report import by {people['observer'].username}: 4 of 5 rows done (4 filed, 0 failed).",
        f"Report import by {people['observer'].username}: 5 rows, 5 filed, 0 failed.",
    ]


def _arguments(**values) -> dict:
    return {"values": report_values(**values), "detail": {"category": "shelling"}}


def test_the_service_refuses_before_writing(people):
    row = ImportRow(number=1, line=1, kind=ReportKind.VIOLATION, arguments=_arguments())
    with pytest.raises(ValidationError, match="no rows"):
        reports_import(actor=people["observer"], rows=[])
    with pytest.raises(ValidationError, match=f"limit is {IMPORT_MAX_ROWS:,}"):
        reports_import(actor=people["observer"], rows=[row] * (IMPORT_MAX_ROWS + 1))
    with pytest.raises(PermissionDenied):
        reports_import(actor=people["administrator"], rows=[row])
    refused = ImportRow(number=1, line=1, refused={"latitude": ["Too far north."]})
    result = reports_import(actor=people["observer"], rows=[refused, row], atomic=True)
    assert (result.created, result.failed, result.saved) == (0, 1, False)
    assert [outcome.rolled_back for outcome in result.outcomes] == [False, True]
    assert imported_nothing()

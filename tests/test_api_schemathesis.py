"""Property-based tests of the whole API against its own schema (schemathesis).

Every operation of the generated schema (``/api/schema/``, the same document) is called with
generated input, in process through the WSGI application, by two callers:

- a partner tool with a ``read write`` partner token (``Authorization: Token ...``);
- an observer signed in by session (cookie and CSRF token, as the browser sends them).

Each response must be no server error, and must be documented: its status code, its content
type, its body (against the response's schema) and its headers. Operations on one record
are called twice per example: with the generated identifiers (mostly not found) and with
those of a real record the caller may see, found through the API's own list endpoints, so
the bodies of real reports, zones and summaries are checked too.

New endpoints are covered as soon as they are in the schema: nothing here names one.
Generation is derandomized (the same examples on every run); ``API_FUZZ_EXAMPLES`` sets the
examples per operation (default 15).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client, override_settings
from drf_spectacular import generators
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import spectacular_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client as WerkzeugClient

from config.wsgi import application
from incidents.services import (
    attachment_add,
    corroboration_link,
    summary_compile,
    summary_publish,
)
from monitoring.choices import ObserverRole
from monitoring.queueing import broker_breaker_reset
from monitoring.services import partner_token_issue
from tests.factories import (
    REPORT_OCCURRED,
    CenterFactory,
    ExcludedAreaFactory,
    ObserverFactory,
    PartyFactory,
    PostFactory,
    SecurityAreaFactory,
    SettlementFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
)

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PARAMETER = re.compile(r"\{(\w+)\}")


CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            "mode": "positive",
            "max-examples": EXAMPLES,
            "deterministic": True,
            # The callers' own credentials, not generated ones.
            "with-security-parameters": False,
        },
        # Fuzzing. The schema carries no examples; the coverage phase's hundreds of boundary
        # cases per operation and the stateful phase would not fit the suite's time.
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
    }
)
RATES = {"partner": "1000000/min"}
SLOW = {"partner": "1/min"}
RECORDS = 10  # sets of real path parameters tried per operation, at most


def api_schema_document() -> dict:
    """The schema as ``/api/schema/?format=json`` serves it, built without a request (it is
    the same for every caller; ``test_the_served_schema_is_the_one_tested`` checks it)."""
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    return json.loads(OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(api_schema_document(), config=CONFIG)
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# --- The world the callers live in ----------------------------------------------------------------


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)
    #: path template -> sets of its parameters naming records this caller sees
    records: dict[str, list[dict]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """A center with reference data, reports in every status and summaries (a published one,
    a draft), made once for the module's tests in a transaction rolled back at its end; each
    test runs in a savepoint of it (the ``db`` fixture), so none sees another's writes.

    Requests go through ``config.wsgi.application`` inside that transaction: Django's handler
    would close the connection at each request's start and end (the test client prevents it
    the same way). Partner tokens are not throttled here (but see
    ``test_a_throttled_partner_token_gets_the_documented_429``)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    unthrottled = override_settings(
        REST_FRAMEWORK={**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": RATES},
        MEDIA_ROOT=tmp_path_factory.mktemp("media"),
    )
    unthrottled.enable()
    cache.clear()
    broker_breaker_reset()
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            yield _seed()
            transaction.set_rollback(True)
    finally:
        unthrottled.disable()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _seed() -> dict[str, Caller]:
    zone = ZoneFactory()
    ZoneTermFactory(zone=zone)
    SecurityAreaFactory(zone=zone)
    ExcludedAreaFactory()
    SettlementFactory()
    PostFactory(zone=zone, kind="checkpoint", serves_civilians=True)
    center = CenterFactory(zones=[zone])
    delegation = PartyFactory(code="russia", name="Russian Federation")

    def member(role):
        return ObserverFactory(role=role, center=center, delegation=delegation).user

    observer, coordinator, partner = (
        member(ObserverRole.OBSERVER),
        member(ObserverRole.COORDINATOR),
        member(ObserverRole.PARTNER),
    )
    reports = {
        status: report_file(observer, status=status, reviewer=coordinator)
        for status in ("draft", "submitted", "verified", "disputed", "returned", "rejected")
    }
    report_file(observer, status="retracted")
    # Relations of a report both callers see: a second account of the event, a photo.
    again = report_file(observer, status="verified", reviewer=coordinator)
    corroboration_link(report=reports["verified"], other=again, actor=coordinator)
    attachment_add(report=reports["verified"], actor=observer, upload=png())
    version = summary_compile(center=center, day=REPORT_OCCURRED.date())
    summary_publish(version=version, actor=coordinator)
    summary_compile(center=center, day=date(2017, 6, 4))
    _token, secret = partner_token_issue(
        partner_user=partner, name="sync", scopes="read write", actor=coordinator
    )
    return {
        "partner": Caller("partner", {"Authorization": f"Token {secret}"}),
        "observer": session_caller("observer", observer),
    }


@pytest.fixture
def callers(world, db):
    """The callers, in a savepoint of the module's data; records are looked up afresh."""
    for caller in world.values():
        caller.records.clear()
    return world


def png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile("crater.png", buffer.getvalue(), content_type="image/png")


def session_caller(name: str, user) -> Caller:
    client = Client()
    client.force_login(user)
    csrf = secrets.token_hex(16)  # 32 characters: a CSRF secret the middleware accepts
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}
    return Caller(name, {"X-CSRFToken": csrf}, cookies)


# --- Finding real records through the API ------------------------------------------------------


def records_for(caller: Caller, path: str) -> list[dict]:
    """Path parameters naming records ``caller`` may see (at most ``RECORDS`` sets), read
    through the API: from the list endpoint before each parameter (``/reports/{uuid}/verify/``
    from ``/reports/``, ``/summaries/{id}/versions/{number}/`` from ``/summaries/{id}/versions/``)
    or, where that path lists nothing, from the parent record's member of that name
    (``/reports/{uuid}/attachments/{attachment_id}/`` from the report's ``attachments``)."""
    if path not in caller.records:
        client = WerkzeugClient(application)  # Django's test client would reconnect the signals
        for name, value in caller.cookies.items():
            client.set_cookie(name, value)
        sets = islice(_record_sets(client, caller.headers, path, {}), RECORDS)
        caller.records[path] = list(sets)
        assert caller.records[path], f"{caller.name} sees no record for {path}: seed one"
    return caller.records[path]


def _record_sets(client, headers: dict, path: str, filled: dict) -> Iterator[dict]:
    """Depth first, every set of values of ``path``'s parameters (the first ones ``filled``
    into it already) that names records."""
    match = PARAMETER.search(path)
    if match is None:
        yield filled
        return
    url, name = path[: match.start()], match.group(1)
    for value in _listed(client, headers, url, name)[:RECORDS]:
        rest = f"{url}{value}{path[match.end() :]}"
        yield from _record_sets(client, headers, rest, filled | {name: value})


def _listed(client, headers: dict, url: str, name: str) -> list:
    def read(url: str):
        response = client.get(url, headers=headers)
        return response.json if response.status_code == 200 else None

    body = read(url)
    if isinstance(body, dict) and "results" in body:
        rows = body["results"]
    elif isinstance(body, list):
        rows = body
    else:  # not a list endpoint: the parent record's member of that name
        parent, _, member = url.rstrip("/").rpartition("/")
        rows = (read(f"{parent}/") or {}).get(member, [])
    key = name if rows and name in rows[0] else "id"
    return [row[key] for row in rows]


def call(case, caller: Caller) -> None:
    response = case.call_and_validate(
        app=application, headers=caller.headers, cookies=caller.cookies, checks=CHECKS
    )
    if case.method.upper() in ("GET", "HEAD"):
        # Both callers read everything: a refusal means the run is not signed in.
        assert response.status_code not in (401, 403), (case.path, response.status_code)


def check(case, caller: Caller, data) -> None:
    call(case, caller)
    if not case.path_parameters:
        return
    real = data.draw(st.sampled_from(records_for(caller, case.operation.path)), label="record")
    real_case = case.operation.Case(
        path_parameters=real,
        query=case.query,
        headers=case.headers,
        body=case.body,
        media_type=case.media_type,
    )
    call(real_case, caller)


@schema.parametrize()
@schema.given(data=st.data())
@HYPOTHESIS
def test_as_a_partner_tool_with_a_write_token(case, data, callers):
    check(case, callers["partner"], data)


@schema.parametrize()
@schema.given(data=st.data())
@HYPOTHESIS
def test_as_an_observer_by_session(case, data, callers):
    check(case, callers["observer"], data)


# --- The schema fuzzed is the one served; throttling is documented ----------------------------


def test_the_served_schema_is_the_one_tested(callers, db):
    """``/api/schema/`` gives every caller the document the tests above generate from."""
    for caller in callers.values():
        client = WerkzeugClient(application)
        for name, value in caller.cookies.items():
            client.set_cookie(name, value)
        response = client.get("/api/schema/?format=json", headers=caller.headers)
        assert response.status_code == 200, (caller.name, response.status_code)
        assert response.json == schema.raw_schema, caller.name


def test_a_throttled_partner_token_gets_the_documented_429(callers, db):
    """Over its rate, a partner token gets 429 with ``Retry-After``, as the schema says."""
    partner = callers["partner"]
    operation = schema["/api/v1/parties/"]["GET"]
    with override_settings(
        REST_FRAMEWORK={**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": SLOW}
    ):
        cache.clear()
        first = operation.Case().call(app=application, headers=partner.headers)
        second = operation.Case().call(app=application, headers=partner.headers)
    cache.clear()
    assert first.status_code == 200
    assert second.status_code == 429, second.status_code
    assert 0 < int(second.headers["retry-after"][0]) <= 60  # lower-cased names
    operation.Case().validate_response(second, checks=CHECKS)


def test_every_operation_documents_its_errors():
    """The error responses config/schema.py adds, each with a body (docs/api-errors.md)."""
    document = schema.raw_schema
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses, where = operation["responses"], f"{method.upper()} {path}"
            parameters = {parameter["in"] for parameter in operation.get("parameters", [])}
            expected = {"401", "403", "429"}
            if method != "get" or "query" in parameters:
                expected.add("400")
            if "path" in parameters:
                expected.add("404")
            if "requestBody" in operation:
                expected.add("415")
            assert expected <= set(responses), (where, expected - set(responses))
            for code, response in responses.items():
                if code >= "400":
                    assert response.get("content"), (where, code)
                    assert response["description"], (where, code)
            assert "WWW-Authenticate" in responses["401"]["headers"], where
            assert "Retry-After" in responses["429"]["headers"], where
            if method == "get" and "query" not in parameters:
                assert "400" not in responses or "400" in declared_by_view(path, method), where
    components = document["components"]["schemas"]
    assert components["Error"]["required"] == ["detail"]
    assert "non_field_errors" in components["ValidationError"]["properties"]


def declared_by_view(path: str, method: str) -> set[str]:
    """Codes a view declares itself: the generated ones come from config/schema.py, so this
    is the schema built without it."""
    return set(_plain_document()["paths"][path][method]["responses"])


@functools.cache
def _plain_document() -> dict:
    generator = generators.SchemaGenerator()
    return json.loads(OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True)))

"""Who may call what: every operation of the API schema, for every kind of caller.

``RULES`` is the permission decision, as data: for each operation (method and a pattern of
its path) what each caller gets. Every operation of the generated schema must match exactly
one rule, so an endpoint added without a decision fails ``test_every_operation_has_a_rule``;
the operations are read from the schema, so a new one is called by every caller at once.

Each caller calls each operation once, on a record chosen for it (``Rule.target``): a record
the caller's center holds (its own draft for an edit, a colleague's submitted report for a
review, ...), which for the coordinator of another center is a record of a center not theirs.
With a well-formed request (``Rule.request``), so that a refusal comes from the rules, not from
validation. Expected:

- ``OK``: allowed, and since the request is well-formed, done: a 2xx (reads: 200);
- ``401``, ``403``: refused, with DRF's error body, and the status documented in the schema;
- ``404``: the record is outside the caller's view (another center's, or a report it may not
  see), with the same body.

The rules: docs/permissions.md. Partner accounts write only through a token with the write
scope (the same account's read token and its session are refused); administrators read the
reference data and the verified reports and file nothing; a coordinator of another center
finds nothing of this center's.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import spectacular_settings
from PIL import Image
from rest_framework.test import APIClient

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
    UserFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
)
from tests.factories import violation_payload as filing

# --- The callers ------------------------------------------------------------------------------

ANONYMOUS = "anonymous"
NO_PROFILE = "no profile"
BAD_TOKEN = "unknown token"
OBSERVER = "observer"
COORDINATOR = "coordinator"
ADMINISTRATOR = "administrator"
PARTNER_READ = "partner read token"
PARTNER_WRITE = "partner read-write token"
PARTNER_SESSION = "partner session"
ELSEWHERE = "coordinator of another center"
CALLERS = (
    ANONYMOUS,
    NO_PROFILE,
    BAD_TOKEN,
    OBSERVER,
    COORDINATOR,
    ADMINISTRATOR,
    PARTNER_READ,
    PARTNER_WRITE,
    PARTNER_SESSION,
    ELSEWHERE,
)
PARTNERS = (PARTNER_READ, PARTNER_WRITE, PARTNER_SESSION)

OK = "ok"
REFUSALS = {401, 403, 404, 405}


def expect(**overrides: Any) -> dict[str, Any]:
    """Everyone with an active profile may (``OK``); anonymous callers and users without a
    profile get 403, an unknown partner token 401; ``overrides`` by caller constant name."""
    table: dict[str, Any] = dict.fromkeys(CALLERS, OK)
    table.update({ANONYMOUS: 403, NO_PROFILE: 403, BAD_TOKEN: 401})
    for name, outcome in overrides.items():
        table[globals()[name]] = outcome
    return table


# Reference data, lists, the change feed, the classifier: every active profile.
READ = expect()
# One record of this center: not found from another center.
READ_HERE = expect(ELSEWHERE=404)
# Filing (a report, an import batch): observers, coordinators, partner tools with a write
# token, each in their own center; not administrators, not the partner's read token or session.
FILE = expect(ADMINISTRATOR=403, PARTNER_READ=403, PARTNER_SESSION=403)
# The author's own report (edit, submit, retract, attach, link): not found by administrators
# (they see verified reports only), refused to the partner's read token and session.
OWN = expect(ADMINISTRATOR=404, PARTNER_READ=403, PARTNER_SESSION=403, ELSEWHERE=404)
# Reviewing a colleague's submitted report: the center's coordinators only.
REVIEW = expect(
    OBSERVER=403,
    ADMINISTRATOR=404,
    PARTNER_READ=403,
    PARTNER_WRITE=404,
    PARTNER_SESSION=403,
    ELSEWHERE=404,
)
# Compiling this center's summary: its coordinators, and its partner tools' write tokens.
COMPILE = expect(
    OBSERVER=403, ADMINISTRATOR=403, PARTNER_READ=403, PARTNER_SESSION=403, ELSEWHERE=403
)

# --- The requests -----------------------------------------------------------------------------

DAY = REPORT_OCCURRED.date()


def png(name: str = "crater.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@dataclass(frozen=True)
class Call:
    """What a rule sends, given the world and the record the path names."""

    data: Any = None
    format: str | None = "json"
    content_type: str | None = None
    query: dict[str, Any] = field(default_factory=dict)


def no_body(world, record) -> Call:
    return Call()


def classify_here(world, record) -> Call:
    return Call(query={"latitude": 35.9, "longitude": 36.6})


def file_one(world, record) -> Call:
    return Call(data=filing())


def import_one(world, record) -> Call:
    line = json.dumps(filing()) + "\n"
    return Call(data=line.encode(), format=None, content_type="application/x-ndjson")


def edit(world, record) -> Call:
    return Call(data={"narrative": "Three rounds, not two.", "revision": record.revision})


def decide(world, record) -> Call:
    return Call(data={"comment": "Checked against the post's log."})


def attach(world, record) -> Call:
    return Call(data={"file": png()}, format="multipart")


def link(world, record) -> Call:
    other = world.reports["verified"]
    return Call(data={"other": str(other.uuid), "note": "The same salvo."})


def compile_day(world, record) -> Call:
    return Call(data={"center": world.center.code, "day": DAY.isoformat()})


# --- The rules --------------------------------------------------------------------------------

REFERENCE = r"(parties|agreements|centers|zones|security-areas|excluded-areas|posts|settlements)"


@dataclass(frozen=True)
class Rule:
    method: str
    #: the schema path, as a regular expression (matched in full)
    path: str
    expected: dict[str, Any]
    #: the report a ``{uuid}`` names: "visible" (verified: every profile of the center sees
    #: it), "own_draft" / "own_submitted" (the caller's own, else the observer's),
    #: "submitted" (the observer's, for a coordinator to review)
    target: str = "visible"
    request: Callable[..., Call] = no_body

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


RULES = [
    Rule("GET", rf"/api/v1/{REFERENCE}/(\{{id\}}/|geojson/)?", READ),
    Rule("GET", r"/api/v1/classify/", READ, request=classify_here),
    Rule("GET", r"/api/v1/changes/", READ),
    # Lists answer every profile with what it may see (from another center: nothing).
    Rule("GET", r"/api/v1/reports/(geojson/|export/)?", READ),
    Rule("POST", r"/api/v1/reports/", FILE, request=file_one),
    Rule("POST", r"/api/v1/reports/import/", FILE, request=import_one),
    Rule("GET", r"/api/v1/reports/\{uuid\}/(history/|transitions/|links/)?", READ_HERE),
    Rule("GET", r"/api/v1/reports/\{uuid\}/attachments/\{attachment_id\}/", READ_HERE),
    Rule("PATCH", r"/api/v1/reports/\{uuid\}/", OWN, "own_draft", edit),
    Rule("POST", r"/api/v1/reports/\{uuid\}/submit/", OWN, "own_draft", decide),
    Rule("POST", r"/api/v1/reports/\{uuid\}/retract/", OWN, "own_submitted", decide),
    Rule("POST", r"/api/v1/reports/\{uuid\}/attachments/", OWN, "own_draft", attach),
    Rule("POST", r"/api/v1/reports/\{uuid\}/links/", OWN, "own_submitted", link),
    Rule(
        "POST",
        r"/api/v1/reports/\{uuid\}/(verify|dispute|reject|return)/",
        REVIEW,
        "submitted",
        decide,
    ),
    Rule("GET", r"/api/v1/summaries/", READ),
    Rule("GET", r"/api/v1/summaries/\{id\}/(versions/(\{number\}/)?)?", READ_HERE),
    Rule("POST", r"/api/v1/summaries/compile/", COMPILE, request=compile_day),
]


# --- The schema's operations ------------------------------------------------------------------


def api_schema_document() -> dict:
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    return json.loads(OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True)))


SCHEMA = api_schema_document()
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in SCHEMA["paths"].items()
    for method in item
    if method in HTTP_METHODS
)


def rule_for(method: str, path: str) -> Rule | None:
    found = [rule for rule in RULES if rule.matches(method, path)]
    assert len(found) <= 1, f"{method} {path} matches several rules: {found}"
    return found[0] if found else None


def test_every_operation_has_a_rule():
    """A new endpoint needs a permission decision here before it can land."""
    missing = [f"{method} {path}" for method, path in OPERATIONS if rule_for(method, path) is None]
    assert not missing, f"operations without a permission rule in RULES: {missing}"


def test_every_rule_names_an_operation():
    unused = [rule for rule in RULES if not any(rule.matches(m, p) for m, p in OPERATIONS)]
    assert not unused, f"rules that match no operation of the schema: {unused}"


def test_every_caller_has_an_expectation():
    for rule in RULES:
        assert set(rule.expected) == set(CALLERS), rule


# --- The world ------------------------------------------------------------------------------------


@dataclass
class World:
    center: Any
    users: dict[str, Any]
    #: secret of the partner's tokens by caller
    secrets: dict[str, str]
    reports: dict[str, Any]
    summary: Any

    def client(self, caller: str) -> APIClient:
        client = APIClient()
        if caller == BAD_TOKEN:
            client.credentials(HTTP_AUTHORIZATION="Token not-a-token-of-ours")
        elif caller in self.secrets:
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.secrets[caller]}")
        elif self.users.get(caller) is not None:
            client.force_login(self.users[caller])
        return client

    def report(self, target: str, caller: str):
        author = {
            OBSERVER: "observer",
            COORDINATOR: "coordinator",
            **dict.fromkeys(PARTNERS, "partner"),
        }.get(caller, "observer")
        return {
            "visible": self.reports["verified"],
            "own_draft": self.reports[f"{author}_draft"],
            "own_submitted": self.reports[f"{author}_submitted"],
            "submitted": self.reports["observer_submitted"],
        }[target]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The center and its people, made once for the module in a transaction rolled back at
    its end; each test runs in a savepoint of it (the ``db`` fixture)."""
    rates = {**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"partner": "10000/min"}}
    isolated = override_settings(REST_FRAMEWORK=rates, MEDIA_ROOT=tmp_path_factory.mktemp("media"))
    isolated.enable()
    cache.clear()
    broker_breaker_reset()
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            yield _build_world()
            transaction.set_rollback(True)
    finally:
        isolated.disable()
        cache.clear()


def _build_world() -> World:
    zone = ZoneFactory()
    ZoneTermFactory(zone=zone)
    SecurityAreaFactory(zone=zone)
    ExcludedAreaFactory()
    SettlementFactory()
    PostFactory(zone=zone, kind="checkpoint", serves_civilians=True)
    center = CenterFactory(zones=[zone])
    other_center = CenterFactory(zones=[zone])
    delegation = PartyFactory(code="russia", name="Russian Federation")

    def member(role, at=center):
        return ObserverFactory(role=role, center=at, delegation=delegation).user

    users = {
        OBSERVER: member(ObserverRole.OBSERVER),
        COORDINATOR: member(ObserverRole.COORDINATOR),
        ADMINISTRATOR: member(ObserverRole.ADMINISTRATOR),
        PARTNER_SESSION: member(ObserverRole.PARTNER),
        ELSEWHERE: member(ObserverRole.COORDINATOR, at=other_center),
        NO_PROFILE: UserFactory(password=None),
    }
    users[ADMINISTRATOR].is_staff = True
    users[ADMINISTRATOR].save(update_fields=["is_staff"])
    observer, coordinator, partner = users[OBSERVER], users[COORDINATOR], users[PARTNER_SESSION]
    secrets = {}
    for caller, scopes in ((PARTNER_READ, "read"), (PARTNER_WRITE, "read write")):
        _token, secrets[caller] = partner_token_issue(
            partner_user=partner, name=caller, scopes=scopes, actor=coordinator
        )
    reports = {}
    for name, author in (
        ("observer", observer),
        ("coordinator", coordinator),
        ("partner", partner),
    ):
        reports[f"{name}_draft"] = report_file(author)
        reports[f"{name}_submitted"] = report_file(author, status="submitted")
    reports["verified"] = report_file(observer, status="verified", reviewer=coordinator)
    again = report_file(observer, status="verified", reviewer=coordinator)
    corroboration_link(report=reports["verified"], other=again, actor=coordinator)
    attachment_add(report=reports["verified"], actor=observer, upload=png())
    version = summary_compile(center=center, day=DAY)
    summary_publish(version=version, actor=coordinator)
    summary_compile(center=center, day=date(2017, 6, 4))  # a draft, the coordinators' only
    return World(center, users, secrets, reports, version.summary)


def resolve(world: World, rule: Rule, caller: str, path: str) -> tuple[str, Any]:
    """The path with its parameters filled for ``caller``, and the report it names."""
    report = world.report(rule.target, caller) if "{uuid}" in path else None
    values: dict[str, Any] = {}
    if report is not None:
        values["uuid"] = report.uuid
        attachment = report.attachments.first()
        values["attachment_id"] = attachment.pk if attachment else 0
    if path.startswith("/api/v1/summaries/"):
        values.update(id=world.summary.pk, number=1)
    elif "{id}" in path:  # reference data: the first record its list gives
        listing = world.client(COORDINATOR).get(path.split("{id}")[0])
        values["id"] = listing.json()["results"][0]["id"]
    return path.format(**values), report


# --- The matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_matrix(world, db, method, path, caller):
    rule = rule_for(method, path)
    assert rule is not None, f"{method} {path} has no rule: test_every_operation_has_a_rule"
    url, record = resolve(world, rule, caller, path)
    call = rule.request(world, record)
    kwargs: dict[str, Any] = {"data": call.data}
    if call.format:
        kwargs["format"] = call.format
    if call.content_type:
        kwargs["content_type"] = call.content_type
    if call.query:
        url = f"{url}?{'&'.join(f'{k}={v}' for k, v in call.query.items())}"
    response = getattr(world.client(caller), method.lower())(url, **kwargs)
    status = response.status_code
    expected = rule.expected[caller]
    where = f"{caller}: {method} {url} -> {status} {_body(response)[:300]}"
    assert status < 500, where
    if expected == OK:
        if method == "GET":
            assert status == 200, where
        else:
            assert 200 <= status < 300, where
        return
    assert status == expected, where
    assert "detail" in response.json(), where  # DRF's error body
    documented = SCHEMA["paths"][path][method.lower()]["responses"]
    assert str(status) in documented, f"{where}: {status} is not in the schema"


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return "<stream>"
    return response.content.decode(errors="replace")


@pytest.mark.parametrize("path", sorted(SCHEMA["paths"]))
def test_methods_the_schema_does_not_list_answer_405(world, db, path):
    """What the schema does not list is not there: 405 for a caller who may use the path."""
    rule = next(
        rule for method, p in OPERATIONS if p == path for rule in [rule_for(method, p)] if rule
    )
    url, _record = resolve(world, rule, COORDINATOR, path)
    client = world.client(COORDINATOR)
    listed = set(SCHEMA["paths"][path])
    for method in HTTP_METHODS:
        if method in listed:
            continue
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 405, (method, url, response.status_code)
        assert "detail" in response.json()
        allowed = {word.strip().lower() for word in response["Allow"].split(",")}
        assert method not in allowed and listed & set(HTTP_METHODS) <= allowed, (url, allowed)

"""Who may open which page and send which form: every web view, for every kind of caller.

The web twin of ``tests/test_api_permission_matrix.py``. ``RULES`` is the permission decision,
as data: for each view (its URL name) and each HTTP method the view accepts, what each caller
gets on each target record. The views and their methods are read from the URL resolver, so
a page added without a decision fails ``test_every_view_method_has_a_rule``. Left out: the API
under ``/api/v1/`` (its own matrix) and the Django admin (a few rows of its own below:
``ADMIN_PAGES``); the API's schema and docs pages are ordinary rows.

Each caller calls each view once per target, a record chosen for it (its own draft for an
edit, a colleague's submitted report for a review, a published or a draft summary day, ...),
which for the people of another center is a record of a center not theirs. Forms are sent
well-formed, so that a refusal comes from the rules, not from validation. Expected:

- a status (200 for a page, 201, 400, 403, 404);
- ``LOGIN`` (``ADMIN_LOGIN``): a redirect to the (admin's) login page, ``next=`` the URL asked;
- ``Go(where)``: a redirect that changes nothing (a signed-in user sent home from the login
  page, an author from the edit page of a report no longer editable);
- ``Done(outcome)``: a write that is allowed, and done: the rule's ``effect`` says what changed.

Every write not ``Done`` must leave the same state behind (status, revision, narrative,
attachments, links, tokens, summaries, the session): no half-written record. The rules:
docs/permissions.md, "Web pages".
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Q
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp import DEVICE_ID_SESSION_KEY
from PIL import Image

from incidents.choices import ReportStatus
from incidents.models import CASUALTY_GROUPS, CorroborationLink, Report, SummaryVersion
from incidents.services import (
    attachment_add,
    corroboration_link,
    summary_compile,
    summary_publish,
)
from monitoring.choices import ObserverRole
from monitoring.models import PartnerToken
from monitoring.queueing import broker_breaker_reset
from monitoring.services import partner_token_issue
from tests.factories import (
    REPORT_OCCURRED,
    CenterFactory,
    ObserverFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    UserFactory,
    ZoneFactory,
    ZoneTermFactory,
    report_file,
)

S = ReportStatus
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's

# --- The callers ------------------------------------------------------------------------------

ANONYMOUS = "anonymous"
NO_PROFILE = "no profile"
OBSERVER = "observer"
COORDINATOR = "coordinator"
ADMINISTRATOR = "administrator"
PARTNER = "partner session"
ELSEWHERE = "coordinator of another center"
ELSEWHERE_OBSERVER = "observer of another center"
CALLERS = (
    ANONYMOUS,
    NO_PROFILE,
    OBSERVER,
    COORDINATOR,
    ADMINISTRATOR,
    PARTNER,
    ELSEWHERE,
    ELSEWHERE_OBSERVER,
)
SIGNED_IN = CALLERS[1:]

# --- The outcomes -----------------------------------------------------------------------------

LOGIN = "redirect to the login page"
ADMIN_LOGIN = "redirect to the admin's login page"


@dataclass(frozen=True)
class Go:
    """A redirect to ``where`` that changes nothing."""

    where: str


@dataclass(frozen=True)
class Done:
    """An allowed write: ``outcome`` (a status or a ``Go``), and the rule's effect happened."""

    outcome: Any


def expect(**overrides: Any) -> dict[str, Any]:
    """Every active profile gets the page (200); anonymous visitors the login page, users
    without a profile 403; ``overrides`` by caller constant name."""
    table: dict[str, Any] = dict.fromkeys(CALLERS, 200)
    table.update({ANONYMOUS: LOGIN, NO_PROFILE: 403})
    for name, outcome in overrides.items():
        table[globals()[name]] = outcome
    return table


def only(outcome: Any, *, others: Any = 403, **overrides: Any) -> dict[str, Any]:
    """``outcome`` for the callers named in ``overrides`` with ``True``; ``others`` for the
    rest of the signed-in callers (anonymous: the login page)."""
    table = dict.fromkeys(CALLERS, others)
    table[ANONYMOUS] = LOGIN
    for name, value in overrides.items():
        table[globals()[name]] = outcome if value is True else value
    return table


# Pages every active profile reads (lists answer each with what it may see).
READ = expect()
# One record of this center: not found from another center.
READ_HERE = expect(ELSEWHERE=404, ELSEWHERE_OBSERVER=404)
# Pages of the filers, observers and coordinators, each in their own center.
FILERS_PAGE = expect(ADMINISTRATOR=403, PARTNER=403)
# Pages of the coordinators, each of their own center.
COORDINATORS_PAGE = only(200, COORDINATOR=True, ELSEWHERE=True)
# The API's schema and docs: every active profile, like the API itself (DRF's 403 otherwise).
API_DOCS = expect(ANONYMOUS=403)
# A day whose summary is a draft: its center's coordinators only; not found for the others.
DRAFT_SUMMARY = expect(
    OBSERVER=404, ADMINISTRATOR=404, PARTNER=404, ELSEWHERE=404, ELSEWHERE_OBSERVER=404
)

# For a report of this center: another center's people do not find it; partners and
# administrators write nothing on the web (403 before the record is looked up).
NOT_FOUND_ELSEWHERE = {ELSEWHERE: 404, ELSEWHERE_OBSERVER: 404}
WRITERS_REFUSED = {ADMINISTRATOR: 403, PARTNER: 403}


def table(default: Any, **by_caller: Any) -> dict[str, Any]:
    """``default`` for every signed-in caller with a profile here, the usual refusals for the
    rest: anonymous → login, no profile → 403, another center → 404, partner and
    administrator → 403; ``by_caller`` overrides (caller constant names)."""
    result = {
        ANONYMOUS: LOGIN,
        NO_PROFILE: 403,
        OBSERVER: default,
        COORDINATOR: default,
        **WRITERS_REFUSED,
        **NOT_FOUND_ELSEWHERE,
    }
    for name, outcome in by_caller.items():
        result[globals()[name]] = outcome
    return result


# --- The requests -----------------------------------------------------------------------------

DAY = REPORT_OCCURRED.date()
DRAFT_DAY = date(2017, 6, 4)


def png(color=(10, 90, 200)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buffer, format="PNG")
    return SimpleUploadedFile("matrix.png", buffer.getvalue(), content_type="image/png")


def filing_data(**overrides) -> dict[str, str]:
    """A well-formed violation from the filing page (a point in the shared zone)."""
    data = {
        "latitude": "35.91",
        "longitude": "36.61",
        "place_precision": "exact",
        "settlement": "",
        "post": "",
        "occurred_at": "2017-06-03T14:00",
        "time_precision": "exact",
        "source": "seen",
        "confidence": "medium",
        "narrative": "Filed through the permission matrix.",
        "zone_override": "",
        "zone_override_reason": "",
        "action": "draft",
        "category": "shelling",
        "alleged_perpetrator": "",
        "affected_party": "",
        "weapon": "",
        "events": "2",
        "direction_degrees": "",
        "distance_km": "",
        "damage": "",
    }
    for group in CASUALTY_GROUPS:
        for estimate in ("low", "best", "high"):
            data[f"{group}_{estimate}"] = "0"
    data.update(overrides)
    return data


EDITED = "Edited through the permission matrix."


def no_body(ctx) -> dict:
    return {}


def file_one(ctx) -> dict:
    return filing_data()


def edit(ctx) -> dict:
    return filing_data(narrative=EDITED, revision=str(ctx.record.revision))


def attach(ctx) -> dict:
    return {"file": png()}


def move(ctx) -> dict:
    """Submit one's draft; return a submitted report to its author."""
    if ctx.record.status == S.DRAFT:
        return {"to_status": S.SUBMITTED, "revision": ctx.record.revision, "comment": ""}
    return {"to_status": S.RETURNED, "revision": ctx.record.revision, "comment": "Add the time."}


def link(ctx) -> dict:
    return {"other": str(ctx.world.reports["verified"].uuid), "note": "The same salvo."}


def sign_in(ctx) -> dict:
    return {"username": ctx.world.users[OBSERVER].get_username(), "password": PASSWORD}


def issue_token(ctx) -> dict:
    return {"partner": ctx.world.users[PARTNER].pk, "name": "Matrix sync", "scopes": "read"}


def publish(ctx) -> dict:
    return {"version": "1", "comment": "Checked."}


def a_code(ctx) -> dict:
    return {"code": "123456"}


# --- The state a write may change -------------------------------------------------------------


def report_state(ctx) -> dict[str, Any]:
    report = Report.objects.get(pk=ctx.record.pk)
    return {
        "status": report.status,
        "revision": report.revision,
        "narrative": report.narrative,
        "attachments": report.attachments.count(),
        "links": CorroborationLink.objects.filter(Q(report=report) | Q(other=report)).count(),
        "transitions": report.transitions.count(),
    }


def reports_state(ctx) -> dict[str, Any]:
    return {"reports": Report.objects.count(), **report_state(_with(ctx, "verified"))}


def _with(ctx, name: str):
    return SimpleNamespace(**{**vars(ctx), "record": ctx.world.reports[name]})


def session_state(ctx) -> dict[str, Any]:
    return {"user": ctx.client.session.get("_auth_user_id")}


def tokens_state(ctx) -> dict[str, Any]:
    return {
        "tokens": PartnerToken.objects.count(),
        "revoked": PartnerToken.objects.filter(revoked_at__isnull=False).count(),
    }


def summary_state(ctx) -> dict[str, Any]:
    return {
        "queued": len(ctx.broker.sent),
        "versions": list(
            SummaryVersion.objects.order_by("pk").values_list("summary__day", "number", "status")
        ),
    }


def filed(before, after, ctx) -> bool:
    newest = Report.objects.order_by("-pk").first()
    return after["reports"] == before["reports"] + 1 and newest.author == ctx.user


def edited(before, after, ctx) -> bool:
    return after["narrative"] == EDITED and after["revision"] == before["revision"] + 1


def moved(before, after, ctx) -> bool:
    wanted = S.SUBMITTED if before["status"] == S.DRAFT else S.RETURNED
    return after["status"] == wanted and after["transitions"] == before["transitions"] + 1


def attached(before, after, ctx) -> bool:
    return after["attachments"] == before["attachments"] + 1


def linked(before, after, ctx) -> bool:
    return after["links"] == before["links"] + 1


def signed_in(before, after, ctx) -> bool:
    return after["user"] == str(ctx.world.users[OBSERVER].pk)


def signed_out(before, after, ctx) -> bool:
    return after["user"] is None


def token_issued(before, after, ctx) -> bool:
    return after["tokens"] == before["tokens"] + 1


def token_revoked(before, after, ctx) -> bool:
    return after["revoked"] == before["revoked"] + 1


def compile_queued(before, after, ctx) -> bool:
    return ctx.broker.sent[before["queued"] :] == [
        {"center_id": ctx.world.center.pk, "day": ctx.record.isoformat()}
    ]


def published(before, after, ctx) -> bool:
    return (ctx.record, 1, "published") in after["versions"]


# --- What a page must not show ------------------------------------------------------------------


def references_seen(world, body: str) -> set[str]:
    return {name for name, report in world.reports.items() if report.reference in body}


def visible_reports(caller: str) -> set[str]:
    """The world's reports ``caller`` sees (docs/permissions.md, "Who sees which report")."""
    everything = {
        f"{who}_{status}"
        for who in ("observer", "coordinator", "partner")
        for status in ("draft", "submitted")
    } | {"verified", "verified_again"}
    return {
        OBSERVER: everything - {"coordinator_draft", "partner_draft"},
        COORDINATOR: everything - {"observer_draft", "partner_draft"},
        ADMINISTRATOR: {"verified", "verified_again"},
        PARTNER: {"verified", "verified_again", "partner_draft", "partner_submitted"},
    }.get(caller, set())


def shows_the_visible_reports(ctx, response) -> None:
    """A list shows exactly the reports the caller may see (nothing of another center)."""
    seen = references_seen(ctx.world, _body(response))
    assert seen == visible_reports(ctx.caller), f"{ctx.caller} is shown {sorted(seen)}"


def queues_the_submitted_reports(ctx, response) -> None:
    """The review queue: the center's submitted reports, for its coordinators."""
    seen = references_seen(ctx.world, _body(response))
    expected = {name for name in visible_reports(ctx.caller) if name.endswith("_submitted")}
    assert seen == expected, f"{ctx.caller} is shown {sorted(seen)}"


def shows_no_token_of_another_center(ctx, response) -> None:
    prefix = ctx.world.token.prefix
    if ctx.caller == COORDINATOR:
        assert prefix in _body(response)
    else:
        assert prefix not in _body(response)


def offers_only_forms_it_may_send(ctx, response) -> None:
    """The report page offers the edit link and the workflow, attachment and link forms to
    observers and coordinators only: a partner's session and an administrator get none (they
    would answer 403); the author of a draft gets its edit link and submit button."""
    body = _body(response)
    uuid = ctx.record.uuid
    forms = {
        name
        for name in ("report_transition", "attachment_add", "report_link")
        if f'action="{reverse(f"incidents:{name}", args=[uuid])}"' in body
    }
    if f'href="{reverse("incidents:report_edit", args=[uuid])}"' in body:
        forms.add("report_edit")
    if ctx.caller in (PARTNER, ADMINISTRATOR):
        assert not forms, f"{ctx.caller} is offered {sorted(forms)}"
    elif ctx.record.status == S.DRAFT:
        assert {"report_transition", "attachment_add", "report_edit"} <= forms, forms


def lists_only_the_days_it_may_read(ctx, response) -> None:
    """The summaries list: the center's published day for its people, the draft day for its
    coordinators only, nothing of this center for another center's people."""
    body = _body(response)
    code = ctx.world.center.code
    listed = {
        day
        for day in (DAY, DRAFT_DAY)
        if reverse("incidents:summary_detail", args=[code, day.isoformat()]) in body
    }
    expected = {
        COORDINATOR: {DAY, DRAFT_DAY},
        **{caller: {DAY} for caller in (OBSERVER, PARTNER, ADMINISTRATOR)},
    }.get(ctx.caller, set())
    assert listed == expected, f"{ctx.caller} is listed {sorted(listed)}"


def shows_only_verified_reports(ctx, response) -> None:
    """The admin's report list is the administrator's view of reports: verified only."""
    seen = references_seen(ctx.world, _body(response))
    assert seen == {"verified", "verified_again"}, seen


# --- The rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    method: str
    #: the view's URL name ("namespace:name")
    view: str
    #: what each caller gets, by target: "own_draft" / "own_submitted" (the caller's own
    #: report, else the observer's), a report of ``World.reports`` by name ("verified",
    #: "observer_draft", "observer_submitted"), "day" / "draft_day" (a summary day, published
    #: or a coordinators' draft), "token", "zone", "-" (the view names no record)
    cases: dict[str, dict[str, Any]]
    request: Callable[..., dict] = no_body
    #: the state a write may change, and what a ``Done`` write changed in it
    state: Callable[..., dict] | None = None
    effect: Callable[..., bool] | None = None
    #: more to check on a page a caller may read (what it must not show)
    check: Callable[..., None] | None = None

    def __post_init__(self):
        assert (self.method == "GET") == (self.state is None), self
        assert (self.state is None) == (self.effect is None), self


def one(expected: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"-": expected}


# The login page sends a signed-in user (a verified one, for the roles with a second factor)
# home.
SIGNED_IN_GO_HOME = dict.fromkeys(SIGNED_IN, Go("home"))
TWO_FACTOR_CALLERS = (COORDINATOR, ADMINISTRATOR, ELSEWHERE)

RULES = [
    # --- Signing in and out, the home map
    Rule("GET", "home", one(READ)),
    Rule("GET", "login", one({ANONYMOUS: 200, **SIGNED_IN_GO_HOME})),
    Rule(
        "POST",
        "login",
        one({ANONYMOUS: Done(Go("home")), **SIGNED_IN_GO_HOME}),
        sign_in,
        session_state,
        signed_in,
    ),
    Rule(
        "POST",
        "logout",
        one(dict.fromkeys(CALLERS, Done(Go("login")))),
        state=session_state,
        effect=signed_out,
    ),
    # The second factor's page: nothing to do for a session that passed it or needs none.
    Rule("GET", "two_factor", one({ANONYMOUS: LOGIN, **SIGNED_IN_GO_HOME})),
    Rule(
        "POST",
        "two_factor",
        one({ANONYMOUS: LOGIN, **SIGNED_IN_GO_HOME}),
        a_code,
        session_state,
        signed_in,
    ),
    # --- The API's schema and docs pages
    Rule("GET", "schema", one(API_DOCS)),
    Rule("GET", "api-docs", one(API_DOCS)),
    Rule("GET", "api-redoc", one(API_DOCS)),
    # --- Partner API tokens: the coordinators of the partner's center
    Rule(
        "GET",
        "monitoring:token_list",
        one(COORDINATORS_PAGE),
        check=shows_no_token_of_another_center,
    ),
    Rule(
        "POST",
        "monitoring:token_list",
        # Another center's coordinator may not name this center's partner: a form error.
        one(only(Done(201), COORDINATOR=True, ELSEWHERE=400)),
        issue_token,
        tokens_state,
        token_issued,
    ),
    Rule(
        "POST",
        "monitoring:token_revoke",
        {"token": only(Done(Go("tokens")), COORDINATOR=True)},
        state=tokens_state,
        effect=token_revoked,
    ),
    # --- Zones: reference data, every active profile
    Rule("GET", "zones:list", one(READ)),
    Rule("GET", "zones:detail", {"zone": READ}),
    # --- Filing: observers and coordinators, in their own center
    Rule("GET", "incidents:report_new", one(FILERS_PAGE)),
    Rule(
        "POST",
        "incidents:report_new",
        # Each filer in their own center, another center's people too.
        one(
            table(
                Done(Go("new report")),
                ELSEWHERE=Done(Go("new report")),
                ELSEWHERE_OBSERVER=Done(Go("new report")),
            )
        ),
        file_one,
        reports_state,
        filed,
    ),
    Rule("GET", "incidents:report_mine", one(FILERS_PAGE)),
    Rule(
        "GET",
        "incidents:report_edit",
        {
            "own_draft": table(200),
            "observer_draft": table(200, COORDINATOR=404),
            "verified": table(Go("detail"), COORDINATOR=403),
        },
    ),
    Rule(
        "POST",
        "incidents:report_edit",
        {
            "own_draft": table(Done(Go("detail"))),
            "observer_draft": table(Done(Go("detail")), COORDINATOR=404),
            # The author's verified report is no longer edited: the form comes back refused.
            "verified": table(200, COORDINATOR=403),
        },
        edit,
        report_state,
        edited,
    ),
    # --- Attachments
    Rule(
        "POST",
        "incidents:attachment_add",
        {
            "own_draft": table(Done(Go("detail"))),
            # The author, and the center's coordinators on its non-drafts.
            "observer_submitted": table(Done(Go("detail"))),
            # Nobody attaches to someone else's draft; nobody sees the coordinator's.
            "coordinator_draft": table(404, COORDINATOR=Done(Go("detail"))),
        },
        attach,
        report_state,
        attached,
    ),
    Rule(
        "GET",
        "incidents:attachment_download",
        {
            "verified": READ_HERE,
            "observer_submitted": table(200, ADMINISTRATOR=404, PARTNER=404),
        },
    ),
    # --- Lists and maps: what each may see
    Rule("GET", "incidents:report_list", one(READ), check=shows_the_visible_reports),
    Rule(
        "GET",
        "incidents:review_queue",
        one(COORDINATORS_PAGE),
        check=queues_the_submitted_reports,
    ),
    Rule("GET", "incidents:report_map", one(READ)),
    Rule("GET", "incidents:report_map_data", one(READ), check=shows_the_visible_reports),
    # --- The report page and its actions
    Rule(
        "GET",
        "incidents:report_detail",
        {
            "verified": READ_HERE,
            "observer_submitted": table(200, ADMINISTRATOR=404, PARTNER=404),
            "observer_draft": table(200, COORDINATOR=404, ADMINISTRATOR=404, PARTNER=404),
            "partner_draft": table(404, ADMINISTRATOR=404, PARTNER=200),
        },
        check=offers_only_forms_it_may_send,
    ),
    Rule(
        "POST",
        "incidents:report_transition",
        {
            # Submit one's own draft (a partner's session may not: its token does).
            "own_draft": table(Done(Go("detail"))),
            # Return a colleague's submitted report: the center's coordinators.
            "observer_submitted": table(403, COORDINATOR=Done(Go("detail"))),
        },
        move,
        report_state,
        moved,
    ),
    Rule(
        "POST",
        "incidents:report_link",
        {"own_submitted": table(Done(Go("detail")))},
        link,
        report_state,
        linked,
    ),
    # --- Daily summaries: published days for every profile of the center, drafts for its
    # coordinators; nothing of another center.
    *(
        Rule(
            "GET",
            f"incidents:{name}",
            {"day": READ_HERE, "draft_day": DRAFT_SUMMARY},
        )
        for name in (
            "summary_detail",
            "summary_print",
            "summary_state",
            "summary_map_data",
            "summary_download",
        )
    ),
    Rule("GET", "incidents:summary_list", one(READ), check=lists_only_the_days_it_may_read),
    Rule(
        "POST",
        "incidents:summary_compile",
        {"day": table(403, COORDINATOR=Done(Go("summary")), ELSEWHERE_OBSERVER=403)},
        state=summary_state,
        effect=compile_queued,
    ),
    Rule(
        "POST",
        "incidents:summary_publish",
        {"draft_day": table(403, COORDINATOR=Done(Go("summary version")), ELSEWHERE_OBSERVER=403)},
        publish,
        summary_state,
        published,
    ),
]

# The Django admin is Django's own: its index and the changelists of reports and people,
# for administrators (staff) only; everyone else is sent to the admin's login page.
ADMIN_ONLY = {**dict.fromkeys(CALLERS, ADMIN_LOGIN), ADMINISTRATOR: 200}
ADMIN_PAGES = [
    ("admin:index", ADMIN_ONLY, None),
    ("admin:incidents_report_changelist", ADMIN_ONLY, shows_only_verified_reports),
    ("admin:monitoring_observer_changelist", ADMIN_ONLY, None),
]

# --- The views of the URL resolver ------------------------------------------------------------

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: not web pages of ours: the API (its own matrix), the admin (rows above), files
EXCLUDED_PREFIXES = ("api/v1/", "admin/", "static/", "media/")


@dataclass(frozen=True)
class WebView:
    name: str
    route: str
    view_class: type

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods the view answers (HEAD and OPTIONS are Django's own)."""
        names = getattr(self.view_class, "http_method_names", ())
        return tuple(
            m for m in HTTP_METHODS if m.lower() in names and hasattr(self.view_class, m.lower())
        )


def web_views() -> list[WebView]:
    found: list[WebView] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, route, space)
            elif isinstance(entry, URLPattern):
                if route.startswith(EXCLUDED_PREFIXES):
                    continue
                view_class = getattr(entry.callback, "view_class", None)
                name = f"{namespace}{entry.name}" if entry.name else f"/{route}"
                found.append(WebView(name, f"/{route}", view_class or type(entry.callback)))

    walk(get_resolver().url_patterns, "", "")
    return found


VIEWS = web_views()
VIEW_METHODS = sorted((view.name, method) for view in VIEWS for method in view.methods)


def rule_for(view: str, method: str) -> Rule | None:
    found = [rule for rule in RULES if rule.view == view and rule.method == method]
    assert len(found) <= 1, f"{method} {view} has several rules: {found}"
    return found[0] if found else None


def test_every_view_method_has_a_rule():
    """A new page (or a new method of one) needs a permission decision here first."""
    missing = [
        f"{method} {view}" for view, method in VIEW_METHODS if rule_for(view, method) is None
    ]
    assert not missing, f"web views without a permission rule in RULES: {missing}"


def test_every_rule_names_a_view_method():
    unused = [rule for rule in RULES if (rule.view, rule.method) not in VIEW_METHODS]
    assert not unused, f"rules that match no web view: {unused}"


def test_every_case_has_an_expectation_for_every_caller():
    for rule in RULES:
        for target, expected in rule.cases.items():
            assert set(expected) == set(CALLERS), (rule.view, target)


def test_the_views_are_found():
    names = {view.name for view in VIEWS}
    assert {"home", "login", "incidents:report_detail", "zones:list", "schema"} <= names
    assert not any(view.route.startswith(("/api/v1/", "/admin/")) for view in VIEWS)


# --- The world --------------------------------------------------------------------------------


@dataclass
class World:
    center: Any
    users: dict[str, Any]
    reports: dict[str, Any]
    zone: Any
    token: Any

    def report(self, target: str, caller: str):
        if target.startswith("own_"):
            author = {OBSERVER: "observer", COORDINATOR: "coordinator", PARTNER: "partner"}
            return self.reports[f"{author.get(caller, 'observer')}_{target[4:]}"]
        return self.reports[target]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The center and its people, made once for the module in a transaction rolled back at
    its end; each test runs in a savepoint of it (the ``db`` fixture)."""
    isolated = override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media"))
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
    SettlementFactory()
    PostFactory(zone=zone)
    center = CenterFactory(zones=[zone])
    other_center = CenterFactory(zones=[zone])
    delegation = PartyFactory(code="russia", name="Russian Federation")

    def member(role, at=center):
        return ObserverFactory(role=role, center=at, delegation=delegation).user

    users = {
        OBSERVER: member(ObserverRole.OBSERVER),
        COORDINATOR: member(ObserverRole.COORDINATOR),
        ADMINISTRATOR: member(ObserverRole.ADMINISTRATOR),
        PARTNER: member(ObserverRole.PARTNER),
        ELSEWHERE: member(ObserverRole.COORDINATOR, at=other_center),
        ELSEWHERE_OBSERVER: member(ObserverRole.OBSERVER, at=other_center),
        NO_PROFILE: UserFactory(),
    }
    users[ADMINISTRATOR].is_staff = True
    users[ADMINISTRATOR].save(update_fields=["is_staff"])
    observer, coordinator, partner = users[OBSERVER], users[COORDINATOR], users[PARTNER]
    token, _secret = partner_token_issue(
        partner_user=partner, name="Partner sync", scopes="read", actor=coordinator
    )
    reports = {}
    for name, author in (
        ("observer", observer),
        ("coordinator", coordinator),
        ("partner", partner),
    ):
        reports[f"{name}_draft"] = report_file(author)
        reports[f"{name}_submitted"] = report_file(author, status=S.SUBMITTED)
    reports["verified"] = report_file(observer, status=S.VERIFIED, reviewer=coordinator)
    reports["verified_again"] = report_file(observer, status=S.VERIFIED, reviewer=coordinator)
    corroboration_link(report=reports["verified"], other=reports["verified_again"], actor=observer)
    attachment_add(report=reports["verified"], actor=observer, upload=png((200, 30, 30)))
    attachment_add(report=reports["observer_submitted"], actor=observer, upload=png((30, 200, 30)))
    version = summary_compile(center=center, day=DAY)
    summary_publish(version=version, actor=coordinator)
    summary_compile(center=center, day=DRAFT_DAY)  # a draft, the coordinators' only
    return World(center, users, reports, zone, token)


def signed_in_client(client, world: World, caller: str):
    """``client`` signed in as ``caller``: ``force_login``, which tests/conftest.py makes a
    session past the second factor for the accounts that need one."""
    user = world.users.get(caller)
    if user is not None:
        client.force_login(user)
    return client


def resolve(world: World, view: str, target: str, caller: str) -> tuple[str, Any]:
    """The URL of ``view`` for ``target`` as ``caller`` asks it, and the record it names."""
    kwargs: dict[str, Any] = {}
    record: Any = None
    if target in ("day", "draft_day"):
        record = DAY if target == "day" else DRAFT_DAY
        kwargs = {"center": world.center.code, "day": record.isoformat()}
        if view.endswith("summary_download"):
            kwargs["fmt"] = "json"
    elif target == "token":
        record = world.token
        kwargs = {"pk": record.pk}
    elif target == "zone":
        record = world.zone
        kwargs = {"code": record.code}
    elif target != "-":
        record = world.report(target, caller)
        kwargs = {"uuid": record.uuid}
        if view.endswith("attachment_download"):
            kwargs["pk"] = record.attachments.get().pk
    if view.endswith("report_new"):
        kwargs = {"kind": "violation"}
    return reverse(view, kwargs=kwargs), record


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return "<stream>"
    return response.content.decode(errors="replace")


def assert_redirect(response, expected: str, where: str) -> None:
    assert response.status_code == 302, where
    assert response["Location"] == expected, where


def assert_login_redirect(response, login: str, url: str, where: str) -> None:
    assert response.status_code == 302, where
    location = urlsplit(response["Location"])
    assert location.path == login, where
    assert parse_qs(location.query)["next"] == [url], where


def location_of(go: Go, ctx) -> str | None:
    if go.where == "home":
        return reverse("home")
    if go.where == "login":
        return reverse(django_settings.LOGIN_URL)
    if go.where == "tokens":
        return reverse("monitoring:token_list")
    if go.where == "detail":
        return reverse("incidents:report_detail", args=[ctx.record.uuid])
    if go.where.startswith("summary"):
        url = reverse("incidents:summary_detail", args=[ctx.world.center.code, ctx.record])
        return f"{url}?version=1" if go.where == "summary version" else url
    if go.where == "two-factor":
        return f"{reverse('two_factor')}?{urlencode({'next': reverse('home')})}"
    if go.where == "new report":
        newest = Report.objects.order_by("-pk").first()
        return reverse("incidents:report_detail", args=[newest.uuid])
    raise AssertionError(go)


# --- The matrix -------------------------------------------------------------------------------

CASES = [
    pytest.param(rule, target, caller, id=f"{rule.method} {rule.view} [{target}] {caller}")
    for rule in RULES
    for target in rule.cases
    for caller in CALLERS
]


@pytest.fixture
def quiet_broker(broker):
    """The summaries' task queue (tests/conftest.py ``broker``): what a compile queued."""
    broker_breaker_reset()
    return broker


def case_context(world, client, broker, rule: Rule, target: str, caller: str):
    """The URL of one case and what its rule's request, state and effect read."""
    url, record = resolve(world, rule.view, target, caller)
    ctx = SimpleNamespace(
        world=world,
        client=client,
        broker=broker,
        caller=caller,
        user=world.users.get(caller),
        record=record,
    )
    return url, ctx


@pytest.mark.parametrize(("rule", "target", "caller"), CASES)
def test_the_matrix(world, db, client, quiet_broker, rule, target, caller):
    client = signed_in_client(client, world, caller)
    url, ctx = case_context(world, client, quiet_broker, rule, target, caller)
    before = rule.state(ctx) if rule.state else None
    response = getattr(client, rule.method.lower())(url, rule.request(ctx))
    expected = rule.cases[target][caller]
    where = f"{caller}: {rule.method} {url} -> {response.status_code} {_body(response)[:300]}"
    assert response.status_code < 500, where

    done = isinstance(expected, Done)
    outcome = expected.outcome if done else expected
    if outcome == LOGIN:
        assert_login_redirect(response, reverse(django_settings.LOGIN_URL), url, where)
    elif isinstance(outcome, Go):
        assert_redirect(response, location_of(outcome, ctx), where)
    else:
        assert response.status_code == outcome, where
        if outcome == 200 and rule.check is not None:
            rule.check(ctx, response)

    if rule.state is None:
        return
    after = rule.state(ctx)
    if done:
        assert rule.effect(before, after, ctx), f"{where}: not done ({before} -> {after})"
    else:
        assert after == before, f"{where}: a refused request changed {before} -> {after}"


@pytest.mark.parametrize(
    ("name", "expected", "check"), ADMIN_PAGES, ids=[p[0] for p in ADMIN_PAGES]
)
@pytest.mark.parametrize("caller", CALLERS)
def test_the_admin(world, db, client, name, expected, check, caller):
    """Django's admin: administrators (staff) only; everyone else gets the admin's login."""
    client = signed_in_client(client, world, caller)
    url = reverse(name)
    response = client.get(url)
    where = f"{caller}: GET {url} -> {response.status_code}"
    if expected[caller] == ADMIN_LOGIN:
        assert_login_redirect(response, reverse("admin:login"), url, where)
        return
    assert response.status_code == expected[caller], where
    if check is not None:
        check(SimpleNamespace(world=world, caller=caller), response)


#: views whose users are sessions that have not passed their second factor yet
UNVERIFIED_USERS = {"two_factor": COORDINATOR}


def _allowed_caller(view: str) -> tuple[Rule, str, str]:
    """A rule, target and caller that may use ``view`` (its page or its form)."""
    if view in UNVERIFIED_USERS:
        return rule_for(view, "GET"), "-", UNVERIFIED_USERS[view]
    for rule in RULES:
        if rule.view != view:
            continue
        for target, expected in rule.cases.items():
            for caller in CALLERS:
                outcome = expected[caller]
                if outcome == 200 or isinstance(outcome, Done):
                    return rule, target, caller
    raise AssertionError(f"nobody may use {view}")


@pytest.mark.parametrize("view", VIEWS, ids=[view.name for view in VIEWS])
def test_methods_a_view_does_not_accept_answer_405(world, db, client, view):
    """What a view does not accept is refused with 405 (and its Allow header), even to a
    caller who may use the view."""
    _rule, target, caller = _allowed_caller(view.name)
    client = signed_in_client(client, world, caller)
    if view.name in UNVERIFIED_USERS:
        session = client.session
        session.pop(DEVICE_ID_SESSION_KEY, None)
        session.save()
    url, _record = resolve(world, view.name, target, caller)
    refused = [m for m in HTTP_METHODS if m not in view.methods]
    assert refused, view
    for method in refused:
        response = getattr(client, method.lower())(url)
        assert response.status_code == 405, (method, url, response.status_code)
        allowed = {word.strip() for word in response["Allow"].split(",")}
        assert method not in allowed and set(view.methods) <= allowed, (method, url, allowed)


# --- A session short of its second factor ------------------------------------------------------

# The pages such a session may still open: signing in and out, and the second factor's own.
OPEN_BEFORE_THE_SECOND_FACTOR = {"login", "logout", "two_factor"}


@pytest.mark.parametrize("caller", TWO_FACTOR_CALLERS)
def test_a_session_short_of_its_second_factor_reaches_no_page(
    world, db, client, quiet_broker, caller
):
    """Every other page, read or write, sends a password-only session of a coordinator or an
    administrator to the second factor (``next`` = the page) and changes nothing; so does the
    admin. The API's schema and docs refuse it as the API does (403)."""
    client = signed_in_client(client, world, caller)
    session = client.session
    del session[DEVICE_ID_SESSION_KEY]  # what the password alone gives
    session.save()
    checked = 0
    for rule in RULES:
        if rule.view in OPEN_BEFORE_THE_SECOND_FACTOR:
            continue
        for target in rule.cases:
            url, ctx = case_context(world, client, quiet_broker, rule, target, caller)
            before = rule.state(ctx) if rule.state else None
            response = getattr(client, rule.method.lower())(url, rule.request(ctx))
            where = f"{caller}: {rule.method} {url} -> {response.status_code}"
            if url.startswith("/api/"):  # the API's schema and docs: the API's refusal
                assert response.status_code == 403, where
                assert "Two-factor verification required" in response.json()["detail"], where
                checked += 1
                continue
            assert response.status_code == 302, where
            location = urlsplit(response["Location"])
            assert location.path == reverse("two_factor"), where
            assert parse_qs(location.query)["next"][0].startswith(url), where
            if rule.state is not None:
                assert rule.state(ctx) == before, f"{where}: changed"
            checked += 1
    for name, _expected, _check in ADMIN_PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert urlsplit(response["Location"]).path == reverse("two_factor"), name
        checked += 1
    assert checked > 40

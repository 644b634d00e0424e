"""A database that cannot be reached answers 503 with ``Retry-After`` and a clear message, and
the service resumes by itself once it is back (monitoring/outage.py).

End to end: a real gunicorn (DEBUG off, persistent connections) on a PostgreSQL server of
the test's own. Restarted between two requests, it costs no request (the stale connections
are replaced). Stopped: the home page, the report list, an API list and an API POST answer
503 without a traceback, each logged once; started again (same data, same port), the very
same requests succeed at the first try, and a report filed before the outage is still there.

In process, no restart: the failure is a real connection to a database that is not there (a
closed port, a folder that does not exist) that a router sends the queries to, raised in a
view, a deferred template render, a DRF view, a middleware loading the session: each is the
503. An integrity or programming error stays a 500; so do "no such table" and "database is
locked" (real driver errors, classified).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, connections, transaction
from django.db.utils import load_backend
from django.http import HttpResponse
from django.template import engines
from django.template.response import SimpleTemplateResponse
from django.urls import path

import config.urls
from incidents.models import Report
from monitoring.choices import ObserverRole
from monitoring.outage import RETRY_AFTER_SECONDS, database_unreachable
from tests.api_base import client_for
from tests.factories import violation_payload
from tests.servers import PostgresServer, ServerUnavailable, free_port, port_open, skip_or_fail

BASE_DIR = Path(django_settings.BASE_DIR)
THIS = "tests.monitoring.test_database_outage"
UNREACHABLE = "unreachable"
TRACEBACK_WORDS = ("Traceback", "OperationalError", 'File "', "psycopg", "sqlite3")
API_REPORTS = "/api/v1/reports/"


# --- In process: each place a request can first touch the database ----------------------------


class EverythingUnreachable:
    """A database router that sends every query to the ``unreachable`` alias."""

    def db_for_read(self, model, **hints):
        return UNREACHABLE

    db_for_write = db_for_read


class EagerUserMiddleware:
    """Loads the session and the user while the request goes in, as an access-control
    middleware does (two-factor checks, ...)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user.is_authenticated  # noqa: B018 - the load is the point
        return self.get_response(request)


def reports_view(request):
    return HttpResponse(f"{Report.objects.count()} reports")


def deferred_template_view(request):
    """The queryset is evaluated while the template renders, after the view returned."""
    template = engines["django"].from_string("{% for report in reports %}{{ report }}{% endfor %}")
    return SimpleTemplateResponse(template, {"reports": Report.objects.using(UNREACHABLE)})


def integrity_error_view(request):
    User = get_user_model()
    with transaction.atomic():
        User.objects.create(username="twice")
        User.objects.create(username="twice")
    return HttpResponse("unreachable")


def missing_table_view(request):
    with transaction.atomic(), connection.cursor() as cursor:
        # PostgreSQL: a ProgrammingError; SQLite: an OperationalError "no such table".
        cursor.execute("SELECT * FROM no_such_table_at_all")
    return HttpResponse("unreachable")


urlpatterns = [
    path("outage-test/reports/", reports_view),
    path("outage-test/template/", deferred_template_view),
    path("outage-test/integrity/", integrity_error_view),
    path("outage-test/missing-table/", missing_table_view),
    *config.urls.urlpatterns,
]
handler500 = config.urls.handler500


@contextmanager
def closed_port():
    """A loopback port that refuses connections: bound (so nobody else can take it, a test
    PostgreSQL server least of all) but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _unreachable_config(engine: str, tmp_path: Path, port: int) -> dict:
    if engine == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "ceasefire",
            "USER": "ceasefire",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "OPTIONS": {"connect_timeout": 2},
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "gone" / "db.sqlite3")}


@pytest.fixture
def refusing_port():
    with closed_port() as port:
        yield port


@pytest.fixture(params=["postgresql", "sqlite"])
def unreachable(request, db, tmp_path):
    """The ``unreachable`` connection: a PostgreSQL port nobody listens on, or an SQLite file
    in a folder that does not exist. ``unreachable.route_all(settings)`` sends every query
    there. (A connection made here, not named in DATABASES: the test case lets it connect.)"""
    port = request.getfixturevalue("refusing_port")
    config = connections.configure_settings(
        {
            "default": connections.settings["default"],
            UNREACHABLE: _unreachable_config(request.param, tmp_path, port),
        }
    )[UNREACHABLE]
    connections[UNREACHABLE] = load_backend(config["ENGINE"]).DatabaseWrapper(config, UNREACHABLE)

    class Unreachable:
        engine = request.param

        @staticmethod
        def route_all(settings) -> None:
            settings.DATABASE_ROUTERS = [f"{THIS}.EverythingUnreachable"]

    yield Unreachable
    connections[UNREACHABLE].close()
    del connections[UNREACHABLE]


def no_raise(client):
    """The test client re-raises a view's exception by default; the server does not."""
    client.raise_request_exception = False
    return client


def assert_503(response, *, api: bool) -> None:
    body = response.content.decode()
    assert response.status_code == 503, (response.status_code, body[:500])
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response["Cache-Control"] == "no-store"
    if api:
        assert response["Content-Type"] == "application/json"
        data = json.loads(body)
        assert data["status"] == "unavailable"
        assert "cannot reach its database" in data["detail"]
    else:
        assert response["Content-Type"].startswith("text/html")
        assert "The service cannot reach its database" in body
        assert "<script" not in body and "<style" not in body and " style=" not in body
    for word in TRACEBACK_WORDS:
        assert word not in body, word


def outage_log_lines(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "monitoring.outage" and record.levelname == "WARNING"
    ]


@pytest.mark.urls(THIS)
def test_a_query_in_a_view_answers_the_503_page_and_logs_once(
    client, unreachable, settings, caplog
):
    unreachable.route_all(settings)
    response = no_raise(client).get("/outage-test/reports/")
    assert_503(response, api=False)
    lines = outage_log_lines(caplog)
    assert len(lines) == 1, lines
    assert "GET /outage-test/reports/ answered 503" in lines[0]
    assert not [r for r in caplog.records if r.name == "django.request"], "logged twice"
    assert not [r for r in caplog.records if r.exc_info and r.name == "monitoring.outage"]


@pytest.mark.urls(THIS)
def test_a_query_while_the_template_renders_answers_503(client, unreachable):
    assert_503(no_raise(client).get("/outage-test/template/"), api=False)


@pytest.mark.urls(THIS)
def test_loading_the_session_in_a_middleware_answers_503_through_the_outer_ones(
    make_member, unreachable, settings, caplog
):
    """The exception is turned into a response at the middleware it passes; the outer ones
    still add their headers."""
    client = no_raise(client_for(make_member(ObserverRole.OBSERVER)))
    at = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[: at + 1],
        f"{THIS}.EagerUserMiddleware",
        *settings.MIDDLEWARE[at + 1 :],
    ]
    unreachable.route_all(settings)
    response = client.get("/outage-test/reports/")
    assert_503(response, api=False)
    assert "Content-Security-Policy" in response  # csp.middleware, outside
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware, outermost
    assert len(outage_log_lines(caplog)) == 1


def test_a_page_loading_the_user_in_its_view_answers_503(make_member, unreachable, settings):
    client = no_raise(client_for(make_member(ObserverRole.OBSERVER)))
    assert client.get("/reports/").status_code == 200
    unreachable.route_all(settings)
    assert_503(client.get("/"), api=False)
    assert_503(client.get("/reports/"), api=False)


def test_the_api_answers_503_json_for_a_session_and_a_token(
    make_member, unreachable, settings, caplog
):
    from monitoring.services import partner_token_issue

    observer = no_raise(client_for(make_member(ObserverRole.OBSERVER)))
    _, secret = partner_token_issue(
        partner_user=make_member(ObserverRole.PARTNER),
        name="outage",
        scopes="read write",
        actor=make_member(ObserverRole.COORDINATOR),
    )
    partner = no_raise(client_for(None))
    partner.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert observer.get(API_REPORTS).status_code == 200
    unreachable.route_all(settings)
    assert_503(observer.get(API_REPORTS), api=True)
    assert_503(partner.get(API_REPORTS), api=True)
    assert_503(partner.post(API_REPORTS, violation_payload(), format="json"), api=True)
    assert len(outage_log_lines(caplog)) == 3
    settings.DATABASE_ROUTERS = []
    assert not Report.objects.exists(), "nothing half saved"


@pytest.mark.urls(THIS)
@pytest.mark.django_db
@pytest.mark.parametrize("where", ["/outage-test/integrity/", "/outage-test/missing-table/"])
def test_other_database_errors_stay_a_500(client, where, caplog):
    response = no_raise(client).get(where)
    assert response.status_code == 500
    assert "Server error" in response.content.decode()
    assert not outage_log_lines(caplog)
    assert [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]


def test_only_connection_failures_count_as_unreachable(tmp_path, refusing_port):
    """Real driver errors, classified (the Django wrappers are checked above)."""

    def error_of(action) -> BaseException:
        try:
            action()
        except Exception as exc:
            return exc
        raise AssertionError("no error")

    gone = error_of(lambda: sqlite3.connect(tmp_path / "gone" / "db.sqlite3"))
    assert database_unreachable(gone)

    db = tmp_path / "db.sqlite3"
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE t (x int)")
        holder.execute("BEGIN IMMEDIATE")
        with closing(sqlite3.connect(db, timeout=0, isolation_level=None)) as other:
            locked = error_of(lambda: other.execute("BEGIN IMMEDIATE"))
            assert "database is locked" in str(locked)
            assert not database_unreachable(locked)
            missing = error_of(lambda: other.execute("SELECT * FROM nothing"))
            assert not database_unreachable(missing)
        holder.execute("ROLLBACK")

    refused = error_of(
        lambda: psycopg.connect(host="127.0.0.1", port=refusing_port, user="x", connect_timeout=2)
    )
    assert database_unreachable(refused)
    assert database_unreachable(RuntimeError("wrapped")) is False
    try:
        raise ValueError("a wrapper") from refused
    except ValueError as wrapper:
        assert database_unreachable(wrapper)
    assert not database_unreachable(IntegrityError("duplicate key"))
    assert not database_unreachable(psycopg.errors.UniqueViolation("duplicate key"))
    assert not database_unreachable(psycopg.errors.SerializationFailure("retry"))
    assert not database_unreachable(psycopg.errors.QueryCanceled("statement timeout"))
    assert database_unreachable(psycopg.errors.AdminShutdown("terminating connection"))
    assert database_unreachable(psycopg.errors.CannotConnectNow("starting up"))


# --- End to end: gunicorn on a PostgreSQL that is stopped and started again ----------------------

SETUP = """
import json
from importlib import import_module
from django.conf import settings
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from monitoring.choices import ObserverRole
from monitoring.services import partner_token_issue
from tests.factories import CenterFactory, ObserverFactory, ZoneFactory

center = CenterFactory(zones=[ZoneFactory()])
def member(role):
    return ObserverFactory(role=role, center=center).user
observer = member(ObserverRole.OBSERVER)
_, secret = partner_token_issue(
    partner_user=member(ObserverRole.PARTNER), name="outage", scopes="read write",
    actor=member(ObserverRole.COORDINATOR),
)
backend = "django.contrib.auth.backends.ModelBackend"
if backend not in settings.AUTHENTICATION_BACKENDS:
    backend = settings.AUTHENTICATION_BACKENDS[-1]
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(observer.pk)
session[BACKEND_SESSION_KEY] = backend
session[HASH_SESSION_KEY] = observer.get_session_auth_hash()
session.save()
print(json.dumps({"cookie": settings.SESSION_COOKIE_NAME, "session": session.session_key,
                  "token": secret}))
"""
SERVER_START_SECONDS = 30
# The pages requested need only the project's own assets, htmx and Leaflet: the API docs'
# and the admin's bundles (most of collectstatic's time) stay out.
STATIC_IGNORED = ("drf_spectacular_sidecar", "admin", "rest_framework")


def _manage(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen, what: str, timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"{what} failed:\n{out}\n{err}"
    return out


class Site:
    """The requests of the test, as a signed-in observer (pages) and a partner tool (API)."""

    def __init__(self, base: str, cookie: str, session: str, token: str) -> None:
        self.base = base
        self.browser = requests.Session()
        self.browser.cookies.set(cookie, session, domain="127.0.0.1", path="/")
        self.tool = requests.Session()
        self.tool.headers["Authorization"] = f"Token {token}"

    def home(self):
        return self.browser.get(self.base + "/", timeout=20, allow_redirects=False)

    def report_list(self):
        return self.browser.get(self.base + "/reports/", timeout=20, allow_redirects=False)

    def api_list(self):
        return self.tool.get(self.base + API_REPORTS, timeout=20)

    def api_file(self, narrative: str):
        payload = violation_payload(narrative=narrative)
        return self.tool.post(self.base + API_REPORTS, json=payload, timeout=20)

    def api_get(self, uuid: str):
        return self.tool.get(f"{self.base}{API_REPORTS}{uuid}/", timeout=20)

    def every_request(self) -> dict[str, requests.Response]:
        return {
            "home": self.home(),
            "report list": self.report_list(),
            "api list": self.api_list(),
            "api post": self.api_file("Filed during the outage."),
        }


def assert_http_503(name: str, response: requests.Response) -> None:
    body = response.text
    assert response.status_code == 503, (name, response.status_code, body[:500])
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS), name
    if name.startswith("api"):
        assert response.json()["status"] == "unavailable", name
        assert "cannot reach its database" in response.json()["detail"], name
    else:
        assert "The service cannot reach its database" in body, name
    for word in TRACEBACK_WORDS:
        assert word not in body, (name, word)


@pytest.mark.faults
@pytest.mark.postgres
def test_gunicorn_answers_503_while_postgresql_is_down_and_resumes_with_nothing_lost(tmp_path):
    try:
        database = PostgresServer()
    except ServerUnavailable as exc:
        skip_or_fail(f"PostgreSQL server unavailable: {exc}")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "outage-test-secret-" + "k3Vb9" * 10,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # Plain http on loopback: no proxy in front.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "off",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "CEASEFIRE_VAR_DIR": str(tmp_path / "var"),
        # Persistent connections, as in production (the suite turns them off).
        "DATABASE_CONN_MAX_AGE": "60",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "gunicorn.log"
    server = None
    with database:
        env["DATABASE_URL"] = database.url
        ignored = [argument for name in STATIC_IGNORED for argument in ("--ignore", name)]
        collect = _manage("collectstatic", "--noinput", "-v", "0", *ignored, env=env)
        setup = _manage("shell", "-c", SETUP, env=env)  # migrate, then the accounts
        made = json.loads(_finish(setup, "migrate and setup").splitlines()[-1])
        _finish(collect, "collectstatic")
        try:
            with log_path.open("w") as log:
                server = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "gunicorn", "config.wsgi"),
                        *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "30"),
                    ],
                    cwd=BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + SERVER_START_SECONDS
            while not port_open(port):
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, (
                    "gunicorn did not start:\n" + log_path.read_text()
                )
                time.sleep(0.1)
            site = Site(f"http://127.0.0.1:{port}", made["cookie"], made["session"], made["token"])

            # Before: everything works, on both workers' persistent connections.
            before = site.api_file("Filed before the outage.")
            assert before.status_code == 201, before.text
            filed = before.json()["uuid"]
            for _ in range(3):
                for name, response in _reads(site).items():
                    assert response.status_code == 200, (name, response.status_code)

            # A restart between two requests: each worker's persistent connection is stale,
            # and is replaced before its first query (CONN_HEALTH_CHECKS). No request fails.
            database.restart("fast")
            for round_ in range(3):
                for name, response in _reads(site).items():
                    assert response.status_code == 200, ("stale", round_, name, response.text)

            idle = psycopg.connect(database.url.replace("postgres://", "postgresql://", 1))

            database.halt("fast")
            shutdown = _error_of(lambda: idle.execute("SELECT 1"))
            assert database_unreachable(shutdown), repr(shutdown)  # the server ended it
            idle.close()
            for _ in range(2):
                for name, response in site.every_request().items():
                    assert_http_503(name, response)
            # The liveness check of docs/operations.md: the login page needs no database.
            assert requests.get(site.base + "/accounts/login/", timeout=20).status_code == 200

            database.resume()
            # No retry: the first request after the restart already works, on each worker.
            for round_ in range(3):
                for name, response in _reads(site).items():
                    assert response.status_code == 200, (round_, name, response.status_code)
                after = site.api_file(f"Filed after the outage ({round_}).")
                assert after.status_code == 201, (round_, after.text)
            assert site.api_get(filed).status_code == 200, "the report filed before is gone"
            narratives = [row["narrative"] for row in site.api_list().json()["results"]]
            assert "Filed before the outage." in narratives
            assert "Filed during the outage." not in narratives
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=10)
    log = log_path.read_text()
    assert "Traceback" not in log, log
    outage_lines = re.findall(r"Database unavailable: (\w+) (\S+) answered 503", log)
    # Each request of the outage logged once (2 rounds of 4 requests).
    assert sorted(outage_lines) == sorted(
        [("GET", "/"), ("GET", "/reports/"), ("GET", API_REPORTS), ("POST", API_REPORTS)] * 2
    ), log


def _reads(site: Site) -> dict[str, requests.Response]:
    return {"home": site.home(), "report list": site.report_list(), "api list": site.api_list()}


def _error_of(action) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("no error")

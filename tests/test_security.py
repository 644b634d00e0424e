"""Security settings: the headers every response carries, production's cookies and HTTPS
settings, and the deployment checklist (docs/security.md)."""

from __future__ import annotations

import json

import pytest

from tests.test_settings import run_python

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-" + "x7Qp2" * 10,
    "DJANGO_ALLOWED_HOSTS": "monitor.example.org",
}
SECURITY_PROBE = (
    "import json, config.settings as s; "
    "names = ['SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', "
    "'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_SAMESITE', 'SECURE_SSL_REDIRECT', "
    "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
    "'SECURE_PROXY_SSL_HEADER', 'CONTENT_SECURITY_POLICY']; "
    "print(json.dumps({n: getattr(s, n, None) for n in names}, default=str))"
)


def security_settings(tmp_path, **env: str) -> dict:
    result = run_python(SECURITY_PROBE, CEASEFIRE_VAR_DIR=str(tmp_path), **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_deploy(tmp_path, **env: str):
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
    )
    return run_python(code, CEASEFIRE_VAR_DIR=str(tmp_path), **env)


def test_production_is_https_only_with_secure_cookies_and_hsts(tmp_path):
    s = security_settings(tmp_path, **PRODUCTION)
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_HTTPONLY"] is True
    assert s["CSRF_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_SAMESITE"] == s["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_HSTS_SECONDS"] == 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SECURE_HSTS_PRELOAD"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_the_embedded_default_serves_plain_http_on_localhost(tmp_path):
    s = security_settings(tmp_path)
    assert s["SESSION_COOKIE_SECURE"] is False
    assert s["CSRF_COOKIE_SECURE"] is False
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SECURE_HSTS_SECONDS"] == 0
    assert s["SECURE_PROXY_SSL_HEADER"] is None
    # The policy is the same in debug, so that the tests and `make run` see it.
    assert "'self'" in s["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["script-src"]


def test_https_settings_follow_the_environment(tmp_path):
    s = security_settings(
        tmp_path,
        **PRODUCTION,
        DJANGO_SECURE_HSTS_SECONDS="3600",
        DJANGO_SECURE_HSTS_PRELOAD="false",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Scheme: https",
        MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png",
    )
    assert s["SECURE_HSTS_SECONDS"] == 3600
    assert s["SECURE_HSTS_PRELOAD"] is False
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_SCHEME", "https"]
    # The center's own tile server is the one image origin allowed besides ours.
    img_src = s["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["img-src"]
    assert "https://tiles.example.org" in img_src
    off = security_settings(tmp_path, **PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER="off")
    assert off["SECURE_PROXY_SSL_HEADER"] is None


def test_a_malformed_proxy_header_is_refused_with_its_name(tmp_path):
    result = run_python(
        SECURITY_PROBE,
        CEASEFIRE_VAR_DIR=str(tmp_path),
        **PRODUCTION,
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert result.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER must be" in result.stderr


def test_production_passes_the_deployment_checklist_and_weakened_settings_do_not(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    for weakened, check_id in [
        ({"DJANGO_SECURE_COOKIES": "false"}, "security.W012"),
        ({"DJANGO_SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"DJANGO_SECURE_SSL_REDIRECT": "false"}, "security.W008"),
    ]:
        failing = check_deploy(tmp_path, **PRODUCTION, **weakened)
        assert failing.returncode != 0, weakened
        assert check_id in failing.stderr + failing.stdout, weakened


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().partition(" ")[::2] for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no nonce unless a page asks for one
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["img-src"] == "'self' data:"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_the_swagger_page_runs_its_init_script_under_this_responses_nonce(make_member, client):
    user = make_member("observer")
    client.force_login(user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    nonce = response.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    html = response.content.decode()
    assert f'<script nonce="{nonce}">' in html
    # Every other script of the page is a file; the nonce changes with every response.
    assert html.count("<script>") == 0
    again = client.get("/api/docs/").headers["Content-Security-Policy"]
    assert f"'nonce-{nonce}'" not in again


@pytest.mark.django_db
def test_the_login_cookies_are_http_only_and_same_site(make_member, client):
    user = make_member("observer")
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"

"""The pages under the Content-Security-Policy in a real browser (Debian's Chromium).

Every main page is loaded with the policy the app sends (``default-src 'self'``, scripts and
styles from our own files only); the browser must report no violation (recorded from
``securitypolicyviolation`` events and from the console), and each page must still work:
the login form submits, the maps initialise, the API docs render the schema.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from monitoring.choices import ObserverRole
from zones.models import Zone

from .signin import PASSWORD, pass_second_factor
from .test_map import member

pytestmark = pytest.mark.browser

# Records every violation the page reports, from the first script on.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} ` +
    `(${event.sourceFile || location.pathname}:${event.lineNumber})`
  );
});
"""


@pytest.fixture
def watched(page):
    """The page with violation recording, and every console message mentioning the CSP."""
    page.add_init_script(RECORD_VIOLATIONS)
    page.csp_console = []
    page.on(
        "console",
        lambda message: (
            page.csp_console.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    return page


def violations(page) -> list[str]:
    return page.evaluate("() => window.__cspViolations || []") + page.csp_console


def visit(page, path: str) -> None:
    response = page.goto(path)
    assert response.status == 200, path
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "script-src 'self'" in policy, (path, policy)
    page.wait_for_load_state("load")


@pytest.fixture
def seeded(transactional_db):
    call_command("seed", stdout=io.StringIO())
    assert Zone.objects.exists()


def test_the_main_pages_work_under_the_policy_with_no_violation(watched, live_server, seeded):
    page = watched
    user = member(ObserverRole.COORDINATOR)

    visit(page, "/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()  # form-action 'self'
    pass_second_factor(page, user)  # the set-up page: its QR code, the backup codes
    expect(page).to_have_url(live_server.url + "/")
    assert violations(page) == []

    checks = {
        "/": "#zones-map.leaflet-container path.zone-shape",
        "/zones/": "h1",
        "/zones/idlib/": "#zone-map.leaflet-container path.zone-idlib",
        "/reports/": "h1",
        "/reports/new/violation/": "[data-report-map].map--ready.leaflet-container",
        "/reports/map/": "[data-testid=map-status]:not(:has-text('Loading'))",
        "/reports/review/": "h1",
        "/reports/summaries/": "h1",
        "/tokens/": "h1",
        # Swagger UI: its init script runs under this response's nonce.
        "/api/docs/": "#swagger-ui .opblock-tag",
    }
    for path, ready in checks.items():
        visit(page, path)
        # Swagger UI parses the whole schema in the page: slow on a loaded CI machine.
        expect(page.locator(ready).first).to_be_visible(timeout=60_000)
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path
        assert page.log.errors == [], path

    # A form of the pages submits under the policy: typing a point on the filing page
    # classifies it (htmx), and the page's own script reacts.
    visit(page, "/reports/new/violation/")
    page.locator("#id_latitude").fill("35.9")
    page.locator("#id_longitude").fill("36.6")
    expect(page.get_by_test_id("classification")).to_contain_text(re.compile(r"\S"))
    assert violations(page) == []
    assert page.log.external_requests(live_server.url) == []


def test_an_injected_inline_script_is_refused_and_reported(watched, live_server, seeded):
    """The policy really blocks inline code, and the recording above really sees it."""
    page = watched
    visit(page, "/accounts/login/")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__injected = true;";
            document.body.append(script);
            const holder = document.createElement("div");
            holder.innerHTML = '<p style="color: red">styled</p>';
            document.body.append(holder);
        }"""
    )
    page.wait_for_function("() => window.__cspViolations.length >= 2")
    assert page.evaluate("() => window.__injected === undefined")
    found = " ".join(violations(page))
    assert "script-src" in found
    assert "style-src" in found


def test_the_redoc_api_reference_renders_under_the_policy(watched, live_server, seeded):
    """Redoc writes two <style> elements before it can be handed the nonce (allowed by their
    hashes, config/settings.py REDOC_STYLE_HASHES) and runs its search in a blob: worker."""
    page = watched
    user = member(ObserverRole.OBSERVER)
    visit(page, "/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + "/")
    visit(page, "/api/redoc/")
    # Redoc parses the whole schema in the page before it draws: slow on a loaded machine.
    expect(page.locator(".api-info h1").first).to_contain_text(
        "ceasefire-monitor API", timeout=90_000
    )
    expect(page.locator("[role=search] input, .menu-content").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    # The one thing the policy stops: the bundle's "API docs by Redocly" footer always draws
    # its logo from cdn.redoc.ly (no option turns it off); blocked before any request leaves,
    # and Redoc drops the image when it fails. Nothing else is refused.
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert all(logo in v for v in violations(page)), violations(page)
    assert all(logo in e for e in page.log.errors), page.log.errors
    assert [u for u in page.log.external_requests(live_server.url) if u != logo] == []

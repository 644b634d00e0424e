"""Browser tests: Playwright's sync API driving Debian's Chromium (/usr/bin/chromium).

Playwright's own browser download does not work on these machines, so the browser is
launched from ``executable_path`` with the flags the environment needs (no background
networking: the machine's network is closed). Playwright gives every launch a fresh,
empty ``--user-data-dir`` of its own (it refuses the flag from the caller), so each test
starts with a new profile.

Playwright's sync API keeps an event loop running in the test's thread, which makes
Django refuse ORM calls from that thread unless ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set; the
``browser`` fixture sets it for the test that uses it only, and stops Playwright after it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from django.db import connections

from tests.servers import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class PageLog:
    """What a page did: every request it made, and every error it reported."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def external_requests(self, origin: str) -> list[str]:
        return [
            url
            for url in self.requests
            if not url.startswith((origin + "/", "data:", "about:", "blob:"))
        ]


@pytest.fixture
def browser(monkeypatch):
    """A headless Debian Chromium, launched through Playwright for one test."""
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()
        # Django keeps connections per async context, and Playwright's loop makes the test
        # thread a new one: close the connections opened in it, or PostgreSQL refuses to
        # drop the test database ("being accessed by other users").
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close()


@pytest.fixture
def page(browser, live_server):
    """A page in a new browser context on the live server, with ``page.log`` (PageLog)."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    page = context.new_page()
    # Assertions and actions retry this long: CI shares two cores between the live server,
    # Chromium and the other pytest worker (Playwright's 5 s default flaked there).
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    page.set_default_timeout(20_000)
    page.set_default_navigation_timeout(30_000)
    log = PageLog()
    page.on("request", lambda request: log.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            log.errors.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: log.errors.append(f"page error: {error}"))
    page.log = log
    yield page
    context.close()

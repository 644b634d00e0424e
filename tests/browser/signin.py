"""Signing in through the real pages in Chromium: the password form and, for coordinators,
administrators and staff, the second factor.

At an account's first sign-in the two-factor page shows a QR code and its key; like a person
typing the key into an authenticator app, :func:`log_in` reads the key off the page and
computes the app's code from it, then goes on past the backup codes. Later sign-ins compute
the code of the next 30-second step (the current one may have been used already).
"""

from __future__ import annotations

import re
from base64 import b32decode

from django_otp.oath import TOTP
from playwright.sync_api import expect

from monitoring.security import two_factor_required

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory
# The keys read off the set-up page, by user id (a later sign-in in the same test needs it).
_keys: dict[int, bytes] = {}


def app_code(key: bytes, steps_ahead: int = 0) -> str:
    totp = TOTP(key, step=30, t0=0, digits=6, drift=0)
    totp.time = totp.time + 30 * steps_ahead
    return f"{totp.token():06d}"


def log_in(page, user, path: str = "/", *, login_path: str | None = None) -> None:
    """Open ``path``, sign in on the login page it leads to (or ``login_path``), and pass the
    second factor if the account needs one."""
    if login_path is None:
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    else:
        page.goto(login_path)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if two_factor_required(user):
        pass_second_factor(page, user)


def pass_second_factor(page, user) -> None:
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("two-factor sign-in", ignore_case=True)
    if heading.inner_text().startswith("Set up"):
        expect(page.locator(".auth__qr svg")).to_be_visible()
        _keys[user.pk] = b32decode(page.locator("[data-otp-secret]").inner_text().strip())
        page.get_by_label("Code", exact=True).fill(app_code(_keys[user.pk]))
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("[data-backup-codes] li")).to_have_count(10)
        page.get_by_role("link", name="Continue").click()
    else:
        page.get_by_label("Code", exact=True).fill(app_code(_keys[user.pk], steps_ahead=1))
        page.get_by_role("button", name="Verify").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/two-factor/"))

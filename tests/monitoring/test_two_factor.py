"""Two-factor sign-in of coordinators, administrators and staff (django-otp), driven through the
real pages: password, then a code computed from the device's own key, as an app would.

The suite's ``force_login`` gives these roles a verified session (tests/conftest.py); here every
client signs in with the form instead.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from monitoring.choices import ObserverRole
from monitoring.models import AuditEntry
from monitoring.services import partner_token_issue, two_factor_reset

PASSWORD = "correct-horse-battery"
TWO_FACTOR = "/accounts/two-factor/"


def current_code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or that many 30-second steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def used_code(device: TOTPDevice) -> str:
    """The code of the last step the device accepted."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = device.t0 + (device.last_t - device.drift) * device.step + 1
    return f"{totp.token():0{device.digits}d}"


def sign_in(user, next_url: str = "/") -> tuple[Client, object]:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": PASSWORD, "next": next_url}
    )
    return client, response


def enrol(user) -> tuple[Client, TOTPDevice, list[str]]:
    """Sign in for the first time and set up the app; returns the client, device, codes."""
    client, _ = sign_in(user)
    page = client.get(TWO_FACTOR)
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    done = client.post(TWO_FACTOR, {"code": current_code(device), "next": "/"})
    assert done.status_code == 200, done.content
    codes = re.findall(rb"<li>([a-z0-9]+)</li>", done.content)
    return client, TOTPDevice.objects.get(pk=device.pk), [c.decode() for c in codes]


@pytest.fixture
def coordinator(make_member):
    return make_member(ObserverRole.COORDINATOR)


def test_a_coordinators_password_leads_to_the_second_factor_not_to_the_pages(coordinator):
    client, response = sign_in(coordinator, "/reports/")
    assert response.status_code == 302
    assert response["Location"] == f"{TWO_FACTOR}?next=%2Freports%2F"
    # The session holds the password step only: every page sends it back to the code.
    for path in ("/", "/reports/", "/reports/review/", "/zones/"):
        page = client.get(path)
        assert page.status_code == 302, path
        assert page["Location"].startswith(f"{TWO_FACTOR}?next="), path
    api = client.get("/api/v1/reports/")
    assert api.status_code == 403
    assert "Two-factor verification required" in api.json()["detail"]


def test_first_sign_in_sets_up_the_app_with_a_qr_code_and_gives_backup_codes(coordinator):
    client, _ = sign_in(coordinator)
    page = client.get(TWO_FACTOR)
    assert b"Set up two-factor sign-in" in page.content
    device = TOTPDevice.objects.get(user=coordinator, confirmed=False)
    # The key shown is the device's: an app that types it in computes the same codes.
    secret = re.search(rb"data-otp-secret>([A-Z2-7=]+)<", page.content).group(1).decode()
    from base64 import b32decode

    assert b32decode(secret) == device.bin_key
    # A reload keeps the same secret (the app has scanned it already).
    client.get(TWO_FACTOR)
    assert TOTPDevice.objects.filter(user=coordinator).count() == 1

    wrong = client.post(
        TWO_FACTOR, {"code": "000000" if current_code(device) != "000000" else "111111"}
    )
    assert wrong.status_code == 400
    assert b"That code is not right" in wrong.content
    assert client.get("/").status_code == 302

    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    done = client.post(TWO_FACTOR, {"code": current_code(device), "next": "/reports/"})
    assert done.status_code == 200
    codes = re.findall(rb"<li>([a-z0-9]+)</li>", done.content)
    assert len(codes) == 10
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert StaticToken.objects.filter(device__user=coordinator).count() == 10
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/reports/").status_code == 200
    entry = AuditEntry.objects.get(comment__startswith="Two-factor authentication set up")
    assert entry.actor == coordinator


def test_a_later_sign_in_asks_for_the_current_code_and_refuses_a_replayed_one(coordinator):
    _, device, _ = enrol(coordinator)
    used = used_code(device)  # the step the set-up consumed
    client, response = sign_in(coordinator, "/reports/")
    assert response["Location"].startswith(TWO_FACTOR)
    page = client.get(response["Location"])
    assert b"Two-factor sign-in" in page.content and b"<svg" not in page.content
    replay = client.post(TWO_FACTOR, {"code": used, "next": "/reports/"})
    assert replay.status_code == 400
    assert client.get("/reports/").status_code == 302
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    nxt = client.post(
        TWO_FACTOR, {"code": current_code(device, steps_ahead=1), "next": "/reports/"}
    )
    assert nxt.status_code == 302 and nxt["Location"] == "/reports/"
    assert client.get("/reports/").status_code == 200


def test_a_backup_code_signs_in_once(coordinator):
    _, _, codes = enrol(coordinator)
    client, _ = sign_in(coordinator)
    assert client.post(TWO_FACTOR, {"code": codes[0].upper()}).status_code == 302
    assert client.get("/").status_code == 200
    again, _ = sign_in(coordinator)
    StaticDevice.objects.filter(user=coordinator).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    TOTPDevice.objects.filter(user=coordinator).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    assert again.post(TWO_FACTOR, {"code": codes[0]}).status_code == 400
    assert again.get("/").status_code == 302


def test_wrong_codes_are_throttled_even_the_right_one_waits(coordinator):
    _, device, _ = enrol(coordinator)
    client, _ = sign_in(coordinator)
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=6, throttling_failure_timestamp=timezone.now()
    )
    StaticDevice.objects.filter(user=coordinator).update(
        throttling_failure_count=6, throttling_failure_timestamp=timezone.now()
    )
    refused = client.post(TWO_FACTOR, {"code": current_code(device, steps_ahead=1)})
    assert refused.status_code == 400
    assert re.search(rb"Too many wrong codes: try again in \d+ seconds", refused.content)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("role", [ObserverRole.OBSERVER, ObserverRole.PARTNER])
def test_observers_and_partners_have_no_second_factor(make_member, role):
    user = make_member(role)
    client, response = sign_in(user, "/zones/")
    assert response.status_code == 302 and response["Location"] == "/zones/"
    assert client.get(TWO_FACTOR).status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_administrators_and_staff_need_it_and_so_does_the_admin_site(make_member, db):
    administrator = make_member(ObserverRole.ADMINISTRATOR)
    _, response = sign_in(administrator)
    assert response["Location"].startswith(TWO_FACTOR)

    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    response = admin.post(
        "/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    page = admin.get("/admin/")
    assert page.status_code == 302 and page["Location"].startswith(f"{TWO_FACTOR}?next=")
    assert admin.get("/admin/monitoring/auditentry/").status_code == 302


def test_a_partner_token_is_not_asked_for_a_second_factor(make_member):
    coordinator = make_member(ObserverRole.COORDINATOR)
    partner = make_member(ObserverRole.PARTNER)
    _, secret = partner_token_issue(partner_user=partner, name="sync", actor=coordinator)
    client, _ = sign_in(coordinator)  # an unverified session cookie alongside
    response = client.get("/api/v1/zones/", HTTP_AUTHORIZATION=f"Token {secret}")
    assert response.status_code == 200


def test_next_never_leaves_the_site(coordinator):
    _, device, _ = enrol(coordinator)
    client, _ = sign_in(coordinator)
    response = client.post(
        TWO_FACTOR, {"code": current_code(device, steps_ahead=1), "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_bad_code_names_the_field(coordinator):
    client, _ = sign_in(coordinator)
    for code in ("", "12 34\x0056", "١٢٣٤٥٦", "x" * 40):
        response = client.post(TWO_FACTOR, {"code": code})
        assert response.status_code == 400, code
        assert b'class="form-row has-error"' in response.content, code


def test_the_roles_that_need_it_are_a_setting(coordinator, settings):
    settings.TWO_FACTOR_ROLES = frozenset({"administrator"})
    client, response = sign_in(coordinator)
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_an_administrator_or_the_command_resets_a_lost_second_factor(make_member, coordinator):
    enrol(coordinator)
    other = make_member(ObserverRole.COORDINATOR)
    with pytest.raises(PermissionDenied):
        two_factor_reset(user=coordinator, actor=other)
    assert TOTPDevice.objects.filter(user=coordinator, confirmed=True).exists()

    administrator = make_member(ObserverRole.ADMINISTRATOR)
    assert two_factor_reset(user=coordinator, actor=administrator) == 2
    assert not TOTPDevice.objects.filter(user=coordinator).exists()
    assert AuditEntry.objects.filter(actor=administrator, object_pk=str(coordinator.pk)).exists()
    # The next sign-in sets up an app again.
    client, _ = sign_in(coordinator)
    assert b"Set up two-factor sign-in" in client.get(TWO_FACTOR).content

    enrol(make_member(ObserverRole.COORDINATOR, user__username="lost-phone"))
    call_command("two_factor_reset", "lost-phone", "--reason", "phone stolen")
    entry = AuditEntry.objects.filter(comment="phone stolen").get()
    assert entry.actor is None and entry.actor_label == "system:command"
    with pytest.raises(CommandError, match="No account named"):
        call_command("two_factor_reset", "nobody")


def test_a_verified_session_ends_with_the_sign_out(coordinator):
    client, device, _ = enrol(coordinator)
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"username": coordinator.username, "password": PASSWORD})
    assert client.get("/").status_code == 302
    assert timedelta(0) <= timezone.now() - device.created_at < timedelta(minutes=5)

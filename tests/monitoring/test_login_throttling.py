"""Login throttling by username and client address (django-axes), through the real login form.

A guesser gets CEASEFIRE_LOGIN_FAILURE_LIMIT tries at one account from one address, then that
pair is paused, even for the right password; the real user, elsewhere, still signs in. Every
failure and every success is recorded.
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.test import Client, RequestFactory

from monitoring.choices import ObserverRole
from monitoring.security import client_ip

PASSWORD = "correct-horse-battery"
ATTACKER = "198.51.100.7"
USER_ADDRESS = "203.0.113.20"


def attempt(user, password: str, address: str, path: str = "/accounts/login/", **extra):
    client = Client(REMOTE_ADDR=address, **extra)
    response = client.post(path, {"username": user.username, "password": password})
    return client, response


@pytest.fixture
def observer(make_member):
    return make_member(ObserverRole.OBSERVER)


def test_the_limit_pauses_the_guessers_address_not_the_user(observer, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit - 1):
        _, response = attempt(observer, f"guess-{n}", ATTACKER)
        assert response.status_code == 200  # the form again, with its error
        assert b"Please enter a correct username and password" in response.content
    _, response = attempt(observer, "guess-last", ATTACKER)
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content

    # From the attacker's address even the right password is refused now...
    client, response = attempt(observer, PASSWORD, ATTACKER)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # ...while the user, from their own address, signs in.
    client, response = attempt(observer, PASSWORD, USER_ADDRESS)
    assert response.status_code == 302
    assert client.get("/").status_code == 200

    # Recorded: each failure with its address (the refused right password too), and the success.
    failures = AccessFailureLog.objects.filter(username=observer.username)
    assert failures.count() == limit + 1
    assert set(failures.values_list("ip_address", flat=True)) == {ATTACKER}
    assert AccessLog.objects.filter(username=observer.username, ip_address=USER_ADDRESS).exists()


def test_another_account_from_the_paused_address_is_not_paused(observer, make_member):
    other = make_member(ObserverRole.OBSERVER)
    for n in range(5):
        attempt(observer, f"guess-{n}", ATTACKER)
    assert attempt(observer, PASSWORD, ATTACKER)[1].status_code == 429
    _, response = attempt(other, PASSWORD, ATTACKER)
    assert response.status_code == 302


def test_a_success_clears_the_count(observer, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit - 1):
        attempt(observer, f"typo-{n}", USER_ADDRESS)
    assert attempt(observer, PASSWORD, USER_ADDRESS)[1].status_code == 302
    for n in range(limit - 1):
        assert attempt(observer, f"typo-again-{n}", USER_ADDRESS)[1].status_code == 200
    assert attempt(observer, PASSWORD, USER_ADDRESS)[1].status_code == 302


def test_the_pause_ends_after_the_cool_off(observer, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(observer, f"guess-{n}", ATTACKER)
    assert attempt(observer, PASSWORD, ATTACKER)[1].status_code == 429
    # As if the cool-off had passed: the attempts are older than it.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME
    )
    assert attempt(observer, PASSWORD, ATTACKER)[1].status_code == 302


def test_the_admin_login_is_throttled_too(make_member, settings):
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(staff, f"guess-{n}", ATTACKER, path="/admin/login/")
    _, response = attempt(staff, PASSWORD, ATTACKER, path="/admin/login/")
    assert response.status_code == 429


def test_behind_a_proxy_the_address_it_saw_counts_not_what_the_client_claims(observer, settings):
    settings.TRUSTED_PROXIES = 1
    # Each guess claims another address at the front of X-Forwarded-For; the proxy appends
    # the real one, and that is what counts.
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(
            observer,
            f"guess-{n}",
            "127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, {ATTACKER}",
        )
    _, response = attempt(
        observer, PASSWORD, "127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.9.9.9, {ATTACKER}"
    )
    assert response.status_code == 429
    _, response = attempt(observer, PASSWORD, "127.0.0.1", HTTP_X_FORWARDED_FOR=USER_ADDRESS)
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "10.0.0.1, 198.51.100.7", "127.0.0.1"),  # no proxy trusted: the header is ignored
        (1, "10.0.0.1, 198.51.100.7", "198.51.100.7"),
        (2, "10.0.0.1, 198.51.100.7, 172.16.0.2", "198.51.100.7"),
        (3, "198.51.100.7", "198.51.100.7"),  # fewer hops than proxies: the leftmost
        (1, "", "127.0.0.1"),
        (1, " , ", "127.0.0.1"),
    ],
)
def test_client_ip(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected

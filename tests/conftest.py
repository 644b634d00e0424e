"""Shared fixtures: a small center with one user per role, and an API client."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.test.client import ClientMixin
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from monitoring.choices import ObserverRole
from monitoring.security import two_factor_required
from zones import classifier

from .celery_worker import CeleryBroker, CeleryWorker, CeleryWorkers
from .factories import CenterFactory, ObserverFactory, PartyFactory, UserFactory, ZoneFactory
from .servers import PostgresServer, RedisServer, ServerUnavailable, skip_or_fail

# Test users are created by the hundred; the production hasher costs ~0.5 s a user.
# MD5 here only: production keeps Django's default PBKDF2.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_password_free_login = ClientMixin._login


def _login_past_the_second_factor(self, user, backend=None):
    """``force_login`` skips the password; for the accounts that need a second factor it skips
    that too, as a verified session with a confirmed device of the user's (made if none).
    The real sign-in (password, then code) is driven in tests/monitoring/test_two_factor.py
    and, in Chromium, by tests/browser/conftest.py ``pass_second_factor``."""
    _password_free_login(self, user, backend)
    if two_factor_required(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()


ClientMixin._login = _login_past_the_second_factor


@pytest.fixture
def zone(db):
    return ZoneFactory()


@pytest.fixture
def center(db, zone):
    return CenterFactory(zones=[zone])


@pytest.fixture
def delegation(db):
    return PartyFactory(code="russia", name="Russian Federation", country_code="RU")


@pytest.fixture
def make_member(db, center, delegation):
    """Make a user with a profile of ``role`` in ``center`` (or another center)."""

    def make(role: str = ObserverRole.OBSERVER, *, center=center, delegation=delegation, **kw):
        return ObserverFactory(role=role, center=center, delegation=delegation, **kw).user

    return make


@pytest.fixture
def observer_user(make_member):
    return make_member(ObserverRole.OBSERVER)


@pytest.fixture
def coordinator_user(make_member):
    return make_member(ObserverRole.COORDINATOR)


@pytest.fixture
def partner_user(make_member):
    return make_member(ObserverRole.PARTNER)


@pytest.fixture
def administrator_user(make_member):
    user = make_member(ObserverRole.ADMINISTRATOR)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def user_without_role(db):
    return UserFactory()


@pytest.fixture
def api_client():
    return APIClient()


# --- Test infrastructure: throwaway servers, a real Celery worker ---------------------------


@pytest.fixture(autouse=True)
def _fresh_classifier_index():
    """Each test starts with no geometry loaded.

    The services drop the classifier's cached index on commit; a test's transaction is
    rolled back, never committed, so without this one test would see another's zones.
    """
    classifier.invalidate()
    yield
    classifier.invalidate()


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server of this test process (``.url``, ``.port``)."""
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        skip_or_fail(f"PostgreSQL server unavailable: {exc}")
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_server():
    """A throwaway Redis server of this test process (``.url``, ``.port``)."""
    try:
        server = RedisServer()
    except ServerUnavailable as exc:
        skip_or_fail(f"Redis server unavailable: {exc}")
    with server:
        yield server


def _empty_redis(url: str) -> None:
    """The session's Redis server is shared by the tests: each starts on an empty one."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def celery_worker(request, transactional_db, tmp_path):
    """A real Celery worker process on the test database; ``send()`` publishes to it.

    Broker: the filesystem transport in a folder of the test's own, or Redis when
    parametrized indirectly with ``"redis"``. Committed data only: the worker is another
    process, hence ``transactional_db``.
    """
    broker = getattr(request, "param", "filesystem")
    if broker == "redis":
        broker_url = request.getfixturevalue("redis_server").url
        _empty_redis(broker_url)
    elif broker == "filesystem":
        broker_url = "filesystem://"
    else:
        raise ValueError(f"unknown broker {broker!r}")
    worker = CeleryWorker(var_dir=tmp_path / "worker-var", broker_url=broker_url)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def broker(monkeypatch):
    """What the compile endpoints hand to the queue (``.sent``), and a switch (``.up``) to
    make the queue refuse, as a stopped broker does; the worker's side is tested with real
    workers and a real Redis (tests/incidents/test_summary_tasks.py)."""
    from incidents import tasks

    class Broker:
        up = True
        sent: list

    state = Broker()
    state.sent = []

    def apply_async(*, kwargs, retry):
        if not state.up:
            raise ConnectionRefusedError("broker stopped")
        state.sent.append(kwargs)

    monkeypatch.setattr(tasks.summary_compile_task, "apply_async", apply_async)
    return state


@pytest.fixture
def celery_broker(request, tmp_path):
    """The broker of this test's workers (``.url``, ``.var_dir``): the filesystem transport
    in a folder of the test's own, or the Redis server when parametrized indirectly with
    ``"redis"``."""
    broker = getattr(request, "param", "filesystem")
    if broker == "redis":
        url = request.getfixturevalue("redis_server").url
        _empty_redis(url)  # nothing left over by an earlier test's workers or beat
    elif broker == "filesystem":
        url = "filesystem://"
    else:
        raise ValueError(f"unknown broker {broker!r}")
    return CeleryBroker(url=url, var_dir=tmp_path / "worker-var")


@pytest.fixture
def celery_workers(transactional_db, celery_broker):
    """Start real worker processes on ``celery_broker``: ``celery_workers.start(beat=True,
    environment={...}, pool="prefork")`` (see tests/celery_worker.py). Meanwhile the
    project's Celery app publishes to that broker, so tasks the code under test queues
    (after a commit) reach the workers. All are stopped at the end of the test."""
    workers = CeleryWorkers(celery_broker)
    yield workers
    workers.close()

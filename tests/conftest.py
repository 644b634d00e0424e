"""Shared fixtures: a small center with one user per role, and an API client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from monitoring.choices import ObserverRole

from .factories import CenterFactory, ObserverFactory, PartyFactory, UserFactory, ZoneFactory


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

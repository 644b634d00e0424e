"""Constraints of the monitoring app: the services refuse bad input naming the field, and
the database refuses it even when validation is bypassed."""

from __future__ import annotations

from datetime import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from monitoring.choices import AgreementSignatoryRole, ObserverRole
from monitoring.models import Agreement, AgreementSignatory, AuditEntry, MonitoringCenter, Party
from monitoring.services import observer_save, record_save
from tests.factories import (
    IN_FORCE,
    AgreementFactory,
    CenterFactory,
    PartyFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db


def refused(instance, field: str) -> None:
    audit_before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        record_save(instance=instance, actor=None)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert AuditEntry.objects.count() == audit_before
    with pytest.raises(IntegrityError), transaction.atomic():
        instance.save()


def test_party_kind_must_be_known():
    refused(Party(code="x", name="X", kind="alliance"), "kind")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"auto_extends": True, "initial_term_months": 6, "extension_months": None}, "__all__"),
        ({"auto_extends": True, "initial_term_months": None, "extension_months": 6}, "__all__"),
        ({"auto_extends": False, "initial_term_months": 0}, "__all__"),
    ],
    ids=["extension-without-months", "extension-without-term", "zero-term"],
)
def test_agreement_terms_hold_together(values, field):
    refused(
        Agreement(code="m", title="M", signed_on=IN_FORCE.date(), in_force_from=IN_FORCE, **values),
        field,
    )


def test_a_party_has_a_role_under_an_agreement_once():
    agreement, party = AgreementFactory(), PartyFactory()
    record_save(
        instance=AgreementSignatory(
            agreement=agreement, party=party, role=AgreementSignatoryRole.GUARANTOR
        ),
        actor=None,
    )
    with pytest.raises(ValidationError):
        record_save(
            instance=AgreementSignatory(
                agreement=agreement, party=party, role=AgreementSignatoryRole.GUARANTOR
            ),
            actor=None,
        )
    # Another role for the same party is fine (Russia: guarantor and monitoring state).
    record_save(
        instance=AgreementSignatory(
            agreement=agreement, party=party, role=AgreementSignatoryRole.MONITOR
        ),
        actor=None,
    )


def test_center_code_and_time_zone_are_checked():
    center = MonitoringCenter(
        code="amman-center", name="A", time_zone="Asia/Amman", reporting_day_cutoff=time(0)
    )
    with pytest.raises(ValidationError) as caught:
        record_save(instance=center, actor=None)
    assert "code" in caught.value.message_dict
    center.code, center.time_zone = "AMC", "Mars/Olympus"
    with pytest.raises(ValidationError) as caught:
        record_save(instance=center, actor=None)
    assert "time_zone" in caught.value.message_dict
    assert not MonitoringCenter.objects.exists()


def test_observer_fits_its_center():
    from monitoring.models import Observer

    inside, outside = ZoneFactory(), ZoneFactory(center=(36.4, 33.55))
    member, stranger = PartyFactory(), PartyFactory()
    center = CenterFactory(zones=[inside], member_parties=[member])
    observer = Observer(
        user=UserFactory(), delegation=stranger, center=center, role=ObserverRole.OBSERVER
    )
    with pytest.raises(ValidationError) as caught:
        observer_save(observer=observer, assigned_zones=[outside], actor=None)
    assert set(caught.value.message_dict) == {"delegation", "assigned_zones"}
    assert not Observer.objects.exists()
    # A partner's delegation need not be a member (a humanitarian organization's tool).
    observer.role = ObserverRole.PARTNER
    observer_save(observer=observer, actor=None)
    refused_role = Observer(user=UserFactory(), delegation=member, center=center, role="spectator")
    refused(refused_role, "role")

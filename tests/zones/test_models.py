"""Constraints of the zones app, at both depths: the services refuse bad input with an
error naming the field and save nothing; the database refuses the same row even when
validation is bypassed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from monitoring.models import AuditEntry
from tests.factories import (
    IN_FORCE,
    AgreementFactory,
    ExcludedGroupFactory,
    PartyFactory,
    ZoneFactory,
    square,
)
from zones.choices import PostKind, SecurityAreaDerivation, SettlementReconciliationStatus
from zones.models import (
    ExcludedArea,
    Post,
    SecurityArea,
    Settlement,
    Zone,
    ZoneBoundary,
    ZoneSuspension,
    ZoneTerm,
)
from zones.services import (
    excluded_area_save,
    post_save,
    security_area_save,
    settlement_save,
    zone_boundary_add,
    zone_save,
    zone_suspension_save,
    zone_term_add,
)

pytestmark = pytest.mark.django_db
LATER = datetime(2017, 6, 1, tzinfo=UTC)


def refused_by_database(instance) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        instance.save()


def refused_by_service(save, field: str) -> ValidationError:
    audit_before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        save()
    assert field in caught.value.message_dict, caught.value.message_dict
    assert AuditEntry.objects.count() == audit_before  # nothing half-saved
    return caught.value


def test_zone_status_must_be_known():
    zone = Zone(
        code="bad-status",
        name="Bad",
        governorates=["idlib"],
        status="paused",
        agreement=AgreementFactory(),
        effective_from=IN_FORCE,
    )
    refused_by_service(lambda: zone_save(zone=zone, actor=None), "status")
    refused_by_database(zone)


def test_zone_governorates_must_be_known():
    zone = Zone(
        code="bad-gov",
        name="Bad",
        governorates=["atlantis"],
        agreement=AgreementFactory(),
        effective_from=IN_FORCE,
    )
    error = refused_by_service(lambda: zone_save(zone=zone, actor=None), "governorates")
    assert "atlantis" in str(error)


def test_a_term_ends_after_it_starts_and_terms_do_not_overlap():
    zone = ZoneFactory()
    backwards = ZoneTerm(zone=zone, kind="initial", starts_at=LATER, ends_at=IN_FORCE)
    refused_by_service(
        lambda: zone_term_add(
            zone=zone, kind="initial", starts_at=LATER, ends_at=IN_FORCE, actor=None
        ),
        "__all__",
    )
    refused_by_database(backwards)
    zone_term_add(zone=zone, kind="initial", starts_at=IN_FORCE, ends_at=None, actor=None)
    refused_by_service(
        lambda: zone_term_add(
            zone=zone, kind="extension", starts_at=LATER, ends_at=None, actor=None
        ),
        "starts_at",
    )
    refused_by_database(ZoneTerm(zone=zone, kind="extension", starts_at=IN_FORCE))


def test_a_suspension_ends_after_it_starts():
    zone = ZoneFactory()
    suspension = ZoneSuspension(zone=zone, starts_at=LATER, ends_at=IN_FORCE, reason="x")
    refused_by_service(lambda: zone_suspension_save(suspension=suspension, actor=None), "__all__")
    refused_by_database(suspension)


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ("{not json", "Not valid JSON"),
        ({"type": "Point", "coordinates": [36.5, 35.5]}, "Polygon or MultiPolygon"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[36, 35], [37, 36], [37, 35], [36, 36], [36, 35]]],
            },
            "crosses itself",
        ),
        (square(2.35, 48.85), "outside Syria"),
        (square(32.62, 36.1), "longitude first"),  # Daraa with latitude and longitude swapped
        ({"type": "Polygon", "coordinates": [[[36, 35], [37, 35], [36, 35]]]}, "Too few points"),
    ],
    ids=["json", "point", "self-intersecting", "paris", "swapped", "short-ring"],
)
def test_bad_lines_are_refused_naming_the_geometry(geometry, message):
    zone = ZoneFactory()
    revisions = zone.boundaries.count()
    error = refused_by_service(
        lambda: zone_boundary_add(zone=zone, geometry=geometry, valid_from=LATER, actor=None),
        "geometry",
    )
    assert message in " ".join(error.message_dict["geometry"])
    assert zone.boundaries.count() == revisions


def test_boundary_revisions_are_unique_and_positive():
    zone = ZoneFactory()
    first = zone.boundaries.get()
    refused_by_database(
        ZoneBoundary(zone=zone, revision=first.revision, geometry=first.geometry, valid_from=LATER)
    )
    refused_by_database(
        ZoneBoundary(zone=zone, revision=9, geometry=first.geometry, valid_from=first.valid_from)
    )
    refused_by_database(
        ZoneBoundary(zone=zone, revision=0, geometry=first.geometry, valid_from=LATER)
    )
    second = zone_boundary_add(zone=zone, geometry=square(36.6, 35.9), valid_from=LATER, actor=None)
    assert second.revision == first.revision + 1


def test_a_buffered_security_area_needs_a_width_and_a_drawn_one_valid_dates():
    zone = ZoneFactory()
    buffered = SecurityArea(
        zone=zone,
        code="band",
        name="Band",
        derivation=SecurityAreaDerivation.BUFFERED,
        valid_from=IN_FORCE,
    )
    refused_by_service(lambda: security_area_save(area=buffered, actor=None), "width_km")
    buffered.geometry = square(36.6, 35.9)
    refused_by_database(buffered)
    drawn = SecurityArea(
        zone=zone,
        code="drawn",
        name="Drawn",
        derivation=SecurityAreaDerivation.DRAWN,
        geometry=square(36.6, 35.9),
        valid_from=LATER,
        valid_until=IN_FORCE,
    )
    refused_by_service(lambda: security_area_save(area=drawn, actor=None), "__all__")
    refused_by_database(drawn)


def test_only_an_excluded_group_holds_an_excluded_area():
    area = ExcludedArea(
        code="held",
        name="Held",
        group=PartyFactory(),
        geometry=square(38.5, 35.0),
        registered_on=date(2017, 5, 1),
        valid_from=IN_FORCE,
    )
    refused_by_service(lambda: excluded_area_save(area=area, actor=None), "group")
    area.group = ExcludedGroupFactory()
    area.valid_until = datetime(2017, 1, 1, tzinfo=UTC)
    refused_by_service(lambda: excluded_area_save(area=area, actor=None), "__all__")
    refused_by_database(area)


def test_settlements_stand_in_syria_and_a_joined_one_has_its_date():
    settlement = Settlement(
        code="nowhere", name="Nowhere", governorate="idlib", latitude=48.85, longitude=2.35
    )
    error = refused_by_service(
        lambda: settlement_save(settlement=settlement, actor=None), "latitude"
    )
    assert "outside Syria" in str(error.message_dict["latitude"])
    refused_by_database(settlement)
    joined = Settlement(
        code="joined",
        name="Joined",
        governorate="idlib",
        latitude=35.9,
        longitude=36.6,
        reconciliation_status=SettlementReconciliationStatus.JOINED,
    )
    refused_by_service(lambda: settlement_save(settlement=joined, actor=None), "reconciled_on")
    refused_by_database(joined)


def test_post_rules():
    zone = ZoneFactory(center=(36.6, 35.9))
    party = PartyFactory()

    def post(**overrides) -> Post:
        values = dict(
            code="p",
            name="P",
            kind=PostKind.OBSERVATION_POST,
            zone=zone,
            operating_party=party,
            latitude=35.9,
            longitude=36.6,
        )
        return Post(**{**values, **overrides})

    # Only checkpoints serve civilians, aid or trade.
    serving = post(serves_civilians=True)
    refused_by_service(lambda: post_save(post=serving, actor=None), "kind")
    refused_by_database(serving)
    # A post closes after it opens.
    backwards = post(opened_on=date(2017, 6, 1), closed_on=date(2017, 5, 1))
    refused_by_service(lambda: post_save(post=backwards, actor=None), "closed_on")
    refused_by_database(backwards)
    # A post stands in Syria, and inside its zone or the zone's security area.
    abroad = post(latitude=31.95, longitude=35.93)  # Amman
    refused_by_service(lambda: post_save(post=abroad, actor=None), "latitude")
    refused_by_database(abroad)
    elsewhere = post(latitude=33.511, longitude=36.306)  # Damascus, in no zone
    refused_by_service(lambda: post_save(post=elsewhere, actor=None), "latitude")
    assert not Post.objects.exists()
    # ...and a good one saves, with its audit entry.
    saved = post_save(post=post(kind=PostKind.CHECKPOINT, serves_humanitarian=True), actor=None)
    assert AuditEntry.objects.filter(object_pk=str(saved.pk), action="create").exists()

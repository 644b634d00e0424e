"""First checks of the foundation's write path (more in tests/zones and tests/monitoring)."""

import pytest
from django.core.exceptions import ValidationError

from monitoring.models import AuditEntry
from tests.factories import PostFactory, ZoneFactory
from zones.classifier import classify_point, classify_points


@pytest.mark.django_db
def test_post_outside_its_zone_is_refused_with_the_field_named():
    zone = ZoneFactory(center=(36.6, 35.9))
    with pytest.raises(ValidationError) as caught:
        PostFactory(zone=zone, latitude=33.5, longitude=36.3)
    assert "latitude" in caught.value.message_dict
    assert not zone.posts.exists()


@pytest.mark.django_db
def test_classifier_single_and_bulk_agree():
    zone = ZoneFactory(center=(36.6, 35.9))
    PostFactory(zone=zone)
    inside = classify_point(latitude=35.9, longitude=36.6)
    outside = classify_point(latitude=33.5, longitude=36.3)
    assert inside.zone_id == zone.pk and inside.zone_in_force is False  # no term recorded
    assert outside.zone_id is None
    bulk = classify_points([35.9, 33.5], [36.6, 36.3])
    assert list(bulk.zone_id) == [zone.pk, 0]
    assert AuditEntry.objects.filter(object_repr=str(zone)).exists()

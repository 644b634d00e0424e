"""Read-only representations of zones and what lies in them, the GeoJSON collections'
documented shapes, and the classifier's input and answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from monitoring.api.base import (
    LinkField,
    MultiPolygonField,
    PointField,
    ReadOnlyModelSerializer,
    feature_collection_serializer,
)
from monitoring.api.nested_serializers import NestedAgreementSerializer, NestedPartySerializer
from zones.choices import (
    Governorate,
    PostKind,
    PostStatus,
    SecurityAreaDerivation,
    SettlementReconciliationStatus,
    ZoneStatus,
)
from zones.geometry import SYRIA_BBOX, validate_point
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
from zones.selectors import boundary_in_force, zone_current_term, zone_in_force

from .nested_serializers import (
    NestedExcludedAreaSerializer,
    NestedPostSerializer,
    NestedSecurityAreaSerializer,
    NestedSettlementSerializer,
    NestedZoneSerializer,
)

# --- Zones -------------------------------------------------------------------------------------


class ZoneTermSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = ZoneTerm
        fields = ["kind", "starts_at", "ends_at", "note"]


class ZoneSuspensionSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = ZoneSuspension
        fields = ["starts_at", "ends_at", "reason"]


class ZoneBoundarySerializer(ReadOnlyModelSerializer):
    """One revision of a zone's lines (its geometry: the zone's ``geometry`` when in force)."""

    class Meta:
        model = ZoneBoundary
        fields = ["revision", "valid_from", "source"]


class ZoneSerializer(ReadOnlyModelSerializer):
    """A zone as it stood at the request's moment (``?at=``, default now)."""

    url = LinkField(view_name="zones-api:zone-detail")
    agreement = NestedAgreementSerializer(read_only=True)
    governorates = serializers.ListField(
        child=serializers.ChoiceField(choices=Governorate.choices), read_only=True
    )
    at = serializers.SerializerMethodField(help_text="The moment the state below refers to.")
    in_force = serializers.SerializerMethodField(
        help_text="In force at ``at``: inside a term and not suspended."
    )
    current_term = serializers.SerializerMethodField(help_text="The term covering ``at``.")
    boundary_revision = serializers.SerializerMethodField(
        help_text="The revision of the lines in force at ``at``."
    )
    geometry = serializers.SerializerMethodField(
        help_text="The lines in force at ``at`` (null before the first revision)."
    )
    terms = ZoneTermSerializer(many=True, read_only=True)
    suspensions = ZoneSuspensionSerializer(many=True, read_only=True)
    boundaries = ZoneBoundarySerializer(many=True, read_only=True)

    class Meta:
        model = Zone
        fields = [
            "id",
            "url",
            "code",
            "name",
            "governorates",
            "status",
            "agreement",
            "effective_from",
            "flights_banned",
            "description",
            "boundary_note",
            "at",
            "in_force",
            "current_term",
            "boundary_revision",
            "geometry",
            "terms",
            "suspensions",
            "boundaries",
        ]

    def _moment(self) -> datetime | None:
        return self.context.get("moment")

    @extend_schema_field(serializers.DateTimeField())
    def get_at(self, zone: Zone) -> str:
        return serializers.DateTimeField().to_representation(self._moment() or timezone.now())

    @extend_schema_field(serializers.BooleanField())
    def get_in_force(self, zone: Zone) -> bool:
        return zone_in_force(zone, self._moment())

    @extend_schema_field(ZoneTermSerializer(allow_null=True))
    def get_current_term(self, zone: Zone) -> dict[str, Any] | None:
        term = zone_current_term(zone, self._moment())
        return ZoneTermSerializer(term).data if term else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_boundary_revision(self, zone: Zone) -> int | None:
        boundary = boundary_in_force(zone, self._moment())
        return boundary.revision if boundary else None

    @extend_schema_field(MultiPolygonField(allow_null=True))
    def get_geometry(self, zone: Zone) -> dict[str, Any] | None:
        boundary = boundary_in_force(zone, self._moment())
        return boundary.geometry if boundary else None


# --- Areas, posts, settlements ----------------------------------------------------------------


class SecurityAreaSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:securityarea-detail")
    zone = NestedZoneSerializer(read_only=True)
    geometry = MultiPolygonField(read_only=True)

    class Meta:
        model = SecurityArea
        fields = [
            "id",
            "url",
            "code",
            "name",
            "zone",
            "derivation",
            "width_km",
            "geometry",
            "valid_from",
            "valid_until",
        ]


class ExcludedAreaSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:excludedarea-detail")
    group = NestedPartySerializer(read_only=True)
    geometry = MultiPolygonField(read_only=True)

    class Meta:
        model = ExcludedArea
        fields = [
            "id",
            "url",
            "code",
            "name",
            "group",
            "geometry",
            "registered_on",
            "valid_from",
            "valid_until",
            "source",
        ]


class PostSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:post-detail")
    zone = NestedZoneSerializer(read_only=True)
    operating_party = NestedPartySerializer(read_only=True)
    purposes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="What a checkpoint serves, in words.",
    )

    class Meta:
        model = Post
        fields = [
            "id",
            "url",
            "code",
            "name",
            "kind",
            "status",
            "zone",
            "operating_party",
            "latitude",
            "longitude",
            "opened_on",
            "closed_on",
            "serves_civilians",
            "serves_humanitarian",
            "serves_economic",
            "purposes",
            "notes",
        ]


class SettlementSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:settlement-detail")
    controlling_party = NestedPartySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Settlement
        fields = [
            "id",
            "url",
            "code",
            "name",
            "name_ar",
            "governorate",
            "district",
            "population",
            "controlling_party",
            "reconciliation_status",
            "reconciled_on",
            "latitude",
            "longitude",
        ]


# --- GeoJSON collections (documentation of zones.selectors.*_geojson) -------------------------


class ZoneFeaturePropertiesSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=ZoneStatus.choices)
    governorates = serializers.ListField(child=serializers.ChoiceField(Governorate.choices))
    agreement = serializers.CharField(help_text="The agreement's code.")
    in_force = serializers.BooleanField(help_text="In force at the requested moment.")
    boundary_revision = serializers.IntegerField(allow_null=True)
    boundary_note = serializers.CharField()


class SecurityAreaFeaturePropertiesSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    zone = serializers.CharField(help_text="The zone's code.")
    derivation = serializers.ChoiceField(choices=SecurityAreaDerivation.choices)


class ExcludedAreaFeaturePropertiesSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    group = serializers.CharField(help_text="The excluded group's party code.")
    registered_on = serializers.DateField()


class PostFeaturePropertiesSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=PostKind.choices)
    status = serializers.ChoiceField(choices=PostStatus.choices)
    zone = serializers.CharField(help_text="The zone's code.")
    operating_party = serializers.CharField(help_text="The operating party's code.")
    purposes = serializers.ListField(child=serializers.CharField())


class SettlementFeaturePropertiesSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    governorate = serializers.ChoiceField(choices=Governorate.choices)
    population = serializers.IntegerField(allow_null=True)
    reconciliation_status = serializers.ChoiceField(choices=SettlementReconciliationStatus.choices)


ZoneFeatureCollectionSerializer = feature_collection_serializer(
    "Zone", label="zone", geometry=MultiPolygonField, properties=ZoneFeaturePropertiesSerializer
)
SecurityAreaFeatureCollectionSerializer = feature_collection_serializer(
    "SecurityArea",
    label="security area",
    geometry=MultiPolygonField,
    properties=SecurityAreaFeaturePropertiesSerializer,
)
ExcludedAreaFeatureCollectionSerializer = feature_collection_serializer(
    "ExcludedArea",
    label="excluded area",
    geometry=MultiPolygonField,
    properties=ExcludedAreaFeaturePropertiesSerializer,
)
PostFeatureCollectionSerializer = feature_collection_serializer(
    "Post", label="post", geometry=PointField, properties=PostFeaturePropertiesSerializer
)
SettlementFeatureCollectionSerializer = feature_collection_serializer(
    "Settlement",
    label="settlement",
    geometry=PointField,
    properties=SettlementFeaturePropertiesSerializer,
)


# --- The classifier ---------------------------------------------------------------------------


@extend_schema_field(
    {"type": "number", "format": "double", "minimum": SYRIA_BBOX[1], "maximum": SYRIA_BBOX[3]}
)
class LatitudeField(serializers.FloatField):
    """Degrees north; the schema gives Syria's bounds (the serializer checks them)."""


@extend_schema_field(
    {"type": "number", "format": "double", "minimum": SYRIA_BBOX[0], "maximum": SYRIA_BBOX[2]}
)
class LongitudeField(serializers.FloatField):
    """Degrees east; the schema gives Syria's bounds (the serializer checks them)."""


class ClassifyQuerySerializer(serializers.Serializer):
    """Where and when to classify: a point in Syria and a moment (default now)."""

    latitude = LatitudeField(help_text="Degrees north (WGS 84), inside Syria.")
    longitude = LongitudeField(help_text="Degrees east (WGS 84), inside Syria.")
    at = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 moment (encode '+' as %2B). Default: now. No offset = UTC.",
    )

    def validate_latitude(self, value: float) -> float:
        errors = validate_point(latitude=value, longitude=None)
        if errors:
            raise serializers.ValidationError(errors["latitude"])
        return value

    def validate_longitude(self, value: float) -> float:
        errors = validate_point(latitude=None, longitude=value)
        if errors:
            raise serializers.ValidationError(errors["longitude"])
        return value


class ClassifiedZoneSerializer(NestedZoneSerializer):
    in_force = serializers.BooleanField(
        read_only=True, help_text="The zone's ceasefire was in force at that moment."
    )

    class Meta(NestedZoneSerializer.Meta):
        fields = [*NestedZoneSerializer.Meta.fields, "in_force"]


class ClassifiedSecurityAreaSerializer(NestedSecurityAreaSerializer):
    zone = NestedZoneSerializer(read_only=True)

    class Meta(NestedSecurityAreaSerializer.Meta):
        fields = [*NestedSecurityAreaSerializer.Meta.fields, "zone"]


class ClassifiedExcludedAreaSerializer(NestedExcludedAreaSerializer):
    group = NestedPartySerializer(read_only=True)

    class Meta(NestedExcludedAreaSerializer.Meta):
        fields = [*NestedExcludedAreaSerializer.Meta.fields, "group"]


class NearestSettlementSerializer(NestedSettlementSerializer):
    distance_km = serializers.FloatField(read_only=True)

    class Meta(NestedSettlementSerializer.Meta):
        fields = [*NestedSettlementSerializer.Meta.fields, "distance_km"]


class NearestPostSerializer(NestedPostSerializer):
    distance_km = serializers.FloatField(read_only=True)

    class Meta(NestedPostSerializer.Meta):
        fields = [*NestedPostSerializer.Meta.fields, "distance_km"]


class ClassificationSerializer(serializers.Serializer):
    """What the system knows of a point at a moment (``zones.classifier.classify_point``)."""

    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    at = serializers.DateTimeField()
    zone = ClassifiedZoneSerializer(
        allow_null=True,
        help_text="The governing zone: where zones overlap, the one that took effect last.",
    )
    zones = ClassifiedZoneSerializer(
        many=True, help_text="Every zone whose lines contain the point, governing zone first."
    )
    in_security_area = serializers.BooleanField()
    security_areas = ClassifiedSecurityAreaSerializer(many=True)
    in_excluded_area = serializers.BooleanField(
        help_text="Held by an excluded group: the ceasefire does not cover it."
    )
    excluded_areas = ClassifiedExcludedAreaSerializer(many=True)
    nearest_settlement = NearestSettlementSerializer(allow_null=True)
    nearest_post = NearestPostSerializer(
        allow_null=True, help_text="The nearest post open at that moment."
    )

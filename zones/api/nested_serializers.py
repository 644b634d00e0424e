"""Brief forms of zone records, for nesting inside other records (any app)."""

from __future__ import annotations

from monitoring.api.base import LinkField, ReadOnlyModelSerializer
from zones.models import ExcludedArea, Post, SecurityArea, Settlement, Zone


class NestedZoneSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:zone-detail")

    class Meta:
        model = Zone
        fields = ["id", "url", "code", "name"]


class NestedSecurityAreaSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:securityarea-detail")

    class Meta:
        model = SecurityArea
        fields = ["id", "url", "code", "name"]


class NestedExcludedAreaSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:excludedarea-detail")

    class Meta:
        model = ExcludedArea
        fields = ["id", "url", "code", "name"]


class NestedPostSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:post-detail")

    class Meta:
        model = Post
        fields = ["id", "url", "code", "name", "kind", "status"]


class NestedSettlementSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="zones-api:settlement-detail")

    class Meta:
        model = Settlement
        fields = ["id", "url", "code", "name"]

"""Brief forms of monitoring records, for nesting inside other records (any app)."""

from __future__ import annotations

from monitoring.models import Agreement, MonitoringCenter, Party

from .base import LinkField, ReadOnlyModelSerializer


class NestedPartySerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="monitoring-api:party-detail")

    class Meta:
        model = Party
        fields = ["id", "url", "code", "name", "short_name", "kind"]


class NestedAgreementSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="monitoring-api:agreement-detail")

    class Meta:
        model = Agreement
        fields = ["id", "url", "code", "title"]


class NestedMonitoringCenterSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="monitoring-api:monitoringcenter-detail")

    class Meta:
        model = MonitoringCenter
        fields = ["id", "url", "code", "name"]

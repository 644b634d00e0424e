"""Read-only representations of parties, agreements and monitoring centers."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.models import Agreement, AgreementSignatory, MonitoringCenter, Party
from zones.api.nested_serializers import NestedZoneSerializer

from .base import LinkField, ReadOnlyModelSerializer
from .nested_serializers import NestedAgreementSerializer, NestedPartySerializer


class PartySerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="monitoring-api:party-detail")
    is_excluded = serializers.BooleanField(
        read_only=True, help_text="An excluded group: outside the ceasefire regime."
    )

    class Meta:
        model = Party
        fields = [
            "id",
            "url",
            "code",
            "name",
            "short_name",
            "kind",
            "country_code",
            "description",
            "is_active",
            "is_excluded",
        ]


class AgreementSignatorySerializer(ReadOnlyModelSerializer):
    party = NestedPartySerializer(read_only=True)

    class Meta:
        model = AgreementSignatory
        fields = ["party", "role"]


class AgreementSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="monitoring-api:agreement-detail")
    signatories = AgreementSignatorySerializer(
        source="signatory_roles",
        many=True,
        read_only=True,
        help_text="The parties and their roles (guarantor, monitoring state, observer).",
    )
    zones = NestedZoneSerializer(many=True, read_only=True, help_text="The zones it covers.")

    class Meta:
        model = Agreement
        fields = [
            "id",
            "url",
            "code",
            "title",
            "signed_on",
            "signed_at_place",
            "in_force_from",
            "initial_term_months",
            "auto_extends",
            "extension_months",
            "summary",
            "source",
            "signatories",
            "zones",
        ]


class MonitoringCenterSerializer(ReadOnlyModelSerializer):
    url = LinkField(view_name="monitoring-api:monitoringcenter-detail")
    agreement = NestedAgreementSerializer(read_only=True, allow_null=True)
    member_parties = NestedPartySerializer(many=True, read_only=True)
    zones = NestedZoneSerializer(many=True, read_only=True)

    class Meta:
        model = MonitoringCenter
        fields = [
            "id",
            "url",
            "code",
            "name",
            "location",
            "agreement",
            "member_parties",
            "zones",
            "time_zone",
            "reporting_day_cutoff",
            "description",
        ]

"""Read-only API of parties, agreements and monitoring centers."""

from __future__ import annotations

from django.db.models import QuerySet

from monitoring.filtersets import AgreementFilterSet, MonitoringCenterFilterSet, PartyFilterSet
from monitoring.selectors import agreement_list, center_list, party_list

from .base import ReadOnlyRecordViewSet
from .serializers import AgreementSerializer, MonitoringCenterSerializer, PartySerializer


class PartyViewSet(ReadOnlyRecordViewSet):
    """States, forces, formations, excluded groups and humanitarian organizations."""

    serializer_class = PartySerializer
    filterset_class = PartyFilterSet
    ordering_fields = ["code", "name", "kind"]

    def get_queryset(self) -> QuerySet:
        return party_list()


class AgreementViewSet(ReadOnlyRecordViewSet):
    """Ceasefire agreements with their signatories (and roles) and the zones they cover."""

    serializer_class = AgreementSerializer
    filterset_class = AgreementFilterSet
    ordering_fields = ["code", "title", "signed_on", "in_force_from"]

    def get_queryset(self) -> QuerySet:
        return agreement_list()


class MonitoringCenterViewSet(ReadOnlyRecordViewSet):
    """Monitoring centers: member parties, zones covered, time zone and reporting cut-off."""

    serializer_class = MonitoringCenterSerializer
    filterset_class = MonitoringCenterFilterSet
    ordering_fields = ["code", "name"]

    def get_queryset(self) -> QuerySet:
        return center_list()

"""The REST API, version 1 (``/api/v1/``): each app's routes under its own namespace
(``monitoring-api:party-list``, ``zones-api:zone-detail``, ...), and a root listing them.
"""

from django.urls import include, path
from rest_framework.routers import APIRootView

from incidents.api import urls as incidents_api
from incidents.api.feed import report_representations
from incidents.api.summaries import DailySummaryViewSet
from incidents.api.views import ReportViewSet
from monitoring.api import urls as monitoring_api
from monitoring.api.changes import ChangeFeedView, FeedType
from monitoring.api.views import AgreementViewSet, MonitoringCenterViewSet, PartyViewSet
from monitoring.choices import ChangeRecordType as T
from zones.api import urls as zones_api
from zones.api.views import (
    ExcludedAreaViewSet,
    PostViewSet,
    SecurityAreaViewSet,
    SettlementViewSet,
    ZoneViewSet,
)

APPS = [monitoring_api, zones_api, incidents_api]


def _root_entries() -> dict[str, str]:
    entries = {}
    for module in APPS:
        for prefix, _viewset, basename in module.router.registry:
            entries[prefix] = f"{module.app_name}:{basename}-list"
    entries["classify"] = "zones-api:classify"
    entries["changes"] = "api-changes"
    return entries


# The change feed's record types: the viewset that serves each and its detail URL name.
# Reports go through a direct serializer that gives the same JSON as ReportSerializer,
# several times faster (tests/incidents/test_api_feed_serialization.py). A zone comes
# without its state at the moment of reading: its terms, suspensions and line revisions
# carry everything that state is computed from.
ZONE_MOMENT_FIELDS = ("at", "in_force", "current_term", "boundary_revision", "geometry")
FEED_VIEWSETS = {
    T.REPORT: FeedType(
        ReportViewSet, "incidents-api:report-detail", serialize=report_representations
    ),
    T.SUMMARY: FeedType(DailySummaryViewSet, "incidents-api:dailysummary-detail"),
    T.ZONE: FeedType(ZoneViewSet, "zones-api:zone-detail", moment_fields=ZONE_MOMENT_FIELDS),
    T.SECURITY_AREA: FeedType(SecurityAreaViewSet, "zones-api:securityarea-detail"),
    T.EXCLUDED_AREA: FeedType(ExcludedAreaViewSet, "zones-api:excludedarea-detail"),
    T.POST: FeedType(PostViewSet, "zones-api:post-detail"),
    T.SETTLEMENT: FeedType(SettlementViewSet, "zones-api:settlement-detail"),
    T.PARTY: FeedType(PartyViewSet, "monitoring-api:party-detail"),
    T.AGREEMENT: FeedType(AgreementViewSet, "monitoring-api:agreement-detail"),
    T.CENTER: FeedType(MonitoringCenterViewSet, "monitoring-api:monitoringcenter-detail"),
}


urlpatterns = [
    path("", APIRootView.as_view(api_root_dict=_root_entries()), name="api-root"),
    path("changes/", ChangeFeedView.as_view(viewsets=FEED_VIEWSETS), name="api-changes"),
    *(path("", include(module)) for module in APPS),
]

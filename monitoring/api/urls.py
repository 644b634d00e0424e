"""API routes of parties, agreements and centers (namespace ``monitoring-api``)."""

from rest_framework.routers import SimpleRouter

from .views import AgreementViewSet, MonitoringCenterViewSet, PartyViewSet

app_name = "monitoring-api"

router = SimpleRouter()
router.register("parties", PartyViewSet, basename="party")
router.register("agreements", AgreementViewSet, basename="agreement")
router.register("centers", MonitoringCenterViewSet, basename="monitoringcenter")

urlpatterns = router.urls

"""API routes of reports and daily summaries (namespace ``incidents-api``)."""

from rest_framework.routers import SimpleRouter

from .summaries import DailySummaryViewSet
from .views import ReportViewSet

app_name = "incidents-api"

router = SimpleRouter()
router.register("reports", ReportViewSet, basename="report")
router.register("summaries", DailySummaryViewSet, basename="dailysummary")

urlpatterns = router.urls

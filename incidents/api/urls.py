"""API routes of reports (namespace ``incidents-api``)."""

from rest_framework.routers import SimpleRouter

from .views import ReportViewSet

app_name = "incidents-api"

router = SimpleRouter()
router.register("reports", ReportViewSet, basename="report")

urlpatterns = router.urls

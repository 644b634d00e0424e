"""API routes of zones, areas, posts, settlements and the classifier (namespace
``zones-api``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    ClassifyView,
    ExcludedAreaViewSet,
    PostViewSet,
    SecurityAreaViewSet,
    SettlementViewSet,
    ZoneViewSet,
)

app_name = "zones-api"

router = SimpleRouter()
router.register("zones", ZoneViewSet, basename="zone")
router.register("security-areas", SecurityAreaViewSet, basename="securityarea")
router.register("excluded-areas", ExcludedAreaViewSet, basename="excludedarea")
router.register("posts", PostViewSet, basename="post")
router.register("settlements", SettlementViewSet, basename="settlement")

urlpatterns = [
    *router.urls,
    path("classify/", ClassifyView.as_view(), name="classify"),
]

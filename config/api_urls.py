"""The REST API, version 1: each app registers its viewsets on one router."""

from django.urls import include, path

urlpatterns = [
    path("", include("monitoring.api.urls")),
    path("", include("zones.api.urls")),
]

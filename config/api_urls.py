"""The REST API, version 1 (``/api/v1/``): each app's routes under its own namespace
(``monitoring-api:party-list``, ``zones-api:zone-detail``, ...), and a root listing them.
"""

from django.urls import include, path
from rest_framework.routers import APIRootView

from incidents.api import urls as incidents_api
from monitoring.api import urls as monitoring_api
from zones.api import urls as zones_api

APPS = [monitoring_api, zones_api, incidents_api]


def _root_entries() -> dict[str, str]:
    entries = {}
    for module in APPS:
        for prefix, _viewset, basename in module.router.registry:
            entries[prefix] = f"{module.app_name}:{basename}-list"
    entries["classify"] = "zones-api:classify"
    return entries


urlpatterns = [
    path("", APIRootView.as_view(api_root_dict=_root_entries()), name="api-root"),
    *(path("", include(module)) for module in APPS),
]

"""The admin site's app config.

django-leaflet's own ``admin.py`` imports GeoDjango (and so needs GDAL); we keep
geometry as validated GeoJSON instead, and use django-leaflet only for the Leaflet it
ships and its template tags. So admin autodiscovery skips that one module.
"""

from importlib import import_module

from django.apps import apps
from django.contrib.admin.apps import SimpleAdminConfig
from django.utils.module_loading import module_has_submodule

SKIPPED_ADMIN_MODULES = {"leaflet"}


class AdminConfig(SimpleAdminConfig):
    def ready(self) -> None:
        super().ready()
        for app_config in apps.get_app_configs():
            if app_config.name in SKIPPED_ADMIN_MODULES:
                continue
            if module_has_submodule(app_config.module, "admin"):
                import_module(f"{app_config.name}.admin")

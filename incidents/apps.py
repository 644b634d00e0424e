from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents: observers' reports"

    def ready(self) -> None:
        from zones.signals import classification_changed

        from .receivers import on_classification_changed

        classification_changed.connect(
            on_classification_changed, dispatch_uid="incidents-reclassify"
        )

"""A JSON column that holds a validated GeoJSON MultiPolygon."""

from django.db import models

from .geometry import validate_multipolygon


class MultiPolygonField(models.JSONField):
    description = "GeoJSON MultiPolygon (longitude, latitude; WGS 84)"

    def __init__(self, *args, **kwargs):
        validators = list(kwargs.pop("validators", []))
        if validate_multipolygon not in validators:
            validators.append(validate_multipolygon)
        kwargs["validators"] = validators
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("validators", None)
        return name, path, args, kwargs

"""Shared pieces of the REST API that every app's ``api/`` package builds on.

- :class:`ReadOnlyRecordViewSet`: list and detail of one model, its queryset from a
  selector, filtered by the app's ``<Model>FilterSet``; writes answer 405. The partner
  API adds writable viewsets next to it on the same footing.
- :class:`GeoJSONListMixin` and :class:`GeoJSONRenderer`: ``GET <list>/geojson/`` gives
  the filtered records as one GeoJSON FeatureCollection, built by the app's selectors.
- :class:`MomentQuerySerializer`: the ``?at=`` moment shared by endpoints that answer
  "as it stood then"; a bad value is a 400 naming ``at``.
- Schema helpers: GeoJSON geometry fields and FeatureCollection components for
  drf-spectacular, so the generated schema describes exactly what the selectors return.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import ReadOnlyModelViewSet

from .conditional import ConditionalRecordMixin

# --- GeoJSON geometry (RFC 7946: longitude first, WGS 84) --------------------------------

_POSITION = {
    "type": "array",
    "items": {"type": "number", "format": "double"},
    "minItems": 2,
    "maxItems": 3,
    "description": "[longitude, latitude]",
}
_RING = {"type": "array", "items": _POSITION, "minItems": 4}

MULTIPOLYGON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GeoJSON MultiPolygon (longitude, latitude; WGS 84).",
    "properties": {
        "type": {"type": "string", "enum": ["MultiPolygon"]},
        "coordinates": {"type": "array", "items": {"type": "array", "items": _RING}},
    },
    "required": ["type", "coordinates"],
}
POINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GeoJSON Point (longitude, latitude; WGS 84).",
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": _POSITION,
    },
    "required": ["type", "coordinates"],
}


@extend_schema_field(MULTIPOLYGON_SCHEMA, component_name="GeoJSONMultiPolygon")
class MultiPolygonField(serializers.JSONField):
    """A stored GeoJSON MultiPolygon, output as is."""


@extend_schema_field(POINT_SCHEMA, component_name="GeoJSONPoint")
class PointField(serializers.JSONField):
    """A GeoJSON Point."""


@extend_schema_field({"type": "string", "enum": ["Feature"]})
class FeatureTypeField(serializers.CharField):
    """The ``type`` member of a GeoJSON Feature."""


@extend_schema_field({"type": "string", "enum": ["FeatureCollection"]})
class FeatureCollectionTypeField(serializers.CharField):
    """The ``type`` member of a GeoJSON FeatureCollection."""


def feature_collection_serializer(
    name: str,
    *,
    label: str,
    geometry: type[serializers.Field],
    properties: type[serializers.Serializer],
) -> type[serializers.Serializer]:
    """The serializer that documents a FeatureCollection of ``name`` features.

    It only describes the schema: the collections themselves come from the selectors
    (``zones.selectors.*_geojson``), so nothing is serialized twice.
    """
    feature = type(
        f"{name}FeatureSerializer",
        (serializers.Serializer,),
        {
            "__doc__": f"A GeoJSON Feature: one {label} and its properties.",
            "type": FeatureTypeField(),
            "id": serializers.IntegerField(help_text="The record's id."),
            "geometry": geometry(allow_null=True),
            "properties": properties(),
        },
    )
    return type(
        f"{name}FeatureCollectionSerializer",
        (serializers.Serializer,),
        {
            "__doc__": f"A GeoJSON FeatureCollection of {label} features.",
            "type": FeatureCollectionTypeField(),
            "features": feature(many=True),
        },
    )


class LinkField(serializers.HyperlinkedIdentityField):
    """A record's own URL, as :class:`~rest_framework.serializers.HyperlinkedIdentityField`
    gives it, but resolved once per request and view name: the URL of every other record
    is the same text around its key. (``reverse()`` per record and per nested record was a
    third of the time of a page of 1,000 reports.)"""

    def get_url(self, obj, view_name, request, format):
        key = getattr(obj, self.lookup_field, None)
        if key in (None, ""):
            return None
        key = str(key)
        cache = request.__dict__.setdefault("_link_templates", {}) if request else {}
        template = cache.get((view_name, format))
        if template is None:
            url = super().get_url(obj, view_name, request, format)
            head, found, tail = url.rpartition(key)
            if not found or "/" in key or "?" in key:
                return url
            cache[(view_name, format)] = template = (head, tail)
            return url
        return f"{template[0]}{key}{template[1]}"


class ReadOnlyModelSerializer(serializers.ModelSerializer):
    """A model serializer whose every field is read-only: always present in a response,
    and documented so (the schema lists each field as required)."""

    def get_extra_kwargs(self) -> dict[str, dict[str, Any]]:
        extra = super().get_extra_kwargs()
        for name in self.Meta.fields:
            extra.setdefault(name, {})["read_only"] = True
        return extra


class GeoJSONRenderer(JSONRenderer):
    media_type = "application/geo+json"
    format = "geojson"


# --- The moment a request asks about ---------------------------------------------------


class MomentQuerySerializer(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False,
        help_text=(
            "ISO 8601 moment (e.g. 2017-06-03T14:00:00Z; encode '+' as %2B). "
            "Default: now. A moment without an offset is read as UTC."
        ),
    )


def moment_from_request(request: Request) -> datetime:
    """The ``?at=`` moment of ``request`` (default now); a bad value raises a 400 naming it."""
    cached = getattr(request, "_api_moment", None)
    if cached is not None:
        return cached
    if not request.query_params.get("at"):  # absent or empty: now, as filters treat ""
        moment = timezone.now()
    else:
        query = MomentQuerySerializer(data={"at": request.query_params["at"]})
        query.is_valid(raise_exception=True)
        moment = query.validated_data["at"]
    request._api_moment = moment
    return moment


# --- Viewsets --------------------------------------------------------------------------------


class ReadOnlyRecordViewSet(ConditionalRecordMixin, ReadOnlyModelViewSet):
    """List and detail of one model's records.

    Subclasses set ``serializer_class`` and ``filterset_class`` and return their queryset
    from a selector in :meth:`get_queryset`. Reads need an active profile of any role
    (``HasMonitoringRole``, the default permission); writes are not routed and answer 405.
    """

    lookup_value_regex = r"\d+"
    ordering_fields: list[str] = ["code", "name"]

    def get_queryset(self) -> QuerySet:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class GeoJSONListMixin:
    """Adds ``GET <list>/geojson/``: the filtered records as one FeatureCollection.

    Not paginated: a map layer needs every record the filters select. Subclasses implement
    :meth:`build_geojson` with the app's selector and document the response with
    ``extend_schema_view(geojson=extend_schema(responses=...))``.
    """

    def build_geojson(self, queryset: QuerySet) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    @extend_schema(filters=True)
    @action(
        detail=False,
        methods=["get"],
        url_path="geojson",
        renderer_classes=[GeoJSONRenderer, JSONRenderer],
        pagination_class=None,
    )
    def geojson(self, request: Request, *args, **kwargs) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        return Response(self.build_geojson(queryset))

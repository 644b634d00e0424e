"""Read-only API of zones, areas, posts and settlements, with GeoJSON collections and the
point classifier.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.api.base import GeoJSONListMixin, ReadOnlyRecordViewSet, moment_from_request
from zones.classifier import Classification, classify_point
from zones.filtersets import (
    ExcludedAreaFilterSet,
    PostFilterSet,
    SecurityAreaFilterSet,
    SettlementFilterSet,
    ZoneFilterSet,
)
from zones.models import Zone
from zones.selectors import (
    excluded_area_list,
    excluded_areas_geojson,
    post_list,
    posts_geojson,
    security_area_list,
    security_areas_geojson,
    settlement_list,
    settlements_geojson,
    zone_in_force,
    zone_list,
    zones_geojson,
)

from .serializers import (
    ClassificationSerializer,
    ClassifyQuerySerializer,
    ExcludedAreaFeatureCollectionSerializer,
    ExcludedAreaSerializer,
    PostFeatureCollectionSerializer,
    PostSerializer,
    SecurityAreaFeatureCollectionSerializer,
    SecurityAreaSerializer,
    SettlementFeatureCollectionSerializer,
    SettlementSerializer,
    ZoneFeatureCollectionSerializer,
    ZoneSerializer,
)

AT_PARAMETER = OpenApiParameter(
    "at",
    OpenApiTypes.DATETIME,
    description=(
        "The moment whose lines and in-force state to show (ISO 8601; encode '+' as %2B). "
        "Default: now. A moment without an offset is read as UTC."
    ),
)


@extend_schema_view(
    list=extend_schema(parameters=[AT_PARAMETER]),
    retrieve=extend_schema(parameters=[AT_PARAMETER]),
    geojson=extend_schema(
        parameters=[AT_PARAMETER],
        responses=ZoneFeatureCollectionSerializer,
        description="The filtered zones as a GeoJSON FeatureCollection, each with the "
        "lines in force at ``at``.",
    ),
)
class ZoneViewSet(GeoJSONListMixin, ReadOnlyRecordViewSet):
    """De-escalation zones with their terms, suspensions and boundary revisions, as they
    stood at ``at`` (default now)."""

    serializer_class = ZoneSerializer
    filterset_class = ZoneFilterSet
    ordering_fields = ["code", "name", "effective_from", "status"]
    # ``at`` echoes the moment of reading: not part of what the ETag compares.
    etag_ignored_fields = ("at",)

    def get_queryset(self) -> QuerySet[Zone]:
        return zone_list()

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if getattr(self, "request", None) is not None:
            context["moment"] = moment_from_request(self.request)
        return context

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        moment_from_request(request)  # a bad ?at= is a 400 before any work is done

    def build_geojson(self, queryset: QuerySet) -> dict[str, Any]:
        return zones_geojson(moment_from_request(self.request), zones=queryset)


@extend_schema_view(
    geojson=extend_schema(
        responses=SecurityAreaFeatureCollectionSerializer,
        description="The filtered security areas as a GeoJSON FeatureCollection "
        "(add ``valid_at`` for those in force at a moment).",
    )
)
class SecurityAreaViewSet(GeoJSONListMixin, ReadOnlyRecordViewSet):
    """The bands along zone borders where observation posts and checkpoints stand."""

    serializer_class = SecurityAreaSerializer
    filterset_class = SecurityAreaFilterSet
    ordering_fields = ["code", "name", "valid_from"]

    def get_queryset(self) -> QuerySet:
        return security_area_list()

    def build_geojson(self, queryset: QuerySet) -> dict[str, Any]:
        return security_areas_geojson(areas=queryset)


@extend_schema_view(
    geojson=extend_schema(
        responses=ExcludedAreaFeatureCollectionSerializer,
        description="The filtered excluded areas as a GeoJSON FeatureCollection "
        "(add ``valid_at`` for those in force at a moment).",
    )
)
class ExcludedAreaViewSet(GeoJSONListMixin, ReadOnlyRecordViewSet):
    """Areas registered as held by excluded groups (ISIS, Jabhat al-Nusra): outside the
    ceasefire."""

    serializer_class = ExcludedAreaSerializer
    filterset_class = ExcludedAreaFilterSet
    ordering_fields = ["code", "name", "registered_on", "valid_from"]

    def get_queryset(self) -> QuerySet:
        return excluded_area_list()

    def build_geojson(self, queryset: QuerySet) -> dict[str, Any]:
        return excluded_areas_geojson(areas=queryset)


@extend_schema_view(
    geojson=extend_schema(
        responses=PostFeatureCollectionSerializer,
        description="The filtered posts as a GeoJSON FeatureCollection of points.",
    )
)
class PostViewSet(GeoJSONListMixin, ReadOnlyRecordViewSet):
    """Observation posts and checkpoints."""

    serializer_class = PostSerializer
    filterset_class = PostFilterSet
    ordering_fields = ["code", "name", "kind", "status", "opened_on"]

    def get_queryset(self) -> QuerySet:
        return post_list()

    def build_geojson(self, queryset: QuerySet) -> dict[str, Any]:
        return posts_geojson(posts=queryset)


@extend_schema_view(
    geojson=extend_schema(
        responses=SettlementFeatureCollectionSerializer,
        description="The filtered settlements as a GeoJSON FeatureCollection of points.",
    )
)
class SettlementViewSet(GeoJSONListMixin, ReadOnlyRecordViewSet):
    """Inhabited areas: who controls them, whether they have joined reconciliation."""

    serializer_class = SettlementSerializer
    filterset_class = SettlementFilterSet
    ordering_fields = ["code", "name", "governorate", "population", "reconciled_on"]

    def get_queryset(self) -> QuerySet:
        return settlement_list()

    def build_geojson(self, queryset: QuerySet) -> dict[str, Any]:
        return settlements_geojson(settlements=queryset)


def classification_detail(result: Classification) -> dict[str, Any]:
    """The classifier's ids resolved to records, in the shape of ClassificationSerializer."""
    zones = {z.pk: z for z in zone_list().filter(pk__in=result.zone_ids)}
    ordered_zones = [zones[pk] for pk in result.zone_ids if pk in zones]
    for zone in ordered_zones:
        # The classifier answers for the governing zone; the others are checked the same way.
        zone.in_force = (
            result.zone_in_force if zone.pk == result.zone_id else zone_in_force(zone, result.at)
        )
    security = {a.pk: a for a in security_area_list().filter(pk__in=result.security_area_ids)}
    excluded = {a.pk: a for a in excluded_area_list().filter(pk__in=result.excluded_area_ids)}
    settlement = post = None
    if result.nearest_settlement_id is not None:
        settlement = settlement_list().filter(pk=result.nearest_settlement_id).first()
        if settlement is not None:
            settlement.distance_km = result.nearest_settlement_km
    if result.nearest_post_id is not None:
        post = post_list().filter(pk=result.nearest_post_id).first()
        if post is not None:
            post.distance_km = result.nearest_post_km
    return {
        "latitude": result.latitude,
        "longitude": result.longitude,
        "at": result.at,
        "zone": zones.get(result.zone_id) if result.zone_id is not None else None,
        "zones": ordered_zones,
        "in_security_area": result.in_security_area,
        "security_areas": [security[pk] for pk in result.security_area_ids if pk in security],
        "in_excluded_area": result.in_excluded_area,
        "excluded_areas": [excluded[pk] for pk in result.excluded_area_ids if pk in excluded],
        "nearest_settlement": settlement,
        "nearest_post": post,
    }


class ClassifyView(APIView):
    """Where is a point, at a moment: its zone (and whether the ceasefire was in force),
    security and excluded areas, and the nearest settlement and open post."""

    @extend_schema(
        operation_id="classify_point",
        parameters=[ClassifyQuerySerializer],
        responses=ClassificationSerializer,
    )
    def get(self, request: Request) -> Response:
        query = ClassifyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = classify_point(
            latitude=query.validated_data["latitude"],
            longitude=query.validated_data["longitude"],
            at=query.validated_data.get("at"),
        )
        data = ClassificationSerializer(
            classification_detail(result), context={"request": request}
        ).data
        return Response(data)

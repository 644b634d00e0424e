"""Reports in the formats partners use: GeoJSON, CSV with chosen fields, HXL-tagged CSV.

Both endpoints read the same reports as the list (what the caller may see, every
``ReportFilterSet`` filter, ``ordering``), through the selectors of
:mod:`incidents.selectors.exports` (docs/api-formats.md).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring.api.base import (
    FeatureCollectionTypeField,
    FeatureTypeField,
    GeoJSONRenderer,
    PointField,
)

from ..choices import ReportKind, ReportStatus, ViolationCategory
from ..selectors.exports import (
    EXPORT_FIELDS,
    EXPORT_FIELDS_BY_NAME,
    ExportField,
    report_export_rows,
    report_feature,
    report_geojson_values,
)

# --- GeoJSON ---------------------------------------------------------------------------------

GEOJSON_MAX_FEATURES = 10_000


class ReportFeaturePropertiesSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    reference = serializers.CharField()
    kind = serializers.ChoiceField(choices=ReportKind.choices)
    status = serializers.ChoiceField(choices=ReportStatus.choices)
    occurred_at = serializers.DateTimeField()
    zone = serializers.CharField(allow_null=True, help_text="The zone's code; null: outside.")
    center = serializers.CharField(help_text="The monitoring center's code.")
    delegation = serializers.CharField(help_text="The filing observer's delegation (code).")
    settlement = serializers.CharField(allow_null=True, help_text="The settlement's code.")
    category = serializers.ChoiceField(
        choices=ViolationCategory.choices, allow_null=True, help_text="Violations only."
    )
    killed = serializers.IntegerField(
        allow_null=True,
        help_text="Civilians and combatants killed, best estimates (violations only).",
    )
    injured = serializers.IntegerField(
        allow_null=True,
        help_text="Civilians and combatants injured, best estimates (violations only).",
    )
    url = serializers.URLField(help_text="The report in the API.")


class ReportFeatureSerializer(serializers.Serializer):
    """A GeoJSON Feature: one report at its point."""

    type = FeatureTypeField()
    id = serializers.UUIDField(help_text="The report's UUID.")
    geometry = PointField()
    properties = ReportFeaturePropertiesSerializer()


class ReportFeatureCollectionSerializer(serializers.Serializer):
    """A GeoJSON FeatureCollection of report features, one page of them: ``count`` reports
    match, ``next`` and ``previous`` link the neighbouring pages (foreign members, RFC 7946
    section 6.1)."""

    type = FeatureCollectionTypeField()
    count = serializers.IntegerField(help_text="Reports matching the filters, on all pages.")
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page.")
    features = ReportFeatureSerializer(many=True)


class ReportGeoJSONPagination(LimitOffsetPagination):
    """A map layer wants every report at once: a page holds up to 10,000 (also the
    default), further ones follow through ``next``."""

    default_limit = GEOJSON_MAX_FEATURES
    max_limit = GEOJSON_MAX_FEATURES

    def paginate_queryset(self, queryset, request, view=None) -> list[dict[str, Any]]:
        """The page of ``queryset`` (the filtered reports) as feature values: the reports
        are counted as they are, without the joins their values need."""
        self.request = request
        self.limit = self.get_limit(request)
        self.count = self.get_count(queryset)
        self.offset = self.get_offset(request)
        if self.count == 0 or self.offset > self.count:
            return []
        return list(report_geojson_values(queryset)[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data: list[dict[str, Any]]) -> Response:
        return Response(
            {
                "type": "FeatureCollection",
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "features": data,
            }
        )


GEOJSON_PAGING = [
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description=f"Features per page, at most {GEOJSON_MAX_FEATURES:,} (also the default).",
    ),
    OpenApiParameter("offset", OpenApiTypes.INT, description="Skip this many reports."),
]


# --- CSV -------------------------------------------------------------------------------------

# Leading characters a spreadsheet reads as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class CSVRenderer(BaseRenderer):
    """``text/csv``, for content negotiation only: the export streams its own body, and
    whatever else it answers (errors, OPTIONS) is rendered as JSON (see
    :meth:`ReportExportMixin.finalize_response`); this renders JSON too, should it be asked."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return JSONRenderer().render(data, renderer_context=renderer_context)


def csv_cell(value: Any) -> str | int | float:
    """A value as a CSV cell: ISO 8601 UTC moments, ``true``/``false``, empty for none;
    text that a spreadsheet would run as a formula is prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat()
        return text.removesuffix("+00:00") + "Z"
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


class _Line:
    """A file-like object that hands back what ``csv.writer`` writes (one line at a time)."""

    def write(self, text: str) -> str:
        return text


def csv_lines(fields: list[ExportField], rows: Iterable[list[Any]], *, hxl: bool) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow([f.name for f in fields])
    if hxl:
        yield writer.writerow([f.hxl for f in fields])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


FIELD_NAMES = [f.name for f in EXPORT_FIELDS]


class ReportExportQuerySerializer(serializers.Serializer):
    """The export's own parameters (the filters and ``ordering`` are the list's)."""

    fields = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Columns, in order, comma-separated (or the parameter repeated); "
        "default: every exportable field.",
    )
    hxl = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: add a row of HXL hashtags under the header row.",
    )

    def validate_fields(self, value: str) -> list[ExportField]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in EXPORT_FIELDS_BY_NAME]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown field(s): {', '.join(unknown)}. Exportable: {', '.join(FIELD_NAMES)}."
            )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise serializers.ValidationError(f"Listed more than once: {', '.join(repeated)}.")
        return [EXPORT_FIELDS_BY_NAME[name] for name in names]


EXPORT_PARAMETERS = [
    OpenApiParameter(
        "fields",
        {"type": "array", "items": {"type": "string", "enum": FIELD_NAMES}},
        style="form",
        explode=False,
        description="The columns, in this order (comma-separated); default: all of them, in "
        "the documented order. An unknown name answers 400 naming `fields`.",
    ),
    OpenApiParameter(
        "hxl",
        OpenApiTypes.BOOL,
        description="true: a second row of HXL hashtags under the header row.",
    ),
]


# The export's errors are JSON (see ReportExportMixin.finalize_response), not CSV: their
# bodies are the API's standard ones (config/schema.py), descriptions and headers added there.
JSON_ERROR = OpenApiResponse({"$ref": "#/components/schemas/Error"})


def _detail_url(request: Request):
    """The API URL of a report by its UUID, the path reversed once for every row."""
    placeholder = UUID(int=0)
    path = reverse("incidents-api:report-detail", kwargs={"uuid": placeholder})
    template = request.build_absolute_uri(path)
    zero = str(placeholder)

    def url(uuid: UUID) -> str:
        return template.replace(zero, str(uuid))

    return url


class ReportExportMixin:
    """``reports/geojson/`` and ``reports/export/`` (CSV, HXL), honouring the list's filters."""

    def finalize_response(self, request: Request, response, *args, **kwargs):
        # The export's body is its own CSV stream; anything else it answers (an error: 400
        # naming a parameter, 401, 403, 406, ...; OPTIONS) is JSON like the rest of the API.
        # (``action`` is "metadata" on OPTIONS: the export's URL is known by its renderer.)
        if isinstance(response, Response) and CSVRenderer in self.renderer_classes:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        filters=True,
        parameters=GEOJSON_PAGING,
        responses={
            200: ReportFeatureCollectionSerializer,
            400: OpenApiResponse(description="A filter's bad value, under its name."),
        },
        summary="Reports you may see, as GeoJSON",
        description="The filtered reports as a GeoJSON FeatureCollection (RFC 7946): a Point "
        "at [longitude, latitude] per report, its UUID as the feature's id. Up to "
        f"{GEOJSON_MAX_FEATURES:,} features a page; `next` links the following one.",
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="geojson",
        renderer_classes=[GeoJSONRenderer, JSONRenderer],
        pagination_class=ReportGeoJSONPagination,
    )
    def geojson(self, request: Request, *args, **kwargs) -> Response:
        reports = self.filter_queryset(self.get_queryset())
        rows = self.paginate_queryset(reports)
        detail_url = _detail_url(request)
        features = [report_feature(row, detail_url=detail_url) for row in rows]
        return self.get_paginated_response(features)

    @extend_schema(
        filters=True,
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="UTF-8 CSV (RFC 4180), a header row of field names (with "
                "`hxl=true`, a row of HXL hashtags under it), a row per report.",
            ),
            (400, "application/json"): OpenApiResponse(
                {"$ref": "#/components/schemas/ValidationError"},
                description="A bad `fields`, `hxl` or filter value, under its name.",
            ),
            **{(code, "application/json"): JSON_ERROR for code in (401, 403, 429)},
            (406, "application/json"): OpenApiResponse(
                {"$ref": "#/components/schemas/Error"},
                description="The request's `Accept` header does not take `text/csv`.",
            ),
        },
        summary="Reports you may see, as CSV (or HXL-tagged CSV)",
        description="The filtered reports as a CSV download, streamed: the chosen columns "
        "(`fields`), a row per report in the list's order. Text a spreadsheet would run as "
        "a formula (starting with =, +, -, @, tab or CR) is prefixed with '.",
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        renderer_classes=[CSVRenderer],
        pagination_class=None,
    )
    def export(self, request: Request, *args, **kwargs) -> StreamingHttpResponse:
        params = request.query_params
        query = ReportExportQuerySerializer(
            # An empty value is no value, as for the filters.
            data={"fields": ",".join(params.getlist("fields")), "hxl": params.get("hxl") or False}
        )
        valid = query.is_valid()
        try:
            reports = self.filter_queryset(self.get_queryset())
        except ValidationError as exc:  # a bad filter: named with the bad parameters, if any
            raise ValidationError({**exc.detail, **query.errors}) from exc
        if not valid:
            raise ValidationError(query.errors)
        fields = query.validated_data.get("fields") or list(EXPORT_FIELDS)
        rows = report_export_rows(reports=reports, fields=fields, detail_url=_detail_url(request))
        response = StreamingHttpResponse(
            csv_lines(fields, rows, hxl=query.validated_data["hxl"]),
            content_type="text/csv; charset=utf-8",
        )
        filename = f"reports-{timezone.now():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

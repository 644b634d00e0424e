"""Daily summaries through the API: list and read the summaries and versions the caller may
read, and start a compilation (``POST /api/v1/summaries/compile/``).

Who reads what is the web pages' rule (docs/permissions.md, "Daily summaries"): a
coordinator reads every version of the center's summaries; any other active profile of the
center reads the published versions only, and sees only the summaries that have one.
Compiling is the coordinators' of the center, and partner tools' through a partner token
with the write scope for the partner's own center. Writes go through ``incidents.services``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring.api.base import LinkField
from monitoring.api.conditional import ConditionalRecordMixin, IdempotentPostMixin
from monitoring.models import MonitoringCenter
from monitoring.permissions import HasMonitoringRole, TokenHasScope, partner_token_writes_for
from monitoring.queueing import enqueue_quietly

from ..filtersets import SUMMARY_STATES, DailySummaryFilterSet
from ..models import DailySummary, SummaryVersion
from ..selectors.summaries import (
    is_coordinator_of,
    last_closed_day,
    summaries_visible_to,
    summary_state,
    summary_versions_visible_to,
    versions_prefetch,
)
from ..services import summary_compile, summary_get_or_create

# --- Serializers -----------------------------------------------------------------------------


class SummaryVersionSerializer(serializers.ModelSerializer):
    """A version of a daily summary: when and by whom it was compiled and published, its
    content hash and its place in the center's chain (the content is at ``url``)."""

    url = serializers.SerializerMethodField()
    compiled_by = serializers.SerializerMethodField(
        help_text="Username; null when compiled by the system."
    )
    published_by = serializers.SerializerMethodField(help_text="Username; null until published.")

    class Meta:
        model = SummaryVersion
        fields = [
            "url",
            "number",
            "status",
            "compiled_at",
            "compiled_by",
            "published_at",
            "published_by",
            "content_sha256",
            "chain_index",
            "previous_sha256",
            "chain_sha256",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, version: SummaryVersion) -> str:
        path = reverse(
            "incidents-api:dailysummary-version",
            kwargs={"pk": version.summary_id, "number": version.number},
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_compiled_by(self, version: SummaryVersion) -> str | None:
        return version.compiled_by.get_username() if version.compiled_by_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_published_by(self, version: SummaryVersion) -> str | None:
        return version.published_by.get_username() if version.published_by_id else None


class SummaryVersionContentSerializer(SummaryVersionSerializer):
    """A version with its content exactly as stored and hashed (``content_sha256`` is the
    SHA-256 of its canonical JSON: sorted keys, no spaces, UTF-8) and the report revisions
    it was compiled from."""

    content = serializers.JSONField(read_only=True)
    sources = serializers.SerializerMethodField(
        help_text="[report uuid, revision] of every report it counted."
    )

    class Meta(SummaryVersionSerializer.Meta):
        fields = [*SummaryVersionSerializer.Meta.fields, "content", "sources"]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "array",
                "items": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "integer"}]},
                "minItems": 2,
                "maxItems": 2,
            },
        }
    )
    def get_sources(self, version: SummaryVersion) -> list:
        return version.sources


class DailySummarySerializer(serializers.ModelSerializer):
    """A center's reporting day and the state of its summary, as the caller may see it."""

    url = LinkField(view_name="incidents-api:dailysummary-detail")
    center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    state = serializers.SerializerMethodField()
    addendum_pending = serializers.SerializerMethodField()
    version_count = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()
    published_version = serializers.SerializerMethodField()

    class Meta:
        model = DailySummary
        fields = [
            "id",
            "url",
            "center",
            "day",
            "period_start",
            "period_end",
            "state",
            "addendum_pending",
            "stale",
            "stale_since",
            "compiled_at",
            "version_count",
            "latest_version",
            "published_version",
        ]
        read_only_fields = fields

    def _state(self, summary: DailySummary):
        cache = self.context.setdefault("_states", {})
        if summary.pk not in cache:
            cache[summary.pk] = summary_state(summary, getattr(summary, "visible_versions", []))
        return cache[summary.pk]

    def _version(self, version: SummaryVersion | None) -> dict | None:
        if version is None:
            return None
        return SummaryVersionSerializer(version, context=self.context).data

    @extend_schema_field(serializers.ChoiceField(choices=SUMMARY_STATES))
    def get_state(self, summary: DailySummary) -> str:
        return self._state(summary).code

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_addendum_pending(self, summary: DailySummary) -> bool:
        return self._state(summary).addendum_pending

    @extend_schema_field(OpenApiTypes.INT)
    def get_version_count(self, summary: DailySummary) -> int:
        return self._state(summary).version_count

    @extend_schema_field(SummaryVersionSerializer(allow_null=True))
    def get_latest_version(self, summary: DailySummary) -> dict | None:
        """The newest version that is not a superseded draft."""
        return self._version(self._state(summary).latest)

    @extend_schema_field(SummaryVersionSerializer(allow_null=True))
    def get_published_version(self, summary: DailySummary) -> dict | None:
        return self._version(self._state(summary).published)


class SummaryCompileSerializer(serializers.Serializer):
    """What to compile: a center (its code) and one of its closed reporting days."""

    center = serializers.SlugRelatedField(
        slug_field="code", queryset=MonitoringCenter.objects.all(), help_text="Center code."
    )
    day = serializers.DateField(help_text="The reporting day (YYYY-MM-DD), already closed.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        center: MonitoringCenter = data["center"]
        closed = last_closed_day(center, timezone.now())
        if data["day"] > closed:
            raise serializers.ValidationError(
                {
                    "day": f"{data['day']} has not closed yet at {center.code}: "
                    f"the last closed reporting day is {closed}."
                }
            )
        return data


class SummaryCompileResultSerializer(DailySummarySerializer):
    """The summary after the request: ``queued`` (202) or compiled at once because the
    task queue was unreachable (200)."""

    queued = serializers.SerializerMethodField()

    class Meta(DailySummarySerializer.Meta):
        fields = [*DailySummarySerializer.Meta.fields, "queued"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_queued(self, summary: DailySummary) -> bool:
        return bool(self.context.get("queued"))


# --- The viewset -----------------------------------------------------------------------------

NUMBER = OpenApiParameter(
    "number", OpenApiTypes.INT, OpenApiParameter.PATH, description="The version number."
)


@extend_schema_view(
    list=extend_schema(summary="Daily summaries you may read, newest day first"),
    retrieve=extend_schema(summary="One daily summary and its state"),
)
class DailySummaryViewSet(
    IdempotentPostMixin,
    ConditionalRecordMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The daily summaries of the caller's center: a coordinator reads every summary and
    version; any other profile, the published versions (docs/permissions.md)."""

    serializer_class = DailySummarySerializer
    filterset_class = DailySummaryFilterSet
    permission_classes = [HasMonitoringRole, TokenHasScope]
    ordering_fields = ["day", "compiled_at"]
    ordering = ["-day", "-id"]

    def get_queryset(self) -> QuerySet[DailySummary]:
        request = getattr(self, "request", None)
        if request is None:  # introspection (schema, conventions): the model, no rows
            return DailySummary.objects.none()
        return summaries_visible_to(
            user=request.user, queryset=DailySummary.objects.select_related("center")
        ).prefetch_related(versions_prefetch(request.user))

    def _versions(self, summary: DailySummary) -> QuerySet[SummaryVersion]:
        return summary_versions_visible_to(
            user=self.request.user,
            queryset=SummaryVersion.objects.filter(summary=summary).select_related(
                "compiled_by", "published_by"
            ),
        )

    @extend_schema(
        responses={200: SummaryVersionSerializer(many=True)},
        summary="The summary's versions you may read, newest first",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def versions(self, request: Request, pk=None) -> Response:
        summary = self.get_object()
        rows = self._versions(summary).defer("content", "sources").order_by("-number")
        return Response(
            SummaryVersionSerializer(rows, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        parameters=[NUMBER],
        responses={
            200: SummaryVersionContentSerializer,
            404: OpenApiResponse(description="No such version you may read."),
        },
        summary="One version with its content",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>[0-9]+)",
        url_name="version",
        pagination_class=None,
        filter_backends=[],
    )
    def version(self, request: Request, pk=None, number=None) -> Response:
        summary = self.get_object()
        version = self._versions(summary).filter(number=int(number)).first()
        if version is None:
            raise NotFound("No version of that number you may read.")
        return Response(
            SummaryVersionContentSerializer(version, context=self.get_serializer_context()).data
        )

    @extend_schema(
        request=SummaryCompileSerializer,
        responses={
            202: SummaryCompileResultSerializer,
            200: SummaryCompileResultSerializer,
            400: OpenApiResponse(description="Each error under the field it is about."),
            403: OpenApiResponse(
                description="Only a coordinator of that center, or a partner token of that "
                "center with the write scope, compiles."
            ),
        },
        summary="Compile a center's reporting day (queued; at once if the queue is down)",
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def compile(self, request: Request) -> Response:
        from ..tasks import summary_compile_task

        payload = SummaryCompileSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        center: MonitoringCenter = payload.validated_data["center"]
        day: date = payload.validated_data["day"]
        if not (
            is_coordinator_of(request.user, center.pk)
            or partner_token_writes_for(request, center.pk)
        ):
            raise PermissionDenied(
                "Only a coordinator of that center, or a partner token of that center with the "
                "write scope, compiles its summaries."
            )
        summary = summary_get_or_create(center=center, day=day)
        queued = enqueue_quietly(summary_compile_task, center_id=center.pk, day=day.isoformat())
        if not queued:  # the broker is away: compile here rather than wait for the sweep
            summary_compile(center=center, day=day, actor=request.user)
        # The summary asked for, with the versions the caller may read (a partner tool reads
        # published versions only: its new draft is not among them).
        fresh = (
            DailySummary.objects.select_related("center")
            .prefetch_related(versions_prefetch(request.user))
            .get(pk=summary.pk)
        )
        context = {**self.get_serializer_context(), "queued": queued}
        return Response(
            SummaryCompileResultSerializer(fresh, context=context).data,
            status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK,
        )

"""Reports through the API: list and read what the caller may see, file and edit drafts,
and each workflow transition as its own endpoint, all through the same services as the
web pages (so the same rules, the same audit trail with source ``api``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring.api.conditional import ConditionalRecordMixin, IdempotentPostMixin
from monitoring.permissions import HasMonitoringRole, TokenHasScope
from monitoring.selectors import audit_entries_for

from .. import services
from ..choices import ReportStatus
from ..filtersets import ReportFilterSet
from ..models import Report
from ..selectors import report_full_list, reports_visible_to
from .exports import ReportExportMixin
from .imports import ReportImportMixin
from .links import ReportRelationsMixin
from .serializers import (
    DETAIL_INPUT,
    AuditEntrySerializer,
    ReportInputSerializer,
    ReportSerializer,
    ReportTransitionSerializer,
    TransitionInputSerializer,
)

# The transition endpoints: URL name -> the status it moves the report to.
TRANSITION_ACTIONS = {
    "submit": ReportStatus.SUBMITTED,
    "retract": ReportStatus.RETRACTED,
    "verify": ReportStatus.VERIFIED,
    "dispute": ReportStatus.DISPUTED,
    "reject": ReportStatus.REJECTED,
    "return": ReportStatus.RETURNED,
}


class StaleRevision(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "stale"
    default_detail = "The report changed since you read it."


def _service_errors(exc: DjangoValidationError, kind: str) -> APIException:
    """A service's refusal as the API's 400 (or 409 for a stale copy), each message under
    the field it is about; the kind's own fields sit under ``detail``."""
    if isinstance(exc, services.StaleEditError):
        return StaleRevision(exc.messages[0])
    if not hasattr(exc, "error_dict"):
        return ValidationError({"non_field_errors": exc.messages})
    detail_fields = set(DETAIL_INPUT[kind]().fields) if kind in DETAIL_INPUT else set()
    common_fields = set(ReportInputSerializer().fields) - {"detail"}
    errors: dict[str, Any] = {}
    for key, messages in exc.message_dict.items():
        head = key.split(".", 1)[0]
        if head in detail_fields and head not in common_fields:
            errors[f"detail.{key}"] = messages
        else:
            errors[key] = messages
    return ValidationError(errors)


def _transition_schema(to_status: str):
    # Applied after action(), which replaces the function's schema kwargs with its own.
    return extend_schema(
        request=TransitionInputSerializer,
        responses={
            200: ReportSerializer,
            400: OpenApiResponse(description="The rules refuse it; the message says why."),
            403: OpenApiResponse(description="Not yours to do."),
            404: OpenApiResponse(description="No such report you may see."),
            409: OpenApiResponse(description="The report changed since that revision."),
        },
        summary=f"Move the report to {to_status}",
    )


def _transition_view(name: str, to_status: str):
    def view(self, request: Request, uuid=None) -> Response:
        report = self.get_object()
        payload = TransitionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            report = services.report_transition(
                report=report,
                to_status=to_status,
                actor=request.user,
                comment=payload.validated_data["comment"],
                expected_revision=payload.validated_data.get("revision"),
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc, report.kind) from exc
        return Response(self._read(report))

    view.__name__ = name
    return view


@extend_schema_view(
    list=extend_schema(summary="Reports you may see"),
    retrieve=extend_schema(summary="One report, with its kind's detail"),
    create=extend_schema(
        request=ReportInputSerializer,
        responses={
            201: ReportSerializer,
            400: OpenApiResponse(description="Each error under the field it is about."),
        },
        summary="File a draft",
    ),
    partial_update=extend_schema(
        request=ReportInputSerializer,
        responses={
            200: ReportSerializer,
            400: OpenApiResponse(description="Each error under the field it is about."),
            409: OpenApiResponse(description="The report changed since that revision."),
        },
        summary="Edit a draft or returned report (author only)",
    ),
)
class ReportViewSet(
    IdempotentPostMixin,
    ConditionalRecordMixin,
    ReportExportMixin,
    ReportImportMixin,
    ReportRelationsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Ceasefire-violation, humanitarian-convoy and checkpoint reports.

    Only the reports the caller may see are listed or found (docs/permissions.md);
    another's report answers 404. Writes go through the report services.
    """

    serializer_class = ReportSerializer
    filterset_class = ReportFilterSet
    permission_classes = [HasMonitoringRole, TokenHasScope]
    lookup_field = "uuid"
    lookup_value_regex = r"[0-9a-f-]{36}"
    ordering_fields = ["occurred_at", "updated_at", "reported_at", "reference"]
    ordering = ["-occurred_at", "-id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Report]:
        request = getattr(self, "request", None)
        if request is None:  # introspection (schema, conventions): the model, no rows
            return report_full_list().none()
        return reports_visible_to(user=request.user, queryset=report_full_list())

    def get_serializer_class(self):
        if self.action in ("create", "partial_update"):
            return ReportInputSerializer
        return ReportSerializer

    def _read(self, report: Report) -> dict:
        fresh = report_full_list().get(pk=report.pk)
        return ReportSerializer(fresh, context=self.get_serializer_context()).data

    def create(self, request: Request, *args, **kwargs) -> Response:
        payload = ReportInputSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        kind = payload.validated_data["kind"]
        try:
            report = services.report_create(
                actor=request.user, kind=kind, **payload.service_arguments()
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc, kind) from exc
        return Response(self._read(report), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        report = self.get_object()
        payload = ReportInputSerializer(
            data=request.data,
            partial=True,
            report=report,
            context={**self.get_serializer_context(), "if_match": "If-Match" in request.headers},
        )
        payload.is_valid(raise_exception=True)
        arguments = payload.service_arguments()
        if "zone_override" not in payload.validated_data:
            # An edit that does not mention the zone keeps the observer's override.
            arguments["zone_override"] = report.zone if report.zone_override_reason else None
            arguments["zone_override_reason"] = report.zone_override_reason
        try:
            report = services.report_update(
                report=report,
                actor=request.user,
                # With If-Match and no revision: the revision that passed the If-Match check,
                # read under the row lock (ConditionalRecordMixin.get_object).
                expected_revision=payload.validated_data.get("revision", report.revision),
                **arguments,
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc, report.kind) from exc
        return Response(self._read(report))

    def update(self, request: Request, *args, **kwargs) -> Response:  # PUT is not offered
        return self.http_method_not_allowed(request, *args, **kwargs)

    @extend_schema(
        responses={200: AuditEntrySerializer(many=True)},
        summary="The report's history: every create, edit, transition, attachment, link",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, uuid=None) -> Response:
        report = self.get_object()
        entries = audit_entries_for(report).select_related("actor").order_by("at", "id")
        return Response(AuditEntrySerializer(entries, many=True).data)

    @extend_schema(
        responses={200: ReportTransitionSerializer(many=True)},
        summary="The report's workflow transitions, oldest first",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def transitions(self, request: Request, uuid=None) -> Response:
        report = self.get_object()
        rows = report.transitions.select_related("actor").order_by("at", "id")
        return Response(ReportTransitionSerializer(rows, many=True).data)


for _name, _status in TRANSITION_ACTIONS.items():
    setattr(
        ReportViewSet,
        _name,
        _transition_schema(_status)(
            action(
                detail=True,
                methods=["post"],
                url_path=_name,
                url_name=_name,
                filter_backends=[],
                pagination_class=None,
            )(_transition_view(_name, _status))
        ),
    )

"""A report's relations through the API: its corroboration links (read and add) and its
attachments (upload and download), through the same services as the web pages."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from .. import services
from ..files import attachment_response
from ..models import Attachment, CorroborationLink, Report
from ..selectors import reports_visible_to
from .serializers import AttachmentSerializer


class CorroborationLinkSerializer(serializers.Serializer):
    """One link, seen from the report it was asked about: the other report of the pair."""

    uuid = serializers.UUIDField(help_text="The other report.")
    reference = serializers.CharField()
    url = serializers.URLField()
    note = serializers.CharField(allow_blank=True)
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class CorroborationLinkInputSerializer(serializers.Serializer):
    other = serializers.UUIDField(help_text="The report that describes the same event.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A photo (JPEG, PNG, WebP) or a PDF document.")


def _refusal(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"non_field_errors": exc.messages})


class ReportRelationsMixin:
    """``reports/{uuid}/links/`` and ``reports/{uuid}/attachments/[{id}/]``."""

    def _links(self, request: Request, report: Report) -> list[dict]:
        rows = CorroborationLink.objects.filter(Q(report=report) | Q(other=report)).select_related(
            "created_by"
        )
        others = {
            link.other_id if link.report_id == report.pk else link.report_id: link for link in rows
        }
        visible = (
            reports_visible_to(user=request.user, queryset=Report.objects.all())
            .filter(pk__in=others)
            .order_by("reference")
            .values_list("pk", "uuid", "reference")
        )
        result = []
        for pk, other_uuid, reference in visible:
            link = others[pk]
            result.append(
                {
                    "uuid": other_uuid,
                    "reference": reference,
                    "url": request.build_absolute_uri(
                        reverse("incidents-api:report-detail", kwargs={"uuid": other_uuid})
                    ),
                    "note": link.note,
                    "created_by": link.created_by.get_username() if link.created_by else None,
                    "created_at": link.created_at,
                }
            )
        return CorroborationLinkSerializer(result, many=True).data

    @extend_schema(
        methods=["GET"],
        responses={200: CorroborationLinkSerializer(many=True)},
        summary="The reports linked to this one as the same event (those you may see)",
    )
    @extend_schema(
        methods=["POST"],
        request=CorroborationLinkInputSerializer,
        responses={
            201: CorroborationLinkSerializer(many=True),
            400: OpenApiResponse(description="The rules refuse the link; the field is named."),
            403: OpenApiResponse(description="Not yours to link."),
        },
        summary="Link another report as describing the same event",
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def links(self, request: Request, uuid=None) -> Response:
        report = self.get_object()
        if request.method == "GET":
            return Response(self._links(request, report))
        payload = CorroborationLinkInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        other = (
            reports_visible_to(user=request.user)
            .filter(uuid=payload.validated_data["other"])
            .first()
        )
        if other is None:
            raise ValidationError({"other": ["No such report that you may see."]})
        try:
            services.corroboration_link(
                report=report, other=other, actor=request.user, note=payload.validated_data["note"]
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except DjangoValidationError as exc:
            raise _refusal(exc) from exc
        return Response(self._links(request, report), status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={
            201: AttachmentSerializer,
            400: OpenApiResponse(description="Not a photo or PDF, too large, or a duplicate."),
            403: OpenApiResponse(description="Not yours to attach to."),
        },
        summary="Attach a photo or PDF to the report",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="attachments",
        parser_classes=[MultiPartParser, FormParser],
        pagination_class=None,
        filter_backends=[],
    )
    def attachments(self, request: Request, uuid=None) -> Response:
        report = self.get_object()
        payload = AttachmentUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            attachment = services.attachment_add(
                report=report, actor=request.user, upload=payload.validated_data["file"]
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except DjangoValidationError as exc:
            raise _refusal(exc) from exc
        return Response(AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            **{
                (200, content_type): OpenApiResponse(
                    OpenApiTypes.BINARY, description="The file, as a download (never inline)."
                )
                for content_type in [*settings.ATTACHMENT_CONTENT_TYPES, "application/octet-stream"]
            },
            404: OpenApiResponse(description="No such attachment of a report you may see."),
        },
        summary="Download one of the report's files",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"attachments/(?P<attachment_id>[0-9]+)",
        url_name="attachment-download",
        pagination_class=None,
        filter_backends=[],
    )
    def attachment_download(self, request: Request, uuid=None, attachment_id=None):
        report = self.get_object()
        attachment = Attachment.objects.filter(report=report, pk=attachment_id).first()
        if attachment is None:
            raise NotFound("No such attachment on this report.")
        return attachment_response(attachment)

"""Reports in the API: the full record with its kind's detail nested (read), and the input
of a filing, an edit and a workflow transition (write). Reference data is named by its
stable ``code`` (zones, parties, posts, settlements), as partner tools keep it.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from monitoring.api.base import LinkField, ReadOnlyModelSerializer
from monitoring.api.nested_serializers import (
    NestedMonitoringCenterSerializer,
    NestedPartySerializer,
)
from monitoring.models import AuditEntry, Party
from zones.api.nested_serializers import (
    NestedPostSerializer,
    NestedSettlementSerializer,
    NestedZoneSerializer,
)
from zones.choices import PostKind
from zones.models import Post, Settlement, Zone

from ..choices import ReportKind
from ..models import (
    ACCESS_INCIDENT_FIELDS,
    CARGO_FIELDS,
    CHECKPOINT_FIELDS,
    CONVOY_FIELDS,
    REPORT_FIELDS,
    STAGE_FIELDS,
    VIOLATION_FIELDS,
    AccessIncident,
    Attachment,
    CargoLine,
    CheckpointDetail,
    ConvoyDetail,
    ConvoyRouteStop,
    ConvoyStage,
    Report,
    ReportTransition,
    ViolationDetail,
)


def _party_field(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="code", queryset=Party.objects.all(), **kwargs)


# --- Read: the full record --------------------------------------------------------------------


class ViolationDetailSerializer(ReadOnlyModelSerializer):
    alleged_perpetrator = NestedPartySerializer(allow_null=True, help_text="Null = unknown.")
    affected_party = NestedPartySerializer(allow_null=True)

    class Meta:
        model = ViolationDetail
        fields = VIOLATION_FIELDS


class CargoLineSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = CargoLine
        fields = CARGO_FIELDS


class ConvoyRouteStopSerializer(ReadOnlyModelSerializer):
    post = NestedPostSerializer()

    class Meta:
        model = ConvoyRouteStop
        fields = ["position", "post", "passed_at"]


class ConvoyStageSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = ConvoyStage
        fields = STAGE_FIELDS


class ConvoyDetailSerializer(ReadOnlyModelSerializer):
    organizations = NestedPartySerializer(many=True)
    destination = NestedSettlementSerializer()
    cargo = CargoLineSerializer(many=True)
    route = ConvoyRouteStopSerializer(many=True, source="stops")
    stages = ConvoyStageSerializer(many=True)

    class Meta:
        model = ConvoyDetail
        fields = [
            *CONVOY_FIELDS,
            "cargo",
            "route",
            "stages",
        ]


class AccessIncidentSerializer(ReadOnlyModelSerializer):
    party = NestedPartySerializer(allow_null=True)

    class Meta:
        model = AccessIncident
        fields = ACCESS_INCIDENT_FIELDS


class CheckpointDetailSerializer(ReadOnlyModelSerializer):
    checkpoint = NestedPostSerializer()
    incidents = AccessIncidentSerializer(many=True)

    class Meta:
        model = CheckpointDetail
        fields = [*CHECKPOINT_FIELDS, "incidents"]


class AttachmentSerializer(ReadOnlyModelSerializer):
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Attachment
        fields = [
            "id",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "uploaded_at",
        ]


class ReportSerializer(ReadOnlyModelSerializer):
    """A report of any kind; exactly one of ``violation``, ``convoy``, ``checkpoint`` is set."""

    url = LinkField(view_name="incidents-api:report-detail", lookup_field="uuid")
    center = NestedMonitoringCenterSerializer()
    zone = NestedZoneSerializer(allow_null=True)
    classified_zone = NestedZoneSerializer(allow_null=True)
    settlement = NestedSettlementSerializer(allow_null=True)
    post = NestedPostSerializer(allow_null=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    delegation = NestedPartySerializer()
    # The detail of the report's own kind; the other two are null. Nested serializers built
    # once per list (a serializer made per report would cost more than the whole rest).
    violation = ViolationDetailSerializer(allow_null=True)
    convoy = ConvoyDetailSerializer(allow_null=True)
    checkpoint = CheckpointDetailSerializer(allow_null=True)
    attachments = AttachmentSerializer(many=True)

    class Meta:
        model = Report
        fields = [
            "uuid",
            "url",
            "reference",
            "kind",
            "center",
            "status",
            "revision",
            "latitude",
            "longitude",
            "place_precision",
            "zone",
            "classified_zone",
            "zone_override_reason",
            "settlement",
            "post",
            "in_security_area",
            "in_excluded_area",
            "zone_in_force",
            "occurred_at",
            "time_precision",
            "reported_at",
            "submitted_at",
            "updated_at",
            "author",
            "delegation",
            "source",
            "confidence",
            "narrative",
            "violation",
            "convoy",
            "checkpoint",
            "attachments",
        ]


class ReportTransitionSerializer(ReadOnlyModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReportTransition
        fields = ["from_status", "to_status", "actor", "at", "comment"]


class AuditEntrySerializer(ReadOnlyModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AuditEntry
        fields = ["at", "actor", "actor_label", "source", "action", "changes", "comment"]


# --- Write: filing, editing, transitions ------------------------------------------------------


class ViolationDetailInputSerializer(serializers.ModelSerializer):
    alleged_perpetrator = _party_field(allow_null=True, required=False)
    affected_party = _party_field(allow_null=True, required=False)

    class Meta:
        model = ViolationDetail
        fields = VIOLATION_FIELDS


class CargoLineInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CargoLine
        fields = CARGO_FIELDS


class ConvoyRouteStopInputSerializer(serializers.Serializer):
    post = serializers.SlugRelatedField(
        slug_field="code", queryset=Post.objects.filter(kind=PostKind.CHECKPOINT)
    )
    passed_at = serializers.DateTimeField(required=False, allow_null=True)


class ConvoyStageInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConvoyStage
        fields = STAGE_FIELDS


class ConvoyDetailInputSerializer(serializers.ModelSerializer):
    organizations = _party_field(many=True, required=False)
    destination = serializers.SlugRelatedField(slug_field="code", queryset=Settlement.objects.all())
    cargo = CargoLineInputSerializer(many=True, required=False)
    route = ConvoyRouteStopInputSerializer(many=True, required=False)
    stages = ConvoyStageInputSerializer(many=True, required=False)

    class Meta:
        model = ConvoyDetail
        fields = [
            *CONVOY_FIELDS,
            "cargo",
            "route",
            "stages",
        ]


class AccessIncidentInputSerializer(serializers.ModelSerializer):
    party = _party_field(allow_null=True, required=False)

    class Meta:
        model = AccessIncident
        fields = ACCESS_INCIDENT_FIELDS


class CheckpointDetailInputSerializer(serializers.ModelSerializer):
    checkpoint = serializers.SlugRelatedField(
        slug_field="code", queryset=Post.objects.filter(kind=PostKind.CHECKPOINT)
    )
    incidents = AccessIncidentInputSerializer(many=True, required=False)

    class Meta:
        model = CheckpointDetail
        fields = [*CHECKPOINT_FIELDS, "incidents"]


DETAIL_INPUT = {
    ReportKind.VIOLATION: ViolationDetailInputSerializer,
    ReportKind.CONVOY: ConvoyDetailInputSerializer,
    ReportKind.CHECKPOINT: CheckpointDetailInputSerializer,
}

COMMON_INPUT_FIELDS = REPORT_FIELDS


def plain(value: Any) -> Any:
    """Validated data (OrderedDicts, nested lists) as plain dicts and lists."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


class ReportInputSerializer(serializers.ModelSerializer):
    """A filing (POST) or an edit (PATCH, with the ``revision`` the editor started from).

    ``detail`` holds the kind's own fields, as in the response's ``violation``, ``convoy``
    or ``checkpoint`` member, with reference data named by code.
    """

    kind = serializers.ChoiceField(choices=ReportKind.choices)
    settlement = serializers.SlugRelatedField(
        slug_field="code", queryset=Settlement.objects.all(), allow_null=True, required=False
    )
    post = serializers.SlugRelatedField(
        slug_field="code", queryset=Post.objects.all(), allow_null=True, required=False
    )
    zone_override = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Zone.objects.all(),
        allow_null=True,
        required=False,
        help_text="The zone, when it differs from the one the map gives (needs a reason).",
    )
    zone_override_reason = serializers.CharField(required=False, allow_blank=True, default="")
    detail = serializers.JSONField(
        required=False, help_text="The kind's own fields (see ViolationDetail, ...)."
    )
    revision = serializers.IntegerField(
        required=False, min_value=1, help_text="Edits: the revision the edit was made on."
    )

    class Meta:
        model = Report
        fields = [
            "kind",
            *COMMON_INPUT_FIELDS,
            "zone_override",
            "zone_override_reason",
            "detail",
            "revision",
        ]

    def __init__(self, *args, report: Report | None = None, **kwargs):
        self.report = report
        super().__init__(*args, **kwargs)
        if report is not None:
            self.fields["kind"].required = False

    def validate(self, attrs: dict) -> dict:
        # An edit names the version it was made on: its revision, or an If-Match header
        # (the view checks that one under the row lock).
        if self.report is not None and "revision" not in attrs and not self.context.get("if_match"):
            raise serializers.ValidationError(
                {"revision": "Give the revision your edit was made on (or send If-Match)."}
            )
        kind = self.report.kind if self.report is not None else attrs.get("kind")
        if self.report is not None and attrs.get("kind", kind) != kind:
            raise serializers.ValidationError({"kind": "A report's kind does not change."})
        raw = attrs.get("detail")
        if raw is not None:
            if not isinstance(raw, dict):
                raise serializers.ValidationError(
                    {"detail": "Give an object of the kind's fields."}
                )
            detail = DETAIL_INPUT[kind](data=raw, partial=self.partial)
            if not detail.is_valid():
                raise serializers.ValidationError({"detail": detail.errors})
            attrs["detail"] = plain(detail.validated_data)
        elif self.report is None and kind in DETAIL_INPUT:
            raise serializers.ValidationError({"detail": f"A {kind} report needs its details."})
        return attrs

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        return {
            "values": {key: data[key] for key in COMMON_INPUT_FIELDS if key in data},
            "detail": data.get("detail"),
            "zone_override": data.get("zone_override"),
            "zone_override_reason": data.get("zone_override_reason", ""),
        }


class TransitionInputSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Why: required to return, dispute, reject or retract.",
    )
    revision = serializers.IntegerField(
        required=False, min_value=1, help_text="The revision the decision was made on."
    )

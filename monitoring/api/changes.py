"""The change feed, ``GET /api/v1/changes/?after=<cursor>``: every record type in one list,
in the order of a server-assigned sequence, for partner tools that keep copies in step.

Each entry is a record as its own detail endpoint shows it to the caller (the same viewset
builds it), or a tombstone (``"deleted": true``) for a record the caller's center shared
once and that is no longer in the caller's view (retracted, rejected, withdrawn). Rows the
caller never could see are skipped without a word. The cursor is the ``seq`` of the last
row read, whether shown or skipped, so the next page starts after it: a page costs one
index range scan at any depth (keyset pagination, no OFFSET).

Why nothing is missed or repeated, and the tombstones' retention: docs/api.md#the-change-feed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..choices import ChangeRecordType
from ..models import Change
from ..permissions import HasMonitoringRole, TokenHasScope
from ..selectors import changes_after, changes_horizon, changes_pending
from ..services import changes_sequence

CHANGED_AT = serializers.DateTimeField()
PAGE_DEFAULT = 500
PAGE_MAX = 1000


@dataclass(frozen=True)
class FeedType:
    """How the feed shows one record type: as the detail endpoint of ``viewset`` (named
    ``url_name``) shows it, through ``serialize`` (a direct serializer giving the same JSON:
    ``serialize(reports=queryset, request=request) -> [record, ...]``) if given, without the
    ``moment_fields`` that describe the moment of reading rather than the record (a zone's
    state "now": a copy would go stale without any change to tell)."""

    viewset: type
    url_name: str
    serialize: Callable[..., list[dict]] | None = None
    moment_fields: tuple[str, ...] = ()


class ChangeFeedQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0,
        default=0,
        help_text="The cursor of the last page read (0 or absent: from the beginning).",
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=PAGE_MAX,
        default=PAGE_DEFAULT,
        help_text=f"Rows to read (at most {PAGE_MAX}).",
    )
    horizon = serializers.IntegerField(
        min_value=0,
        default=0,
        help_text="The ``horizon`` of the page your cursor came from (``next`` carries it): "
        "a cursor below the tombstone horizon is still good if no purge happened since.",
    )


class ChangeEntrySerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="Strictly increasing over the whole feed.")
    type = serializers.ChoiceField(choices=ChangeRecordType.choices)
    id = serializers.CharField(help_text="The record's id in its own endpoint.")
    changed_at = serializers.DateTimeField()
    deleted = serializers.BooleanField(
        help_text="A tombstone: drop your copy (the record left your view)."
    )
    url = serializers.URLField(allow_null=True, help_text="Its detail endpoint (null if deleted).")
    record = serializers.DictField(
        allow_null=True, help_text="The record as its detail endpoint gives it; null if deleted."
    )


class ChangePageSerializer(serializers.Serializer):
    results = ChangeEntrySerializer(many=True)
    cursor = serializers.IntegerField(help_text="Pass as ?after= for the next page; keep it.")
    has_more = serializers.BooleanField(help_text="False: you are in step; poll again later.")
    horizon = serializers.IntegerField(
        help_text="The tombstone horizon now: keep it with the cursor and send it back."
    )
    next = serializers.URLField(allow_null=True)


RESYNC_RESPONSE = inline_serializer(
    "ResyncRequired",
    {
        "status": serializers.CharField(default="resync_required"),
        "detail": serializers.CharField(),
        "horizon": serializers.IntegerField(),
    },
)


class ChangeFeedView(APIView):
    """One feed over all record types, ordered by a server-assigned sequence."""

    permission_classes = [HasMonitoringRole, TokenHasScope]
    # record type -> how the feed shows it
    viewsets: dict[str, FeedType] = {}

    @extend_schema(
        parameters=[ChangeFeedQuerySerializer],
        responses={
            200: ChangePageSerializer,
            400: OpenApiResponse(description="A bad ``after`` or ``limit``, named."),
            410: OpenApiResponse(
                RESYNC_RESPONSE,
                description="The cursor is older than the tombstones kept: copy everything "
                "again from ``after=0``.",
            ),
        },
        summary="Changes of every record you may see, after a cursor",
        operation_id="changes_list",
    )
    def get(self, request: Request) -> Response:
        query = ChangeFeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["after"], query.validated_data["limit"]
        horizon = changes_horizon()
        # A cursor below the horizon missed tombstones only if they were purged after it
        # was read; a copy begun after the purge (it echoes the horizon) reads on.
        if 0 < after < horizon and query.validated_data["horizon"] < horizon:
            return Response(
                {
                    "status": "resync_required",
                    "detail": f"Tombstones before {horizon} are no longer kept (retention "
                    f"{settings.CHANGE_TOMBSTONE_DAYS} days): copy everything again from "
                    "after=0.",
                    "horizon": horizon,
                },
                status=status.HTTP_410_GONE,
            )
        if changes_pending():
            changes_sequence()
        rows = changes_after(user=request.user, after=after, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        records = self._records(request, rows)
        results = [entry for row in rows if (entry := self._entry(row, records)) is not None]
        cursor = rows[-1].seq if rows else after
        next_url = None
        if has_more:
            next_url = request.build_absolute_uri(
                f"{request.path}?after={cursor}&limit={limit}&horizon={horizon}"
            )
        return Response(
            {
                "results": results,
                "cursor": cursor,
                "has_more": has_more,
                "horizon": horizon,
                "next": next_url,
            }
        )

    def _records(self, request: Request, rows: list[Change]) -> dict[tuple[str, str], Any]:
        """The records of a page the caller may see, as their detail endpoints give them:
        the viewset's own queryset (so the same visibility) and its serializer, or a direct
        serializer giving the same JSON where one is registered (reports)."""
        keys: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            keys[row.record_type].append(row.record_key)
        found: dict[tuple[str, str], Any] = {}
        for record_type, wanted in keys.items():
            if record_type not in self.viewsets:
                continue
            spec = self.viewsets[record_type]
            view = spec.viewset(
                request=request, action="retrieve", format_kwarg=None, args=(), kwargs={}
            )
            lookup = view.lookup_field
            queryset = view.get_queryset().filter(**{f"{lookup}__in": wanted})
            if spec.serialize is not None:
                pairs = [
                    (str(data[lookup]), data)
                    for data in spec.serialize(reports=queryset, request=request)
                ]
            else:
                instances = list(queryset)
                serializer = view.get_serializer_class()(
                    instances, many=True, context=view.get_serializer_context()
                )
                pairs = [
                    (str(getattr(instance, lookup)), data)
                    for instance, data in zip(instances, serializer.data, strict=True)
                ]
            for key, data in pairs:
                for name in spec.moment_fields:
                    data.pop(name, None)
                found[(record_type, key)] = (data, spec.url_name, lookup)
        return found

    def _entry(self, row: Change, records: dict[tuple[str, str], Any]) -> dict | None:
        hit = records.get((row.record_type, row.record_key))
        entry = {
            "seq": row.seq,
            "type": row.record_type,
            "id": row.record_key,
            "changed_at": CHANGED_AT.to_representation(row.changed_at),
        }
        if hit is not None:
            data, url_name, lookup = hit
            url = data.get("url") if isinstance(data, dict) else None
            if url is None:
                path = reverse(url_name, kwargs={lookup: row.record_key})
                url = self.request.build_absolute_uri(path)
            return entry | {"deleted": False, "url": url, "record": data}
        if row.ever_shared:
            return entry | {"deleted": True, "url": None, "record": None}
        return None  # never in the caller's view: not even its id is told

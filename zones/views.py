"""The zone pages: the list of zones and one zone's page, and the map data both share with
the home page (passed to the browser with ``json_script``; see ``static/js/map.js``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from monitoring.models import Party
from monitoring.permissions import RoleRequiredMixin
from monitoring.selectors import audit_entries_for

from .choices import (
    Governorate,
    PostKind,
    PostStatus,
    SecurityAreaDerivation,
    SettlementReconciliationStatus,
    ZoneStatus,
)
from .models import ExcludedArea, Post, SecurityArea, Settlement, Zone, ZoneBoundary, ZoneTerm
from .selectors import (
    boundary_in_force,
    excluded_area_list,
    excluded_areas_geojson,
    excluded_areas_touching,
    post_list,
    posts_geojson,
    security_area_list,
    security_areas_geojson,
    settlements_geojson,
    settlements_within,
    zone_current_term,
    zone_in_force,
    zone_list,
    zones_geojson,
)

ZONE_URL_PLACEHOLDER = "__code__"


@dataclass(frozen=True)
class ZoneRow:
    """A zone with what its row in a table shows, computed from prefetched data."""

    zone: Zone
    in_force: bool
    current_term: ZoneTerm | None
    last_term: ZoneTerm | None
    boundary: ZoneBoundary | None
    observation_posts: int
    checkpoints: int

    @property
    def governorate_labels(self) -> list[str]:
        labels = dict(Governorate.choices)
        return [labels.get(code, code) for code in self.zone.governorates]


def zone_rows(zones: list[Zone], posts: list[Post], moment: datetime) -> list[ZoneRow]:
    counts: dict[tuple[int, str], int] = {}
    for post in posts:
        key = (post.zone_id, post.kind)
        counts[key] = counts.get(key, 0) + 1
    return [
        ZoneRow(
            zone=zone,
            in_force=zone_in_force(zone, moment),
            current_term=zone_current_term(zone, moment),
            last_term=max(zone.terms.all(), key=lambda term: term.starts_at, default=None),
            boundary=boundary_in_force(zone, moment),
            observation_posts=counts.get((zone.pk, PostKind.OBSERVATION_POST), 0),
            checkpoints=counts.get((zone.pk, PostKind.CHECKPOINT), 0),
        )
        for zone in zones
    ]


def _party_labels(parties: list[Party]) -> dict[str, str]:
    return {party.code: str(party) for party in parties if party is not None}


def map_config(
    *,
    zones: list[Zone],
    posts: list[Post],
    settlements: list[Settlement],
    security_areas: list[SecurityArea] | None = None,
    excluded_areas: list[ExcludedArea] | None = None,
    moment: datetime,
    **extra: Any,
) -> dict[str, Any]:
    """Everything a map page draws, as one JSON-ready dict (see ``static/js/map.js``)."""
    excluded = (
        list(excluded_area_list().filter(valid_from__lte=moment))
        if excluded_areas is None
        else excluded_areas
    )
    parties = [post.operating_party for post in posts] + [area.group for area in excluded]
    parties += [s.controlling_party for s in settlements]
    config = {
        "tile": {
            "url": settings.MAP_TILE_URL,
            "attribution": getattr(settings, "MAP_TILE_ATTRIBUTION", ""),
        },
        "zone_url": reverse("zones:detail", args=[ZONE_URL_PLACEHOLDER]),
        "zones": zones_geojson(moment, zones=zones),
        "security_areas": security_areas_geojson(moment, areas=security_areas),
        "excluded_areas": excluded_areas_geojson(
            moment,
            areas=[
                area for area in excluded if area.valid_until is None or area.valid_until > moment
            ],
        ),
        "posts": posts_geojson(posts),
        "settlements": settlements_geojson(settlements),
        "labels": {
            "zone_status": dict(ZoneStatus.choices),
            "post_kind": dict(PostKind.choices),
            "post_status": dict(PostStatus.choices),
            "derivation": {
                SecurityAreaDerivation.DRAWN: "Drawn by the joint working group",
                SecurityAreaDerivation.BUFFERED: "Derived from the zone border",
            },
            "reconciliation_status": dict(SettlementReconciliationStatus.choices),
            "governorate": dict(Governorate.choices),
            "zones": {zone.code: zone.name for zone in zones},
            "agreements": {zone.agreement.code: zone.agreement.title for zone in zones},
            "parties": _party_labels(parties),
        },
    }
    config.update(extra)
    return config


class ZoneListView(RoleRequiredMixin, TemplateView):
    template_name = "zones/zone_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        zones = list(zone_list())
        posts = list(post_list())
        context["rows"] = zone_rows(zones, posts, now)
        context["now"] = now
        return context


class ZoneDetailView(RoleRequiredMixin, TemplateView):
    template_name = "zones/zone_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        zones = list(zone_list())
        zone = next((z for z in zones if z.code == self.kwargs["code"]), None)
        if zone is None:
            raise Http404("No zone with that code.")
        posts = list(post_list().filter(zone=zone).order_by("kind", "name"))
        boundary = boundary_in_force(zone, now)
        settlements = settlements_within(boundary)
        security_areas = list(security_area_list().filter(zone=zone))
        excluded = excluded_areas_touching(boundary, now)
        revisions = [b for b in zone.boundaries.all() if b != boundary]
        context.update(
            zone=zone,
            row=zone_rows([zone], posts, now)[0],
            now=now,
            terms=list(zone.terms.all()),
            suspensions=list(zone.suspensions.all()),
            boundaries=list(zone.boundaries.all()),
            boundary=boundary,
            posts=posts,
            settlements=settlements,
            security_areas=security_areas,
            excluded_areas=excluded,
            area_count=len(security_areas) + len(excluded),
            centers=list(zone.centers.all()),
            history=list(audit_entries_for(zone)[:8]),
            map_config=map_config(
                zones=zones,
                posts=posts,
                settlements=settlements,
                security_areas=[
                    a
                    for a in security_areas
                    if a.valid_from <= now and (a.valid_until is None or a.valid_until > now)
                ],
                excluded_areas=excluded,
                moment=now,
                zone=zone.code,
                revisions={
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "id": b.pk,
                            "geometry": b.geometry,
                            "properties": {"code": zone.code, "revision": b.revision},
                        }
                        for b in revisions
                    ],
                },
            ),
        )
        return context

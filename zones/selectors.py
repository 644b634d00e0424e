"""Reads of zones and what lies in them: lists with their joins, the lines in force at a
moment, and GeoJSON FeatureCollections shared by the map page and the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import shapely
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from .geometry import parse_multipolygon
from .models import ExcludedArea, Post, SecurityArea, Settlement, Zone, ZoneBoundary, ZoneTerm


def zone_list() -> QuerySet[Zone]:
    return Zone.objects.select_related("agreement").prefetch_related(
        Prefetch("boundaries", queryset=ZoneBoundary.objects.order_by("valid_from")),
        Prefetch("terms", queryset=ZoneTerm.objects.order_by("starts_at")),
        "suspensions",
    )


def security_area_list() -> QuerySet[SecurityArea]:
    return SecurityArea.objects.select_related("zone")


def excluded_area_list() -> QuerySet[ExcludedArea]:
    return ExcludedArea.objects.select_related("group")


def post_list() -> QuerySet[Post]:
    return Post.objects.select_related("zone", "operating_party")


def settlement_list() -> QuerySet[Settlement]:
    return Settlement.objects.select_related("controlling_party")


def settlements_within(boundary: ZoneBoundary | None) -> list[Settlement]:
    """The settlements inside a boundary: a bounding-box query, then an exact test."""
    if boundary is None:
        return []
    shape = parse_multipolygon(boundary.geometry)
    min_lon, min_lat, max_lon, max_lat = shape.bounds
    candidates = list(
        settlement_list()
        .filter(
            latitude__gte=min_lat,
            latitude__lte=max_lat,
            longitude__gte=min_lon,
            longitude__lte=max_lon,
        )
        .order_by("name")
    )
    if not candidates:
        return []
    inside = shapely.contains_xy(
        shape,
        np.array([s.longitude for s in candidates]),
        np.array([s.latitude for s in candidates]),
    )
    return [s for s, hit in zip(candidates, inside, strict=True) if hit]


def excluded_areas_touching(
    boundary: ZoneBoundary | None, moment: datetime | None = None
) -> list[ExcludedArea]:
    """Excluded areas registered by ``moment`` whose lines touch the boundary."""
    if boundary is None:
        return []
    moment = moment or timezone.now()
    shape = parse_multipolygon(boundary.geometry)
    return [
        area
        for area in excluded_area_list().filter(_valid_at(moment))
        if parse_multipolygon(area.geometry).intersects(shape)
    ]


def _valid_at(moment: datetime) -> Q:
    return Q(valid_from__lte=moment) & (Q(valid_until__isnull=True) | Q(valid_until__gt=moment))


def boundary_in_force(zone: Zone, moment: datetime | None = None) -> ZoneBoundary | None:
    """The revision of ``zone``'s lines in force at ``moment`` (uses prefetched rows)."""
    moment = moment or timezone.now()
    current = None
    for boundary in zone.boundaries.all():
        if boundary.valid_from <= moment and (
            current is None or boundary.valid_from > current.valid_from
        ):
            current = boundary
    return current


def zone_in_force(zone: Zone, moment: datetime | None = None) -> bool:
    """Was the zone's ceasefire in force at ``moment``: inside a term, not suspended."""
    moment = moment or timezone.now()

    def covers(period) -> bool:
        return period.starts_at <= moment and (period.ends_at is None or moment < period.ends_at)

    return any(covers(t) for t in zone.terms.all()) and not any(
        covers(s) for s in zone.suspensions.all()
    )


def zone_current_term(zone: Zone, moment: datetime | None = None) -> ZoneTerm | None:
    moment = moment or timezone.now()
    for term in zone.terms.all():
        if term.starts_at <= moment and (term.ends_at is None or moment < term.ends_at):
            return term
    return None


def _feature(geometry: dict[str, Any], properties: dict[str, Any], fid: Any) -> dict[str, Any]:
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": properties}


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def zone_feature(zone: Zone, moment: datetime | None = None) -> dict[str, Any]:
    boundary = boundary_in_force(zone, moment)
    return _feature(
        boundary.geometry if boundary else None,
        {
            "code": zone.code,
            "name": zone.name,
            "status": zone.status,
            "governorates": zone.governorates,
            "agreement": zone.agreement.code,
            "in_force": zone_in_force(zone, moment),
            "boundary_revision": boundary.revision if boundary else None,
            "boundary_note": zone.boundary_note,
        },
        zone.pk,
    )


def zones_geojson(moment: datetime | None = None, zones=None) -> dict[str, Any]:
    """The zones with the lines in force at ``moment`` (default now)."""
    zones = zone_list() if zones is None else zones
    return _collection([zone_feature(z, moment) for z in zones])


def security_areas_geojson(moment: datetime | None = None, areas=None) -> dict[str, Any]:
    moment = moment or timezone.now()
    areas = security_area_list().filter(_valid_at(moment)) if areas is None else areas
    return _collection(
        [
            _feature(
                a.geometry,
                {"code": a.code, "name": a.name, "zone": a.zone.code, "derivation": a.derivation},
                a.pk,
            )
            for a in areas
        ]
    )


def excluded_areas_geojson(moment: datetime | None = None, areas=None) -> dict[str, Any]:
    moment = moment or timezone.now()
    areas = excluded_area_list().filter(_valid_at(moment)) if areas is None else areas
    return _collection(
        [
            _feature(
                a.geometry,
                {
                    "code": a.code,
                    "name": a.name,
                    "group": a.group.code,
                    "registered_on": a.registered_on.isoformat(),
                },
                a.pk,
            )
            for a in areas
        ]
    )


def _point(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def posts_geojson(posts=None) -> dict[str, Any]:
    posts = post_list() if posts is None else posts
    return _collection(
        [
            _feature(
                _point(p.latitude, p.longitude),
                {
                    "code": p.code,
                    "name": p.name,
                    "kind": p.kind,
                    "status": p.status,
                    "zone": p.zone.code,
                    "operating_party": p.operating_party.code,
                    "purposes": p.purposes,
                },
                p.pk,
            )
            for p in posts
        ]
    )


def settlements_geojson(settlements=None) -> dict[str, Any]:
    settlements = settlement_list() if settlements is None else settlements
    return _collection(
        [
            _feature(
                _point(s.latitude, s.longitude),
                {
                    "code": s.code,
                    "name": s.name,
                    "governorate": s.governorate,
                    "population": s.population,
                    "reconciliation_status": s.reconciliation_status,
                },
                s.pk,
            )
            for s in settlements
        ]
    )

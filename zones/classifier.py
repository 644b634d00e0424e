"""Where is a point, at a moment? Zone, security area, excluded area, nearest settlement
and post, one point at a time or a whole array at once.

The geometry is loaded once per process into prepared shapely geometries and reloaded
when it changes: at once in the process that wrote the change (services call
:func:`invalidate` on commit), and in the other processes (web workers, Celery) within
``RECHECK_SECONDS``, when a cheap signature query sees the change.

Zones can overlap (the southwest arrangement of July 2017 covers ground of the Astana
southern zone); where they do, the zone whose ceasefire took effect latest governs, and
all containing zones are reported too.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Max
from django.utils import timezone

from .geometry import EARTH_RADIUS_KM, haversine_km, parse_multipolygon

SYRIA_TZ = ZoneInfo("Asia/Damascus")

RECHECK_SECONDS = 5.0
_KM_PER_DEG_LAT = math.pi * EARTH_RADIUS_KM / 180.0
_LON_SCALE = math.cos(math.radians(34.8))  # Syria's middle latitude, for nearest-point search


GRID_CELLS = 128  # per side of each polygon's bounding box


@dataclass(frozen=True)
class _Grid:
    """A polygon's bounding box cut into cells: 0 outside, 1 wholly inside, 2 on the border.

    Points in cells 0 and 1 are settled by one lookup; only border cells need the exact
    point-in-polygon test, so results are identical to ``contains_xy`` alone.
    """

    x0: float
    y0: float
    dx: float
    dy: float
    state: np.ndarray

    @classmethod
    def build(cls, geometry: shapely.Geometry, bounds) -> _Grid:
        min_x, min_y, max_x, max_y = bounds
        n = GRID_CELLS
        dx = (max_x - min_x) / n or 1e-12
        dy = (max_y - min_y) / n or 1e-12
        xs, ys = np.meshgrid(min_x + dx * np.arange(n), min_y + dy * np.arange(n))
        cells = shapely.box(xs, ys, xs + dx, ys + dy)
        inside = shapely.contains_properly(geometry, cells)
        touching = shapely.intersects(geometry, cells)
        state = np.where(inside, 1, np.where(touching, 2, 0)).astype(np.uint8)
        return cls(x0=min_x, y0=min_y, dx=dx, dy=dy, state=state)

    def contains(self, geometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Points already known to lie in the bounding box."""
        last = GRID_CELLS - 1
        ix = np.minimum(((lon - self.x0) / self.dx).astype(np.intp), last)
        iy = np.minimum(((lat - self.y0) / self.dy).astype(np.intp), last)
        state = self.state[iy, ix]
        inside = state == 1
        border = np.flatnonzero(state == 2)
        if border.size:
            inside[border] = shapely.contains_xy(geometry, lon[border], lat[border])
        return inside


@dataclass(frozen=True)
class _Shape:
    id: int
    geometry: shapely.Geometry
    bounds: tuple[float, float, float, float]
    valid_from: datetime
    valid_until: datetime | None
    zone_id: int | None = None
    group_id: int | None = None
    code: str = ""

    def valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)

    @cached_property
    def grid(self) -> _Grid:
        """Built on first bulk use: single-point lookups (and reloads) do not pay for it."""
        return _Grid.build(self.geometry, self.bounds)


@dataclass(frozen=True)
class _ZoneInfo:
    id: int
    code: str
    effective_from: datetime
    flights_banned: bool
    terms: tuple[tuple[datetime, datetime | None], ...]
    suspensions: tuple[tuple[datetime, datetime | None], ...]

    def in_force_at(self, moment: datetime) -> bool:
        def covered(periods):
            return any(s <= moment and (e is None or moment < e) for s, e in periods)

        return covered(self.terms) and not covered(self.suspensions)


@dataclass(frozen=True)
class _PointSet:
    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    tree: shapely.STRtree | None
    opened_on: tuple[date | None, ...] = ()
    closed_on: tuple[date | None, ...] = ()
    active: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Classification:
    """What the system knows of one point at one moment."""

    latitude: float
    longitude: float
    at: datetime
    zone_id: int | None
    zone_code: str | None
    zone_ids: tuple[int, ...]
    zone_in_force: bool
    security_area_ids: tuple[int, ...]
    security_area_zone_ids: tuple[int, ...]
    excluded_area_ids: tuple[int, ...]
    nearest_settlement_id: int | None
    nearest_settlement_km: float | None
    nearest_post_id: int | None
    nearest_post_km: float | None

    @property
    def in_security_area(self) -> bool:
        return bool(self.security_area_ids)

    @property
    def in_excluded_area(self) -> bool:
        return bool(self.excluded_area_ids)


@dataclass
class BulkClassification:
    """Arrays aligned with the input points; 0 means "none"."""

    zone_id: np.ndarray
    security_area_id: np.ndarray
    excluded_area_id: np.ndarray

    @property
    def in_security_area(self) -> np.ndarray:
        return self.security_area_id > 0

    @property
    def in_excluded_area(self) -> np.ndarray:
        return self.excluded_area_id > 0


@dataclass
class _Index:
    zones: dict[int, _ZoneInfo]
    boundaries: list[_Shape]  # every revision, zone_id set
    security_areas: list[_Shape]
    excluded_areas: list[_Shape]
    settlements: _PointSet
    posts: _PointSet
    signature: tuple
    checked_at: float = field(default_factory=time.monotonic)

    def boundaries_at(self, moment: datetime) -> list[_Shape]:
        """For each zone, the revision in force at ``moment``; latest-effective zones first."""
        current: dict[int, _Shape] = {}
        for shape in self.boundaries:
            if shape.valid_from <= moment:
                held = current.get(shape.zone_id)
                if held is None or shape.valid_from > held.valid_from:
                    current[shape.zone_id] = shape
        return sorted(
            current.values(),
            key=lambda s: (self.zones[s.zone_id].effective_from, s.zone_id),
            reverse=True,
        )


_lock = threading.Lock()
_index: _Index | None = None


def invalidate() -> None:
    """Forget the loaded geometry; the next call reloads it."""
    global _index
    with _lock:
        _index = None


def _signature() -> tuple:
    from monitoring.models import AuditEntry

    from .models import (
        ExcludedArea,
        Post,
        SecurityArea,
        Settlement,
        Zone,
        ZoneBoundary,
        ZoneSuspension,
        ZoneTerm,
    )

    models = (Zone, ZoneBoundary, SecurityArea, ExcludedArea, Post, Settlement)
    # Terms and suspensions decide "in force?", so their changes count too.
    cts = ContentType.objects.get_for_models(*models, ZoneTerm, ZoneSuspension).values()
    last_change = AuditEntry.objects.filter(content_type__in=cts).aggregate(m=Max("id"))["m"]
    counts = tuple(m.objects.aggregate(c=Count("id"), m=Max("id")).values() for m in models[1:])
    return (last_change, tuple(tuple(c) for c in counts))


def _shape(obj, *, valid_from, valid_until=None, **extra) -> _Shape:
    geometry = parse_multipolygon(obj.geometry)
    shapely.prepare(geometry)
    bounds = tuple(geometry.bounds)
    return _Shape(
        id=obj.pk,
        geometry=geometry,
        bounds=bounds,
        valid_from=valid_from,
        valid_until=valid_until,
        **extra,
    )


def _point_set(rows, *, with_dates: bool = False) -> _PointSet:
    ids = np.array([r.pk for r in rows], dtype=np.int64)
    lat = np.array([r.latitude for r in rows], dtype=np.float64)
    lon = np.array([r.longitude for r in rows], dtype=np.float64)
    tree = shapely.STRtree(shapely.points(lon * _LON_SCALE, lat)) if len(rows) else None
    if not with_dates:
        return _PointSet(ids=ids, lat=lat, lon=lon, tree=tree)
    return _PointSet(
        ids=ids,
        lat=lat,
        lon=lon,
        tree=tree,
        opened_on=tuple(r.opened_on for r in rows),
        closed_on=tuple(r.closed_on for r in rows),
        active=tuple(r.status != "planned" for r in rows),
    )


def _load() -> _Index:
    from .models import ExcludedArea, Post, SecurityArea, Settlement, Zone

    signature = _signature()
    zones = {}
    for zone in Zone.objects.prefetch_related("terms", "suspensions"):
        zones[zone.pk] = _ZoneInfo(
            id=zone.pk,
            code=zone.code,
            effective_from=zone.effective_from,
            flights_banned=zone.flights_banned,
            terms=tuple((t.starts_at, t.ends_at) for t in zone.terms.all()),
            suspensions=tuple((s.starts_at, s.ends_at) for s in zone.suspensions.all()),
        )
    boundaries = []
    for zone in Zone.objects.prefetch_related("boundaries"):
        for b in zone.boundaries.all():
            boundaries.append(_shape(b, valid_from=b.valid_from, zone_id=zone.pk, code=zone.code))
    security_areas = [
        _shape(
            a, valid_from=a.valid_from, valid_until=a.valid_until, zone_id=a.zone_id, code=a.code
        )
        for a in SecurityArea.objects.all()
    ]
    excluded_areas = [
        _shape(
            a, valid_from=a.valid_from, valid_until=a.valid_until, group_id=a.group_id, code=a.code
        )
        for a in ExcludedArea.objects.all()
    ]
    settlements = _point_set(list(Settlement.objects.only("id", "latitude", "longitude")))
    posts = _point_set(
        list(Post.objects.only("id", "latitude", "longitude", "opened_on", "closed_on", "status")),
        with_dates=True,
    )
    return _Index(
        zones=zones,
        boundaries=boundaries,
        security_areas=security_areas,
        excluded_areas=excluded_areas,
        settlements=settlements,
        posts=posts,
        signature=signature,
    )


def get_index() -> _Index:
    """The loaded geometry, reloaded if another process changed it."""
    global _index
    with _lock:
        index = _index
        if index is not None and time.monotonic() - index.checked_at > RECHECK_SECONDS:
            if _signature() == index.signature:
                index.checked_at = time.monotonic()
            else:
                index = None
        if index is None:
            index = _index = _load()
        return index


def _nearest(
    points: _PointSet, lat: float, lon: float, keep=None
) -> tuple[int | None, float | None]:
    if points.tree is None:
        return None, None
    if keep is None:
        position = int(points.tree.nearest(shapely.Point(lon * _LON_SCALE, lat)))
        candidates = [position]
    else:
        candidates = [i for i in range(len(points.ids)) if keep(i)]
        if not candidates:
            return None, None
        # Few posts: an exact scan is simplest once filtered by date.
    best_id, best_km = None, None
    for i in candidates:
        km = haversine_km(lat, lon, float(points.lat[i]), float(points.lon[i]))
        if best_km is None or km < best_km:
            best_id, best_km = int(points.ids[i]), km
    return best_id, round(best_km, 3) if best_km is not None else None


def classify_point(
    *, latitude: float, longitude: float, at: datetime | None = None
) -> Classification:
    """Classify one point at one moment (default: now)."""
    moment = at or timezone.now()
    index = get_index()
    lat, lon = float(latitude), float(longitude)
    zone_hits = [
        s for s in index.boundaries_at(moment) if shapely.contains_xy(s.geometry, lon, lat)
    ]
    security = [
        s
        for s in index.security_areas
        if s.valid_at(moment) and shapely.contains_xy(s.geometry, lon, lat)
    ]
    excluded = [
        s
        for s in index.excluded_areas
        if s.valid_at(moment) and shapely.contains_xy(s.geometry, lon, lat)
    ]
    zone = zone_hits[0] if zone_hits else None
    day = timezone.localdate(moment, timezone=SYRIA_TZ)  # posts open on local dates
    posts = index.posts

    def post_open(i: int) -> bool:
        opened, closed = posts.opened_on[i], posts.closed_on[i]
        if opened is None:
            return posts.active[i]
        return opened <= day and (closed is None or day < closed)

    settlement_id, settlement_km = _nearest(index.settlements, lat, lon)
    post_id, post_km = _nearest(posts, lat, lon, keep=post_open)
    return Classification(
        latitude=lat,
        longitude=lon,
        at=moment,
        zone_id=zone.zone_id if zone else None,
        zone_code=zone.code if zone else None,
        zone_ids=tuple(s.zone_id for s in zone_hits),
        zone_in_force=bool(zone and index.zones[zone.zone_id].in_force_at(moment)),
        security_area_ids=tuple(s.id for s in security),
        security_area_zone_ids=tuple(s.zone_id for s in security),
        excluded_area_ids=tuple(s.id for s in excluded),
        nearest_settlement_id=settlement_id,
        nearest_settlement_km=settlement_km,
        nearest_post_id=post_id,
        nearest_post_km=post_km,
    )


def _fill(target: np.ndarray, shapes: list[_Shape], lon: np.ndarray, lat: np.ndarray, key) -> None:
    """Write ``key(shape)`` where a point falls in a shape; earlier shapes win."""
    for shape in reversed(shapes):
        min_lon, min_lat, max_lon, max_lat = shape.bounds
        candidates = np.flatnonzero(
            (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat)
        )
        if candidates.size == 0:
            continue
        inside = shape.grid.contains(shape.geometry, lon[candidates], lat[candidates])
        target[candidates[inside]] = key(shape)


def classify_points(latitudes, longitudes, *, at: datetime | None = None) -> BulkClassification:
    """Vectorized zone, security-area and excluded-area membership for many points."""
    moment = at or timezone.now()
    index = get_index()
    lat = np.ascontiguousarray(latitudes, dtype=np.float64)
    lon = np.ascontiguousarray(longitudes, dtype=np.float64)
    if lat.shape != lon.shape:
        raise ValueError("latitudes and longitudes must have the same length")
    zone_id = np.zeros(lat.shape, dtype=np.int64)
    security_id = np.zeros(lat.shape, dtype=np.int64)
    excluded_id = np.zeros(lat.shape, dtype=np.int64)
    _fill(zone_id, index.boundaries_at(moment), lon, lat, lambda s: s.zone_id)
    _fill(
        security_id,
        [s for s in index.security_areas if s.valid_at(moment)],
        lon,
        lat,
        lambda s: s.id,
    )
    _fill(
        excluded_id,
        [s for s in index.excluded_areas if s.valid_at(moment)],
        lon,
        lat,
        lambda s: s.id,
    )
    return BulkClassification(
        zone_id=zone_id, security_area_id=security_id, excluded_area_id=excluded_id
    )


def nearest_settlements(latitudes, longitudes) -> tuple[np.ndarray, np.ndarray]:
    """For many points: the nearest settlement's id (0 if none) and its distance in km."""
    index = get_index()
    lat = np.ascontiguousarray(latitudes, dtype=np.float64)
    lon = np.ascontiguousarray(longitudes, dtype=np.float64)
    points = index.settlements
    if points.tree is None:
        return np.zeros(lat.shape, dtype=np.int64), np.full(lat.shape, np.nan)
    positions = points.tree.nearest(shapely.points(lon * _LON_SCALE, lat))
    ids = points.ids[positions]
    phi1, phi2 = np.radians(lat), np.radians(points.lat[positions])
    dphi = phi2 - phi1
    dlmb = np.radians(points.lon[positions] - lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    km = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return ids, km

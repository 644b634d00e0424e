"""Demo data: plausible reports of every kind for the seeded centers (``manage.py demo_data``).

Two ways to fill an instance, from the same generators of facts (where, when, what):

- :func:`demo_data_create` files each report through the services (``report_create``,
  ``report_update``, ``report_transition``, ``corroboration_link``, each with ``at=`` so the
  history reads like a real one: reported a little after the event, submitted, reviewed
  hours later by the center's coordinator). Every rule of the services applies, every step
  is audited. For a few hundred reports: a living center for a newcomer and for tests.
- :func:`demo_data_bulk` writes the same kind of rows with ``bulk_create`` in batches
  (reports, details, cargo, route, stages, access incidents, transitions, audit entries,
  corroboration links, reference counters), classifying the points with the vectorized
  :func:`zones.classifier.classify_points`. For 100,000 and 1,000,000 reports: benchmarks.

Who files: one observer per member delegation of each center and its coordinator (the demo
accounts of :func:`monitoring.seeding.demo_accounts_ensure`, created when missing). The
reports of a center filed by those accounts are its *demo reports*; a second run on a center
that has some is refused unless ``append`` is set.

Everything is drawn from ``random.Random(f"{seed}-{center code}")``: the same seed on the
same reference data gives the same reports (UUIDs aside).
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from monitoring.choices import AuditEntryAction, ChangeRecordType, ObserverRole, PartyKind
from monitoring.context import current_audit_source
from monitoring.models import AuditEntry, MonitoringCenter, Observer, Party
from monitoring.seeding import demo_accounts_ensure
from monitoring.services import changes_touch
from zones import classifier
from zones.choices import PostKind, PostStatus
from zones.geometry import SYRIA_BBOX
from zones.models import Post, Settlement

from .choices import (
    AccessIncidentKind,
    CargoCategory,
    CargoUnit,
    CheckpointStatus,
    ConvoyOperation,
    ConvoyStatus,
    ReportConfidence,
    ReportKind,
    ReportPlacePrecision,
    ReportSource,
    ReportStatus,
    ReportTimePrecision,
    ViolationCategory,
)
from .models import (
    AccessIncident,
    CargoLine,
    CheckpointDetail,
    ConvoyDetail,
    ConvoyRouteStop,
    ConvoyStage,
    CorroborationLink,
    Report,
    ReportCounter,
    ReportTransition,
    ViolationDetail,
)

S = ReportStatus
K = ReportKind
DEFAULT_SEED = 20170504  # the Astana memorandum
SHIFT_HOURS = 8
SHIFTS = ((0, "night"), (8, "day"), (16, "evening"))  # local start hour, name

# How a report ends up, with its share (per mille) of the reports that are not joint
# confirmations. Every path is taken at least once when a center files enough reports.
PATHS: dict[str, int] = {
    "verified": 520,
    "submitted": 90,
    "disputed": 60,
    "disputed_verified": 30,
    "returned_resubmitted_verified": 50,
    "returned_resubmitted": 30,
    "returned": 30,
    "retracted": 40,
    "rejected": 50,
    "draft": 60,
    "draft_retracted": 10,
}

# --------------------------------------------------------------------------- texts

VIOLATION_WEIGHTS = {
    ViolationCategory.SMALL_ARMS: 30,
    ViolationCategory.SHELLING: 26,
    ViolationCategory.ROCKETS: 8,
    ViolationCategory.EXPLOSION: 7,
    ViolationCategory.MILITARY_FLIGHT: 7,
    ViolationCategory.DRONE: 7,
    ViolationCategory.AIR_STRIKE: 4,
    ViolationCategory.GROUND_ASSAULT: 4,
    ViolationCategory.DETENTION: 4,
    ViolationCategory.OTHER: 3,
}
SETTLEMENT_SOURCES = {
    ReportSource.HOTLINE: 4,
    ReportSource.SEEN: 3,
    ReportSource.PARTNER: 2,
    ReportSource.MEDIA: 1,
}
CONVOY_OPERATIONS = {
    ConvoyOperation.ROAD_CONVOY: 7,
    ConvoyOperation.CROSS_LINE: 3,
    ConvoyOperation.AIRDROP: 1,
}
CONVOY_OUTCOMES = {
    ConvoyStatus.DELIVERED: 60,
    ConvoyStatus.PARTIALLY_DELIVERED: 14,
    ConvoyStatus.BLOCKED: 14,
    ConvoyStatus.CANCELLED: 6,
}
SHIFT_STATUSES = {
    CheckpointStatus.OPEN: 70,
    CheckpointStatus.RESTRICTED: 22,
    CheckpointStatus.CLOSED: 8,
}
WEAPONS = {
    ViolationCategory.SMALL_ARMS: [
        "heavy machine gun (12.7 mm)",
        "sniper rifle",
        "assault rifles",
        "23 mm anti-aircraft gun",
    ],
    ViolationCategory.SHELLING: ["82 mm mortar", "120 mm mortar", "122 mm howitzer", "tank gun"],
    ViolationCategory.ROCKETS: [
        "Grad rockets (122 mm)",
        "improvised rockets",
        "anti-tank guided missile",
    ],
    ViolationCategory.EXPLOSION: ["improvised explosive device", "car bomb", "landmine"],
    ViolationCategory.MILITARY_FLIGHT: ["fixed-wing aircraft", "helicopter"],
    ViolationCategory.DRONE: ["armed quadcopter", "reconnaissance drone"],
    ViolationCategory.AIR_STRIKE: ["fixed-wing aircraft", "helicopter (barrel bombs)"],
    ViolationCategory.GROUND_ASSAULT: ["infantry with armoured vehicles", "infantry"],
    ViolationCategory.DETENTION: [""],
    ViolationCategory.OTHER: [""],
}
# (chance of casualties, most events) per category
VIOLATION_SHAPE = {
    ViolationCategory.SMALL_ARMS: (0.08, 40),
    ViolationCategory.SHELLING: (0.25, 25),
    ViolationCategory.ROCKETS: (0.2, 12),
    ViolationCategory.EXPLOSION: (0.45, 1),
    ViolationCategory.MILITARY_FLIGHT: (0.0, 3),
    ViolationCategory.DRONE: (0.1, 3),
    ViolationCategory.AIR_STRIKE: (0.5, 4),
    ViolationCategory.GROUND_ASSAULT: (0.5, 1),
    ViolationCategory.DETENTION: (0.0, 1),
    ViolationCategory.OTHER: (0.05, 1),
}
EVENT_WORDS = {
    ViolationCategory.SMALL_ARMS: "bursts of small-arms fire",
    ViolationCategory.SHELLING: "impacts of mortar or artillery rounds",
    ViolationCategory.ROCKETS: "rocket impacts",
    ViolationCategory.EXPLOSION: "explosion",
    ViolationCategory.MILITARY_FLIGHT: "overflights by military aircraft",
    ViolationCategory.DRONE: "drone sorties",
    ViolationCategory.AIR_STRIKE: "air strikes",
    ViolationCategory.GROUND_ASSAULT: "ground assault",
    ViolationCategory.DETENTION: "detention of civilians",
    ViolationCategory.OTHER: "incident",
}
DAMAGE = [
    "Two houses damaged.",
    "A water tank and a power line hit.",
    "Farmland set on fire.",
    "The roof of a school damaged.",
    "A vehicle destroyed on the road.",
    "Damage to the mosque's minaret.",
]
VERIFY_NOTES = [
    "Consistent with the post's log and the hotline call.",
    "Matches the sound bearings logged by the post.",
    "Photos from the post's camera reviewed.",
    "Confirmed by the local reconciliation committee.",
]
DISPUTE_REASONS = [
    "The accused party denies firing at that hour; held for a joint check.",
    "The bearing given does not match the post's sector; clarification requested.",
    "Hotline report only, not seen by our observers.",
]
RETURN_REASONS = [
    "Give the bearing and the distance from the post.",
    "State how many impacts were heard and over how long.",
    "The settlement named does not match the point on the map; check the location.",
    "Add the crossing figures for the whole shift.",
]
REVISION_NOTES = [
    "Bearing and distance added after review.",
    "Figures completed from the shift log.",
    "Location corrected to the settlement's edge.",
]
REJECT_REASONS = [
    "Duplicate of an earlier report of the same event.",
    "The explosions were a demining operation announced in advance.",
    "The shooting was a wedding celebration, confirmed by the local council.",
]
RETRACT_REASONS = [
    "Filed in error: the fire was outgoing training fire announced in advance.",
    "Withdrawn: the event is already reported by the post's other shift.",
    "Wrong checkpoint selected; refiled.",
]
OBSTRUCTIONS = [
    "Denied passage at the checkpoint: no facilitation letter for the medical items.",
    "Held for six hours pending clearance of the route.",
    "Shelling near the route; the convoy turned back.",
    "Surgical supplies removed from the trucks at the checkpoint.",
    "Access road mined; clearance not completed.",
]
ACCESS_REASONS = {
    AccessIncidentKind.DENIAL: [
        "No permit from the governorate security committee.",
        "Goods not on the agreed list.",
        "Crossing closed by order after shelling nearby.",
    ],
    AccessIncidentKind.DETENTION: [
        "Men of military age held for identity checks.",
        "Name on a wanted list, according to the checkpoint commander.",
    ],
    AccessIncidentKind.HARASSMENT: [
        "Travellers made to wait in the sun and insulted.",
        "Money demanded to let vehicles pass.",
    ],
    AccessIncidentKind.DELAY: [
        "Searches of every vehicle; queue of several hours.",
        "Shift change at the checkpoint; crossing stopped for two hours.",
    ],
}
ORIGINS = {
    "JWG": ["Damascus (UN hub)", "Homs (SARC warehouse)", "Hama (SARC branch)", "Aleppo (WFP)"],
    "AMC": ["Damascus (UN hub)", "Ramtha crossing (from Jordan)", "Sweida (SARC warehouse)"],
}
DEFAULT_ORIGINS = ["Damascus (UN hub)", "Homs (SARC warehouse)", "Sweida (SARC warehouse)"]
CARGO = {
    CargoCategory.FOOD: (CargoUnit.TONNES, 5, 60),
    CargoCategory.MEDICINE: (CargoUnit.KITS, 50, 2000),
    CargoCategory.NON_FOOD: (CargoUnit.KITS, 200, 5000),
    CargoCategory.WATER: (CargoUnit.LITRES, 5000, 60000),
    CargoCategory.FUEL: (CargoUnit.LITRES, 2000, 30000),
    CargoCategory.SHELTER: (CargoUnit.KITS, 50, 800),
}


class DemoDataError(Exception):
    """Demo data cannot be made as asked; nothing was written."""


# --------------------------------------------------------------------------- the world


@dataclass
class _CenterWorld:
    """What one center's demo reports are drawn from."""

    center: MonitoringCenter
    tz: ZoneInfo
    observers: list[Observer]  # one per member delegation
    coordinator: Observer
    posts: list[Post]  # observation posts of the center's zones
    checkpoints: list[Post]
    settlements: list[Settlement]
    settlement_zone: dict[int, int]
    # Points inside security areas, and inside excluded areas with the group holding them,
    # each with its nearest settlement.
    security_points: list[tuple[float, float, Settlement | None]]
    excluded_points: list[tuple[float, float, Party, Settlement | None]]
    armed: dict[int, list[Party]]  # opposition parties by zone id
    government: Party | None
    organizations: list[Party]
    rng: random.Random
    origins: list[str]

    opened: dict[date, tuple[list[Post], list[Post]]] = field(default_factory=dict)

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, dtime(0), self.tz)

    def open_on(self, day: date) -> tuple[list[Post], list[Post]]:
        """The observation posts and the checkpoints open that day."""
        found = self.opened.get(day)
        if found is None:
            found = self.opened[day] = (
                [p for p in self.posts if _open_on(p, day)],
                [c for c in self.checkpoints if _open_on(c, day)],
            )
        return found


@dataclass
class _Step:
    at: datetime
    action: str  # create, update, transition, link
    actor: Any
    to_status: str = ""
    comment: str = ""
    values: dict | None = None
    other: _Plan | None = None


@dataclass(eq=False)
class _Plan:
    world: _CenterWorld
    kind: str
    author: Observer
    values: dict
    detail: dict
    ready: datetime  # the facts are complete: the report can be written after this
    path: str = "verified"
    steps: list[_Step] = field(default_factory=list)
    report: Report | None = None


def _demo_usernames(center: MonitoringCenter) -> set[str]:
    suffix = center.code.lower()
    return {f"obs-{code}-{suffix}" for code in center.member_parties.values_list("code", flat=True)}


def demo_reports_count(center: MonitoringCenter) -> int:
    """How many of the center's reports the demo accounts filed."""
    return Report.objects.filter(
        center=center, author__username__in=_demo_usernames(center)
    ).count()


def _centers(codes: Iterable[str] | None) -> list[MonitoringCenter]:
    every = list(MonitoringCenter.objects.order_by("code"))
    if not every:
        raise DemoDataError("No monitoring center: load the seed data first (manage.py seed).")
    if not codes:
        return every
    known = {c.code: c for c in every}
    unknown = [code for code in codes if code.upper() not in known]
    if unknown:
        raise DemoDataError(
            f"Unknown center {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        )
    return [known[code] for code in sorted({code.upper() for code in codes})]


def _staff(center: MonitoringCenter) -> tuple[list[Observer], Observer | None]:
    """The center's demo observers (one per member delegation) and a coordinator."""
    members = sorted(center.member_parties.all(), key=lambda p: p.code)
    rows = list(
        Observer.objects.select_related("user", "delegation")
        .filter(center=center, is_active=True, user__is_active=True)
        .order_by("user__username")
    )
    observers = []
    for party in members:
        preferred = f"obs-{party.code}-{center.code.lower()}"
        mine = [o for o in rows if o.role == ObserverRole.OBSERVER and o.delegation_id == party.pk]
        pick = next((o for o in mine if o.user.username == preferred), None)
        if pick is not None:
            observers.append(pick)
    coordinator = next(
        (
            o
            for o in rows
            if o.role == ObserverRole.COORDINATOR
            and o.user.username == f"coord-{center.code.lower()}"
        ),
        None,
    )
    if len(observers) < len(members):
        return [], coordinator
    return observers, coordinator


def _polygon_pool(
    rng: random.Random, geometry, bounds, size: int, tries: int = 20
) -> list[tuple[float, float]]:
    """Up to ``size`` random points inside a polygon (rejection sampling in its bounds)."""
    min_lon, min_lat, max_lon, max_lat = bounds
    found: list[tuple[float, float]] = []
    for _ in range(tries):
        lon = np.array([rng.uniform(min_lon, max_lon) for _ in range(size)])
        lat = np.array([rng.uniform(min_lat, max_lat) for _ in range(size)])
        inside = shapely.contains_xy(geometry, lon, lat)
        found.extend((float(a), float(o)) for a, o in zip(lat[inside], lon[inside], strict=True))
        if len(found) >= size:
            break
    return found[:size]


def _world(center: MonitoringCenter, *, seed: int, moment: datetime) -> _CenterWorld:
    observers, coordinator = _staff(center)
    if not observers or coordinator is None:
        raise DemoDataError(
            f"Center {center.code} has no demo observer for each member delegation or no "
            "coordinator (manage.py demo_accounts creates them)."
        )
    rng = random.Random(f"{seed}-{center.code}")
    zone_ids = set(center.zones.values_list("pk", flat=True))
    if not zone_ids:
        raise DemoDataError(f"Center {center.code} covers no zone: nothing to report on.")
    posts = list(
        Post.objects.filter(zone_id__in=zone_ids)
        .exclude(status=PostStatus.PLANNED)
        .select_related("operating_party")
        .order_by("code")
    )
    index = classifier.get_index()
    settlements_all = list(Settlement.objects.select_related("controlling_party").order_by("code"))
    settlement_zone: dict[int, int] = {}
    if settlements_all:
        result = classifier.classify_points(
            [s.latitude for s in settlements_all],
            [s.longitude for s in settlements_all],
            at=moment,
        )
        area_zone = {s.id: s.zone_id for s in index.security_areas}
        for s, zid, aid in zip(
            settlements_all, result.zone_id, result.security_area_id, strict=True
        ):
            zone = int(zid) or area_zone.get(int(aid), 0)
            if zone in zone_ids:
                settlement_zone[s.pk] = zone
    settlements = [s for s in settlements_all if s.pk in settlement_zone]
    armed: dict[int, list[Party]] = defaultdict(list)
    government = Party.objects.filter(kind=PartyKind.GOVERNMENT_FORCES).order_by("code").first()
    for s in settlements:
        party = s.controlling_party
        zone = settlement_zone[s.pk]
        opposition = party is not None and party.kind != PartyKind.GOVERNMENT_FORCES
        if opposition and party not in armed[zone]:
            armed[zone].append(party)
    security_points = []
    for shape in index.security_areas:
        if shape.zone_id in zone_ids and shape.valid_at(moment):
            security_points += [
                (lat, lon, _nearest(settlements, lat, lon))
                for lat, lon in _polygon_pool(rng, shape.geometry, shape.bounds, 60)
            ]
    # Excluded areas in or near the center's zones (within about 30 km of their lines).
    zone_shapes = [s for s in index.boundaries_at(moment) if s.zone_id in zone_ids]
    groups = {p.pk: p for p in Party.objects.filter(kind=PartyKind.EXCLUDED_GROUP)}
    excluded_points = []
    for shape in index.excluded_areas:
        if not shape.valid_at(moment) or shape.group_id not in groups:
            continue
        if any(shapely.distance(shape.geometry, z.geometry) < 0.3 for z in zone_shapes):
            excluded_points += [
                (lat, lon, groups[shape.group_id], _nearest(settlements, lat, lon))
                for lat, lon in _polygon_pool(rng, shape.geometry, shape.bounds, 30)
            ]
    organizations = list(Party.objects.filter(kind=PartyKind.HUMANITARIAN_ORG).order_by("code"))
    return _CenterWorld(
        center=center,
        tz=ZoneInfo(center.time_zone),
        observers=observers,
        coordinator=coordinator,
        posts=[p for p in posts if p.kind == PostKind.OBSERVATION_POST],
        checkpoints=[p for p in posts if p.kind == PostKind.CHECKPOINT],
        settlements=settlements,
        settlement_zone=settlement_zone,
        security_points=security_points,
        excluded_points=excluded_points,
        armed=dict(armed),
        government=government,
        organizations=organizations,
        rng=rng,
        origins=ORIGINS.get(center.code, DEFAULT_ORIGINS),
    )


def _open_on(post: Post, day: date) -> bool:
    return (post.opened_on is None or post.opened_on <= day) and (
        post.closed_on is None or day < post.closed_on
    )


# --------------------------------------------------------------------------- facts


def _offset(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    rad = math.radians(bearing)
    lat2 = lat + (km * math.cos(rad)) / 111.2
    lon2 = lon + (km * math.sin(rad)) / (111.2 * math.cos(math.radians(lat)))
    min_lon, min_lat, max_lon, max_lat = SYRIA_BBOX
    return (
        round(min(max(lat2, min_lat + 0.01), max_lat - 0.01), 5),
        round(min(max(lon2, min_lon + 0.01), max_lon - 0.01), 5),
    )


def _precise(moment: datetime, precision: str, tz: ZoneInfo) -> datetime:
    """The moment as the observer would give it at that time precision."""
    local = moment.astimezone(tz).replace(second=0, microsecond=0)
    if precision == ReportTimePrecision.HOUR:
        local = local.replace(minute=0)
    elif precision == ReportTimePrecision.PART_OF_DAY:
        local = local.replace(hour=local.hour - local.hour % 6, minute=0)
    elif precision == ReportTimePrecision.DAY:
        local = local.replace(hour=0, minute=0)
    return local


def _estimates(rng: random.Random, best: int) -> tuple[int, int, int]:
    """(best, low, high) with low <= best <= high."""
    if best == 0:
        return 0, 0, rng.choice((0, 0, 0, 1))
    low = best - rng.randint(0, best // 2)
    high = best + rng.randint(0, max(1, best // 2 + 1))
    return best, low, high


_CUMULATIVE: dict[int, tuple[list, list]] = {}


def _weighted(rng: random.Random, weights: dict) -> Any:
    """A key of ``weights`` (a module constant) drawn in proportion to its value."""
    found = _CUMULATIVE.get(id(weights))
    if found is None:
        found = _CUMULATIVE[id(weights)] = (list(weights), list(accumulate(weights.values())))
    return rng.choices(found[0], cum_weights=found[1])[0]


def _nearest(settlements: list[Settlement], lat: float, lon: float) -> Settlement | None:
    if not settlements:
        return None
    return min(
        settlements,
        key=lambda s: (s.latitude - lat) ** 2 + ((s.longitude - lon) * 0.82) ** 2,
    )


def _violation(world: _CenterWorld, author: Observer, moment: datetime) -> tuple[dict, dict]:
    """A violation's common values and detail at ``moment``."""
    rng = world.rng
    category = _weighted(rng, VIOLATION_WEIGHTS)
    day = moment.astimezone(world.tz).date()
    posts = world.open_on(day)[0]
    draw = rng.random()
    post = settlement = None
    direction = distance = None
    group: Party | None = None
    precision = ReportPlacePrecision.EXACT
    if draw < 0.05 and world.excluded_points:
        lat, lon, group, settlement = rng.choice(world.excluded_points)
        category = rng.choice(
            [ViolationCategory.SHELLING, ViolationCategory.SMALL_ARMS, ViolationCategory.EXPLOSION]
        )
        source = rng.choice([ReportSource.HOTLINE, ReportSource.PARTNER, ReportSource.MEDIA])
    elif draw < 0.2 and world.security_points:
        lat, lon, settlement = rng.choice(world.security_points)
        source = rng.choice([ReportSource.SEEN, ReportSource.HEARD, ReportSource.CAMERA])
    elif draw < 0.62 and posts:
        post = rng.choice(posts)
        direction = rng.randrange(360)
        distance = round(rng.uniform(0.5, 6.0), 1)
        lat, lon = _offset(post.latitude, post.longitude, distance, direction)
        source = rng.choice([ReportSource.SEEN, ReportSource.SEEN, ReportSource.HEARD])
    elif world.settlements:
        settlement = rng.choice(world.settlements)
        lat, lon = _offset(
            settlement.latitude, settlement.longitude, rng.uniform(0, 2.0), rng.randrange(360)
        )
        source = _weighted(rng, SETTLEMENT_SOURCES)
        if rng.random() < 0.4:
            precision = ReportPlacePrecision.SETTLEMENT
            lat, lon = settlement.latitude, settlement.longitude
    else:
        raise DemoDataError(f"Center {world.center.code} has neither posts nor settlements.")
    time_precision = {
        ReportSource.SEEN: ReportTimePrecision.EXACT,
        ReportSource.CAMERA: ReportTimePrecision.EXACT,
        ReportSource.HEARD: ReportTimePrecision.EXACT,
        ReportSource.HOTLINE: ReportTimePrecision.HOUR,
        ReportSource.PARTNER: ReportTimePrecision.HOUR,
        ReportSource.MEDIA: ReportTimePrecision.PART_OF_DAY,
    }[source]
    confidence = {
        ReportSource.SEEN: ReportConfidence.HIGH,
        ReportSource.CAMERA: ReportConfidence.HIGH,
        ReportSource.HEARD: ReportConfidence.MEDIUM,
        ReportSource.HOTLINE: ReportConfidence.MEDIUM,
        ReportSource.PARTNER: ReportConfidence.MEDIUM,
        ReportSource.MEDIA: ReportConfidence.LOW,
    }[source]
    zone = world.settlement_zone.get(settlement.pk) if settlement else None
    if zone is None and post is not None:
        zone = post.zone_id
    opposition = world.armed.get(zone or 0) or [p for ps in world.armed.values() for p in ps]
    sides = [p for p in (world.government, rng.choice(opposition) if opposition else None) if p]
    rng.shuffle(sides)
    perpetrator = group or (sides[0] if sides and rng.random() < 0.75 else None)
    affected = next((p for p in sides if p != perpetrator), None)
    chance, most = VIOLATION_SHAPE[category]
    events = rng.randint(1, most)
    detail: dict[str, Any] = {
        "category": category,
        "alleged_perpetrator": perpetrator,
        "affected_party": affected,
        "weapon": rng.choice(WEAPONS[category]),
        "events": events,
        "direction_degrees": direction,
        "distance_km": distance,
        "damage": rng.choice(DAMAGE) if chance and rng.random() < chance + 0.1 else "",
    }
    hit = rng.random() < chance
    for group_name, scale in (
        ("civilians_killed", 0.8),
        ("civilians_injured", 2.5),
        ("combatants_killed", 0.6),
        ("combatants_injured", 1.5),
    ):
        best = int(rng.expovariate(1 / scale)) if hit else 0
        best, low, high = _estimates(rng, best)
        detail |= {f"{group_name}_best": best, f"{group_name}_low": low, f"{group_name}_high": high}
    where = (
        f"from {post.name}, bearing {direction} degrees, about {distance} km"
        if post
        else f"near {settlement.name}"
        if settlement
        else "in the area"
    )
    by = f"Attributed to {perpetrator.short_name or perpetrator.name}." if perpetrator else ""
    outside = (
        f" The point lies in the area registered as held by {group.short_name or group.name}."
        if group
        else ""
    )
    narrative = (
        f"{events} {EVENT_WORDS[category]} ({detail['weapon'] or 'no weapon seen'}) {where}. "
        f"{by}{outside}"
    ).strip()
    values = {
        "latitude": lat,
        "longitude": lon,
        "place_precision": precision,
        "settlement": settlement,
        "post": post,
        "occurred_at": _precise(moment, time_precision, world.tz),
        "time_precision": time_precision,
        "source": source,
        "confidence": confidence,
        "narrative": narrative,
    }
    return values, detail


def _corroborating(world: _CenterWorld, first: dict, first_detail: dict) -> tuple[dict, dict]:
    """Another delegation's view of the same event: close by, a few minutes apart."""
    rng = world.rng
    values = dict(first)
    detail = dict(first_detail)
    values["latitude"], values["longitude"] = _offset(
        first["latitude"], first["longitude"], rng.uniform(0.1, 0.9), rng.randrange(360)
    )
    values["place_precision"] = ReportPlacePrecision.EXACT
    values["occurred_at"] = first["occurred_at"] + timedelta(minutes=rng.randint(-15, 15))
    values["time_precision"] = ReportTimePrecision.EXACT
    values["source"] = ReportSource.SEEN
    values["confidence"] = ReportConfidence.HIGH
    values["post"] = None
    detail["direction_degrees"] = detail["distance_km"] = None
    detail["events"] = max(1, detail["events"] + rng.randint(-2, 2))
    values["narrative"] = (
        f"Same event seen by our team: {first['narrative'][0].lower()}{first['narrative'][1:]}"
    )
    return values, detail


def _convoy(world: _CenterWorld, author: Observer, day: date, last_day: bool) -> tuple[dict, dict]:
    rng = world.rng
    destinations = world.settlements
    if not destinations:
        raise DemoDataError(f"Center {world.center.code} has no settlement to deliver to.")
    destination = rng.choice(destinations)
    operation = _weighted(rng, CONVOY_OPERATIONS)
    planned = world.day_start(day) + timedelta(hours=rng.randint(6, 9), minutes=rng.choice((0, 30)))
    if last_day and rng.random() < 0.4:
        status = rng.choice([ConvoyStatus.NOTIFIED, ConvoyStatus.CLEARED, ConvoyStatus.EN_ROUTE])
    else:
        status = _weighted(rng, CONVOY_OUTCOMES)
    zone = world.settlement_zone.get(destination.pk)
    checkpoints = world.open_on(day)[1]
    near = [c for c in checkpoints if c.zone_id == zone] or checkpoints
    route_posts = (
        []
        if operation == ConvoyOperation.AIRDROP or not near
        else rng.sample(near, min(len(near), rng.randint(1, 2)))
    )
    departed = planned + timedelta(minutes=rng.randint(0, 90))
    clock = departed
    route, stages = [], []
    moving = status not in (ConvoyStatus.NOTIFIED, ConvoyStatus.CLEARED, ConvoyStatus.CANCELLED)
    blocked_at = (
        rng.randrange(len(route_posts)) if status == ConvoyStatus.BLOCKED and route_posts else None
    )
    if moving:
        stages.append({"stage": "departed", "at": departed, "note": rng.choice(world.origins)})
    for position, post in enumerate(route_posts):
        clock += timedelta(minutes=rng.randint(40, 180))
        passed = moving and (blocked_at is None or position < blocked_at)
        if status == ConvoyStatus.EN_ROUTE and position == len(route_posts) - 1:
            passed = False
        route.append({"post": post, "passed_at": clock if passed else None})
        if blocked_at == position:
            stages.append({"stage": "stopped at checkpoint", "at": clock, "note": post.name})
            clock += timedelta(hours=rng.randint(2, 6))
            stages.append({"stage": "turned back", "at": clock, "note": ""})
    if status in (ConvoyStatus.DELIVERED, ConvoyStatus.PARTIALLY_DELIVERED) or (
        status == ConvoyStatus.BLOCKED and blocked_at is None
    ):
        clock += timedelta(minutes=rng.randint(30, 120))
        if status == ConvoyStatus.BLOCKED:
            stages.append({"stage": "stopped at the entrance", "at": clock, "note": ""})
        else:
            stages.append({"stage": "arrived", "at": clock, "note": destination.name})
            clock += timedelta(minutes=rng.randint(60, 240))
            stages.append({"stage": "unloading completed", "at": clock, "note": ""})
    cargo = []
    for category in rng.sample(list(CARGO), rng.randint(1, 4)):
        unit, low, high = CARGO[category]
        quantity = Decimal(rng.randint(low, high))
        if status == ConvoyStatus.DELIVERED:
            delivered = quantity
        elif status == ConvoyStatus.PARTIALLY_DELIVERED:
            delivered = (quantity * Decimal(rng.randint(30, 90)) / 100).quantize(Decimal("1"))
        elif status == ConvoyStatus.BLOCKED:
            delivered = Decimal(0)
        else:
            delivered = None
        cargo.append(
            {
                "category": category,
                "quantity": quantity,
                "unit": unit,
                "delivered_quantity": delivered,
            }
        )
    obstruction = ""
    if status in (ConvoyStatus.BLOCKED, ConvoyStatus.PARTIALLY_DELIVERED) or (
        status == ConvoyStatus.DELIVERED and rng.random() < 0.1
    ):
        obstruction = rng.choice(OBSTRUCTIONS)
    organizations = rng.sample(
        world.organizations, min(len(world.organizations), rng.randint(1, 2))
    )
    vehicles = rng.randint(1, 3) if operation == ConvoyOperation.AIRDROP else rng.randint(5, 60)
    beneficiaries = rng.randrange(2000, 60000, 500)
    occurred = departed if moving else planned
    names = ", ".join(o.short_name or o.name for o in organizations) or "Humanitarian"
    narrative = (
        f"{names} {ConvoyOperation(operation).label.lower()} of {vehicles} "
        f"{'aircraft' if operation == ConvoyOperation.AIRDROP else 'trucks'} to "
        f"{destination.name} for about {beneficiaries:,} people: "
        f"{ConvoyStatus(status).label.lower()}."
    )
    if obstruction:
        narrative += f" {obstruction}"
    values = {
        "latitude": destination.latitude,
        "longitude": destination.longitude,
        "place_precision": ReportPlacePrecision.SETTLEMENT,
        "settlement": destination,
        "post": None,
        "occurred_at": occurred,
        "time_precision": ReportTimePrecision.EXACT,
        "source": rng.choice([ReportSource.SEEN, ReportSource.PARTNER]),
        "confidence": ReportConfidence.HIGH,
        "narrative": narrative,
    }
    detail = {
        "operation": operation,
        "organizations": organizations,
        "vehicle_count": vehicles,
        "origin": stages[0]["note"] if stages else rng.choice(world.origins),
        "destination": destination,
        "planned_at": planned,
        "status": status,
        "beneficiaries": beneficiaries,
        "obstruction_reason": obstruction,
        "cargo": cargo,
        "route": route,
        "stages": stages,
    }
    return values, detail


def _convoy_ready(values: dict, detail: dict) -> datetime:
    moments = [values["occurred_at"]] + [s["at"] for s in detail["stages"]]
    moments += [r["passed_at"] for r in detail["route"] if r["passed_at"] is not None]
    return max(moments)


def _shift(world: _CenterWorld, checkpoint: Post, start: datetime) -> tuple[dict, dict]:
    rng = world.rng
    status = _weighted(rng, SHIFT_STATUSES)
    night = start.astimezone(world.tz).hour == 0
    scale = {CheckpointStatus.OPEN: 1.0, CheckpointStatus.RESTRICTED: 0.35}.get(status, 0.0)
    scale *= 0.15 if night else 1.0

    def flow(low: int, high: int, serves: bool = True) -> int:
        return int(rng.randint(low, high) * scale) if serves else 0

    counts = {
        "civilians_in": flow(50, 1500, checkpoint.serves_civilians),
        "civilians_out": flow(50, 1500, checkpoint.serves_civilians),
        "vehicles_in": flow(10, 300),
        "vehicles_out": flow(10, 300),
        "humanitarian_loads": flow(0, 20, checkpoint.serves_humanitarian),
        "commercial_loads": flow(0, 80, checkpoint.serves_economic),
    }
    incidents = []
    chance = {CheckpointStatus.OPEN: 0.15}.get(status, 0.7)
    if rng.random() < chance:
        for kind in rng.sample(list(AccessIncidentKind), rng.randint(1, 2)):
            count = (
                rng.randint(1, 3) if kind == AccessIncidentKind.DETENTION else rng.randint(1, 25)
            )
            incidents.append(
                {
                    "kind": kind,
                    "count": count,
                    "party": checkpoint.operating_party if rng.random() < 0.8 else None,
                    "reason_cited": rng.choice(ACCESS_REASONS[kind]),
                }
            )
    end = start + timedelta(hours=SHIFT_HOURS)
    label = dict((h, n) for h, n in SHIFTS)[start.astimezone(world.tz).hour]
    narrative = (
        f"{label.capitalize()} shift at {checkpoint.name}: "
        f"{CheckpointStatus(status).label.lower()}. "
        f"{counts['civilians_in'] + counts['civilians_out']} civilians and "
        f"{counts['vehicles_in'] + counts['vehicles_out']} vehicles crossed."
    )
    if incidents:
        narrative += " " + "; ".join(
            f"{AccessIncidentKind(i['kind']).label.lower()} x{i['count']}" for i in incidents
        )
        narrative += "."
    values = {
        "latitude": checkpoint.latitude,
        "longitude": checkpoint.longitude,
        "place_precision": ReportPlacePrecision.EXACT,
        "settlement": None,
        "post": checkpoint,
        "occurred_at": start,
        "time_precision": ReportTimePrecision.EXACT,
        "source": ReportSource.SEEN,
        "confidence": ReportConfidence.HIGH,
        "narrative": narrative,
    }
    detail = {
        "checkpoint": checkpoint,
        "period_start": start,
        "period_end": end,
        "status": status,
        **counts,
        "incidents": incidents,
    }
    return values, detail


class _Slots:
    """Free 8-hour shifts per checkpoint and delegation: no two shifts of one delegation at
    one checkpoint overlap, across centers and with the shifts already stored (whose hours
    are blocked whole, so a stored 10:30-11:15 shift blocks 10:00-12:00)."""

    def __init__(self, checkpoints: Iterable[Post], start: datetime, end: datetime) -> None:
        self.blocked: set[tuple[int, int, int]] = set()
        rows = (
            CheckpointDetail.objects.filter(
                checkpoint__in=list(checkpoints),
                period_start__lt=end,
                period_end__gt=start,
            )
            .exclude(report__status__in=(S.REJECTED, S.RETRACTED))
            .values_list("checkpoint_id", "report__delegation_id", "period_start", "period_end")
        )
        for checkpoint_id, delegation_id, begins, ends in rows.iterator():
            first = int(begins.timestamp() // 3600)
            last = math.ceil(ends.timestamp() / 3600)
            self.blocked.update((checkpoint_id, delegation_id, h) for h in range(first, last))

    def take(self, checkpoint: Post, delegation_id: int, start: datetime) -> bool:
        first = int(start.timestamp() // 3600)
        keys = [(checkpoint.pk, delegation_id, h) for h in range(first, first + SHIFT_HOURS)]
        if any(key in self.blocked for key in keys):
            return False
        self.blocked.update(keys)
        return True


# --------------------------------------------------------------------------- workflow


def _path_quota(rng: random.Random, count: int) -> list[str]:
    """``count`` paths in the shares of PATHS, each at least once when count allows."""
    names = list(PATHS)
    total = sum(PATHS.values())
    if count >= len(names):
        chosen = list(names)
        rest = count - len(names)
        shares = {n: PATHS[n] * rest / total for n in names}
        for n in names:
            chosen += [n] * int(shares[n])
        leftovers = sorted(names, key=lambda n: shares[n] - int(shares[n]), reverse=True)
        chosen += leftovers[: count - len(chosen)]
    else:
        chosen = rng.choices(names, weights=list(PATHS.values()), k=count)
    rng.shuffle(chosen)
    return chosen


def _steps(plan: _Plan, rng: random.Random) -> list[_Step]:
    """The moves of one report along its path, at plausible moments (not yet fitted)."""
    author = plan.author.user
    reviewer = plan.world.coordinator.user
    at = plan.ready + timedelta(minutes=rng.randint(10, 90))
    steps = [_Step(at, "create", author)]

    def after(minutes_low: int, minutes_high: int) -> datetime:
        nonlocal at
        at = at + timedelta(minutes=rng.randint(minutes_low, minutes_high))
        return at

    def move(to_status: str, actor, comment: str = "", low: int = 60, high: int = 540) -> None:
        steps.append(_Step(after(low, high), "transition", actor, to_status, comment))

    path = plan.path
    violation = plan.kind == K.VIOLATION
    note = rng.choice(VERIFY_NOTES) if violation else ""
    if path == "draft":
        return steps
    if path == "draft_retracted":
        move(S.RETRACTED, author, rng.choice(RETRACT_REASONS), 5, 120)
        return steps
    move(S.SUBMITTED, author, "", 5, 40)
    if path == "submitted":
        return steps
    if path == "retracted":
        move(S.RETRACTED, author, rng.choice(RETRACT_REASONS), 20, 180)
    elif path == "verified":
        move(S.VERIFIED, reviewer, note)
    elif path == "rejected":
        move(S.REJECTED, reviewer, rng.choice(REJECT_REASONS))
    elif path in ("disputed", "disputed_verified"):
        move(S.DISPUTED, reviewer, rng.choice(DISPUTE_REASONS))
        if path == "disputed_verified":
            move(S.VERIFIED, reviewer, "Joint check done: the report stands.", 360, 1800)
    elif path.startswith("returned"):
        move(S.RETURNED, reviewer, rng.choice(RETURN_REASONS))
        if path != "returned":
            revision = rng.choice(REVISION_NOTES)
            values = {"narrative": f"{plan.values['narrative']} {revision}"}
            steps.append(_Step(after(30, 240), "update", author, values=values))
            move(S.SUBMITTED, author, "", 5, 30)
            if path == "returned_resubmitted_verified":
                move(S.VERIFIED, reviewer, note)
    return steps


def _joint_steps(first: _Plan, second: _Plan, rng: random.Random) -> None:
    """Two delegations' reports of one event: filed, submitted, linked by the coordinator (an
    observer does not see another delegation's unreviewed report), then verified on that
    corroboration (no note needed)."""
    for plan in (first, second):
        at = plan.ready + timedelta(minutes=rng.randint(10, 90))
        plan.steps = [
            _Step(at, "create", plan.author.user),
            _Step(
                at + timedelta(minutes=rng.randint(5, 40)),
                "transition",
                plan.author.user,
                S.SUBMITTED,
            ),
        ]
    reviewer = first.world.coordinator.user
    linked = max(first.steps[-1].at, second.steps[-1].at) + timedelta(minutes=rng.randint(30, 120))
    second.steps.append(
        _Step(
            linked, "link", reviewer, comment="Same event, seen by both delegations.", other=first
        )
    )
    review = linked + timedelta(minutes=rng.randint(60, 300))
    first.steps.append(_Step(review, "transition", reviewer, S.VERIFIED))
    second.steps.append(
        _Step(review + timedelta(minutes=rng.randint(1, 10)), "transition", reviewer, S.VERIFIED)
    )


def _fit(plans: list[_Plan], limit: datetime) -> bool:
    """Squeeze the plans' steps (together) so the last one is no later than ``limit``.

    Returns False when the facts themselves are not complete before ``limit``.
    """
    base = min(p.ready for p in plans)
    last = max(s.at for p in plans for s in p.steps)
    if last <= limit:
        return True
    if max(p.ready for p in plans) >= limit - timedelta(minutes=1):
        return False
    factor = (limit - base) / (last - base)
    for plan in plans:
        for step in plan.steps:
            step.at = base + (step.at - base) * factor
        if plan.steps[0].at <= plan.ready:
            return False
    return True


# --------------------------------------------------------------------------- planning


@dataclass
class DemoSummary:
    """What one run made: reports by (kind, status), corroboration links, time taken."""

    counts: Counter = field(default_factory=Counter)
    links: int = 0
    seconds: float = 0.0
    centers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reports(self) -> int:
        return sum(self.counts.values())

    def table(self) -> str:
        statuses = [s for s in S.values if any(self.counts[(k, s)] for k in K.values)]
        width = max(len(k) for k in K.values)
        head = f"{'kind':<{width}}  " + "  ".join(f"{s:>9}" for s in statuses) + f"  {'total':>9}"
        lines = [head]
        for kind in K.values:
            row = [self.counts[(kind, s)] for s in statuses]
            lines.append(
                f"{kind:<{width}}  " + "  ".join(f"{n:>9,}" for n in row) + f"  {sum(row):>9,}"
            )
        totals = [sum(self.counts[(k, s)] for k in K.values) for s in statuses]
        lines.append(
            f"{'total':<{width}}  " + "  ".join(f"{n:>9,}" for n in totals) + f"  {sum(totals):>9,}"
        )
        return "\n".join(lines)


def _span(days: int, until: date | None) -> list[date]:
    if days < 1:
        raise DemoDataError("--days must be at least 1.")
    today = timezone.localdate()
    until = until or today - timedelta(days=1)
    if until >= today:
        raise DemoDataError(
            f"--until {until} is not a past day: demo reports describe days already over."
        )
    return [until - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _prepare(
    *, centers: Iterable[str] | None, append: bool, password: str, moment: datetime, seed: int
) -> list[_CenterWorld]:
    chosen = _centers(centers)
    if not append:
        busy = [(c.code, n) for c in chosen if (n := demo_reports_count(c))]
        if busy:
            listed = ", ".join(f"{code} ({n:,})" for code, n in busy)
            raise DemoDataError(
                f"Demo reports already exist for {listed}. Run with --append to add more, "
                "or choose another center with --center."
            )
    if any(not _staff(c)[0] or _staff(c)[1] is None for c in chosen):
        demo_accounts_ensure(password=password)
    return [_world(c, seed=seed, moment=moment) for c in chosen]


def _pair(world: _CenterWorld, moment: datetime) -> list[_Plan]:
    """One violation reported by observers of two delegations (to be linked and verified)."""
    one, two = world.rng.sample(world.observers, 2)
    values, detail = _violation(world, one, moment)
    values2, detail2 = _corroborating(world, values, detail)
    ready = max(moment, values2["occurred_at"], values["occurred_at"])
    return [
        _Plan(world, K.VIOLATION, one, values, detail, ready, "joint"),
        _Plan(world, K.VIOLATION, two, values2, detail2, ready, "joint"),
    ]


def _plan_day(world: _CenterWorld, day: date, last_day: bool, slots: _Slots) -> list[_Plan]:
    """One day of a center: violations (some seen by two delegations), a convoy now and
    then, checkpoint shifts."""
    rng = world.rng
    plans: list[_Plan] = []
    start = world.day_start(day)
    for observer in world.observers:
        for _ in range(rng.choices((0, 1, 2, 3, 4, 5), weights=(10, 20, 30, 20, 12, 8))[0]):
            moment = start + timedelta(minutes=rng.randrange(24 * 60))
            values, detail = _violation(world, observer, moment)
            # Ready when it happened (the time given may be rounded down to the hour or day).
            ready = max(moment, values["occurred_at"])
            plans.append(_Plan(world, K.VIOLATION, observer, values, detail, ready))
    if len(world.observers) > 1:
        for _ in range(rng.choices((0, 1, 2), weights=(35, 45, 20))[0]):
            plans += _pair(world, start + timedelta(minutes=rng.randrange(20 * 60)))
    if world.settlements and rng.random() < (0.55 if len(world.observers) > 1 else 0.35):
        author = rng.choice(world.observers)
        values, detail = _convoy(world, author, day, last_day)
        plans.append(_Plan(world, K.CONVOY, author, values, detail, _convoy_ready(values, detail)))
    open_checkpoints = world.open_on(day)[1]
    for observer in world.observers:
        if not open_checkpoints:
            break
        for _ in range(rng.choices((0, 1, 2), weights=(20, 50, 30))[0]):
            checkpoint = rng.choice(open_checkpoints)
            hour = rng.choice(SHIFTS)[0]
            begins = start + timedelta(hours=hour)
            if not slots.take(checkpoint, observer.delegation_id, begins):
                continue
            values, detail = _shift(world, checkpoint, begins)
            plans.append(_Plan(world, K.CHECKPOINT, observer, values, detail, detail["period_end"]))
    return plans


def _plan_all(
    worlds: list[_CenterWorld], span: list[date], limit: datetime
) -> tuple[list[_Plan], int]:
    """Every center's reports over the span, with their paths and steps; and how many
    were dropped because their facts end after ``limit``."""
    first = min(w.day_start(span[0]) for w in worlds)
    last = max(w.day_start(span[-1]) for w in worlds) + timedelta(days=1)
    slots = _Slots([c for w in worlds for c in w.checkpoints], first, last)
    plans: list[_Plan] = []
    dropped = 0
    for world in worlds:
        mine: list[_Plan] = []
        for day in span:
            mine += _plan_day(world, day, day == span[-1], slots)
        if len(world.observers) > 1 and not any(p.path == "joint" for p in mine):
            # Every center with two delegations shows at least one jointly confirmed event.
            mine += _pair(world, world.day_start(span[0]) + timedelta(hours=10))
        single = [p for p in mine if p.path != "joint"]
        for plan, path in zip(single, _path_quota(world.rng, len(single)), strict=True):
            plan.path = path
            plan.steps = _steps(plan, world.rng)
        joint = [p for p in mine if p.path == "joint"]
        for one, two in zip(joint[::2], joint[1::2], strict=True):
            _joint_steps(one, two, world.rng)
        kept: list[_Plan] = []
        for plan in single:
            if _fit([plan], limit):
                kept.append(plan)
            else:
                dropped += 1
        for one, two in zip(joint[::2], joint[1::2], strict=True):
            if _fit([one, two], limit):
                kept += [one, two]
            else:
                dropped += 2
        plans += kept
    return plans, dropped


# --------------------------------------------------------------------------- through the services


def demo_data_create(
    *,
    centers: Iterable[str] | None = None,
    days: int = 14,
    until: date | None = None,
    seed: int = DEFAULT_SEED,
    append: bool = False,
    password: str,
    log: Callable[[str], Any] = print,
) -> DemoSummary:
    """File demo reports through the services over ``days`` days ending ``until`` (default
    yesterday), for the given center codes (default: every center). One transaction: an
    error leaves the database as it was."""
    from . import services

    started = time.monotonic()
    span = _span(days, until)
    now = timezone.now()
    limit = now - timedelta(minutes=1)
    summary = DemoSummary()
    with transaction.atomic():
        worlds = _prepare(
            centers=centers, append=append, password=password, moment=limit, seed=seed
        )
        summary.centers = [w.center.code for w in worlds]
        plans, dropped = _plan_all(worlds, span, limit)
        if dropped:
            summary.notes.append(f"{dropped} reports left out: their events end after now.")
        log(
            f"Filing {len(plans):,} reports for {', '.join(summary.centers)} over "
            f"{span[0]} to {span[-1]} ({len(span)} days) through the services..."
        )
        queue = sorted(
            (
                (step.at, n, i, plan)
                for n, plan in enumerate(plans)
                for i, step in enumerate(plan.steps)
            ),
            key=lambda row: row[:3],
        )
        step_total = len(queue)
        every = max(1, step_total // 10)
        for done, (_, _, i, plan) in enumerate(queue, 1):
            step = plan.steps[i]
            try:
                _apply(services, plan, step)
            except ValidationError as exc:
                when = f"{plan.values['occurred_at']:%Y-%m-%d %H:%M}"
                where = f"{plan.world.center.code} {plan.kind} ({when})"
                raise DemoDataError(
                    f"The services refused a demo {step.action} of {where}: {exc}"
                ) from exc
            if done % every == 0:
                log(
                    f"  steps {done:,}/{step_total:,} ({100 * done // step_total}%) "
                    f"{time.monotonic() - started:.0f} s"
                )
        for plan in plans:
            summary.counts[(plan.kind, plan.report.status)] += 1
        summary.links = sum(1 for p in plans for s in p.steps if s.action == "link")
    summary.seconds = time.monotonic() - started
    return summary


def _apply(services, plan: _Plan, step: _Step) -> None:
    if step.action == "create":
        plan.report = services.report_create(
            actor=step.actor, kind=plan.kind, values=plan.values, detail=plan.detail, at=step.at
        )
    elif step.action == "transition":
        plan.report = services.report_transition(
            report=plan.report,
            to_status=step.to_status,
            actor=step.actor,
            comment=step.comment,
            at=step.at,
        )
    elif step.action == "update":
        plan.report = services.report_update(
            report=plan.report,
            actor=step.actor,
            expected_revision=plan.report.revision,
            values=step.values,
            at=step.at,
        )
    elif step.action == "link":
        services.corroboration_link(
            report=plan.report,
            other=step.other.report,
            actor=step.actor,
            note=step.comment,
            at=step.at,
        )


# --------------------------------------------------------------------------- bulk

BULK_DEFAULT_DAYS = 365
# Shares of the bulk reports: checkpoint shifts while free shifts remain, convoys, pairs of
# reports of one event by two delegations (centers with two or more), violations the rest.
BULK_SHIFT_SHARE = 0.15
BULK_CONVOY_SHARE = 0.07
BULK_JOINT_SHARE = 0.04
SQLITE_CACHE_KIB = 256 * 1024
BULK_NOTE = "Demo data (bulk)."


def _split(total: int, weights: list[float], rng: random.Random) -> list[int]:
    """``total`` split in proportion to ``weights``; the remainder goes to random parts."""
    whole = sum(weights)
    parts = [int(total * w / whole) for w in weights]
    for i in rng.sample(range(len(weights)), len(weights))[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _bulk_moment(world: _CenterWorld, day: date, limit: datetime) -> datetime:
    """A moment of the day early enough for its report to be filed and reviewed by ``limit``."""
    start = world.day_start(day)
    room = min(24 * 60, int((limit - start).total_seconds() // 60) - 6 * 60)
    return start + timedelta(minutes=world.rng.randrange(max(1, room)))


def _bulk_violation(world: _CenterWorld, day: date, limit: datetime) -> _Plan:
    author = world.rng.choice(world.observers)
    moment = _bulk_moment(world, day, limit)
    values, detail = _violation(world, author, moment)
    return _Plan(world, K.VIOLATION, author, values, detail, max(moment, values["occurred_at"]))


def _bulk_day(
    world: _CenterWorld, day: date, count: int, last_day: bool, slots: _Slots, limit: datetime
) -> list[_Plan]:
    """Exactly ``count`` plans of one center's day, with their steps fitted before ``limit``."""
    rng = world.rng
    start = world.day_start(day)
    checkpoints = world.open_on(day)[1]
    plans: list[_Plan] = []
    while len(plans) < count:
        draw = rng.random()
        made: list[_Plan] = []
        if draw < BULK_SHIFT_SHARE and checkpoints:
            observer = rng.choice(world.observers)
            checkpoint = rng.choice(checkpoints)
            begins = start + timedelta(hours=rng.choice(SHIFTS)[0])
            if slots.take(checkpoint, observer.delegation_id, begins):
                values, detail = _shift(world, checkpoint, begins)
                made = [_Plan(world, K.CHECKPOINT, observer, values, detail, detail["period_end"])]
        elif draw < BULK_SHIFT_SHARE + BULK_CONVOY_SHARE and world.settlements:
            author = rng.choice(world.observers)
            values, detail = _convoy(world, author, day, last_day)
            made = [_Plan(world, K.CONVOY, author, values, detail, _convoy_ready(values, detail))]
        elif (
            draw < BULK_SHIFT_SHARE + BULK_CONVOY_SHARE + BULK_JOINT_SHARE
            and len(world.observers) > 1
            and count - len(plans) >= 2
        ):
            first, second = _pair(world, _bulk_moment(world, day, limit))
            _joint_steps(first, second, rng)
            made = [first, second] if _fit([first, second], limit) else []
        if not made:
            made = [_bulk_violation(world, day, limit)]
        for plan in made:
            if not plan.steps:
                plan.path = _weighted(rng, PATHS)
                plan.steps = _steps(plan, rng)
                if not _fit([plan], limit):
                    plan = _bulk_violation(world, day, limit)
                    plan.path = "verified"
                    plan.steps = _steps(plan, rng)
                    _fit([plan], limit)
            plans.append(plan)
    return plans


class _Table:
    """A raw multi-row INSERT (COPY on PostgreSQL) for one model: rows are dicts of attnames
    (missing ones take the field's default), converted for the database at hand. Skips model
    instances and the SQL compiler, which cost ten times the insert itself at a million
    rows."""

    def __init__(self, model, *, with_id: bool = False, ids_only: bool = False) -> None:
        ops = connection.ops
        self.fields = [
            f for f in model._meta.concrete_fields if with_id or not isinstance(f, models.AutoField)
        ]
        # A foreign key may be given by its name (``post``: a Post) or its attname (``post_id``).
        self.keys = [
            (f.attname, f.name if f.attname != f.name else None, f.get_default())
            for f in self.fields
        ]
        # Table and column names come from the model; the values are parameters.
        table = ops.quote_name(model._meta.db_table)
        columns = ", ".join(ops.quote_name(f.column) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        self.sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        self.copy_sql = f"COPY {table} ({columns}) FROM STDIN"
        sqlite = connection.vendor == "sqlite"
        self.special = [
            (i, convert)
            for i, f in enumerate(self.fields)
            if (convert := self._converter(f, sqlite, ids_only)) is not None
        ]
        self.rows: list[list] = []

    @staticmethod
    def _converter(field, sqlite: bool, ids_only: bool) -> Callable[[Any], Any] | None:
        if field.is_relation:
            return None if ids_only else _pk
        if isinstance(field, models.JSONField):
            return json.dumps
        if not sqlite:
            return None  # psycopg adapts datetimes, UUIDs and decimals itself
        if isinstance(field, models.DateTimeField):
            return lambda v: str(v.astimezone(UTC).replace(tzinfo=None))
        if isinstance(field, models.UUIDField):
            return lambda v: v.hex
        if isinstance(field, (models.DecimalField, models.DateField)):
            return str
        return None

    def add(self, values: dict[str, Any]) -> None:
        get = values.get
        row = [
            get(attname, default) if alias is None else get(attname, get(alias, default))
            for attname, alias, default in self.keys
        ]
        for i, convert in self.special:
            if row[i] is not None:
                row[i] = convert(row[i])
        self.rows.append(row)

    def write(self, cursor) -> int:
        """Write the rows with the driver's own cursor (Django's debug wrapper would format
        every row): COPY on PostgreSQL, multi-row executemany on SQLite."""
        written = len(self.rows)
        if written and connection.vendor == "postgresql":
            with cursor.copy(self.copy_sql) as copy:
                for row in self.rows:
                    copy.write_row(row)
        else:
            for start in range(0, written, 5000):
                cursor.executemany(self.sql, self.rows[start : start + 5000])
        self.rows = []
        return written


class _BulkWriter:
    """Turns plans into rows and writes them in multi-row inserts."""

    def __init__(self, worlds: list[_CenterWorld], summary: DemoSummary) -> None:
        self.summary = summary
        self.pending: list[_Plan] = []
        self.report_type = ContentType.objects.get_for_model(Report)
        self.source = current_audit_source()
        self.counters: dict[tuple[int, date], int] = {}
        self.known_counters: dict[tuple[int, date], ReportCounter] = {}
        for counter in ReportCounter.objects.select_for_update().filter(
            center__in=[w.center for w in worlds]
        ):
            self.known_counters[(counter.center_id, counter.day)] = counter
            self.counters[(counter.center_id, counter.day)] = counter.last
        self.in_force: dict[tuple[int, date], bool] = {}
        self.written = 0
        self.next_id: int | None = None
        through = ConvoyDetail.organizations.through
        # Parents first: the rows are written in this order.
        self.tables = {
            name: _Table(model, with_id=name == "report", ids_only=ids_only)
            for name, model, ids_only in (
                ("report", Report, False),
                ("violation", ViolationDetail, False),
                ("convoy", ConvoyDetail, False),
                ("checkpoint", CheckpointDetail, False),
                ("organizations", through, True),
                ("cargo", CargoLine, True),
                ("route", ConvoyRouteStop, False),
                ("stages", ConvoyStage, True),
                ("incidents", AccessIncident, False),
                ("transition", ReportTransition, True),
                ("audit", AuditEntry, True),
                ("link", CorroborationLink, True),
            )
        }

    def _ids(self, count: int) -> list[int]:
        """Primary keys for ``count`` new reports, safe against other writers."""
        table = Report._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, count],
                )
                return [row[0] for row in cursor.fetchall()]
            if self.next_id is None:
                # Take SQLite's write lock before reading the highest id: from here on no
                # other connection inserts until this transaction ends.
                Report.objects.filter(pk=-1).update(revision=1)
                self.next_id = (Report.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        first, self.next_id = self.next_id, self.next_id + count
        return list(range(first, first + count))

    def _reference(self, world: _CenterWorld, moment: datetime) -> str:
        day = moment.astimezone(world.tz).date()
        key = (world.center.pk, day)
        number = self.counters.get(key, 0) + 1
        self.counters[key] = number
        return f"{world.center.code}-{day:%Y%m%d}-{number:04d}"

    def _classify(self, plans: list[_Plan]) -> list[tuple[int, bool, bool, bool]]:
        """(zone id, in security area, in excluded area, zone in force) per plan, classified
        in bulk per day of occurrence."""
        index = classifier.get_index()
        by_day: dict[date, list[int]] = defaultdict(list)
        for i, plan in enumerate(plans):
            by_day[plan.values["occurred_at"].astimezone(classifier.SYRIA_TZ).date()].append(i)
        out: list[tuple[int, bool, bool, bool]] = [(0, False, False, False)] * len(plans)
        for day, members in by_day.items():
            moment = datetime.combine(day, dtime(12), classifier.SYRIA_TZ)
            result = classifier.classify_points(
                [plans[i].values["latitude"] for i in members],
                [plans[i].values["longitude"] for i in members],
                at=moment,
            )
            zones = result.zone_id.tolist()
            security = result.in_security_area.tolist()
            excluded = result.in_excluded_area.tolist()
            for i, zone, sec, exc in zip(members, zones, security, excluded, strict=True):
                force = False
                if zone:
                    key = (zone, day)
                    if key not in self.in_force:
                        self.in_force[key] = index.zones[zone].in_force_at(moment)
                    force = self.in_force[key]
                out[i] = (zone, sec, exc, force)
        return out

    def flush(self) -> None:
        plans = sorted(self.pending, key=lambda p: p.steps[0].at)
        self.pending = []
        if not plans:
            return
        places = self._classify(plans)
        ids = self._ids(len(plans))
        table = self.tables["report"]
        feed = []
        shared_statuses = set(settings.PARTNER_REPORT_STATUSES)
        for plan, pk, (zone, security, excluded, force) in zip(plans, ids, places, strict=True):
            values = plan.values
            status, revision, submitted, updated = S.DRAFT, 1, None, plan.steps[0].at
            narrative = values["narrative"]
            ever_shared = False
            for step in plan.steps[1:]:
                if step.action == "transition":
                    status = step.to_status
                    ever_shared = ever_shared or status in shared_statuses
                    revision += 1
                    updated = step.at
                    if status == S.SUBMITTED and submitted is None:
                        submitted = step.at
                elif step.action == "update":
                    narrative = step.values["narrative"]
                    revision += 1
                    updated = step.at
            plan.report = report = _BulkReport(
                pk=pk, reference=self._reference(plan.world, plan.steps[0].at), status=status
            )
            report_uuid = uuid.uuid4()
            feed.append(
                (
                    ChangeRecordType.REPORT,
                    report_uuid,
                    plan.world.center.pk,
                    status in shared_statuses,
                    ever_shared,
                )
            )
            table.add(
                {
                    **values,
                    "id": pk,
                    "reference": report.reference,
                    "uuid": report_uuid,
                    "kind": plan.kind,
                    "center_id": plan.world.center.pk,
                    "status": status,
                    "revision": revision,
                    "zone_id": zone or None,
                    "classified_zone_id": zone or None,
                    "in_security_area": security,
                    "in_excluded_area": excluded,
                    "zone_in_force": force,
                    "narrative": narrative,
                    "reported_at": plan.steps[0].at,
                    "submitted_at": submitted,
                    "updated_at": updated,
                    "author_id": plan.author.user_id,
                    "delegation_id": plan.author.delegation_id,
                }
            )
        self._details(plans)
        self._history(plans)
        with connection.cursor() as wrapper:
            cursor = wrapper.cursor
            for t in self.tables.values():
                t.write(cursor)
            self._audit_in_sql(wrapper, ids[0], ids[-1])
        changes_touch(records=feed)
        for plan in plans:
            self.summary.counts[(plan.kind, plan.report.status)] += 1
        self.written += len(plans)

    def _details(self, plans: list[_Plan]) -> None:
        t = self.tables
        for plan in plans:
            pk, detail = plan.report.pk, plan.detail
            if plan.kind == K.VIOLATION:
                t["violation"].add({**detail, "report_id": pk})
            elif plan.kind == K.CONVOY:
                t["convoy"].add({**detail, "report_id": pk})
                for party in detail["organizations"]:
                    t["organizations"].add({"convoydetail_id": pk, "party_id": party.pk})
                for line in detail["cargo"]:
                    t["cargo"].add({**line, "convoy_id": pk})
                for position, stop in enumerate(detail["route"]):
                    t["route"].add({**stop, "convoy_id": pk, "position": position})
                for stage in detail["stages"]:
                    t["stages"].add({**stage, "convoy_id": pk})
            else:
                t["checkpoint"].add({**detail, "report_id": pk})
                for row in detail["incidents"]:
                    t["incidents"].add({**row, "shift_id": pk})

    def _audit(self, plan: _Plan, at: datetime, actor, action: str, changes: dict, comment=""):
        self.tables["audit"].add(
            {
                "at": at,
                "actor_id": actor.pk,
                "actor_label": actor.get_username(),
                "source": self.source,
                "action": action,
                "content_type_id": self.report_type.pk,
                "object_pk": str(plan.report.pk),
                "object_repr": plan.report.reference,
                "changes": changes,
                "comment": comment,
            }
        )

    def _history(self, plans: list[_Plan]) -> None:
        """Transition rows, links, and the audit entries of edits and links; the entries of
        creations and transitions are derived in SQL afterwards (:meth:`_audit_in_sql`)."""
        for plan in plans:
            report, values = plan.report, plan.values
            status, narrative = S.DRAFT, values["narrative"]
            for step in plan.steps[1:]:
                if step.action == "transition":
                    self.tables["transition"].add(
                        {
                            "report_id": report.pk,
                            "from_status": status,
                            "to_status": step.to_status,
                            "actor_id": step.actor.pk,
                            "at": step.at,
                            "comment": step.comment,
                        }
                    )
                    status = step.to_status
                elif step.action == "update":
                    new = step.values["narrative"]
                    self._audit(
                        plan,
                        step.at,
                        step.actor,
                        AuditEntryAction.UPDATE,
                        {"narrative": [narrative, new]},
                    )
                    narrative = new
                elif step.action == "link":
                    other = step.other
                    low, high = sorted((report.pk, other.report.pk))
                    self.tables["link"].add(
                        {
                            "report_id": low,
                            "other_id": high,
                            "created_by_id": step.actor.pk,
                            "created_at": step.at,
                            "note": step.comment,
                        }
                    )
                    self.summary.links += 1
                    for one, two in ((plan, other), (other, plan)):
                        self._audit(
                            one,
                            step.at,
                            step.actor,
                            AuditEntryAction.LINK,
                            {"corroborated_by": [None, two.report.reference]},
                            step.comment,
                        )

    def _audit_in_sql(self, cursor, first: int, last: int) -> None:
        """The audit entries of the creation and of every transition of the reports with ids
        ``first`` to ``last``, written by the database from the rows just inserted (a third
        of the time of building them in Python). Bulk mode is for a quiet instance: the id
        range holds this batch's reports only."""
        qn = connection.ops.quote_name
        if connection.vendor == "postgresql":
            obj, arr, as_json = "jsonb_build_object", "jsonb_build_array", "::jsonb"
        else:
            obj, arr, as_json = "json_object", "json_array", ""
        audit = qn(AuditEntry._meta.db_table)
        columns = ", ".join(
            qn(AuditEntry._meta.get_field(name).column)
            for name in (
                "at",
                "actor",
                "actor_label",
                "source",
                "action",
                "content_type",
                "object_pk",
                "object_repr",
                "changes",
                "comment",
            )
        )
        User = get_user_model()
        users, username = (
            qn(User._meta.db_table),
            qn(User._meta.get_field(User.USERNAME_FIELD).column),
        )
        reports = qn(Report._meta.db_table)
        transitions = qn(ReportTransition._meta.db_table)
        created = (
            f"{obj}('reference', {arr}(NULL, r.reference), 'kind', {arr}(NULL, r.kind), "
            f"'status', {arr}(NULL, 'draft'), 'occurred_at', {arr}(NULL, r.occurred_at), "
            f"'latitude', {arr}(NULL, r.latitude), 'longitude', {arr}(NULL, r.longitude), "
            f"'zone_id', {arr}(NULL, r.zone_id)){as_json}"
        )
        cursor.execute(
            f"INSERT INTO {audit} ({columns}) "  # noqa: S608 - names from the models
            f"SELECT r.reported_at, r.author_id, u.{username}, %s, %s, %s, "
            f"CAST(r.id AS TEXT), r.reference, {created}, %s "
            f"FROM {reports} r JOIN {users} u ON u.id = r.author_id "
            f"WHERE r.id BETWEEN %s AND %s ORDER BY r.id",
            [self.source, AuditEntryAction.CREATE, self.report_type.pk, BULK_NOTE, first, last],
        )
        moved = f"{obj}('status', {arr}(t.from_status, t.to_status)){as_json}"
        cursor.execute(
            f"INSERT INTO {audit} ({columns}) "  # noqa: S608 - names from the models
            f"SELECT t.at, t.actor_id, u.{username}, %s, %s, %s, "
            f"CAST(t.report_id AS TEXT), r.reference, {moved}, t.comment "
            f"FROM {transitions} t JOIN {reports} r ON r.id = t.report_id "
            f"JOIN {users} u ON u.id = t.actor_id "
            f"WHERE t.report_id BETWEEN %s AND %s ORDER BY t.report_id, t.at",
            [self.source, AuditEntryAction.TRANSITION, self.report_type.pk, first, last],
        )

    def save_counters(self) -> None:
        changed, new = [], []
        for (center_id, day), last in self.counters.items():
            counter = self.known_counters.get((center_id, day))
            if counter is None:
                new.append(ReportCounter(center_id=center_id, day=day, last=last))
            elif counter.last != last:
                counter.last = last
                changed.append(counter)
        ReportCounter.objects.bulk_create(new, batch_size=2000)
        ReportCounter.objects.bulk_update(changed, ["last"], batch_size=2000)


def _pk(value: Any) -> Any:
    return value.pk if isinstance(value, models.Model) else value


@dataclass
class _BulkReport:
    """What the bulk writer remembers of a report it wrote."""

    pk: int
    reference: str
    status: str


def demo_data_bulk(
    *,
    reports: int,
    centers: Iterable[str] | None = None,
    days: int = BULK_DEFAULT_DAYS,
    until: date | None = None,
    seed: int = DEFAULT_SEED,
    append: bool = False,
    password: str,
    log: Callable[[str], Any] = print,
    batch_size: int = 10_000,
) -> DemoSummary:
    """Write ``reports`` demo reports with bulk inserts, spread over the centers (by number of
    delegations) and the days. One transaction; progress is logged every 5%."""
    if reports < 1:
        raise DemoDataError("--reports must be at least 1.")
    started = time.monotonic()
    span = _span(days, until)
    limit = timezone.now() - timedelta(minutes=1)
    summary = DemoSummary()
    with transaction.atomic():
        worlds = _prepare(
            centers=centers, append=append, password=password, moment=limit, seed=seed
        )
        summary.centers = [w.center.code for w in worlds]
        split_rng = random.Random(f"{seed}-split")
        per_center = _split(reports, [len(w.observers) for w in worlds], split_rng)
        per_day = [_split(n, [1.0] * len(span), split_rng) for n in per_center]
        first = min(w.day_start(span[0]) for w in worlds)
        last = max(w.day_start(span[-1]) for w in worlds) + timedelta(days=1)
        slots = _Slots([c for w in worlds for c in w.checkpoints], first, last)
        writer = _BulkWriter(worlds, summary)
        if connection.vendor == "sqlite":
            # A larger page cache for this connection: the report table's dozen indexes
            # are updated at random places, and re-reading their pages costs more than RAM.
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        log(
            f"Writing {reports:,} reports for {', '.join(summary.centers)} over {span[0]} to "
            f"{span[-1]} ({len(span)} days), batches of {batch_size:,}..."
        )
        step = max(1, reports // 20)
        next_mark = step
        for d, day in enumerate(span):
            for world, counts in zip(worlds, per_day, strict=True):
                if counts[d]:
                    writer.pending += _bulk_day(
                        world, day, counts[d], day == span[-1], slots, limit
                    )
            if len(writer.pending) >= batch_size or d == len(span) - 1:
                writer.flush()
                while writer.written >= next_mark or writer.written == reports:
                    log(
                        f"  reports {writer.written:,}/{reports:,} "
                        f"({100 * writer.written // reports}%) "
                        f"{time.monotonic() - started:.0f} s"
                    )
                    if writer.written == reports:
                        break
                    next_mark = (writer.written // step + 1) * step
        writer.save_counters()
    summary.seconds = time.monotonic() - started
    log(f"  {reports / max(summary.seconds, 1e-9):,.0f} reports/s")
    return summary

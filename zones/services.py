"""Every write to zones, their terms and lines, areas, posts and settlements.

Each function is keyword-only, runs in one transaction, validates (``full_clean`` plus
the database constraints) and writes an audit entry naming ``actor`` (see
``monitoring.services.record_save``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from monitoring.services import Actor, record_save

from .choices import SecurityAreaDerivation, ZoneStatus, ZoneTermKind
from .geometry import border_band, parse_multipolygon, to_geojson
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
from .signals import classification_changed

SYRIA_TZ = ZoneInfo("Asia/Damascus")  # the memoranda's clock


def _geometry_changed() -> None:
    """Tell this process's classifier (and, through the version row, the others).

    At once, so that later reads in the same transaction (a post's location check after
    its zone's lines were saved) see the change, and again on commit, in case another
    thread reloaded the committed state in between.
    """
    from . import classifier

    classifier.invalidate()
    transaction.on_commit(classifier.invalidate)


def _classification_changed(since: datetime | None = None) -> None:
    """The classifier's answers changed (from ``since`` on): tell this process's index and
    whoever keeps records classified by it (:mod:`zones.signals`)."""
    _geometry_changed()
    classification_changed.send(sender=Zone, since=since)


def zone_save(*, zone: Zone, actor: Actor, comment: str = "") -> Zone:
    with transaction.atomic():
        zone, changed = record_save(instance=zone, actor=actor, comment=comment)
        if changed:  # the classifier holds effective_from (which zone governs an overlap)
            _classification_changed()
    return zone


def zone_boundary_add(
    *, zone: Zone, geometry: Any, valid_from: datetime, source: str = "", actor: Actor
) -> ZoneBoundary:
    """Add a new revision of the zone's lines, in force from ``valid_from``."""
    try:
        shape = parse_multipolygon(geometry)
    except ValidationError as exc:
        raise ValidationError({"geometry": exc.messages}) from exc
    with transaction.atomic():
        Zone.objects.select_for_update(no_key=True).filter(pk=zone.pk).first()
        latest = zone.boundaries.aggregate(n=Max("revision"))["n"] or 0
        boundary = ZoneBoundary(
            zone=zone,
            revision=latest + 1,
            geometry=to_geojson(shape),
            valid_from=valid_from,
            source=source,
        )
        boundary, _ = record_save(instance=boundary, actor=actor)
        _classification_changed(valid_from)
    return boundary


def zone_boundary_at(*, zone: Zone, moment: datetime) -> ZoneBoundary | None:
    return zone.boundaries.filter(valid_from__lte=moment).order_by("-valid_from").first()


def zone_term_add(
    *,
    zone: Zone,
    kind: str,
    starts_at: datetime,
    ends_at: datetime | None,
    note: str = "",
    actor: Actor,
) -> ZoneTerm:
    term = ZoneTerm(zone=zone, kind=kind, starts_at=starts_at, ends_at=ends_at, note=note)
    with transaction.atomic():
        term, _ = record_save(instance=term, actor=actor)
        _classification_changed(starts_at)  # "in force?" is answered from the terms
    return term


def zone_term_save(*, term: ZoneTerm, actor: Actor, comment: str = "") -> ZoneTerm:
    """Correct an existing term (its dates or note); new terms go through zone_term_add."""
    with transaction.atomic():
        term, changed = record_save(instance=term, actor=actor, comment=comment)
        if changed:
            _classification_changed()
    return term


def zone_suspension_save(
    *, suspension: ZoneSuspension, actor: Actor, comment: str = ""
) -> ZoneSuspension:
    """Record or correct a period in which a zone's ceasefire was suspended."""
    with transaction.atomic():
        suspension, changed = record_save(instance=suspension, actor=actor, comment=comment)
        if changed:  # the classifier answers "in force?" from suspensions too
            _classification_changed()
    return suspension


def zone_terms_extend(*, zone: Zone, until: datetime, actor: Actor) -> list[ZoneTerm]:
    """Add the automatic extensions a zone's agreement grants, up to the moment ``until``.

    Extensions follow the last term for the agreement's extension period, while the zone
    is active and its agreement extends automatically. Safe to run any number of times.
    """
    agreement = zone.agreement
    added: list[ZoneTerm] = []
    if not agreement.auto_extends or zone.status != ZoneStatus.ACTIVE:
        return added
    with transaction.atomic():
        Zone.objects.select_for_update(no_key=True).filter(pk=zone.pk).first()
        last = zone.terms.order_by("-starts_at").first()
        while last is not None and last.ends_at is not None and last.ends_at <= until:
            starts_at = last.ends_at
            # Months are counted on Damascus wall clocks: 6 May 00:00 to 6 Nov 00:00 local,
            # whatever daylight saving did in between.
            local_start = starts_at.astimezone(SYRIA_TZ)
            ends_at = (local_start + relativedelta(months=agreement.extension_months)).astimezone(
                UTC
            )
            last = zone_term_add(
                zone=zone,
                kind=ZoneTermKind.EXTENSION,
                starts_at=starts_at,
                ends_at=ends_at,
                note=f"Automatic extension under {agreement.code}",
                actor=actor,
            )
            added.append(last)
    return added


def zones_extend_all(*, until: datetime, actor: Actor) -> list[ZoneTerm]:
    """Bring every active zone's automatic extensions up to ``until`` (beat and ``seed``)."""
    added: list[ZoneTerm] = []
    for zone in Zone.objects.select_related("agreement").order_by("code"):
        added.extend(zone_terms_extend(zone=zone, until=until, actor=actor))
    return added


def security_area_save(*, area: SecurityArea, actor: Actor, comment: str = "") -> SecurityArea:
    """Save a security area; a buffered one gets its band from the zone's current border."""
    if area.derivation == SecurityAreaDerivation.BUFFERED:
        if not area.width_km or area.width_km <= 0:
            raise ValidationError({"width_km": "A derived security area needs a positive width."})
        boundary = zone_boundary_at(zone=area.zone, moment=area.valid_from)
        if boundary is None:
            raise ValidationError(
                {"valid_from": "The zone has no boundary in force at that moment to buffer."}
            )
        area.geometry = to_geojson(
            border_band(parse_multipolygon(boundary.geometry), area.width_km)
        )
    with transaction.atomic():
        area, changed = record_save(instance=area, actor=actor, comment=comment)
        if changed:
            _classification_changed()
    return area


def excluded_area_save(*, area: ExcludedArea, actor: Actor, comment: str = "") -> ExcludedArea:
    with transaction.atomic():
        area, changed = record_save(instance=area, actor=actor, comment=comment)
        if changed:
            _classification_changed()
    return area


def settlement_save(*, settlement: Settlement, actor: Actor, comment: str = "") -> Settlement:
    with transaction.atomic():
        settlement, changed = record_save(instance=settlement, actor=actor, comment=comment)
        if changed:
            _geometry_changed()
    return settlement


def post_location_errors(post: Post) -> dict[str, list[str]]:
    """A post must stand inside its zone or in one of the zone's security areas."""
    from .classifier import classify_point

    if post.zone_id is None or post.latitude is None or post.longitude is None:
        return {}
    result = classify_point(latitude=post.latitude, longitude=post.longitude)
    # Zones may overlap (the southwest zone covers the Astana southern zone): any zone
    # containing the point counts, not only the one that governs there.
    if post.zone_id in result.zone_ids or post.zone_id in result.security_area_zone_ids:
        return {}
    where = f"in {result.zone_code}" if result.zone_code else "outside every zone"
    return {
        "latitude": [
            f"The point ({post.latitude}, {post.longitude}) is {where}, not in "
            f"{post.zone} or its security area."
        ]
    }


def post_save(*, post: Post, actor: Actor, comment: str = "") -> Post:
    try:
        post.full_clean()
    except ValidationError:
        raise
    errors = post_location_errors(post)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        post, changed = record_save(instance=post, actor=actor, comment=comment)
        if changed:
            _geometry_changed()
    return post

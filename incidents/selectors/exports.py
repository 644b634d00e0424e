"""Reads of reports for the formats partner tools take: GeoJSON features and flat export rows
(CSV, HXL-tagged CSV).

Both read plain values (``QuerySet.values``) of the reports a caller may see, already
filtered and ordered by the API, so a row costs no model instance and no query of its own:
the GeoJSON page is one query, an export one query per chunk of :data:`EXPORT_CHUNK_SIZE`
rows (plus one for the convoys' organizations of that chunk when asked for).

Every exportable column is declared once in :data:`EXPORT_FIELDS`: its name (the CSV header
and the ``?fields=`` value), its HXL hashtag (the HXL 1.1 dictionary's hashtags and
attributes; ``#x_`` extension hashtags where the dictionary has none), what it holds, and
the values it is computed from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from ..choices import ReportKind
from ..models import ConvoyDetail, Report

# Rows read from the database at a time by an export (and organizations looked up per chunk).
EXPORT_CHUNK_SIZE = 2000

Row = dict[str, Any]
Extra = dict[str, Any]
DetailURL = Callable[[UUID], str]

KILLED = ("violation__civilians_killed_best", "violation__combatants_killed_best")
INJURED = ("violation__civilians_injured_best", "violation__combatants_injured_best")


def _total(row: Row, lookups: tuple[str, ...]) -> int | None:
    """The sum of best estimates; ``None`` for a report that is not a violation."""
    values = [row[lookup] for lookup in lookups]
    return None if any(value is None for value in values) else sum(values)


@dataclass(frozen=True)
class ExportField:
    """One column of an export: ``name`` (header and ``?fields=`` value), its HXL hashtag,
    a sentence for the docs and the schema, the ``values()`` lookups it reads, and how the
    cell is computed from a row (and the chunk's looked-up extras)."""

    name: str
    hxl: str
    description: str
    lookups: tuple[str, ...]
    compute: Callable[[Row, Extra], Any] | None = None
    #: a per-chunk lookup this column needs (see :func:`report_export_rows`)
    extra: str | None = None

    def value(self, row: Row, extra: Extra) -> Any:
        if self.compute is not None:
            return self.compute(row, extra)
        return row[self.lookups[0]]


def _field(name: str, hxl: str, description: str, lookup: str | None = None) -> ExportField:
    return ExportField(name, hxl, description, (lookup or name,))


EXPORT_FIELDS: tuple[ExportField, ...] = (
    # The record.
    _field("reference", "#meta +id", "Reference number, unique within the center."),
    ExportField(
        "uuid",
        "#meta +uuid",
        "Public identifier of the report (the API's lookup).",
        ("uuid",),
        lambda row, extra: str(row["uuid"]),
    ),
    ExportField(
        "url",
        "#meta +url",
        "The report in the API.",
        ("uuid",),
        lambda row, extra: extra["detail_url"](row["uuid"]),
    ),
    _field("kind", "#event +type", "violation, convoy or checkpoint."),
    _field("status", "#status", "Workflow status (verified, submitted, ...)."),
    # When.
    _field("occurred_at", "#date +occurred", "When it happened (ISO 8601, UTC)."),
    _field(
        "time_precision",
        "#meta +time_precision",
        "How exactly the time is known: exact, hour, part_of_day, day.",
    ),
    _field("reported_at", "#date +reported", "When the report was first saved (UTC)."),
    _field("updated_at", "#date +updated", "Last change (UTC)."),
    # Who.
    _field("center", "#org +center +code", "Monitoring center's code.", "center__code"),
    _field(
        "delegation",
        "#org +impl +code",
        "Delegation (party code) of the observer who filed it.",
        "delegation__code",
    ),
    _field("delegation_name", "#org +impl +name", "Delegation's name.", "delegation__name"),
    # Where.
    _field("zone", "#adm1 +code", "De-escalation zone's code (empty: outside).", "zone__code"),
    _field("zone_name", "#adm1 +name", "De-escalation zone's name.", "zone__name"),
    _field("settlement", "#loc +code", "Settlement's code.", "settlement__code"),
    _field("settlement_name", "#loc +name", "Settlement's name.", "settlement__name"),
    _field("post", "#loc +post +code", "Post it was observed from (code).", "post__code"),
    _field("latitude", "#geo +lat", "Degrees north (WGS 84)."),
    _field("longitude", "#geo +lon", "Degrees east (WGS 84)."),
    _field(
        "place_precision",
        "#geo +precision",
        "How exactly the place is known: exact, settlement, district, governorate.",
    ),
    _field(
        "zone_in_force",
        "#meta +zone_in_force",
        "The zone's ceasefire was in force then and there (true/false).",
    ),
    _field(
        "in_security_area",
        "#meta +in_security_area",
        "Inside a security area along a zone border (true/false).",
    ),
    _field(
        "in_excluded_area",
        "#meta +in_excluded_area",
        "Inside an area held by an excluded group (true/false).",
    ),
    # How it is known.
    _field("source", "#meta +source", "How the observer knows: seen, heard, camera, ..."),
    _field("confidence", "#meta +confidence", "low, medium or high."),
    _field("narrative", "#description", "The observer's account."),
    # Violations.
    _field(
        "category", "#event +category", "Violation category (shelling, ...).", "violation__category"
    ),
    _field(
        "alleged_perpetrator",
        "#org +perpetrator +code",
        "Party the violation is alleged against (code; empty: unknown).",
        "violation__alleged_perpetrator__code",
    ),
    _field(
        "affected_party",
        "#org +affected +code",
        "Party affected (code).",
        "violation__affected_party__code",
    ),
    _field("weapon", "#event +weapon", "Weapon observed.", "violation__weapon"),
    _field("events", "#event +num", "Explosions, bursts, ... counted.", "violation__events"),
    ExportField(
        "killed",
        "#affected +killed",
        "People killed, civilians and combatants (best estimates).",
        KILLED,
        lambda row, extra: _total(row, KILLED),
    ),
    ExportField(
        "injured",
        "#affected +injured",
        "People injured, civilians and combatants (best estimates).",
        INJURED,
        lambda row, extra: _total(row, INJURED),
    ),
    _field(
        "civilians_killed",
        "#affected +killed +civilians",
        "Civilians killed (best estimate).",
        "violation__civilians_killed_best",
    ),
    _field(
        "civilians_injured",
        "#affected +injured +civilians",
        "Civilians injured (best estimate).",
        "violation__civilians_injured_best",
    ),
    _field(
        "combatants_killed",
        "#affected +killed +combatants",
        "Combatants killed (best estimate).",
        "violation__combatants_killed_best",
    ),
    _field(
        "combatants_injured",
        "#affected +injured +combatants",
        "Combatants injured (best estimate).",
        "violation__combatants_injured_best",
    ),
    # Convoys.
    _field(
        "convoy_operation",
        "#delivery +type",
        "road_convoy, cross_line or airdrop.",
        "convoy__operation",
    ),
    _field("convoy_status", "#status +convoy", "Convoy's status.", "convoy__status"),
    ExportField(
        "convoy_organizations",
        "#org +convoy +code",
        "Organizations of the convoy (party codes, separated by ';').",
        ("id", "kind"),
        lambda row, extra: (
            ";".join(extra["organizations"].get(row["id"], ()))
            if row["kind"] == ReportKind.CONVOY
            else None
        ),
        extra="organizations",
    ),
    _field("convoy_vehicles", "#x_vehicles +num", "Vehicles.", "convoy__vehicle_count"),
    _field(
        "convoy_destination",
        "#loc +destination +code",
        "Destination settlement (code).",
        "convoy__destination__code",
    ),
    _field("convoy_beneficiaries", "#reached +ind", "People served.", "convoy__beneficiaries"),
    # Checkpoint shifts.
    _field(
        "checkpoint",
        "#loc +checkpoint +code",
        "Checkpoint (post code).",
        "checkpoint__checkpoint__code",
    ),
    _field(
        "checkpoint_status",
        "#status +checkpoint",
        "open, restricted or closed.",
        "checkpoint__status",
    ),
    _field("period_start", "#date +start", "Shift start (UTC).", "checkpoint__period_start"),
    _field("period_end", "#date +end", "Shift end (UTC).", "checkpoint__period_end"),
    _field(
        "civilians_in",
        "#x_crossings +civilians +in",
        "Civilians who crossed in.",
        "checkpoint__civilians_in",
    ),
    _field(
        "civilians_out",
        "#x_crossings +civilians +out",
        "Civilians who crossed out.",
        "checkpoint__civilians_out",
    ),
    _field(
        "vehicles_in",
        "#x_crossings +vehicles +in",
        "Vehicles that crossed in.",
        "checkpoint__vehicles_in",
    ),
    _field(
        "vehicles_out",
        "#x_crossings +vehicles +out",
        "Vehicles that crossed out.",
        "checkpoint__vehicles_out",
    ),
)
EXPORT_FIELDS_BY_NAME: dict[str, ExportField] = {f.name: f for f in EXPORT_FIELDS}


def _organizations(report_ids: Iterable[int]) -> dict[int, list[str]]:
    """The organizations' codes of each convoy among ``report_ids`` (one query)."""
    through = ConvoyDetail.organizations.through
    found: dict[int, list[str]] = {}
    rows = (
        through.objects.filter(convoydetail_id__in=list(report_ids))
        .order_by("convoydetail_id", "party__code")
        .values_list("convoydetail_id", "party__code")
    )
    for report_id, code in rows:
        found.setdefault(report_id, []).append(code)
    return found


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def report_export_rows(
    *,
    reports: QuerySet[Report],
    fields: Iterable[ExportField],
    detail_url: DetailURL,
    chunk_size: int | None = None,
) -> Iterator[list[Any]]:
    """The cells of ``fields`` for each of ``reports``, in the queryset's order, read from
    the database ``chunk_size`` rows at a time (a server-side cursor on PostgreSQL): memory
    stays flat however many rows there are."""
    fields = list(fields)
    chunk_size = chunk_size or EXPORT_CHUNK_SIZE
    lookups = list(dict.fromkeys(lookup for f in fields for lookup in f.lookups))
    rows = reports.prefetch_related(None).values(*lookups).iterator(chunk_size=chunk_size)
    wants = {f.extra for f in fields if f.extra}
    for chunk in _chunks(rows, chunk_size):
        extra: Extra = {"detail_url": detail_url}
        if "organizations" in wants:
            convoys = [row["id"] for row in chunk if row["kind"] == ReportKind.CONVOY]
            extra["organizations"] = _organizations(convoys) if convoys else {}
        for row in chunk:
            yield [f.value(row, extra) for f in fields]


# --- GeoJSON -------------------------------------------------------------------------------

GEOJSON_LOOKUPS = (
    "uuid",
    "reference",
    "kind",
    "status",
    "occurred_at",
    "latitude",
    "longitude",
    "zone__code",
    "center__code",
    "delegation__code",
    "settlement__code",
    "violation__category",
    *KILLED,
    *INJURED,
)


def report_geojson_values(reports: QuerySet[Report]) -> QuerySet:
    """The values a report's GeoJSON feature needs, as one query (joins, no prefetches)."""
    return reports.prefetch_related(None).values(*GEOJSON_LOOKUPS)


def report_feature(row: Row, *, detail_url: DetailURL) -> dict[str, Any]:
    """A GeoJSON Feature (RFC 7946: a Point at [longitude, latitude]) of one report's
    values, as :func:`report_geojson_values` reads them."""
    return {
        "type": "Feature",
        "id": str(row["uuid"]),
        "geometry": {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]},
        "properties": {
            "uuid": str(row["uuid"]),
            "reference": row["reference"],
            "kind": row["kind"],
            "status": row["status"],
            "occurred_at": row["occurred_at"],
            "zone": row["zone__code"],
            "center": row["center__code"],
            "delegation": row["delegation__code"],
            "settlement": row["settlement__code"],
            "category": row["violation__category"],
            "killed": _total(row, KILLED),
            "injured": _total(row, INJURED),
            "url": detail_url(row["uuid"]),
        },
    }

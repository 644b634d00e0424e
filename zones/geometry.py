"""GeoJSON parsing and validation with shapely, and small geodesy helpers.

Boundaries are stored as GeoJSON (longitude, latitude; WGS 84) in JSON columns and
checked here: well-formed, a (Multi)Polygon, rings that do not cross themselves, and
every coordinate inside Syria's bounding box. Errors are plain sentences that a form
or the API shows next to the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import shapely
from django.core.exceptions import ValidationError
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.validation import explain_validity

# Syria's bounding box with a small margin (degrees): lon 35.6-42.4, lat 32.3-37.4.
SYRIA_BBOX = (35.5, 32.2, 42.5, 37.5)  # min_lon, min_lat, max_lon, max_lat
EARTH_RADIUS_KM = 6371.0088
#: The most positions one boundary may hold (the seeded boundaries hold a few dozen).
MAX_POSITIONS = 100_000


def in_syria_bbox(lon: float, lat: float) -> bool:
    min_lon, min_lat, max_lon, max_lat = SYRIA_BBOX
    return min_lon <= lon <= max_lon and min_lat <= lat <= max_lat


def validate_point(*, latitude: Any, longitude: Any) -> dict[str, list[str]]:
    """Errors by field name for a latitude/longitude pair (empty when valid)."""
    errors: dict[str, list[str]] = {}
    values = {"latitude": latitude, "longitude": longitude}
    limits = {
        "latitude": (SYRIA_BBOX[1], SYRIA_BBOX[3]),
        "longitude": (SYRIA_BBOX[0], SYRIA_BBOX[2]),
    }
    for name, value in values.items():
        if value is None:
            continue
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float: far outside in any case
            number = math.inf
        except (TypeError, ValueError):
            errors[name] = [f"{name.capitalize()} must be a number of degrees."]
            continue
        low, high = limits[name]
        if not math.isfinite(number) or not low <= number <= high:
            shown = str(value) if len(str(value)) <= 24 else f"{number:g}"
            errors[name] = [
                f"{name.capitalize()} {shown} is outside Syria's bounding box "
                f"({low} to {high} degrees)."
            ]
    return errors


def parse_multipolygon(value: Any) -> MultiPolygon:
    """Parse GeoJSON (a dict, a JSON string, or a Feature) into a valid MultiPolygon.

    A Polygon is accepted and promoted to a MultiPolygon. Raises ValidationError with a
    message that says what is wrong.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        except RecursionError as exc:
            raise ValidationError("Not valid GeoJSON: the text is nested too deeply.") from exc
    if not isinstance(value, dict):
        raise ValidationError("Expected a GeoJSON object with a 'type' and 'coordinates'.")
    if value.get("type") == "Feature":
        value = value.get("geometry") or {}
        if not isinstance(value, dict):
            raise ValidationError("The Feature's geometry is not a GeoJSON object.")
    geometry_type = value.get("type")
    if not isinstance(geometry_type, str) or geometry_type not in {"Polygon", "MultiPolygon"}:
        shown = geometry_type if isinstance(geometry_type, str) else None
        raise ValidationError(
            f"Expected a GeoJSON Polygon or MultiPolygon, got {(shown or 'no type')[:40]!r}."
        )
    coordinates = value.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise ValidationError("The geometry has no coordinates.")
    _check_positions(coordinates, depth=3 if geometry_type == "Polygon" else 4)
    try:
        geometry = shape({"type": geometry_type, "coordinates": coordinates})
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException) as exc:
        raise ValidationError(f"Malformed coordinates: {exc}.") from exc
    if isinstance(geometry, Polygon):
        geometry = MultiPolygon([geometry])
    if geometry.is_empty:
        raise ValidationError("The geometry is empty.")
    for polygon in geometry.geoms:
        for ring in (polygon.exterior, *polygon.interiors):
            if len(ring.coords) < 4:
                raise ValidationError("Every ring needs at least four positions (closed).")
    if not shapely.is_valid(geometry):
        reason = explain_validity(geometry)
        if "Self-intersection" in reason or "Ring Self-intersection" in reason:
            raise ValidationError(f"A ring crosses itself ({reason}).")
        raise ValidationError(f"Invalid polygon: {reason}.")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not all(math.isfinite(v) for v in geometry.bounds):
        raise ValidationError("Coordinates must be finite numbers.")
    if not (in_syria_bbox(min_lon, min_lat) and in_syria_bbox(max_lon, max_lat)):
        raise ValidationError(
            "Coordinates fall outside Syria's bounding box "
            f"(longitude {SYRIA_BBOX[0]} to {SYRIA_BBOX[2]}, latitude {SYRIA_BBOX[1]} to "
            f"{SYRIA_BBOX[3]}); GeoJSON lists longitude first."
        )
    return geometry


def _check_positions(coordinates: list, *, depth: int) -> None:
    """Check the nesting of GeoJSON coordinates (``depth`` levels of lists down to the
    numbers: 3 for a Polygon, 4 for a MultiPolygon) and that every position is two or three
    finite numbers, without recursion and with at most MAX_POSITIONS positions."""
    level: list = [coordinates]
    for _ in range(depth - 1):  # down to the positions, one level of lists at a time
        below: list = []
        for item in level:
            if not isinstance(item, list):
                raise ValidationError("Malformed coordinates: lists are not nested as GeoJSON.")
            below.extend(item)
            if len(below) > MAX_POSITIONS:
                raise ValidationError(f"Too many positions (at most {MAX_POSITIONS}).")
        level = below
    for position in level:
        if not isinstance(position, list) or len(position) not in (2, 3):
            raise ValidationError("Malformed coordinates: every position is [longitude, latitude].")
        for number in position:
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValidationError("Malformed coordinates: positions hold numbers only.")
            try:
                finite = math.isfinite(number)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise ValidationError("Coordinates must be finite numbers.")


def validate_multipolygon(value: Any) -> None:
    """Model-field validator: raises ValidationError for anything parse_multipolygon refuses."""
    parse_multipolygon(value)


def to_geojson(geometry) -> dict[str, Any]:
    return json.loads(json.dumps(mapping(geometry)))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def border_band(geometry: MultiPolygon, width_km: float) -> MultiPolygon:
    """The band of ``width_km`` centred on the border of ``geometry`` (a security area).

    Buffered in a local equirectangular projection (km), so the width is the same across
    and along the border.
    """
    if width_km <= 0:
        raise ValidationError("The width must be a positive number of kilometres.")
    origin_lat = (geometry.bounds[1] + geometry.bounds[3]) / 2
    k_lat = math.pi * EARTH_RADIUS_KM / 180.0
    scale = np.array([k_lat * math.cos(math.radians(origin_lat)), k_lat])
    projected = shapely.transform(geometry, lambda coords: coords * scale)
    band = projected.boundary.buffer(width_km / 2.0, quad_segs=4)
    result = shapely.transform(band, lambda coords: coords / scale)
    if isinstance(result, Polygon):
        result = MultiPolygon([result])
    return result

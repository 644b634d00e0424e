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
        except (TypeError, ValueError):
            errors[name] = [f"{name.capitalize()} must be a number of degrees."]
            continue
        low, high = limits[name]
        if not math.isfinite(number) or not low <= number <= high:
            errors[name] = [
                f"{name.capitalize()} {value} is outside Syria's bounding box "
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
    if not isinstance(value, dict):
        raise ValidationError("Expected a GeoJSON object with a 'type' and 'coordinates'.")
    if value.get("type") == "Feature":
        value = value.get("geometry") or {}
    geometry_type = value.get("type")
    if geometry_type not in {"Polygon", "MultiPolygon"}:
        raise ValidationError(
            f"Expected a GeoJSON Polygon or MultiPolygon, got {geometry_type or 'no type'!r}."
        )
    coordinates = value.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise ValidationError("The geometry has no coordinates.")
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

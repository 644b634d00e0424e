"""Admin form pieces for geometry kept as GeoJSON in JSON columns.

``GeoJSONField`` parses and checks the text with :func:`zones.geometry.parse_multipolygon`
(so the admin shows the same sentence the services raise, next to the field) and stores a
normalised MultiPolygon. ``GeoJSONWidget`` shows a Leaflet map of the shape beside the
editable text; with Leaflet.draw (shipped by django-leaflet) the shape can be drawn and
edited on the map, and the text follows. ``point_picker`` renders a map under a
latitude/longitude pair. The JavaScript lives in ``static/js/geojson-widget.js`` (no
inline script); data travels in ``json_script`` elements.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from django.utils.html import format_html, json_script

from .geometry import parse_multipolygon, to_geojson

MAP_CSS = (
    "leaflet/leaflet.css",
    "leaflet/draw/leaflet.draw.css",
    "css/admin-maps.css",
)
MAP_JS = (
    "leaflet/leaflet.js",
    "leaflet/draw/leaflet.draw.js",
    "js/syria-backdrop.js",
    "js/map.js",
    "js/geojson-widget.js",
)


def format_geojson(value: Any) -> str:
    """GeoJSON as text a person can edit: one ring per line, not one number per line."""
    if not isinstance(value, dict):
        return json.dumps(value)
    coordinates = value.get("coordinates")
    kind = value.get("type")
    if (
        not isinstance(kind, str)
        or kind not in {"Polygon", "MultiPolygon"}
        or not isinstance(coordinates, list)
        or (kind == "MultiPolygon" and not all(isinstance(p, list) for p in coordinates))
    ):
        return json.dumps(value, indent=2)
    if value["type"] == "Polygon":
        body = ",\n".join(f" {json.dumps(ring)}" for ring in coordinates)
    else:
        body = ",\n".join(
            " [\n" + ",\n".join(f"  {json.dumps(ring)}" for ring in polygon) + "\n ]"
            for polygon in coordinates
        )
    return f'{{"type": "{value["type"]}", "coordinates": [\n{body}\n]}}'


class GeoJSONWidget(forms.Textarea):
    """A Leaflet map of a (Multi)Polygon beside its GeoJSON text, drawable when editable."""

    def __init__(
        self,
        attrs: dict[str, Any] | None = None,
        *,
        editable: bool = True,
        context: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        defaults = {"rows": 10, "cols": 80, "spellcheck": "false", "class": "geojson-text"}
        super().__init__({**defaults, **(attrs or {})})
        self.editable = editable
        self.context = context

    @property
    def media(self) -> forms.Media:
        return forms.Media(css={"all": MAP_CSS}, js=MAP_JS)

    def render(self, name, value, attrs=None, renderer=None) -> str:
        textarea = super().render(name, value, attrs, renderer)
        return format_html(
            '<div class="geojson-widget" data-geojson-widget data-editable="{}">'
            '<div class="geojson-widget__map" role="application" '
            'aria-label="Map of the shape in the text below"></div>'
            '<p class="geojson-widget__status" aria-live="polite"></p>'
            '<details class="geojson-widget__source"{}>'
            "<summary>GeoJSON text (longitude, latitude)</summary>{}</details>{}</div>",
            "true" if self.editable else "false",
            " open" if not self.editable or not value else "",
            textarea,
            _context_data(self.context() if self.context else None),
        )


class GeoJSONField(forms.JSONField):
    """A GeoJSON Polygon or MultiPolygon, checked with shapely, stored as a MultiPolygon."""

    widget = GeoJSONWidget
    default_error_messages = {"invalid": "Enter a GeoJSON Polygon or MultiPolygon."}

    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        try:
            shape = parse_multipolygon(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages, code="invalid") from exc
        return to_geojson(shape)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, InvalidJSONInput):
            return value
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (json.JSONDecodeError, RecursionError):
                return value
        if value is None:
            return ""
        return format_geojson(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # nested deeper than json.loads goes: shown again as typed
            return InvalidJSONInput(data)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            new = self.to_python(data)
        except ValidationError:
            return True
        if initial in (None, "") or new is None:
            return bool(initial) != bool(new)
        try:
            old = to_geojson(parse_multipolygon(initial))
        except ValidationError:
            return True
        return json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True)


def _context_data(context: dict[str, Any] | None) -> str:
    """Features drawn faintly behind a widget's own shape (other zones, security areas)."""
    if not context:
        return ""
    return format_html('<div data-role="context" hidden>{}</div>', json_script(context))


def geometry_preview(value: Any) -> str:
    """A read-only map of stored geometry (for revisions that are kept, never edited)."""
    if not value:
        return "-"
    return format_html(
        '<div class="geojson-widget geojson-widget--readonly" data-geojson-widget '
        'data-editable="false"><div class="geojson-widget__map geojson-widget__map--small" '
        'role="img" aria-label="Map of the stored lines"></div>'
        '<div data-role="shape" hidden>{}</div></div>',
        json_script(value),
    )


def point_picker(
    *,
    context: dict[str, Any] | None = None,
    latitude: str = "id_latitude",
    longitude: str = "id_longitude",
) -> str:
    """A map under a latitude/longitude pair: click or drag the marker to set them.

    ``context`` (a GeoJSON FeatureCollection, e.g. the zones) is drawn faintly behind, so
    the administrator sees whether a post stands inside its zone.
    """
    return format_html(
        '<div class="point-picker" data-point-picker data-latitude-input="{}" '
        'data-longitude-input="{}"><div class="point-picker__map" role="application" '
        'aria-label="Map: click to set the location"></div>'
        '<p class="geojson-widget__status">Click the map or drag the marker to set the '
        "latitude and longitude.</p>{}</div>",
        latitude,
        longitude,
        _context_data(context),
    )


class PointPickerMedia:
    """Media for admin pages that use :func:`point_picker`."""

    css = {"all": MAP_CSS}
    js = MAP_JS

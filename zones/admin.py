"""Django admin for zones, their terms, suspensions and lines, the security and excluded
areas, posts and settlements, with the geometry on a map (``zones.widgets``).

Every save goes through ``zones.services`` (see ``monitoring.admin.AuditedModelAdmin``):
validated like any write, audited with the administrator's name, never deleted.
Boundary revisions are kept as they were: the admin adds new revisions, it does not
rewrite old ones.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from monitoring.admin import AuditedInlineMixin, AuditedModelAdmin
from monitoring.choices import PartyKind
from monitoring.services import record_save

from .choices import ZoneTermKind
from .fields import MultiPolygonField
from .forms import (
    PostAdminForm,
    SecurityAreaAdminForm,
    ZoneAdminForm,
    ZoneBoundaryAddFormSet,
    ZoneTermFormSet,
)
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
from .selectors import (
    boundary_in_force,
    security_areas_geojson,
    zone_in_force,
    zone_list,
    zones_geojson,
)
from .services import (
    excluded_area_save,
    post_save,
    security_area_save,
    settlement_save,
    zone_boundary_add,
    zone_save,
    zone_suspension_save,
    zone_term_add,
    zone_term_save,
)
from .widgets import MAP_CSS, MAP_JS, GeoJSONField, GeoJSONWidget, geometry_preview, point_picker


def _map_context() -> dict[str, Any]:
    """Zones and security areas in force now, drawn faintly behind a widget's shape."""
    zones = zones_geojson()
    areas = security_areas_geojson()
    features = [
        {**f, "properties": {**f["properties"], "layer": "zone"}}
        for f in zones["features"]
        if f["geometry"]
    ] + [
        {**f, "properties": {**f["properties"], "layer": "security_area"}}
        for f in areas["features"]
    ]
    return {"type": "FeatureCollection", "features": features}


GEOMETRY_OVERRIDES = {
    MultiPolygonField: {"form_class": GeoJSONField, "widget": GeoJSONWidget(context=_map_context)}
}


class PointMapMixin:
    """A map under the latitude and longitude fields, with the zones behind."""

    class Media:
        css = {"all": MAP_CSS}
        js = MAP_JS

    @admin.display(description="On the map")
    def location_map(self, obj) -> str:
        return point_picker(context=_map_context())


class ZoneTermInline(AuditedInlineMixin, admin.TabularInline):
    model = ZoneTerm
    formset = ZoneTermFormSet
    fields = ["kind", "starts_at", "ends_at", "note"]
    verbose_name = "term or extension"
    verbose_name_plural = "Term and extensions (empty end = open-ended)"


class ZoneSuspensionInline(AuditedInlineMixin, admin.TabularInline):
    model = ZoneSuspension
    fields = ["starts_at", "ends_at", "reason"]
    verbose_name_plural = "Suspensions (empty end = ongoing)"


class ZoneBoundaryHistoryInline(AuditedInlineMixin, admin.StackedInline):
    """The revisions on record, read-only: lines in force at a past moment stay as they were."""

    model = ZoneBoundary
    fields = ["revision", "valid_from", "source", "lines"]
    readonly_fields = fields
    verbose_name = "boundary revision"
    verbose_name_plural = "Boundary revisions on record"

    def has_add_permission(self, request, *args: Any) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Lines")
    def lines(self, obj: ZoneBoundary) -> str:
        return geometry_preview(obj.geometry)


class ZoneBoundaryAddInline(AuditedInlineMixin, admin.StackedInline):
    """A new revision of the zone's lines, in force from its date; numbered when saved."""

    model = ZoneBoundary
    formset = ZoneBoundaryAddFormSet
    fields = ["valid_from", "source", "geometry"]
    formfield_overrides = GEOMETRY_OVERRIDES
    verbose_name = "new boundary revision"
    verbose_name_plural = "New boundary revision"

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    def get_extra(self, request, obj=None, **kwargs) -> int:
        return 1 if obj is None else 0


@admin.register(Zone)
class ZoneAdmin(AuditedModelAdmin):
    form = ZoneAdminForm
    list_display = [
        "name",
        "code",
        "status",
        "in_force_now",
        "agreement",
        "effective_from",
        "lines_in_force",
    ]
    list_filter = ["status", "agreement"]
    search_fields = ["name", "code"]
    fieldsets = [
        (
            None,
            {"fields": ["code", "name", "status", "agreement", "effective_from", "flights_banned"]},
        ),
        ("Where", {"fields": ["governorates", "boundary_note", "description"]}),
    ]
    inlines = [
        ZoneTermInline,
        ZoneSuspensionInline,
        ZoneBoundaryHistoryInline,
        ZoneBoundaryAddInline,
    ]

    def get_queryset(self, request):
        return zone_list()

    def view_on_site(self, obj: Zone) -> str:
        return reverse("zones:detail", args=[obj.code])

    @admin.display(description="In force now", boolean=True)
    def in_force_now(self, obj: Zone) -> bool:
        return zone_in_force(obj)

    @admin.display(description="Lines")
    def lines_in_force(self, obj: Zone) -> str:
        boundary = boundary_in_force(obj, timezone.now())
        return f"r{boundary.revision}" if boundary else "none"

    def service_save(self, *, request, obj, form, m2m) -> None:
        zone_save(zone=obj, actor=request.user)

    def save_inline(self, *, request, obj, parent):
        if isinstance(obj, ZoneBoundary):
            return zone_boundary_add(
                zone=parent,
                geometry=obj.geometry,
                valid_from=obj.valid_from,
                source=obj.source,
                actor=request.user,
            )
        if isinstance(obj, ZoneTerm) and obj.pk is None:
            return zone_term_add(
                zone=parent,
                kind=obj.kind or ZoneTermKind.INITIAL,
                starts_at=obj.starts_at,
                ends_at=obj.ends_at,
                note=obj.note,
                actor=request.user,
            )
        if isinstance(obj, ZoneTerm):
            return zone_term_save(term=obj, actor=request.user)
        if isinstance(obj, ZoneSuspension):
            return zone_suspension_save(suspension=obj, actor=request.user)
        record_save(instance=obj, actor=request.user)
        return obj


@admin.register(SecurityArea)
class SecurityAreaAdmin(AuditedModelAdmin):
    form = SecurityAreaAdminForm
    formfield_overrides = GEOMETRY_OVERRIDES
    list_display = ["name", "code", "zone", "derivation", "width_km", "valid_from", "valid_until"]
    list_filter = ["zone", "derivation"]
    list_select_related = ["zone"]
    search_fields = ["name", "code"]
    fieldsets = [
        (None, {"fields": ["code", "name", "zone", "valid_from", "valid_until"]}),
        ("Lines", {"fields": ["derivation", "width_km", "geometry"]}),
    ]

    def service_save(self, *, request, obj, form, m2m) -> None:
        security_area_save(area=obj, actor=request.user)


@admin.register(ExcludedArea)
class ExcludedAreaAdmin(AuditedModelAdmin):
    formfield_overrides = GEOMETRY_OVERRIDES
    list_display = ["name", "code", "group", "registered_on", "valid_from", "valid_until"]
    list_filter = ["group"]
    list_select_related = ["group"]
    search_fields = ["name", "code"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code",
                    "name",
                    "group",
                    "registered_on",
                    "valid_from",
                    "valid_until",
                    "source",
                ]
            },
        ),
        ("Lines", {"fields": ["geometry"]}),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "group":
            kwargs["queryset"] = db_field.related_model.objects.filter(
                kind=PartyKind.EXCLUDED_GROUP
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, *, request, obj, form, m2m) -> None:
        excluded_area_save(area=obj, actor=request.user)


@admin.register(Post)
class PostAdmin(PointMapMixin, AuditedModelAdmin):
    form = PostAdminForm
    list_display = ["name", "code", "kind", "zone", "status", "operating_party", "opened_on"]
    list_filter = ["kind", "status", "zone", "operating_party"]
    list_select_related = ["zone", "operating_party"]
    search_fields = ["name", "code"]
    readonly_fields = ["location_map"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code",
                    "name",
                    "kind",
                    "zone",
                    "operating_party",
                    "status",
                    "opened_on",
                    "closed_on",
                ]
            },
        ),
        (
            "Location",
            {
                "fields": ["latitude", "longitude", "location_map"],
                "description": "A post stands inside its zone or in the zone's security area.",
            },
        ),
        (
            "Checkpoint purposes",
            {
                "fields": ["serves_civilians", "serves_humanitarian", "serves_economic"],
                "description": "Only checkpoints serve civilians, aid or economic activity.",
            },
        ),
        ("Notes", {"fields": ["notes"]}),
    ]

    def service_save(self, *, request, obj, form, m2m) -> None:
        post_save(post=obj, actor=request.user)


@admin.register(Settlement)
class SettlementAdmin(PointMapMixin, AuditedModelAdmin):
    list_display = [
        "name",
        "code",
        "governorate",
        "population",
        "controlling_party",
        "reconciliation_status",
        "reconciled_on",
    ]
    list_filter = ["governorate", "reconciliation_status", "controlling_party"]
    list_select_related = ["controlling_party"]
    search_fields = ["name", "name_ar", "code"]
    readonly_fields = ["location_map"]
    fieldsets = [
        (None, {"fields": ["code", "name", "name_ar", "governorate", "district", "population"]}),
        ("Location", {"fields": ["latitude", "longitude", "location_map"]}),
        ("Control", {"fields": ["controlling_party", "reconciliation_status", "reconciled_on"]}),
    ]

    def service_save(self, *, request, obj, form, m2m) -> None:
        settlement_save(settlement=obj, actor=request.user)

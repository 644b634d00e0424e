"""Django admin for the monitoring center's reference data, and the rules every admin
page of the project follows (``AuditedModelAdmin``):

- only administrators reach it: active staff users who are superusers or hold an active
  administrator profile; observers, coordinators and partners are refused;
- every save goes through the services (``record_save`` and the per-model services), so
  each admin edit is validated like any other write and leaves an audit entry naming the
  user, with the source "admin" (set by ``AuditSourceMiddleware``);
- nothing is deleted: deletion is not offered anywhere, records are kept and deactivated.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import models
from django.utils.html import format_html, format_html_join

from .choices import ObserverRole
from .forms import ObserverAdminForm, ServiceValidatedForm
from .models import (
    Agreement,
    AgreementSignatory,
    AuditEntry,
    MonitoringCenter,
    Observer,
    Party,
)
from .permissions import user_has_role
from .services import observer_save, record_save

admin.site.site_header = "ceasefire-monitor administration"
admin.site.site_title = "ceasefire-monitor admin"
admin.site.index_title = "Reference data"
admin.site.site_url = "/"


def may_administer(user) -> bool:
    """Active staff who are superusers or hold an active administrator profile."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return user.is_superuser or user_has_role(user, {ObserverRole.ADMINISTRATOR})


class AdministratorsOnlyMixin:
    """Administrators may view, add and change; nobody deletes (nothing is ever lost)."""

    def has_module_permission(self, request) -> bool:
        return may_administer(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return may_administer(request.user)

    def has_add_permission(self, request, *args: Any) -> bool:
        return may_administer(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return may_administer(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AuditedInlineMixin(AdministratorsOnlyMixin):
    extra = 0
    can_delete = False


class AuditedModelAdmin(AdministratorsOnlyMixin, admin.ModelAdmin):
    """Saves through the services, inline rows included; one audit entry per change."""

    form = ServiceValidatedForm
    save_on_top = False

    def save_model(self, request, obj, form, change) -> None:
        m2m = {
            field.name: form.cleaned_data[field.name]
            for field in obj._meta.many_to_many
            if field.name in form.cleaned_data
        }
        self.service_save(request=request, obj=obj, form=form, m2m=m2m)

    def service_save(self, *, request, obj, form, m2m) -> None:
        record_save(instance=obj, actor=request.user, m2m=m2m)

    def save_related(self, request, form, formsets, change) -> None:
        # Many-to-many values were saved (and audited) with the object by service_save.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change) -> None:
        # commit=False fills formset.new_objects / changed_objects for the change message.
        for obj in formset.save(commit=False):
            saved = self.save_inline(request=request, obj=obj, parent=form.instance)
            if saved is not None and saved is not obj:
                formset.new_objects = [saved if o is obj else o for o in formset.new_objects]
        formset.save_m2m()

    def save_inline(self, *, request, obj, parent) -> models.Model | None:
        record_save(instance=obj, actor=request.user)
        return obj


class AgreementSignatoryInline(AuditedInlineMixin, admin.TabularInline):
    model = AgreementSignatory
    fields = ["party", "role"]
    autocomplete_fields = ["party"]


@admin.register(Party)
class PartyAdmin(AuditedModelAdmin):
    list_display = ["name", "short_name", "code", "kind", "country_code", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "short_name", "code"]
    fields = ["code", "name", "short_name", "kind", "country_code", "description", "is_active"]


@admin.register(Agreement)
class AgreementAdmin(AuditedModelAdmin):
    list_display = [
        "title",
        "code",
        "signed_on",
        "in_force_from",
        "initial_term_months",
        "auto_extends",
    ]
    search_fields = ["title", "code"]
    date_hierarchy = "signed_on"
    inlines = [AgreementSignatoryInline]
    fieldsets = [
        (None, {"fields": ["code", "title", "signed_on", "signed_at_place", "in_force_from"]}),
        ("Term", {"fields": ["initial_term_months", "auto_extends", "extension_months"]}),
        ("Text", {"fields": ["summary", "source"]}),
    ]


@admin.register(MonitoringCenter)
class MonitoringCenterAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "location", "agreement", "time_zone", "reporting_day_cutoff"]
    list_select_related = ["agreement"]
    search_fields = ["name", "code"]
    filter_horizontal = ["member_parties", "zones"]
    fields = [
        "code",
        "name",
        "location",
        "agreement",
        "member_parties",
        "zones",
        "time_zone",
        "reporting_day_cutoff",
        "description",
    ]


@admin.register(Observer)
class ObserverAdmin(AuditedModelAdmin):
    form = ObserverAdminForm
    list_display = ["user", "role", "delegation", "center", "is_active"]
    list_filter = ["role", "center", "delegation", "is_active"]
    list_select_related = ["user", "delegation", "center"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    filter_horizontal = ["assigned_zones"]
    fields = ["user", "role", "delegation", "center", "assigned_zones", "is_active"]

    def service_save(self, *, request, obj, form, m2m) -> None:
        observer_save(
            observer=obj, assigned_zones=m2m.get("assigned_zones", ()), actor=request.user
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(AdministratorsOnlyMixin, admin.ModelAdmin):
    """The audit log: read-only, for everyone who reaches the admin (chain fields included:
    ``manage.py audit_verify`` checks them)."""

    list_display = ["at", "actor_label", "source", "action", "content_type", "object_repr"]
    list_filter = ["source", "action", "content_type"]
    search_fields = ["object_repr", "actor_label", "object_pk", "comment"]
    date_hierarchy = "at"
    list_select_related = ["content_type"]
    fields = [
        "at",
        "actor_label",
        "actor",
        "source",
        "action",
        "content_type",
        "object_pk",
        "object_repr",
        "changes_table",
        "comment",
        "chain_seq",
        "prev_sha256",
        "sha256",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, *args: Any) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Changes (before → after)")
    def changes_table(self, obj: AuditEntry) -> str:
        rows = [
            (
                field,
                json.dumps(values[0], ensure_ascii=False)[:300],
                json.dumps(values[1], ensure_ascii=False)[:300],
            )
            if isinstance(values, list) and len(values) == 2
            else (field, "", json.dumps(values, ensure_ascii=False)[:300])
            for field, values in sorted((obj.changes or {}).items())
        ]
        if not rows:
            return "-"
        return format_html(
            "<table><thead><tr><th>Field</th><th>Before</th><th>After</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            format_html_join(
                "", "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>", rows
            ),
        )


# Accounts: the stock admin pages, for administrators only and without deletion.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AccountAdmin(AdministratorsOnlyMixin, UserAdmin):
    pass


@admin.register(Group)
class AccountGroupAdmin(AdministratorsOnlyMixin, GroupAdmin):
    pass


from . import admin_sync  # noqa: E402, F401 - the sync copies' read-only pages

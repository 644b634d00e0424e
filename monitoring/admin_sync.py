"""Django admin for the copies ``manage.py sync_from`` keeps of other instances (read-only:
only the sync client writes them, docs/sync-client.md). Imported by monitoring/admin.py."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.utils.html import format_html

from .admin import AdministratorsOnlyMixin
from .models import SyncedRecord, SyncSource


class ReadOnlyAdmin(AdministratorsOnlyMixin, admin.ModelAdmin):
    """Administrators look; nobody adds, changes or deletes here."""

    def has_add_permission(self, request, *args: Any) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncSource)
class SyncSourceAdmin(ReadOnlyAdmin):
    list_display = [
        "base_url",
        "cursor",
        "copies",
        "last_sync_at",
        "records_applied",
        "tombstones_applied",
    ]
    search_fields = ["base_url"]
    fields = ["base_url", "cursor", "last_sync_at", "records_applied", "tombstones_applied"]
    readonly_fields = fields

    def get_queryset(self, request) -> QuerySet[SyncSource]:
        return super().get_queryset(request).annotate(copy_count=Count("records"))

    @admin.display(description="Copies kept", ordering="copy_count")
    def copies(self, obj: SyncSource) -> int:
        return obj.copy_count


@admin.register(SyncedRecord)
class SyncedRecordAdmin(ReadOnlyAdmin):
    list_display = ["record_type", "record_key", "source", "seq", "synced_at"]
    list_filter = ["record_type", "source"]
    list_select_related = ["source"]
    search_fields = ["record_key"]
    date_hierarchy = "synced_at"
    fields = ["source", "record_type", "record_key", "seq", "synced_at", "data_pretty"]
    readonly_fields = fields

    @admin.display(description="Data (as the source's feed gave it)")
    def data_pretty(self, obj: SyncedRecord) -> str:
        text = json.dumps(obj.data, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html("<pre>{}</pre>", text[:20000])

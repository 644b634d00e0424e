"""Give every record that existed before the change feed its row in it, so that a partner's
first full read from ``after=0`` gets them all (numbered on that first read)."""

from django.conf import settings
from django.db import migrations
from django.db.models import Exists, OuterRef
from django.utils import timezone

REFERENCE = [
    ("monitoring", "Party", "party"),
    ("monitoring", "Agreement", "agreement"),
    ("monitoring", "MonitoringCenter", "center"),
    ("zones", "Zone", "zone"),
    ("zones", "SecurityArea", "security_area"),
    ("zones", "ExcludedArea", "excluded_area"),
    ("zones", "Post", "post"),
    ("zones", "Settlement", "settlement"),
]


def backfill(apps, schema_editor):
    Change = apps.get_model("monitoring", "Change")
    now = timezone.now()
    batch: list = []

    def add(record_type, key, center_id, shared):
        batch.append(
            Change(
                record_type=record_type,
                record_key=str(key),
                center_id=center_id,
                shared=shared,
                ever_shared=shared,
                changed_at=now,
            )
        )
        if len(batch) >= 5000:
            flush()

    def flush():
        Change.objects.bulk_create(batch, ignore_conflicts=True)
        batch.clear()

    for app_label, model_name, record_type in REFERENCE:
        for pk in apps.get_model(app_label, model_name).objects.values_list("pk", flat=True):
            add(record_type, pk, None, True)
    shared_statuses = set(settings.PARTNER_REPORT_STATUSES)
    reports = apps.get_model("incidents", "Report").objects.order_by("pk")
    for key, center_id, status in reports.values_list("uuid", "center_id", "status").iterator(
        chunk_size=5000
    ):
        add("report", key, center_id, status in shared_statuses)
    Version = apps.get_model("incidents", "SummaryVersion")
    summaries = apps.get_model("incidents", "DailySummary").objects.annotate(
        published=Exists(Version.objects.filter(summary=OuterRef("pk"), status="published"))
    )
    for pk, center_id, published in summaries.values_list("pk", "center_id", "published"):
        add("summary", pk, center_id, published)
    flush()


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0004_report_author_reported_index"),
        ("monitoring", "0005_change_feed"),
        ("zones", "0002_null_safe_checks"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

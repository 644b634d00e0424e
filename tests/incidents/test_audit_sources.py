"""Every entry point that writes a report leaves an audit entry naming the acting user (or
none, for the system) and where the change came from: web, API, admin, management command
and Celery task. The web and API cases are in the pages' and the API's tests too; here one
place shows all five side by side, with the reclassification after a change of zone lines
(a write each of admin, command and task makes) as the common case.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from incidents.choices import ReportStatus
from incidents.models import Report
from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole
from monitoring.models import AuditEntry
from monitoring.selectors import audit_entries_for
from tests.api_base import client_for
from tests.factories import REPORT_OCCURRED, ZoneTermFactory, report_file, square
from zones import classifier
from zones.services import zone_boundary_add

S = ReportStatus


@pytest.fixture
def people(zone, make_member):
    ZoneTermFactory(zone=zone)
    admin = make_member(ObserverRole.ADMINISTRATOR)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    return {
        "author": make_member(ObserverRole.OBSERVER),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "admin": admin,
    }


def move_the_lines_away(zone) -> None:
    """A new revision of the zone's lines, from before the report, leaving its point out."""
    zone_boundary_add(
        zone=zone,
        geometry=square(40.0, 35.0),
        valid_from=REPORT_OCCURRED - timedelta(days=1),
        source="Joint working group map, revised",
        actor=None,
    )
    classifier.invalidate()


def reclassified(report: Report) -> AuditEntry:
    report.refresh_from_db()
    assert report.zone_id is None and report.classified_zone_id is None
    assert report.revision == 4  # filed, submitted, verified, reclassified
    return audit_entries_for(report).get(action=AuditEntryAction.UPDATE)


def test_web_filing_is_audited_as_web(db, people, client):
    client.force_login(people["author"])
    report = report_file(people["author"])
    response = client.post(
        reverse("incidents:report_transition", kwargs={"uuid": report.uuid}),
        {"to_status": S.SUBMITTED, "revision": report.revision, "comment": ""},
    )
    assert response.status_code in (200, 302), response.content[:500]
    entry = audit_entries_for(report).get(action=AuditEntryAction.TRANSITION)
    assert (entry.source, entry.actor) == (AuditEntrySource.WEB, people["author"])


def test_api_filing_is_audited_as_api(db, people):
    report = report_file(people["author"])
    response = client_for(people["author"]).post(
        reverse("incidents-api:report-submit", kwargs={"uuid": report.uuid})
    )
    assert response.status_code == 200, response.content
    entry = audit_entries_for(report).get(action=AuditEntryAction.TRANSITION)
    assert (entry.source, entry.actor) == (AuditEntrySource.API, people["author"])


def test_services_called_directly_are_audited_as_system(db, people):
    report = report_file(people["author"])
    entry = audit_entries_for(report).get(action=AuditEntryAction.CREATE)
    assert (entry.source, entry.actor) == (AuditEntrySource.SYSTEM, people["author"])


def test_the_admin_reclassifies_audited_as_admin(db, people, zone, client):
    report = report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    assert report.zone == zone
    move_the_lines_away(zone)
    client.force_login(people["admin"])
    response = client.post(
        reverse("admin:incidents_report_changelist"),
        {"action": "reclassify", "_selected_action": [report.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 changed" in response.content.decode()
    entry = reclassified(report)
    assert (entry.source, entry.actor) == (AuditEntrySource.ADMIN, people["admin"])
    assert entry.changes["zone_id"][0] == zone.pk and entry.changes["zone_id"][1] is None
    # The administrator of another role set cannot: an observer is refused the admin.
    client.force_login(people["author"])
    refused = client.post(
        reverse("admin:incidents_report_changelist"),
        {"action": "reclassify", "_selected_action": [report.pk]},
    )
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]


def test_the_command_reclassifies_audited_as_command(db, people, zone, capsys):
    report = report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    move_the_lines_away(zone)
    call_command("reclassify_reports", "--since", "2017-06-01")
    out = capsys.readouterr().out
    assert "1 reports checked, 1 changed" in out
    entry = reclassified(report)
    assert (entry.source, entry.actor) == (AuditEntrySource.COMMAND, None)
    # Twice is safe: nothing more changes, no new entry.
    call_command("reclassify_reports")
    assert "0 changed" in capsys.readouterr().out
    assert audit_entries_for(report).filter(action=AuditEntryAction.UPDATE).count() == 1


def test_a_bad_since_is_a_clear_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--since"):
        call_command("reclassify_reports", "--since", "last tuesday")


def test_a_change_of_lines_queues_the_task_after_commit(
    db, people, zone, django_capture_on_commit_callbacks
):
    queue = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    before = set(queue.iterdir())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        move_the_lines_away(zone)
    assert callbacks, "nothing was queued on commit"
    new = [json.loads(path.read_text()) for path in set(queue.iterdir()) - before]
    tasks = [m["headers"]["task"] for m in new]
    assert "incidents.tasks.reports_reclassify" in tasks


@pytest.mark.celery
def test_a_real_worker_reclassifies_audited_as_task(celery_worker, people, zone):
    report = report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    move_the_lines_away(zone)
    celery_worker.send("incidents.tasks.reports_reclassify", since="2017-06-01T00:00:00+00:00")
    updates = AuditEntry.objects.filter(
        action=AuditEntryAction.UPDATE, object_pk=str(report.pk), content_type__model="report"
    )
    celery_worker.wait_for(updates.exists, what="the worker's reclassification")
    entry = reclassified(report)
    assert (entry.source, entry.actor) == (AuditEntrySource.TASK, None)
    assert "incidents.tasks.reports_reclassify" in celery_worker.log()

"""``manage.py demo_data``: plausible reports of every kind, through the services or in bulk."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from incidents.choices import ReportKind, ReportStatus
from incidents.models import (
    CASUALTY_GROUPS,
    CheckpointDetail,
    CorroborationLink,
    Report,
    ReportCounter,
    ReportTransition,
)
from incidents.selectors import corroboration_state
from incidents.services import report_create
from monitoring.choices import AuditEntryAction, AuditEntrySource
from monitoring.models import AuditEntry, Change, MonitoringCenter
from tests.factories import report_values

S = ReportStatus
pytestmark = pytest.mark.django_db

# A fixed past span, so the reports do not depend on today's date.
UNTIL = "2017-10-20"


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    settings.DEMO_PASSWORD = "demo-pass-for-tests"
    call_command("seed", stdout=StringIO())


def demo_data(*args: str) -> str:
    out = StringIO()
    call_command("demo_data", *args, stdout=out)
    return out.getvalue()


def _detail(report: Report):
    return getattr(report, report.kind)


def _check_valid(report: Report) -> None:
    """The report and its detail pass the models' own validation, child rows included."""
    report.full_clean()
    detail = _detail(report)
    detail.full_clean()
    if report.kind == ReportKind.VIOLATION:
        for group in CASUALTY_GROUPS:
            low, best, high = (getattr(detail, f"{group}_{e}") for e in ("low", "best", "high"))
            assert 0 <= low <= best <= high, (report.reference, group, low, best, high)
    elif report.kind == ReportKind.CONVOY:
        assert detail.organizations.exists()
        assert detail.cargo.exists()
        for row in [*detail.cargo.all(), *detail.stops.all(), *detail.stages.all()]:
            row.full_clean()
    else:
        assert detail.period_end - detail.period_start == timedelta(hours=8)
        for row in detail.incidents.all():
            row.full_clean()


def _overlaps(shifts) -> list[tuple[str, str]]:
    by_key = defaultdict(list)
    for shift in shifts:
        by_key[(shift.checkpoint_id, shift.report.delegation_id)].append(shift)
    clashes = []
    for rows in by_key.values():
        rows.sort(key=lambda s: s.period_start)
        for one, two in itertools.pairwise(rows):
            if two.period_start < one.period_end:
                clashes.append((one.report.reference, two.report.reference))
    return clashes


def test_normal_mode_files_every_kind_through_the_whole_workflow(seeded):
    output = demo_data("--days", "3", "--until", UNTIL)

    reports = list(
        Report.objects.select_related(
            "author", "center", "violation", "convoy", "checkpoint"
        ).order_by("pk")
    )
    assert len(reports) > 50
    assert {r.kind for r in reports} == set(ReportKind.values)
    assert {r.status for r in reports} == set(S.values)
    assert {r.center.code for r in reports} == {"AMC", "JWG", "RCR"}
    assert all(date(2017, 10, 17) <= r.occurred_at.date() <= date(2017, 10, 20) for r in reports)
    assert any(r.in_security_area for r in reports)
    assert any(r.in_excluded_area for r in reports)
    for report in reports:
        _check_valid(report)
        # Reported a little after the event, by an observer of one of the center's delegations.
        assert report.occurred_at < report.reported_at <= report.updated_at
        assert report.center.member_parties.filter(pk=report.delegation_id).exists()
        assert report.author.observer.role == "observer"
        assert report.reference.startswith(f"{report.center.code}-2017")

    # Reviews come later, from a coordinator of the center who is not the author.
    reviews = ReportTransition.objects.filter(
        to_status__in=(S.VERIFIED, S.DISPUTED, S.REJECTED, S.RETURNED)
    ).select_related("report", "actor__observer")
    assert reviews.exists()
    for review in reviews:
        assert review.actor.observer.role == "coordinator"
        assert review.actor_id != review.report.author_id
        assert review.actor.observer.center_id == review.report.center_id
        assert review.at > review.report.submitted_at
    # Returned reports were edited and resubmitted.
    resubmitted = ReportTransition.objects.filter(from_status=S.RETURNED, to_status=S.SUBMITTED)
    assert resubmitted.exists()
    assert AuditEntry.objects.filter(
        action=AuditEntryAction.UPDATE,
        object_pk__in=[str(t.report_id) for t in resubmitted],
        content_type__model="report",
    ).exists()

    assert _overlaps(CheckpointDetail.objects.select_related("report")) == []

    # Every step is audited, as a management command.
    entries = AuditEntry.objects.filter(content_type__model="report")
    assert set(entries.values_list("source", flat=True)) == {AuditEntrySource.COMMAND}
    created = entries.filter(action=AuditEntryAction.CREATE)
    assert created.count() == len(reports)
    assert entries.filter(action=AuditEntryAction.TRANSITION).count() == (
        ReportTransition.objects.count()
    )

    # Events seen by observers of two delegations, linked and verified on that.
    links = list(CorroborationLink.objects.select_related("report", "other"))
    assert links
    for center in ("JWG", "AMC"):
        joint = [
            link
            for link in links
            if link.report.center.code == center
            and corroboration_state(report=link.report).jointly_confirmed
        ]
        assert joint, f"no jointly confirmed event at {center}"
        assert all(link.report.delegation_id != link.other.delegation_id for link in joint)

    counts = Counter((r.kind, r.status) for r in reports)
    lines = output.splitlines()
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[-1] == f"{len(reports):,}"
    violation = next(line for line in lines if line.startswith("violation"))
    assert (
        violation.split()[-1] == f"{sum(n for (k, _), n in counts.items() if k == 'violation'):,}"
    )
    assert f"{len(reports):,} demo reports for AMC, JWG, RCR" in output


def test_a_second_run_is_refused_without_append(seeded):
    with pytest.raises(CommandError, match="Unknown center XYZ; known: AMC, JWG, RCR"):
        demo_data("--center", "XYZ")
    demo_data("--days", "1", "--until", UNTIL, "--center", "RCR")
    before = Report.objects.count()
    assert before > 0

    with pytest.raises(CommandError, match=r"RCR .*--append"):
        demo_data("--days", "1", "--until", UNTIL, "--center", "RCR")
    with pytest.raises(CommandError, match=r"RCR .*--append"):
        demo_data("--bulk", "--reports", "10", "--days", "2", "--until", UNTIL)
    assert Report.objects.count() == before

    # Another center is fine; --append adds to the first one.
    demo_data("--days", "1", "--until", UNTIL, "--center", "amc")
    after_amc = Report.objects.count()
    assert Report.objects.filter(center__code="AMC").count() == after_amc - before
    demo_data("--days", "1", "--until", "2017-10-21", "--center", "RCR", "--append")
    assert Report.objects.filter(center__code="RCR").count() > before
    # make run's first-run-only mode: an instance with reports is left alone.
    count = Report.objects.count()
    assert "has reports already" in demo_data("--days", "1", "--until", UNTIL, "--if-empty")
    assert Report.objects.count() == count
    assert _overlaps(CheckpointDetail.objects.select_related("report")) == []


def test_bulk_mode_writes_whole_reports_with_history_and_consistent_counters(seeded):
    output = demo_data(
        "--bulk", "--reports", "2000", "--days", "20", "--until", UNTIL, "--batch-size", "300"
    )

    reports = Report.objects.all()
    assert reports.count() == 2000
    assert {k for k in reports.values_list("kind", flat=True).distinct()} == set(ReportKind.values)
    assert set(reports.values_list("status", flat=True).distinct()) == set(S.values)
    # A detail for every report.
    assert reports.filter(kind="violation", violation__isnull=True).count() == 0
    assert reports.filter(kind="convoy", convoy__isnull=True).count() == 0
    assert reports.filter(kind="checkpoint", checkpoint__isnull=True).count() == 0
    assert reports.filter(kind="convoy", convoy__cargo__isnull=True).count() == 0
    # References unique per center, numbered from 1 each day without gaps.
    references = list(reports.values_list("center_id", "reference"))
    assert len(set(references)) == 2000
    numbers = defaultdict(list)
    for center_id, reference in references:
        _code, day, number = reference.split("-")
        numbers[(center_id, date.fromisoformat(f"{day[:4]}-{day[4:6]}-{day[6:]}"))].append(
            int(number)
        )
    counters = {(c.center_id, c.day): c.last for c in ReportCounter.objects.all()}
    assert counters == {key: len(found) for key, found in numbers.items()}
    assert all(sorted(found) == list(range(1, len(found) + 1)) for found in numbers.values())
    # History: a transition row and an audit entry per move, a create entry per report.
    entries = AuditEntry.objects.filter(content_type__model="report")
    assert entries.filter(action=AuditEntryAction.CREATE).count() == 2000
    assert entries.filter(action=AuditEntryAction.TRANSITION).count() == (
        ReportTransition.objects.count()
    )
    assert set(entries.values_list("source", flat=True)) == {AuditEntrySource.COMMAND}
    # Stored as JSON objects (queryable), not as strings.
    first_moves = entries.filter(action=AuditEntryAction.TRANSITION, changes__status__0=S.DRAFT)
    assert first_moves.exists()
    assert all(e.changes["status"][1] in (S.SUBMITTED, S.RETRACTED) for e in first_moves[:20])
    for report in reports.exclude(status=S.DRAFT).order_by("?")[:50]:
        moves = list(report.transitions.order_by("at", "id"))
        assert moves[0].from_status == S.DRAFT and moves[-1].to_status == report.status
        assert audit_count(report, AuditEntryAction.TRANSITION) == len(moves)
    # Every report is in the change feed, shared exactly when partners see it.
    feed = dict(Change.objects.filter(record_type="report").values_list("record_key", "shared"))
    assert feed == {
        str(uuid): status == S.VERIFIED for uuid, status in reports.values_list("uuid", "status")
    }
    links = CorroborationLink.objects.select_related("report")
    assert links.exists()
    assert any(corroboration_state(report=link.report).jointly_confirmed for link in links)
    assert _overlaps(CheckpointDetail.objects.select_related("report")) == []
    assert reports.filter(zone__isnull=False, zone_in_force=True).exists()
    assert reports.filter(in_security_area=True).exists()
    for report in reports.select_related("violation", "convoy", "checkpoint").order_by("?")[:60]:
        _check_valid(report)

    # Progress every 5% or so of the batches, and the final counts.
    progress = re.findall(r"reports ([\d,]+)/2,000 \((\d+)%\) \d+ s", output)
    assert len(progress) >= 4 and progress[-1] == ("2,000", "100")
    assert "2,000 demo reports for AMC, JWG, RCR" in output

    # A report filed afterwards takes the next number of its day.
    author = get_user_model().objects.get(username="obs-russia-jwg")
    jwg = MonitoringCenter.objects.get(code="JWG")
    day = max(d for (c, d) in counters if c == jwg.pk)
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    filed = report_create(
        actor=author,
        kind="violation",
        values=report_values(latitude=35.9, longitude=36.6, occurred_at=at - timedelta(hours=1)),
        detail={"category": "shelling"},
        at=at,
    )
    assert filed.reference == f"JWG-{day:%Y%m%d}-{counters[(jwg.pk, day)] + 1:04d}"


def audit_count(report: Report, action: str) -> int:
    return AuditEntry.objects.filter(
        content_type__model="report", object_pk=str(report.pk), action=action
    ).count()


def test_clear_errors_and_nothing_written(settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="not a past day"):
        demo_data("--until", timezone.localdate().isoformat())
    with pytest.raises(CommandError, match="--until 'soon' is not a date"):
        demo_data("--until", "soon")
    with pytest.raises(CommandError, match="--days must be at least 1"):
        demo_data("--days", "0")
    with pytest.raises(CommandError, match="--reports goes with --bulk"):
        demo_data("--reports", "10")
    with pytest.raises(CommandError, match="--bulk needs --reports"):
        demo_data("--bulk")
    settings.DEBUG = False
    with pytest.raises(CommandError, match="debug mode"):
        demo_data("--days", "1")
    assert not Report.objects.exists()


def test_without_seed_data_it_says_what_to_do(settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match=r"manage\.py seed"):
        demo_data("--days", "1")


def _facts(*args: str) -> list[tuple]:
    """The reports one run makes, rolled back afterwards."""
    with transaction.atomic():
        demo_data(*args)
        facts = list(
            Report.objects.order_by("reference").values_list(
                "reference", "kind", "status", "latitude", "longitude", "occurred_at", "narrative"
            )
        )
        transaction.set_rollback(True)
    assert not Report.objects.exists()
    return facts


def test_the_same_seed_gives_the_same_reports(seeded):
    args = ("--days", "1", "--until", UNTIL, "--center", "AMC")
    first = _facts(*args, "--seed", "7")
    assert len(first) > 5
    assert _facts(*args, "--seed", "7") == first
    assert _facts(*args, "--seed", "8") != first

"""Who sees which report (docs/permissions.md), every rule with its positive and negative
cases: one small world of two centers, reports in every status, and for each viewer the
exact set they see through ``reports_visible_to`` and, report by report, ``report_visible``.

Center A: Russian observers ``ru`` (the author) and ``ru2`` (a colleague), a Turkish
observer ``tr``, a coordinator, a partner and an administrator. Center B: an observer, a
coordinator and a partner. Reports are labelled ``<center>-<author>-<status>``.
"""

from __future__ import annotations

import pytest

from incidents.choices import ReportStatus
from incidents.models import Report
from incidents.selectors import report_visible, reports_visible_to
from monitoring.choices import ObserverRole
from monitoring.services import observer_save
from tests.factories import CenterFactory, PartyFactory, UserFactory, ZoneTermFactory, report_file

pytestmark = pytest.mark.django_db
S = ReportStatus
A_RU = {
    f"A-ru-{status}"
    for status in ("submitted", "returned", "verified", "disputed", "rejected", "retracted")
}
ALL_A_VERIFIED = {"A-ru-verified", "A-tr-verified"}


@pytest.fixture
def world(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Turkey")
    other_center = CenterFactory(zones=[zone])
    users = {
        "ru": make_member(ObserverRole.OBSERVER),
        "ru2": make_member(ObserverRole.OBSERVER),
        "tr": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "administrator": make_member(ObserverRole.ADMINISTRATOR),
        "b-observer": make_member(ObserverRole.OBSERVER, center=other_center),
        "b-coordinator": make_member(ObserverRole.COORDINATOR, center=other_center),
        "b-partner": make_member(ObserverRole.PARTNER, center=other_center),
        "no-profile": UserFactory(),
    }
    reviewer = users["coordinator"]
    reports = {}
    for status in S.values:
        reports[f"A-ru-{status}"] = report_file(users["ru"], status=status, reviewer=reviewer)
    for status in (S.DRAFT, S.SUBMITTED):
        reports[f"A-ru2-{status}"] = report_file(users["ru2"], status=status)
    for status in (S.DRAFT, S.SUBMITTED, S.VERIFIED):
        reports[f"A-tr-{status}"] = report_file(users["tr"], status=status, reviewer=reviewer)
    reports["A-coordinator-draft"] = report_file(users["coordinator"])
    for status in (S.DRAFT, S.SUBMITTED, S.VERIFIED):
        reports[f"B-ru-{status}"] = report_file(
            users["b-observer"], status=status, reviewer=users["b-coordinator"]
        )
    return users, reports


# Who sees what: the whole visible set of each viewer (anything else is refused).
EXPECTED = {
    # An observer: own reports in any status, the delegation's non-drafts, the center's
    # verified reports; no colleague's draft, no other delegation's unverified report.
    "ru": {"A-ru-draft", *A_RU, "A-ru2-submitted", "A-tr-verified"},
    "ru2": {"A-ru2-draft", "A-ru2-submitted", *A_RU, "A-tr-verified"},
    "tr": {"A-tr-draft", "A-tr-submitted", "A-tr-verified", "A-ru-verified"},
    # A coordinator: every non-draft report of the center, and their own drafts.
    "coordinator": {
        *A_RU,
        "A-ru2-submitted",
        "A-tr-submitted",
        "A-tr-verified",
        "A-coordinator-draft",
    },
    # Partners and administrators: the center's verified reports.
    "partner": ALL_A_VERIFIED,
    "administrator": ALL_A_VERIFIED,
    # Another center's people see nothing of center A.
    "b-observer": {"B-ru-draft", "B-ru-submitted", "B-ru-verified"},
    "b-coordinator": {"B-ru-submitted", "B-ru-verified"},
    "b-partner": {"B-ru-verified"},
    # No profile: nothing.
    "no-profile": set(),
}


def labels(reports: dict, queryset) -> set[str]:
    by_pk = {report.pk: label for label, report in reports.items()}
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True)}


@pytest.mark.parametrize("viewer", list(EXPECTED))
def test_each_viewer_sees_exactly_their_reports(world, viewer):
    users, reports = world
    user = users[viewer]
    assert labels(reports, reports_visible_to(user=user)) == EXPECTED[viewer]
    for label, report in reports.items():
        assert report_visible(user=user, report=report) is (label in EXPECTED[viewer]), label


def test_the_world_has_every_case(world):
    """Guard for the table above: each viewer misses something and sees something (but
    the profile-less), so no rule is tested by an empty or a full set."""
    _, reports = world
    assert len(reports) == len(set(reports)) == Report.objects.count() == 16
    for viewer, expected in EXPECTED.items():
        assert expected < set(reports), viewer
        assert expected or viewer == "no-profile", viewer


def test_an_inactive_profile_or_user_sees_nothing_not_even_their_own(world):
    users, reports = world
    author = users["ru"]
    assert report_visible(user=author, report=reports["A-ru-draft"])
    profile = author.observer
    profile.is_active = False
    observer_save(observer=profile, actor=None)
    author = type(author).objects.get(pk=author.pk)  # no cached profile
    assert not reports_visible_to(user=author).exists()
    assert not report_visible(user=author, report=reports["A-ru-draft"])

    coordinator = users["coordinator"]
    coordinator.is_active = False
    coordinator.save(update_fields=["is_active"])
    coordinator = type(coordinator).objects.get(pk=coordinator.pk)
    assert not reports_visible_to(user=coordinator).exists()
    assert not report_visible(user=coordinator, report=reports["A-ru-submitted"])


def test_an_anonymous_visitor_sees_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    _, reports = world
    assert not reports_visible_to(user=AnonymousUser()).exists()
    assert not report_visible(user=AnonymousUser(), report=reports["A-ru-verified"])


def test_the_rule_narrows_a_given_queryset(world):
    users, reports = world
    verified = Report.objects.filter(status=S.VERIFIED)
    assert labels(reports, reports_visible_to(user=users["ru"], queryset=verified)) == {
        "A-ru-verified",
        "A-tr-verified",
    }

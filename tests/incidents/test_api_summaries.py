"""Daily summaries through the API: list and detail with filters, versions and their
content, the compile action; who may read and do what (each rule with its negative case),
bad parameters named in a 400, and a list whose query count does not grow."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import tasks
from incidents.choices import ReportStatus, SummaryVersionStatus
from incidents.models import DailySummary, SummaryVersion
from incidents.services import summary_compile, summary_publish
from monitoring.choices import ObserverRole
from monitoring.queueing import broker_breaker_reset
from tests.api_base import client_for
from tests.factories import CenterFactory, PartyFactory, ZoneTermFactory, report_file

pytestmark = pytest.mark.django_db
S = ReportStatus
V = SummaryVersionStatus
DAMASCUS = ZoneInfo("Asia/Damascus")
DAY = date(2017, 6, 3)
LIST = reverse("incidents-api:dailysummary-list")
COMPILE = reverse("incidents-api:dailysummary-compile")
READERS = ("observer", "partner", "administrator")


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=DAMASCUS)


def detail(summary) -> str:
    return reverse("incidents-api:dailysummary-detail", args=[summary.pk])


def versions(summary) -> str:
    return reverse("incidents-api:dailysummary-versions", args=[summary.pk])


def version(summary, number) -> str:
    return reverse(
        "incidents-api:dailysummary-version", kwargs={"pk": summary.pk, "number": number}
    )


@pytest.fixture(autouse=True)
def _broker_breaker():
    broker_breaker_reset()
    yield
    broker_breaker_reset()


@pytest.fixture
def people(zone, center, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Republic of Turkey")
    return {
        "observer": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "administrator": make_member(ObserverRole.ADMINISTRATOR),
        "elsewhere": make_member(ObserverRole.COORDINATOR, center=CenterFactory()),
    }


def violation(people, day=DAY, hour=11, who="observer", status=S.SUBMITTED):
    return report_file(
        people[who], status=status, reviewer=people["coordinator"], occurred_at=local(day, hour)
    )


@pytest.fixture
def draft(people, center):
    violation(people)
    violation(people, who="turkish", status=S.VERIFIED, hour=14)
    return summary_compile(center=center, day=DAY)


@pytest.fixture
def published(draft, people):
    return summary_publish(version=draft, actor=people["coordinator"])


# --- Reading ---------------------------------------------------------------------------------


def test_a_coordinator_reads_drafts(people, center, draft):
    body = client_for(people["coordinator"]).get(LIST).json()
    assert body["count"] == 1
    (row,) = body["results"]
    assert row["center"] == center.code and row["day"] == "2017-06-03"
    assert row["state"] == "draft" and row["stale"] is False and row["version_count"] == 1
    assert row["latest_version"]["number"] == 1 and row["latest_version"]["status"] == "draft"
    assert row["published_version"] is None and row["addendum_pending"] is False
    assert row["latest_version"]["content_sha256"] == draft.content_sha256


def test_readers_see_published_versions_only(people, center, draft):
    for role in READERS:
        assert client_for(people[role]).get(LIST).json()["count"] == 0, role
    summary_publish(version=draft, actor=people["coordinator"])
    violation(people, hour=16)
    summary_compile(center=center, day=DAY)  # version 2, a draft
    summary = draft.summary
    for role in READERS:
        client = client_for(people[role])
        (row,) = client.get(LIST).json()["results"]
        assert row["state"] == "published" and row["version_count"] == 1, role
        assert row["latest_version"]["number"] == 1 and row["addendum_pending"] is False, role
        assert [v["number"] for v in client.get(versions(summary)).json()] == [1], role
        assert client.get(version(summary, 2)).status_code == 404, role
        assert client.get(version(summary, 1)).status_code == 200, role
    coordinator = client_for(people["coordinator"])
    row = coordinator.get(detail(summary)).json()
    assert row["addendum_pending"] is True and row["latest_version"]["number"] == 2
    assert row["published_version"]["number"] == 1
    assert [v["number"] for v in coordinator.get(versions(summary)).json()] == [2, 1]


def test_a_version_holds_its_content_exactly(people, published):
    summary = published.summary
    body = client_for(people["partner"]).get(version(summary, 1)).json()
    stored = SummaryVersion.objects.get(pk=published.pk)
    assert body["content"] == stored.content and body["sources"] == stored.sources
    assert body["content_sha256"] == stored.content_sha256
    assert body["chain_index"] == 1 and body["chain_sha256"] == stored.chain_sha256
    assert body["published_by"] == people["coordinator"].get_username()
    assert body["compiled_by"] is None  # compiled by the system
    assert body["url"].endswith(version(summary, 1))


def test_nobody_reads_another_centers_summaries(people, published, user_without_role):
    summary = published.summary
    client = client_for(people["elsewhere"])
    assert client.get(LIST).json()["count"] == 0
    assert client.get(detail(summary)).status_code == 404
    assert client.get(versions(summary)).status_code == 404
    assert client_for(None).get(LIST).status_code == 403
    assert client_for(user_without_role).get(LIST).status_code == 403


def test_filters(people, center):
    days = [DAY - timedelta(days=n) for n in range(3)]
    for day in days:
        violation(people, day=day)
        summary_compile(center=center, day=day)
    first = SummaryVersion.objects.get(summary__day=days[0])
    summary_publish(version=first, actor=people["coordinator"])
    violation(people, day=days[1], hour=18)  # the day before is stale now
    client = client_for(people["coordinator"])

    def listed(**params):
        return [row["day"] for row in client.get(LIST, params).json()["results"]]

    assert listed() == [d.isoformat() for d in days]
    assert listed(day_after="2017-06-02") == ["2017-06-03", "2017-06-02"]
    assert listed(day_before="2017-06-01") == ["2017-06-01"]
    assert listed(status="published") == ["2017-06-03"]
    assert listed(status=["draft"]) == ["2017-06-02", "2017-06-01"]
    assert listed(stale="true") == ["2017-06-02"]
    assert listed(center=center.code, ordering="day") == [d.isoformat() for d in reversed(days)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"day_after": "June"}, "day_after"),
        ({"day_before": "2017-13-01"}, "day_before"),
        ({"status": "lost"}, "status"),
        ({"center": "NOWHERE"}, "center"),
        ({"stale": "maybe"}, "stale"),
        ({"day_after": "2017-06-03", "day_before": "2017-06-01"}, "day_before"),
    ],
)
def test_bad_parameters_are_named_in_a_400(people, draft, params, field):
    response = client_for(people["coordinator"]).get(LIST, params)
    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_the_list_costs_the_same_at_any_size(people, center):
    client = client_for(people["coordinator"])

    def compile_days(numbers):
        for n in numbers:
            day = DAY - timedelta(days=n)
            violation(people, day=day)
            compiled = summary_compile(center=center, day=day)
            if n % 2:
                summary_publish(version=compiled, actor=people["coordinator"])

    compile_days(range(2))
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    compile_days(range(2, 8))
    with CaptureQueriesContext(connection) as many:
        assert client.get(LIST).json()["count"] == 8
    # Session, user, its second-factor device, profile; count; the page; its versions.
    assert len(many) == len(few) <= 7, [q["sql"] for q in many.captured_queries]


# --- Compiling -------------------------------------------------------------------------------


def test_a_coordinator_queues_a_compilation(people, center, broker):
    violation(people)
    response = client_for(people["coordinator"]).post(
        COMPILE, {"center": center.code, "day": "2017-06-03"}
    )
    assert response.status_code == 202
    body = response.json()
    summary = DailySummary.objects.get(center=center, day=DAY)
    assert body["id"] == summary.pk and body["queued"] is True
    assert body["state"] == "not_compiled" and body["latest_version"] is None
    assert broker.sent == [{"center_id": center.pk, "day": "2017-06-03"}]
    tasks.summary_compile_task(**broker.sent[0])  # what the worker does
    row = client_for(people["coordinator"]).get(detail(summary)).json()
    assert row["state"] == "draft" and row["latest_version"]["number"] == 1


def test_the_compilation_runs_in_the_request_when_the_queue_is_down(people, center, broker):
    broker.up = False
    violation(people)
    response = client_for(people["coordinator"]).post(
        COMPILE, {"center": center.code, "day": "2017-06-03"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["queued"] is False and body["state"] == "draft"
    assert body["latest_version"]["compiled_by"] == people["coordinator"].get_username()


@pytest.mark.parametrize("who", [*READERS, "elsewhere", None])
def test_only_a_coordinator_of_the_center_compiles(people, center, broker, who):
    response = client_for(people[who] if who else None).post(
        COMPILE, {"center": center.code, "day": "2017-06-03"}
    )
    assert response.status_code == 403
    assert broker.sent == [] and not DailySummary.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"day": "2017-06-03"}, "center"),
        ({"center": "NOWHERE", "day": "2017-06-03"}, "center"),
        ({"center": None}, "day"),
        ({"center": None, "day": "3 June"}, "day"),
        ({"center": None, "day": (date.today() + timedelta(days=3)).isoformat()}, "day"),
    ],
)
def test_bad_compile_requests_name_their_field(people, center, broker, payload, field):
    if payload.get("center", "") is None:
        payload = {**payload, "center": center.code}
    response = client_for(people["coordinator"]).post(COMPILE, payload)
    assert response.status_code == 400
    assert field in response.json()
    assert broker.sent == [] and not DailySummary.objects.exists()

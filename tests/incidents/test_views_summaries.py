"""The daily summary pages: the list of days, the summary page (tables, charts, the map's
data, versions, the addendum), the printable bulletin, the downloads, and the coordinators'
actions (compile now, approve and publish); who may read and do what (each rule with its
negative case), query counts that do not grow with the data, and the pure helpers (the
content diff, the chart)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import tasks
from incidents.choices import ReportKind, ReportStatus, SummaryVersionStatus
from incidents.models import DailySummary, SummaryVersion
from incidents.services import summary_compile, summary_publish
from incidents.views.summaries import (
    LISTED,
    content_changes,
    stacked_bar_chart,
    summary_csv_rows,
)
from monitoring.choices import ObserverRole
from monitoring.queueing import broker_breaker_reset
from tests.factories import (
    CenterFactory,
    PartyFactory,
    PostFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_file,
)

pytestmark = pytest.mark.django_db
S = ReportStatus
V = SummaryVersionStatus
DAMASCUS = ZoneInfo("Asia/Damascus")
DAY = date(2017, 6, 3)
SCRIPT = "<script>window.pwned = 1</script>"
LIST = reverse("incidents:summary_list")
READERS = ("observer", "partner", "administrator")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=DAMASCUS)


def page_url(center, day=DAY, name="summary_detail", *extra) -> str:
    return reverse(f"incidents:{name}", args=[center.code, day.isoformat(), *extra])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def section(body: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"(.*?)</(?:table|div|section)>', body, re.S)
    assert match, f"no {testid} on the page"
    return match.group(1)


@pytest.fixture(autouse=True)
def _broker_breaker():
    broker_breaker_reset()
    yield
    broker_breaker_reset()


@pytest.fixture
def people(zone, center, delegation, make_member):
    ZoneTermFactory(zone=zone)
    turkey = PartyFactory(code="turkey", name="Republic of Turkey")
    elsewhere = CenterFactory()
    return {
        "observer": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=turkey),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "administrator": make_member(ObserverRole.ADMINISTRATOR),
        "elsewhere": make_member(ObserverRole.COORDINATOR, center=elsewhere),
        "turkey": turkey,
    }


def violation(people, who="observer", status=S.SUBMITTED, at=None, **detail):
    return report_file(
        people[who],
        status=status,
        reviewer=people["coordinator"],
        occurred_at=at or local(DAY, 11),
        detail={"category": "shelling", **detail},
    )


def blocked_convoy(people, zone, reason: str, day=DAY):
    checkpoint = PostFactory(zone=zone, kind="checkpoint", serves_humanitarian=True)
    sarc = PartyFactory(code="sarc", name="SARC", kind="humanitarian_org")
    return report_file(
        people["observer"],
        kind=ReportKind.CONVOY,
        status=S.VERIFIED,
        reviewer=people["coordinator"],
        occurred_at=local(day, 10),
        detail={
            "operation": "road_convoy",
            "organizations": [sarc],
            "vehicle_count": 10,
            "origin": "Damascus",
            "destination": SettlementFactory(),
            "planned_at": local(day, 6),
            "status": "blocked",
            "beneficiaries": 5000,
            "obstruction_reason": reason,
            "cargo": [
                {"category": "food", "quantity": 25, "unit": "tonnes", "delivered_quantity": None}
            ],
            "route": [{"post": checkpoint, "passed_at": None}],
            "stages": [],
        },
    )


@pytest.fixture
def reports(people):
    """A submitted shelling (the observer's), a verified air strike with casualties (the
    Turkish observer's), a rejected report and one of the next day (neither counts)."""
    return {
        "submitted": violation(people),
        "verified": violation(
            people,
            who="turkish",
            status=S.VERIFIED,
            at=local(DAY, 14),
            category="air_strike",
            civilians_killed_best=2,
            civilians_killed_high=3,
        ),
        "rejected": violation(people, status=S.REJECTED, at=local(DAY, 15)),
        "next_day": violation(people, at=local(DAY + timedelta(days=1), 0, 30)),
    }


@pytest.fixture
def draft(center, reports):
    return summary_compile(center=center, day=DAY)


@pytest.fixture
def published(draft, people):
    return summary_publish(version=draft, actor=people["coordinator"])


# --- The list of days -----------------------------------------------------------------------


def test_a_coordinator_lists_drafts_and_readers_only_published_days(client, people, draft):
    client.force_login(people["coordinator"])
    body = client.get(LIST).content.decode()
    assert f'data-day="{DAY}" data-state="draft"' in body
    for role in READERS:
        client.force_login(people[role])
        response = client.get(LIST)
        assert response.status_code == 200, role
        assert f'data-day="{DAY}"' not in response.content.decode(), role
    summary_publish(version=draft, actor=people["coordinator"])
    for role in READERS:
        client.force_login(people[role])
        body = client.get(LIST).content.decode()
        assert f'data-day="{DAY}" data-state="published"' in body, role
        assert "Compile now" not in body, role


def test_the_list_shows_an_addendum_pending_and_the_last_closed_day(
    client, people, center, published
):
    violation(people, at=local(DAY, 16))  # a late report: a new draft after recompiling
    summary_compile(center=center, day=DAY)
    client.force_login(people["coordinator"])
    body = client.get(LIST).content.decode()
    row = re.search(rf'<tr data-day="{DAY}".*?</tr>', body, re.S).group(0)
    assert 'data-state="published"' in row
    assert "Addendum pending (v2)" in row
    coordinator = people["coordinator"]
    name = coordinator.get_full_name() or coordinator.get_username()
    assert "v1 ·" in row and f"by {name}" in row  # the published version and who published it
    # The day that closed last has no summary yet: offered for compilation.
    assert 'data-state="not_compiled"' in body and "Compile now" in body


def test_nobody_lists_another_centers_summaries(client, people, draft, published):
    client.force_login(people["elsewhere"])
    assert f'data-day="{DAY}"' not in client.get(LIST).content.decode()


def test_the_list_needs_a_profile(client, people, user_without_role):
    response = client.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(user_without_role)
    assert client.get(LIST).status_code == 403


def test_opening_a_day_from_the_list(client, people, center):
    client.force_login(people["coordinator"])
    response = client.get(LIST, {"day": "2017-06-03"})
    assert response.status_code == 302 and response["Location"] == page_url(center)
    response = client.get(LIST, {"day": "3 June"}, follow=True)
    assert any("Day:" in m and "not a date" in m for m in messages_of(response))


def test_the_list_costs_the_same_queries_for_few_and_many_days(client, people, center):
    client.force_login(people["coordinator"])

    def compile_days(days):
        for n in days:
            day = DAY - timedelta(days=n)
            violation(people, at=local(day, 9))
            version = summary_compile(center=center, day=day)
            if n % 2:
                summary_publish(version=version, actor=people["coordinator"])

    compile_days(range(2))
    client.get(LIST)  # warm the caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    compile_days(range(2, 9))
    with CaptureQueriesContext(connection) as many:
        body = client.get(LIST).content.decode()
    assert body.count("<tr data-day=") >= 9
    # Session, user, its second-factor device, profile; the page's count and rows; their
    # versions; the closed day.
    assert len(many) == len(few) <= 8, [q["sql"] for q in many.captured_queries]


# --- The summary page ------------------------------------------------------------------------


def test_a_coordinator_reads_the_draft_with_its_tables(client, people, center, zone, draft):
    client.force_login(people["coordinator"])
    response = client.get(page_url(center))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="version-status">Version 1 · Draft' in body
    rows = section(body, "violation-rows")
    assert zone.name in rows and "Artillery or mortar shelling" in rows and "Air strike" in rows
    delegations = section(body, "by-delegation")
    assert "Russian Federation" in delegations and "Republic of Turkey" in delegations
    casualties = section(body, "casualties")
    assert re.search(
        r"Civilians killed</th><td class=\"num\">0</td><td class=\"num\"><strong>2", casualties
    )
    assert re.search(r'data-testid="total-confirmed">1<', body)
    assert re.search(r'data-testid="total-reported">1<', body)  # rejected, next day: not counted
    assert re.search(r'data-testid="awaiting-review">1<', body)
    assert re.search(r'data-testid="source-count">2<', body)
    assert draft.content["sources_sha256"] in body
    assert "Air strike over" in section(body, "air-activity")
    # Trend charts are inline SVG with a bar for this day; the map reads its data endpoint.
    assert body.count('data-testid="chart"') == 2 and '<rect class="chart__bar' in body
    config = json.loads(re.search(r'id="map-config"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert config["data_url"] == page_url(center, DAY, "summary_map_data")
    # Publishing and compiling are offered; the page has no inline script code.
    assert 'data-testid="publish-form"' in body and 'data-testid="compile-form"' in body
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", body)


def test_readers_see_published_versions_only(client, people, center, draft):
    for role in READERS:
        client.force_login(people[role])
        assert client.get(page_url(center)).status_code == 404, role
    summary_publish(version=draft, actor=people["coordinator"])
    violation(people, at=local(DAY, 17))
    summary_compile(center=center, day=DAY)  # version 2, a draft
    for role in READERS:
        client.force_login(people[role])
        response = client.get(page_url(center))
        assert response.status_code == 200, role
        body = response.content.decode()
        assert "Version 1 · Published" in body, role
        assert 'data-version="2"' not in body and "addendum" not in body.lower(), role
        assert "publish-form" not in body and "compile-form" not in body, role
        assert client.get(page_url(center) + "?version=2").status_code == 404, role


def test_another_center_and_anonymous_users_do_not_see_a_summary(client, people, center, published):
    client.force_login(people["elsewhere"])
    assert client.get(page_url(center)).status_code == 404
    client.logout()
    response = client.get(page_url(center))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_bad_days_and_versions_are_404s(client, people, center, draft):
    client.force_login(people["coordinator"])
    assert (
        client.get(reverse("incidents:summary_detail", args=[center.code, "June"])).status_code
        == 404
    )
    assert client.get(page_url(center) + "?version=x").status_code == 404
    assert client.get(page_url(center) + "?version=9").status_code == 404


def test_a_day_not_compiled_offers_compilation_to_coordinators_only(client, people, center):
    day = DAY - timedelta(days=30)
    client.force_login(people["coordinator"])
    body = client.get(page_url(center, day)).content.decode()
    assert 'data-testid="not-compiled"' in body and 'data-testid="compile-form"' in body
    client.force_login(people["observer"])
    assert client.get(page_url(center, day)).status_code == 404


def test_a_blocked_convoys_reason_is_text_not_markup(client, people, center, zone):
    blocked_convoy(people, zone, reason=f"{SCRIPT} Denied at the checkpoint.")
    summary_compile(center=center, day=DAY)
    client.force_login(people["coordinator"])
    for url in (page_url(center), page_url(center, DAY, "summary_print")):
        body = client.get(url).content.decode()
        assert SCRIPT not in body
        assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; Denied at the checkpoint." in body


def test_notable_reports_link_only_where_the_reader_may_open_them(
    client, people, center, reports, published
):
    verified, submitted = reports["verified"], reports["submitted"]
    client.force_login(people["partner"])  # sees the center's verified reports only
    notable = section(client.get(page_url(center)).content.decode(), "notable")
    assert reverse("incidents:report_detail", args=[verified.uuid]) in notable
    assert submitted.reference not in notable  # not notable: no casualties, no air activity
    violation(
        people,
        status=S.SUBMITTED,
        at=local(DAY, 18),
        civilians_injured_best=1,
        civilians_injured_high=1,
    )
    version = summary_compile(center=center, day=DAY)
    summary_publish(version=version, actor=people["coordinator"])
    hidden = [n for n in version.content["notable"] if n["reference"] != verified.reference]
    assert hidden
    notable = section(client.get(page_url(center)).content.decode(), "notable")
    assert f'title="Not a report you may open">{hidden[0]["reference"]}<' in notable


def test_the_page_costs_the_same_queries_for_a_small_and_a_busy_day(client, people, center):
    client.force_login(people["coordinator"])
    violation(people)
    first = summary_compile(center=center, day=DAY)
    summary_publish(version=first, actor=people["coordinator"])
    violation(people, at=local(DAY, 12))
    summary_compile(center=center, day=DAY)  # a draft over the published: the addendum
    client.get(page_url(center))
    with CaptureQueriesContext(connection) as small:
        assert client.get(page_url(center)).status_code == 200
    for hour in range(1, 9):
        violation(people, who="turkish", at=local(DAY, hour), category="rockets")
        violation(people, at=local(DAY - timedelta(days=hour), 9))
        summary_compile(center=center, day=DAY - timedelta(days=hour))
    summary_compile(center=center, day=DAY)
    with CaptureQueriesContext(connection) as busy:
        assert 'data-testid="addendum"' in client.get(page_url(center)).content.decode()
    assert len(busy) == len(small) <= 17, [q["sql"] for q in busy.captured_queries]


# --- The addendum ----------------------------------------------------------------------------


def test_a_draft_after_publication_shows_what_changed(client, people, center, published):
    violation(people, who="turkish", at=local(DAY, 19), category="rockets")
    second = summary_compile(center=center, day=DAY)
    assert second.number == 2 and second.status == V.DRAFT
    client.force_login(people["coordinator"])
    body = client.get(page_url(center)).content.decode()
    addendum = re.search(r'data-testid="addendum">(.*?)</section>', body, re.S).group(1)
    assert "What changed against the published version 1" in body
    change = re.search(
        r'data-change="violations / totals / reported"><th scope="row">[^<]*</th>'
        r'<td class="num">(\d+)</td><td class="num"><strong>(\d+)</strong>',
        body,
    )
    assert change and change.groups() == ("1", "2")
    assert "source count" in addendum
    assert "violations / rows / " in addendum  # the new row: zone · category · perpetrator
    # The published version itself has no addendum (it never changes).
    assert (
        'data-testid="addendum"' not in client.get(page_url(center) + "?version=1").content.decode()
    )


def test_content_changes_compares_field_by_field():
    before = {
        "violations": {
            "totals": {"confirmed": 1, "reported": 1, "disputed": 0},
            "rows": [
                {"zone": "idlib", "category": "shelling", "perpetrator": None, "confirmed": 1},
                {"zone": "idlib", "category": "rockets", "perpetrator": "x", "confirmed": 2},
            ],
        },
        "notable": [{"reference": "R-1", "kind": "violation", "why": "casualties: 2"}],
        "checkpoints": {"rows": [{"checkpoint": "cp1", "name": "Morek", "access_incidents": {}}]},
        "same": [1, 2],
    }
    after = {
        "violations": {
            "totals": {"confirmed": 1, "reported": 2, "disputed": 0},
            "rows": [
                {"zone": "idlib", "category": "shelling", "perpetrator": None, "confirmed": 3},
                {"zone": "hama", "category": "shelling", "perpetrator": None, "confirmed": 1},
            ],
        },
        "notable": [{"reference": "R-2", "kind": "convoy", "why": "convoy blocked"}],
        "checkpoints": {
            "rows": [{"checkpoint": "cp1", "name": "Morek", "access_incidents": {"denial": 3}}]
        },
        "same": [1, 2],
    }
    changes = {c.label: (c.before, c.after) for c in content_changes(before, after)}
    assert changes == {
        "violations / totals / reported": (1, 2),
        "violations / rows / idlib · shelling · none / confirmed": (1, 3),
        "violations / rows / idlib · rockets · x / confirmed": (2, None),
        "violations / rows / hama · shelling · none / confirmed": (None, 1),
        "notable / R-1 · violation · casualties: 2": (LISTED, None),
        "notable / R-2 · convoy · convoy blocked": (None, LISTED),
        "checkpoints / rows / cp1 · Morek / access incidents / denial": (None, 3),
    }
    assert content_changes(before, before) == []
    assert content_changes({"a": {"b": 1}}, {"a": {"b": 1}, "c": 2})[0].label == "c"


def test_stacked_bar_chart_scales_and_leaves_days_without_a_summary_empty():
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    chart = stacked_bar_chart(
        title="Reports",
        days=days,
        values={days[0]: {"a": 2, "b": 2}, days[2]: {"a": 1}},
        series=[("a", "A"), ("b", "B")],
        current=DAY,
    )
    # The plot is 166 px high and its scale runs to 4: a count of 2 is 83 px.
    assert [(bar.series, bar.height) for bar in chart.bars[:2]] == [("a", 83.0), ("b", 83.0)]
    assert chart.bars[2].height == 41.5
    assert len(chart.bars) == 3  # the day without a summary has no bar
    assert chart.rows == [("A", [2, None, 1]), ("B", [2, None, 0])]
    assert chart.y_ticks[-1][1] == 4 and chart.x_labels[-1][2] is True
    assert stacked_bar_chart(title="x", days=days, values={}, series=[("a", "A")]).empty


# --- Downloads -------------------------------------------------------------------------------


def test_the_json_download_is_the_versions_content_exactly(client, people, center, published):
    client.force_login(people["observer"])
    response = client.get(page_url(center, DAY, "summary_download", "json"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="summary-{center.code}-2017-06-03-v1.json"'
    )
    data = json.loads(response.content)
    stored = SummaryVersion.objects.get(pk=published.pk)
    assert data["content"] == stored.content
    version = data["version"]
    assert version["number"] == 1 and version["status"] == "published"
    assert version["content_sha256"] == stored.content_sha256
    assert version["chain_sha256"] == stored.chain_sha256 and version["chain_index"] == 1
    assert version["published_by"] == people["coordinator"].get_username()
    assert version["sources"] == stored.sources


def test_the_csv_download_is_one_flat_table(client, people, center, zone, published):
    client.force_login(people["coordinator"])
    response = client.get(page_url(center, DAY, "summary_download", "csv") + "?version=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith('-2017-06-03-v1.csv"')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == [
        "section",
        "subject",
        "category",
        "party",
        "measure",
        "value",
        "unit",
        "note",
    ]
    confirmed = [
        r
        for r in rows
        if r["section"] == "violations"
        and r["category"] == "air_strike"
        and r["measure"] == "confirmed"
    ]
    assert confirmed == [
        {
            "section": "violations",
            "subject": zone.code,
            "category": "air_strike",
            "party": "",
            "measure": "confirmed",
            "value": "1",
            "unit": "",
            "note": "",
        }
    ]
    by_delegation = {
        (r["party"], r["measure"]): r["value"]
        for r in rows
        if r["section"] == "violations_by_delegation"
    }
    assert by_delegation[("turkey", "confirmed")] == "1"
    assert by_delegation[("russia", "reported")] == "1"
    meta = {r["measure"]: r["value"] for r in rows if r["section"] == "summary"}
    assert meta["content_sha256"] == published.content_sha256 and meta["version"] == "1"
    assert {r["section"] for r in rows} >= {"convoys", "running_totals", "casualties", "reports"}


def test_csv_cells_that_look_like_formulas_are_quoted(people, center, zone):
    blocked_convoy(people, zone, reason='=HYPERLINK("http://x")')
    version = summary_compile(center=center, day=DAY)
    rows = summary_csv_rows(version)
    blocked = [row for row in rows if row[0] == "convoys_blocked"]
    assert blocked and blocked[0][-1].endswith(': =HYPERLINK("http://x")')
    notable = [row for row in rows if row[0] == "notable"]
    assert all(not row[-1].startswith("=") for row in notable)


def test_downloads_follow_the_reading_rules(client, people, center, draft):
    url = page_url(center, DAY, "summary_download", "json")
    client.force_login(people["observer"])
    assert client.get(url).status_code == 404  # a draft is the coordinators'
    client.force_login(people["elsewhere"])
    assert client.get(url).status_code == 404
    client.force_login(people["coordinator"])
    assert client.get(url).status_code == 200
    assert client.get(page_url(center, DAY, "summary_download", "xml")).status_code == 404


# --- The map's data --------------------------------------------------------------------------


def test_the_map_shows_the_days_counted_reports_the_reader_may_see(
    client, people, center, reports, published
):
    url = page_url(center, DAY, "summary_map_data")
    client.force_login(people["coordinator"])
    refs = {f["properties"]["reference"] for f in client.get(url).json()["features"]}
    assert refs == {reports["submitted"].reference, reports["verified"].reference}
    client.force_login(people["partner"])  # the verified reports of the center only
    refs = {f["properties"]["reference"] for f in client.get(url).json()["features"]}
    assert refs == {reports["verified"].reference}
    client.force_login(people["elsewhere"])
    assert client.get(url).status_code == 404


# --- Compile now -----------------------------------------------------------------------------


def test_compile_now_queues_the_task_and_the_page_polls_until_it_ran(
    client, people, center, reports, broker
):
    client.force_login(people["coordinator"])
    response = client.post(page_url(center, DAY, "summary_compile"), follow=True)
    assert broker.sent == [{"center_id": center.pk, "day": "2017-06-03"}]
    assert any("queued" in m for m in messages_of(response))
    body = response.content.decode()
    assert 'data-testid="state-queued"' in body and 'hx-trigger="every 5s"' in body
    assert not SummaryVersion.objects.filter(summary__center=center).exists()
    state_url = page_url(center, DAY, "summary_state")
    poll = client.get(state_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="state-queued"' in poll
    tasks.summary_compile_task(**broker.sent[0])  # what the worker does
    poll = client.get(state_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="state-ready"' in poll and "Version 1 is ready" in poll
    assert "hx-trigger" not in poll  # done: the poll stops


def test_compile_now_compiles_in_the_request_when_the_queue_is_down(
    client, people, center, reports, broker
):
    broker.up = False
    client.force_login(people["coordinator"])
    response = client.post(page_url(center, DAY, "summary_compile"), follow=True)
    assert response.status_code == 200
    assert any("unreachable" in m and "version 1" in m for m in messages_of(response))
    version = SummaryVersion.objects.get(summary__center=center, summary__day=DAY)
    assert version.compiled_by == people["coordinator"] and version.status == V.DRAFT
    assert 'data-testid="state-queued"' not in response.content.decode()


def test_a_day_that_has_not_closed_is_not_compiled(client, people, center, broker):
    client.force_login(people["coordinator"])
    tomorrow = date.today() + timedelta(days=2)
    response = client.post(page_url(center, tomorrow, "summary_compile"), follow=True)
    assert any("has not closed yet" in m for m in messages_of(response))
    assert broker.sent == [] and not DailySummary.objects.filter(day=tomorrow).exists()


@pytest.mark.parametrize("who", [*READERS, "elsewhere", None])
def test_only_a_coordinator_of_the_center_compiles(client, people, center, reports, broker, who):
    if who:
        client.force_login(people[who])
    response = client.post(page_url(center, DAY, "summary_compile"))
    expected = {None: 302, "elsewhere": 404}.get(who, 403)
    assert response.status_code == expected
    assert broker.sent == [] and not DailySummary.objects.filter(center=center).exists()


def test_compile_is_a_post(client, people, center):
    client.force_login(people["coordinator"])
    assert client.get(page_url(center, DAY, "summary_compile")).status_code == 405


# --- Approve and publish ---------------------------------------------------------------------


def test_a_coordinator_publishes_the_draft(client, people, center, draft):
    client.force_login(people["coordinator"])
    response = client.post(
        page_url(center, DAY, "summary_publish"),
        {"version": "1", "comment": "Checked."},
        follow=True,
    )
    assert any("is published (chain #1)" in m for m in messages_of(response))
    draft.refresh_from_db()
    assert draft.status == V.PUBLISHED and draft.published_by == people["coordinator"]
    assert "Version 1 · Published" in response.content.decode()


@pytest.mark.parametrize("who", [*READERS, "elsewhere", None])
def test_only_a_coordinator_of_the_center_publishes(client, people, center, draft, who):
    if who:
        client.force_login(people[who])
    response = client.post(page_url(center, DAY, "summary_publish"), {"version": "1"})
    assert response.status_code == {None: 302, "elsewhere": 404}.get(who, 403)
    draft.refresh_from_db()
    assert draft.status == V.DRAFT


def test_publishing_refusals_are_messages(client, people, center, reports, draft):
    client.force_login(people["coordinator"])
    url = page_url(center, DAY, "summary_publish")
    response = client.post(url, {"version": "7"}, follow=True)
    assert response.status_code == 200
    assert any("no version “7”" in m for m in messages_of(response))
    response = client.post(url, {"version": "x"}, follow=True)
    assert any("Version:" in m for m in messages_of(response))
    # A report of the day changed: the draft is stale and is not published.
    violation(people, at=local(DAY, 20))
    response = client.post(url, {"version": "1"}, follow=True)
    assert response.status_code == 200
    assert any("recompile" in m for m in messages_of(response))
    draft.refresh_from_db()
    assert draft.status == V.DRAFT
    assert 'data-testid="publish-form"' not in response.content.decode()
    # Publishing twice: the second is refused with a message.
    second = summary_compile(center=center, day=DAY)
    client.post(url, {"version": str(second.number)})
    response = client.post(url, {"version": str(second.number)}, follow=True)
    assert any("only a draft is published" in m for m in messages_of(response))


# --- The printable bulletin ------------------------------------------------------------------


def test_the_printable_bulletin_has_the_tables_and_no_navigation(client, people, center, published):
    client.force_login(people["observer"])
    response = client.get(page_url(center, DAY, "summary_print"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="violation-rows"' in body and published.content_sha256 in body
    assert 'class="site-header"' not in body and "<form" not in body
    client.force_login(people["coordinator"])
    css = "".join(part.decode() for part in client.get("/static/css/summary.css").streaming_content)
    assert "@media print" in css and ".site-header" in css

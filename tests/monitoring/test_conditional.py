"""Safe writes: ETags on every record response, 304 on a matching If-None-Match, 412 on a
stale If-Match with nothing written, and Idempotency-Key on POST (one record however often
a request is retried, 422 on a key reused for another request, 400 on a bad key, keys per
user, failures replayed, 5xx not kept, Celery hooks after the commit)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework import status, viewsets
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from config.celery import app as celery_app
from incidents.choices import ReportStatus
from incidents.models import Report, ReportTransition
from incidents.services import summary_compile
from monitoring.api.conditional import IdempotentPostMixin
from monitoring.choices import AuditEntryAction, ObserverRole
from monitoring.models import AuditEntry, IdempotencyKey, Party
from monitoring.permissions import HasMonitoringRole
from monitoring.queueing import broker_breaker_reset
from monitoring.selectors import audit_entries_for
from monitoring.services import idempotency_keys_purge, record_save
from tests.api_base import client_for
from tests.celery_worker import publishing_to
from tests.factories import (
    AgreementFactory,
    ExcludedAreaFactory,
    PartyFactory,
    PostFactory,
    SecurityAreaFactory,
    SettlementFactory,
    ZoneTermFactory,
    report_file,
    violation_payload,
)
from zones.api.views import ZoneViewSet

pytestmark = pytest.mark.django_db
S = ReportStatus
LIST = reverse("incidents-api:report-list")
COMPILE = reverse("incidents-api:dailysummary-compile")
DAMASCUS = ZoneInfo("Asia/Damascus")
DAY = date(2017, 6, 3)


def url(report, action: str = "detail") -> str:
    return reverse(f"incidents-api:report-{action}", kwargs={"uuid": report.uuid})


def etag_of(body) -> str:
    """The ETag the API promises: SHA-256 of the body's canonical JSON."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f'"{hashlib.sha256(text.encode()).hexdigest()}"'


@pytest.fixture(autouse=True)
def _broker_breaker():
    broker_breaker_reset()
    yield
    broker_breaker_reset()


@pytest.fixture
def people(zone, make_member):
    ZoneTermFactory(zone=zone)
    return {
        "author": make_member(ObserverRole.OBSERVER),
        "colleague": make_member(ObserverRole.OBSERVER),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
    }


def state(report) -> tuple:
    """What a refused write must leave as it was."""
    fresh = Report.objects.get(pk=report.pk)
    entries = audit_entries_for(fresh).count()
    return fresh.revision, fresh.status, fresh.narrative, entries, fresh.transitions.count()


# --- ETag and If-None-Match ----------------------------------------------------------------------


def test_a_report_has_a_stable_etag_of_its_representation(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    first, second = client.get(url(report)), client.get(url(report))
    assert first.status_code == 200
    assert first["ETag"] == second["ETag"] == etag_of(first.json())
    assert first["ETag"].startswith('"') and not first["ETag"].startswith("W/")


def test_the_etag_changes_with_the_record_and_an_edit_answers_with_the_new_one(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    before = client.get(url(report))["ETag"]
    edited = client.patch(url(report), {"revision": 1, "narrative": "Three rounds."})
    assert edited.status_code == 200, edited.content
    assert edited["ETag"] != before and edited["ETag"] == etag_of(edited.json())
    assert client.get(url(report))["ETag"] == edited["ETag"]
    submitted = client.post(url(report, "submit"))
    assert submitted.status_code == 200
    assert submitted["ETag"] == etag_of(submitted.json()) == client.get(url(report))["ETag"]


def test_a_new_report_answers_with_its_etag(people):
    created = client_for(people["author"]).post(LIST, violation_payload())
    assert created.status_code == 201
    assert created["ETag"] == etag_of(created.json())


def test_if_none_match_with_the_current_etag_is_not_modified(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    etag = client.get(url(report))["ETag"]
    weak = f"W/{etag}"
    for header in (etag, "*", f'"stale", {weak}', f'"a",{etag}'):
        response = client.get(url(report), HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, header
        assert response.content == b"" and response["ETag"] == etag
    assert client.head(url(report), HTTP_IF_NONE_MATCH=etag).status_code == 304
    for header in ('"stale"', 'W/"x", "y"', "garbage"):
        response = client.get(url(report), HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 200 and response.json()["uuid"] == str(report.uuid)


def test_if_none_match_does_not_reveal_a_record_one_may_not_see(people):
    draft = report_file(people["author"])
    response = client_for(people["partner"]).get(url(draft), HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 404


def test_lists_have_no_etag(people):
    report_file(people["author"])
    response = client_for(people["author"]).get(LIST, HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 200 and not response.has_header("ETag")


@pytest.mark.parametrize(
    ("basename", "make"),
    [
        ("monitoring-api:party", lambda: PartyFactory()),
        ("monitoring-api:agreement", lambda: AgreementFactory()),
        ("monitoring-api:monitoringcenter", None),
        ("zones-api:zone", None),
        ("zones-api:post", lambda: PostFactory()),
        ("zones-api:settlement", lambda: SettlementFactory()),
        ("zones-api:securityarea", lambda: SecurityAreaFactory()),
        ("zones-api:excludedarea", lambda: ExcludedAreaFactory()),
    ],
)
def test_reference_records_have_etags_and_304(people, center, zone, basename, make):
    record = {"monitoring-api:monitoringcenter": center, "zones-api:zone": zone}.get(basename)
    record = record or make()
    client = client_for(people["partner"])
    detail = reverse(f"{basename}-detail", args=[record.pk])
    if basename == "zones-api:zone":  # a zone as it stood at a moment: that moment's ETag
        detail += "?at=2017-06-03T12:00:00Z"
    response = client.get(detail)
    assert response.status_code == 200
    body = response.json()
    if basename == "zones-api:zone":  # ``at`` echoes the request: left out (ZoneViewSet)
        body.pop("at")
    assert response["ETag"] == etag_of(body)
    assert client.get(detail, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


class ZoneNowViewSet(ZoneViewSet):
    etag_ignored_fields = ("at",)


def test_members_that_echo_the_request_are_left_out_of_the_etag(people, zone):
    """A zone read at "now" says when that was (``at``): a member of the request, not of
    the zone, which a viewset leaves out of the hash so that the ETag holds."""

    def read(**headers):
        request = APIRequestFactory().get(f"/zones/{zone.pk}/", **headers)
        force_authenticate(request, user=people["partner"])
        return ZoneNowViewSet.as_view({"get": "retrieve"})(request, pk=zone.pk)

    first, second = read(), read()
    assert first.status_code == second.status_code == 200 and "at" in first.data
    assert first["ETag"] == second["ETag"]
    without_at = {key: value for key, value in first.data.items() if key != "at"}
    assert first["ETag"] == etag_of(json.loads(json.dumps(without_at)))
    assert read(HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_a_reference_records_etag_changes_when_it_is_changed(people):
    party = PartyFactory(name="Before")
    client = client_for(people["author"])
    detail = reverse("monitoring-api:party-detail", args=[party.pk])
    before = client.get(detail)["ETag"]
    party.name = "After"
    record_save(instance=party, actor=None)
    after = client.get(detail, HTTP_IF_NONE_MATCH=before)
    assert after.status_code == 200 and after.json()["name"] == "After"
    assert after["ETag"] != before


def test_a_summary_has_an_etag_and_304(people, center):
    summary = summary_compile(center=center, day=DAY).summary
    client = client_for(people["coordinator"])
    detail = reverse("incidents-api:dailysummary-detail", args=[summary.pk])
    response = client.get(detail)
    assert response.status_code == 200 and response["ETag"] == etag_of(response.json())
    assert client.get(detail, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


# --- If-Match ----------------------------------------------------------------------------------


def test_an_edit_on_a_stale_etag_is_refused_and_writes_nothing(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    stale = client.get(url(report))["ETag"]
    assert client.patch(url(report), {"revision": 1, "narrative": "Three rounds."}).status_code == (
        200
    )
    current = client.get(url(report))["ETag"]
    before = state(report)
    refused = client.patch(
        url(report), {"revision": 2, "narrative": "Four rounds."}, HTTP_IF_MATCH=stale
    )
    assert refused.status_code == 412
    (message,) = refused.json()["If-Match"]
    assert "changed since you read it" in message and current in message
    assert refused["ETag"] == current
    assert state(report) == before and before[2] == "Three rounds."


def test_a_transition_on_a_stale_etag_is_refused_and_writes_nothing(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    stale = client.get(url(report))["ETag"]
    client.patch(url(report), {"revision": 1, "narrative": "Three rounds."})
    before = state(report)
    refused = client.post(url(report, "submit"), HTTP_IF_MATCH=stale)
    assert refused.status_code == 412 and "If-Match" in refused.json()
    assert state(report) == before and before[1] == S.DRAFT


def test_an_edit_on_the_current_etag_goes_through(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    etag = client.get(url(report))["ETag"]
    edited = client.patch(
        url(report), {"revision": 1, "narrative": "Three rounds."}, HTTP_IF_MATCH=etag
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["narrative"] == "Three rounds." and edited.json()["revision"] == 2
    # One of a list, or "*" (the record exists), matches too.
    listed = client.patch(
        url(report),
        {"revision": 2, "narrative": "Four rounds."},
        HTTP_IF_MATCH=f'"old", {edited["ETag"]}',
    )
    assert listed.status_code == 200, listed.content
    submitted = client.post(url(report, "submit"), HTTP_IF_MATCH="*")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"


def test_if_match_alone_names_the_version_an_edit_was_made_on(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    etag = client.get(url(report))["ETag"]
    edited = client.patch(url(report), {"narrative": "Three rounds."}, HTTP_IF_MATCH=etag)
    assert edited.status_code == 200, edited.content
    assert edited.json()["revision"] == 2
    before = state(report)
    stale = client.patch(url(report), {"narrative": "Four rounds."}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412 and state(report) == before
    # without either, the edit does not say what it was made on
    neither = client.patch(url(report), {"narrative": "Five rounds."})
    assert neither.status_code == 400 and "revision" in neither.json()
    assert state(report) == before


def test_if_match_compares_strongly(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    etag = client.get(url(report))["ETag"]
    before = state(report)
    for header in (f"W/{etag}", "garbage"):
        refused = client.patch(url(report), {"revision": 1, "narrative": "x"}, HTTP_IF_MATCH=header)
        assert refused.status_code == 412, header
    assert state(report) == before


def test_if_match_and_the_revision_are_both_checked(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    etag = client.get(url(report))["ETag"]
    stale_revision = client.patch(
        url(report), {"revision": 7, "narrative": "x"}, HTTP_IF_MATCH=etag
    )
    assert stale_revision.status_code == 409
    assert Report.objects.get(pk=report.pk).revision == 1


def test_a_coordinators_decision_on_a_stale_etag_is_refused(people):
    report = report_file(people["author"], status=S.SUBMITTED)
    coordinator = client_for(people["coordinator"])
    etag = coordinator.get(url(report))["ETag"]
    client_for(people["author"]).post(url(report, "retract"), {"comment": "Wrong day."})
    before = state(report)
    refused = coordinator.post(url(report, "verify"), {"comment": "Seen."}, HTTP_IF_MATCH=etag)
    assert refused.status_code == 412
    assert state(report) == before and before[1] == S.RETRACTED


# --- Idempotency-Key ---------------------------------------------------------------------------


def creates(client, key: str, payload: dict | None = None):
    return client.post(LIST, payload or violation_payload(), HTTP_IDEMPOTENCY_KEY=key)


def create_entries() -> int:
    return AuditEntry.objects.filter(
        action=AuditEntryAction.CREATE, content_type__model="report"
    ).count()


def test_a_retried_create_is_answered_once(people):
    client = client_for(people["author"])
    first = creates(client, "8d4c7a52-0f0e-4d7e-9c1b-2f6f3b4f9a10")
    assert first.status_code == 201, first.content
    assert not first.has_header("Idempotent-Replayed")
    for _attempt in range(3):
        again = creates(client, "8d4c7a52-0f0e-4d7e-9c1b-2f6f3b4f9a10")
        assert again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        assert again.content == first.content and again["ETag"] == first["ETag"]
    assert Report.objects.count() == 1 and create_entries() == 1
    assert IdempotencyKey.objects.get().status_code == 201


def test_the_same_body_in_another_spelling_is_the_same_request(people):
    client = client_for(people["author"])
    payload = violation_payload()
    compact = json.dumps(payload)
    respelled = json.dumps(dict(reversed(list(payload.items()))), indent=2)
    first = client.post(LIST, compact, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post(LIST, respelled, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and Report.objects.count() == 1


def test_a_key_reused_for_another_request_is_refused(people):
    client = client_for(people["author"])
    assert creates(client, "k1").status_code == 201
    other_body = creates(client, "k1", violation_payload(narrative="Another event."))
    assert other_body.status_code == 422
    assert "Idempotency-Key" in other_body.json()
    report = Report.objects.get()
    other_path = client.post(url(report, "submit"), HTTP_IDEMPOTENCY_KEY="k1")
    assert other_path.status_code == 422 and "Idempotency-Key" in other_path.json()
    assert Report.objects.count() == 1 and create_entries() == 1
    assert Report.objects.get().status == S.DRAFT


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there", "new\x7fline"])
def test_a_bad_key_is_a_400_naming_the_header(people, key):
    response = creates(client_for(people["author"]), key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not Report.objects.exists() and not IdempotencyKey.objects.exists()


def test_the_longest_key_is_taken(people):
    response = creates(client_for(people["author"]), "~" * 255)
    assert response.status_code == 201


def test_keys_are_per_user(people):
    author, colleague = client_for(people["author"]), client_for(people["colleague"])
    mine = creates(author, "shared-key")
    theirs = creates(colleague, "shared-key")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert not theirs.has_header("Idempotent-Replayed")
    assert mine.json()["uuid"] != theirs.json()["uuid"]
    assert Report.objects.count() == 2
    assert creates(colleague, "shared-key")["Idempotent-Replayed"] == "true"
    assert Report.objects.count() == 2


def test_a_failed_first_request_is_replayed_as_it_failed(people):
    client = client_for(people["author"])
    bad = violation_payload(latitude=95)
    first = creates(client, "k-bad", bad)
    assert first.status_code == 400 and "latitude" in first.json()
    again = creates(client, "k-bad", bad)
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert not Report.objects.exists()


def test_any_body_the_parser_takes_is_fingerprinted(people):
    """A lone surrogate in a JSON string: the refusal names the field, never a 500."""
    client = client_for(people["author"])
    body = json.dumps(violation_payload()).replace('"Two mortar', '"\\ud800Two mortar')
    for _attempt in range(2):
        response = client.post(
            LIST, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-odd"
        )
        assert response.status_code == 400 and "narrative" in response.json()
    assert response["Idempotent-Replayed"] == "true" and not Report.objects.exists()


def test_a_retried_transition_is_done_once(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    first = client.post(url(report, "submit"), HTTP_IDEMPOTENCY_KEY="submit-1")
    assert first.status_code == 200 and first.json()["status"] == "submitted"
    again = client.post(url(report, "submit"), HTTP_IDEMPOTENCY_KEY="submit-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert ReportTransition.objects.filter(report=report).count() == 1
    # Without the key the same request is a new one: the report is no draft any more.
    assert client.post(url(report, "submit")).status_code == 400


def test_a_stale_if_match_with_a_key_is_replayed_as_a_412(people):
    report = report_file(people["author"])
    client = client_for(people["author"])
    stale = client.get(url(report))["ETag"]
    client.patch(url(report), {"revision": 1, "narrative": "Three rounds."})
    before = state(report)
    for _attempt in range(2):
        response = client.post(url(report, "submit"), HTTP_IF_MATCH=stale, HTTP_IDEMPOTENCY_KEY="s")
        assert response.status_code == 412
    assert response["Idempotent-Replayed"] == "true"
    assert state(report) == before


def test_a_forgotten_key_may_be_used_again(people, settings):
    client = client_for(people["author"])
    assert creates(client, "k1").status_code == 201
    # Past IDEMPOTENCY_KEY_HOURS, before the purge ran: forgotten all the same.
    IdempotencyKey.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS, minutes=1)
    )
    second = creates(client, "k1", violation_payload(narrative="Another event."))
    assert second.status_code == 201 and not second.has_header("Idempotent-Replayed")
    # The purge forgets keys too.
    assert idempotency_keys_purge(before=timezone.now() + timedelta(seconds=1)) == 1
    third = creates(client, "k1", violation_payload(narrative="A third event."))
    assert third.status_code == 201 and not third.has_header("Idempotent-Replayed")
    assert Report.objects.count() == 3


def test_a_partner_tool_compiles_once_per_key(people, center, celery_broker):
    """The compile action queues its task once, however often the request is retried."""
    celery_broker.prepare()
    queue = celery_broker.var_dir / "celery" / "queue"
    client = client_for(people["coordinator"])
    payload = {"center": center.code, "day": DAY.isoformat()}
    with publishing_to(celery_app, celery_broker):
        first = client.post(COMPILE, payload, HTTP_IDEMPOTENCY_KEY="compile-1")
        again = client.post(COMPILE, payload, HTTP_IDEMPOTENCY_KEY="compile-1")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert len(list(queue.iterdir())) == 1


def test_celery_hooks_run_after_the_commit_and_not_on_a_replay(
    people, center, celery_broker, django_capture_on_commit_callbacks
):
    celery_broker.prepare()
    queue = celery_broker.var_dir / "celery" / "queue"
    report = report_file(
        people["author"], occurred_at=datetime.combine(DAY, time(11), tzinfo=DAMASCUS)
    )
    summary_compile(center=center, day=DAY)  # compiled: the submit makes it stale
    client = client_for(people["author"])
    with publishing_to(celery_app, celery_broker):
        with django_capture_on_commit_callbacks(execute=True) as hooks:
            first = client.post(url(report, "submit"), HTTP_IDEMPOTENCY_KEY="submit-1")
        assert first.status_code == 200 and len(hooks) >= 1
        assert len(list(queue.iterdir())) == 1  # the recompilation, queued on commit
        with django_capture_on_commit_callbacks(execute=True) as replay_hooks:
            again = client.post(url(report, "submit"), HTTP_IDEMPOTENCY_KEY="submit-1")
        assert again["Idempotent-Replayed"] == "true" and replay_hooks == []
    assert len(list(queue.iterdir())) == 1


# --- 5xx responses and exceptions are not kept ----------------------------------------------


class FlakyPartyViewSet(IdempotentPostMixin, viewsets.GenericViewSet):
    """A POST that writes through a service, queues a hook on commit, then answers as told:
    a stand-in for any endpoint that fails after it has written."""

    permission_classes = [HasMonitoringRole]
    hooks: list[str] = []

    def create(self, request):
        party = Party(code=request.data["code"], name="Flaky", kind="state")
        record_save(instance=party, actor=request.user)
        transaction.on_commit(lambda: self.hooks.append(party.code))
        outcome = request.data["outcome"]
        if outcome == "raise":
            raise RuntimeError("the disk is full")
        return Response({"code": party.code}, status=int(outcome))


def flaky(user, code: str, outcome: str, key: str = "flaky-1"):
    request = APIRequestFactory().post(
        "/flaky/", {"code": code, "outcome": outcome}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    force_authenticate(request, user=user)
    return FlakyPartyViewSet.as_view({"post": "create"})(request)


@pytest.mark.parametrize("outcome", ["503", "500", "raise"])
def test_a_server_error_keeps_nothing_and_frees_the_key(
    people, outcome, django_capture_on_commit_callbacks
):
    user = people["coordinator"]
    FlakyPartyViewSet.hooks = []
    with django_capture_on_commit_callbacks(execute=True):
        if outcome == "raise":
            with pytest.raises(RuntimeError):
                flaky(user, "flaky", outcome)
        else:
            assert flaky(user, "flaky", outcome).status_code == int(outcome)
    assert not Party.objects.filter(code="flaky").exists()
    assert not IdempotencyKey.objects.exists() and FlakyPartyViewSet.hooks == []
    # The key is free: the retry is carried out, and its answer kept.
    with django_capture_on_commit_callbacks(execute=True):
        retry = flaky(user, "flaky", "201")
    assert retry.status_code == status.HTTP_201_CREATED and not retry.has_header(
        "Idempotent-Replayed"
    )
    assert Party.objects.filter(code="flaky").count() == 1 and FlakyPartyViewSet.hooks == ["flaky"]
    assert flaky(user, "flaky", "201")["Idempotent-Replayed"] == "true"
    assert Party.objects.filter(code="flaky").count() == 1

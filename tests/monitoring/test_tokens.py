"""Partner API tokens: issued by a coordinator of the partner's center (hashed, shown once,
audited), authenticating API requests as the partner account (last use recorded), refused
when unknown, revoked or expired (401), limited by their scopes (403), throttled per token
(429), compiling summaries for their own center only; and the coordinators' page."""

from __future__ import annotations

import copy
import hashlib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.views import APIView

from incidents.models import DailySummary, SummaryVersion
from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole
from monitoring.models import AuditEntry, PartnerToken
from monitoring.permissions import TokenHasScope
from monitoring.queueing import broker_breaker_reset
from monitoring.selectors import audit_entries_for
from monitoring.services import partner_token_issue, partner_token_revoke
from tests.api_base import client_for
from tests.factories import CenterFactory

pytestmark = pytest.mark.django_db

PARTIES = reverse("monitoring-api:party-list")
COMPILE = reverse("incidents-api:dailysummary-compile")
TOKENS = reverse("monitoring:token_list")
DAY = "2017-06-03"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def token_client(secret: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client


def revoke_url(token: PartnerToken) -> str:
    return reverse("monitoring:token_revoke", args=[token.pk])


@pytest.fixture(autouse=True)
def _fresh_throttle_and_breaker():
    """Throttle counts live in the cache: each test starts with none."""
    cache.clear()
    broker_breaker_reset()
    yield
    cache.clear()
    broker_breaker_reset()


@pytest.fixture
def other_center(db):
    return CenterFactory()


@pytest.fixture
def issue(coordinator_user, partner_user):
    """Issue a token for the center's partner account: ``issue(scopes=..., ...)``."""

    def make(scopes="read", *, partner=partner_user, actor=coordinator_user, **kwargs):
        kwargs.setdefault("name", "UNOCHA sync")
        kwargs.setdefault("expires_at", None)
        return partner_token_issue(partner_user=partner, scopes=scopes, actor=actor, **kwargs)

    return make


# --- Issuing -----------------------------------------------------------------------------------


def test_issuing_stores_the_hash_and_never_the_secret(issue, partner_user, coordinator_user):
    token, secret = issue("read write")
    token.refresh_from_db()
    assert len(secret) >= 40
    assert token.key_hash == sha256(secret) and token.prefix == secret[:8]
    assert token.user == partner_user and token.created_by == coordinator_user
    assert token.scope_set == {"read", "write"} and token.revoked_at is None
    stored = PartnerToken.objects.filter(pk=token.pk).values().get()
    assert not any(secret in str(value) for value in stored.values())
    # Two tokens never share a secret.
    other, other_secret = issue()
    assert other_secret != secret and other.key_hash != token.key_hash


def test_write_alone_means_read_and_write(issue):
    token, _ = issue(["write"])
    assert token.scopes == "read write"
    token, _ = issue("read")
    assert token.scopes == "read" and not token.has_scope("write")


@pytest.mark.parametrize("who", ["observer", "partner", "administrator", "elsewhere", "norole"])
def test_only_a_coordinator_of_the_partners_center_issues(
    issue, make_member, other_center, user_without_role, who
):
    actor = {
        "observer": lambda: make_member(ObserverRole.OBSERVER),
        "partner": lambda: make_member(ObserverRole.PARTNER),
        "administrator": lambda: make_member(ObserverRole.ADMINISTRATOR),
        "elsewhere": lambda: make_member(ObserverRole.COORDINATOR, center=other_center),
        "norole": lambda: user_without_role,
    }[who]()
    with pytest.raises(PermissionDenied):
        issue(actor=actor)
    assert (
        not PartnerToken.objects.exists()
        and not AuditEntry.objects.filter(content_type__model="partnertoken").exists()
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"scopes": "read admin"}, "scopes"),
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "expires_at"),
    ],
)
def test_bad_issue_input_names_its_field(issue, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        issue(**kwargs)
    assert field in caught.value.message_dict
    assert not PartnerToken.objects.exists()


def test_tokens_are_for_active_partner_accounts_only(issue, observer_user, make_member):
    with pytest.raises(ValidationError) as caught:
        issue(partner=observer_user)
    assert "partner_user" in caught.value.message_dict
    inactive = make_member(ObserverRole.PARTNER, is_active=False)
    with pytest.raises(ValidationError):
        issue(partner=inactive)
    assert not PartnerToken.objects.exists()


def test_issue_and_revoke_are_audited_without_the_secret(issue, coordinator_user):
    token, secret = issue("read write")
    partner_token_revoke(token=token, actor=coordinator_user)
    entries = list(audit_entries_for(token).order_by("at", "id"))
    assert [entry.action for entry in entries] == [
        AuditEntryAction.CREATE,
        AuditEntryAction.UPDATE,
    ]
    assert all(entry.actor == coordinator_user for entry in entries)
    created, revoked = entries
    assert created.changes["scopes"] == [None, "read write"]
    assert created.changes["prefix"] == [None, token.prefix]
    assert set(revoked.changes) == {"revoked_at", "revoked_by"}
    for entry in entries:
        text = f"{entry.changes} {entry.comment} {entry.object_repr}"
        assert secret not in text and token.key_hash not in text and "key_hash" not in text


def test_only_a_coordinator_of_the_center_revokes(issue, make_member, other_center):
    token, _ = issue()
    for actor in (
        make_member(ObserverRole.PARTNER),
        make_member(ObserverRole.ADMINISTRATOR),
        make_member(ObserverRole.COORDINATOR, center=other_center),
    ):
        with pytest.raises(PermissionDenied):
            partner_token_revoke(token=token, actor=actor)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_token_is_revoked_once(issue, coordinator_user):
    token, _ = issue()
    partner_token_revoke(token=token, actor=coordinator_user)
    with pytest.raises(ValidationError, match="already revoked"):
        partner_token_revoke(token=token, actor=coordinator_user)
    assert audit_entries_for(token).count() == 2


# --- Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "token"])
def test_a_token_authenticates_as_its_partner_and_records_its_use(issue, keyword):
    token, secret = issue()
    assert token.last_used_at is None
    before = timezone.now()
    response = token_client(secret, keyword).get(PARTIES)
    assert response.status_code == 200, response.content
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at >= before
    entry = AuditEntry.objects.filter(content_type__model="partnertoken").count()
    assert entry == 1  # using a token is not a change of the record: no audit entry


def test_last_use_is_written_at_most_once_a_minute(issue, django_assert_num_queries):
    token, secret = issue()
    client = token_client(secret)
    client.get(PARTIES)
    token.refresh_from_db()
    first = token.last_used_at
    client.get(PARTIES)
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: not written again
    earlier = timezone.now() - timedelta(minutes=2)
    PartnerToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    client.get(PARTIES)
    token.refresh_from_db()
    assert token.last_used_at > earlier + timedelta(minutes=1)


@pytest.mark.parametrize("case", ["unknown", "revoked", "expired", "deactivated", "malformed"])
def test_unusable_tokens_answer_401_with_the_reason(issue, coordinator_user, partner_user, case):
    token, secret = issue(expires_at=timezone.now() + timedelta(hours=1))
    header = f"Token {secret}"
    expected = {
        "unknown": "Unknown API token",
        "revoked": "revoked",
        "expired": "expired",
        "deactivated": "no longer an active partner",
        "malformed": "Malformed",
    }[case]
    if case == "unknown":
        header = f"Token {secret[:-2]}xy"
    elif case == "revoked":
        partner_token_revoke(token=token, actor=coordinator_user)
    elif case == "expired":
        PartnerToken.objects.filter(pk=token.pk).update(
            created_at=timezone.now() - timedelta(days=2),
            expires_at=timezone.now() - timedelta(seconds=1),
        )
    elif case == "deactivated":
        partner_user.observer.is_active = False
        partner_user.observer.save()
    elif case == "malformed":
        header = f"Token {secret} extra"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(PARTIES)
    assert response.status_code == 401
    assert expected in response.json()["detail"]
    assert response["WWW-Authenticate"] == 'Token realm="api"'


def test_requests_without_a_token_keep_the_session_rules(partner_user):
    assert client_for(None).get(PARTIES).status_code == 403  # anonymous: no challenge
    assert client_for(partner_user).get(PARTIES).status_code == 200


# --- Scopes --------------------------------------------------------------------------------------


def test_a_read_token_reads_and_may_not_write(issue, center, broker):
    _, secret = issue("read")
    client = token_client(secret)
    assert client.get(PARTIES).status_code == 200
    assert client.get(reverse("incidents-api:dailysummary-list")).status_code == 200
    response = client.post(COMPILE, {"center": center.code, "day": DAY})
    assert response.status_code == 403
    assert "“write” scope" in response.json()["detail"]
    assert broker.sent == [] and not DailySummary.objects.exists()


def test_a_write_token_compiles_its_centers_summaries(issue, center, broker):
    _, secret = issue("read write")
    response = token_client(secret).post(COMPILE, {"center": center.code, "day": DAY})
    assert response.status_code == 202, response.content
    assert response.json()["queued"] is True
    assert broker.sent == [{"center_id": center.pk, "day": DAY}]
    assert DailySummary.objects.filter(center=center, day=date(2017, 6, 3)).exists()


def test_a_write_token_compiles_in_the_request_when_the_queue_is_down(
    issue, center, broker, partner_user
):
    broker.up = False
    _, secret = issue("read write")
    response = token_client(secret).post(COMPILE, {"center": center.code, "day": DAY})
    assert response.status_code == 200, response.content
    body = response.json()
    # The new version is a draft, which a partner does not read: the summary as it sees it.
    assert body["queued"] is False and body["latest_version"] is None
    version = SummaryVersion.objects.get(summary__center=center)
    assert version.compiled_by == partner_user and version.status == "draft"
    entry = AuditEntry.objects.filter(actor=partner_user).first()
    assert entry is not None and entry.source == AuditEntrySource.API


def test_a_write_token_does_not_compile_another_centers_summaries(issue, other_center, broker):
    _, secret = issue("read write")
    response = token_client(secret).post(COMPILE, {"center": other_center.code, "day": DAY})
    assert response.status_code == 403
    assert broker.sent == [] and not DailySummary.objects.exists()


def test_a_partner_session_still_does_not_compile(partner_user, center, broker):
    response = client_for(partner_user).post(COMPILE, {"center": center.code, "day": DAY})
    assert response.status_code == 403
    assert broker.sent == []


def _api_views(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            view_class = getattr(pattern.callback, "cls", None)
            if view_class is not None and issubclass(view_class, APIView):
                yield route, pattern.callback


def test_every_api_endpoint_checks_token_scopes():
    """Views that set their own ``permission_classes`` must keep ``TokenHasScope``."""
    views = list(_api_views())
    assert len(views) > 20
    missing = []
    for route, callback in views:
        initkwargs = getattr(callback, "initkwargs", {})
        classes = initkwargs.get("permission_classes", callback.cls.permission_classes)
        if TokenHasScope not in classes:
            missing.append(route)
    assert not missing, f"without TokenHasScope: {sorted(set(missing))}"


# --- Throttling --------------------------------------------------------------------------------


@pytest.fixture
def tiny_rate(settings):
    rest = copy.deepcopy(django_settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {"partner": "3/min"}
    settings.REST_FRAMEWORK = rest


def test_a_token_is_throttled_past_its_rate(issue, tiny_rate, partner_user):
    _, secret = issue()
    _, other_secret = issue(name="Another tool")
    client = token_client(secret)
    assert [client.get(PARTIES).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(PARTIES)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    # Per token: another token of the same account, and the browser session, go on.
    assert token_client(other_secret).get(PARTIES).status_code == 200
    session = client_for(partner_user)
    assert [session.get(PARTIES).status_code for _ in range(5)] == [200] * 5


def test_the_default_rate_comes_from_the_settings():
    assert django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["partner"] == (
        django_settings.PARTNER_TOKEN_RATE
    )


# --- The schema ---------------------------------------------------------------------------------


def test_the_schema_describes_the_token_scheme(partner_user):
    schema = client_for(partner_user).get("/api/schema/", {"format": "json"}).json()
    scheme = schema["components"]["securitySchemes"]["partnerToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert {"partnerToken": []} in schema["paths"][COMPILE]["post"]["security"]


# --- The coordinators' page --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["observer", "partner", "administrator", "norole"])
def test_the_page_is_for_coordinators_only(client, make_member, user_without_role, issue, who):
    token, _ = issue()
    user = (
        user_without_role
        if who == "norole"
        else make_member(
            {
                "observer": ObserverRole.OBSERVER,
                "partner": ObserverRole.PARTNER,
                "administrator": ObserverRole.ADMINISTRATOR,
            }[who]
        )
    )
    client.force_login(user)
    assert client.get(TOKENS).status_code == 403
    assert client.post(TOKENS, {"name": "x"}).status_code == 403
    assert client.post(revoke_url(token)).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None and PartnerToken.objects.count() == 1


def test_anonymous_visitors_go_to_the_login_page(client, issue):
    token, _ = issue()
    for url in (TOKENS, revoke_url(token)):
        response = client.get(url) if url == TOKENS else client.post(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_coordinator_lists_the_centers_tokens_only(
    client, coordinator_user, issue, make_member, other_center, django_assert_max_num_queries
):
    mine, _ = issue("read write", name="Ours")
    partner_token_revoke(token=issue(name="Old one")[0], actor=coordinator_user)
    elsewhere_coordinator = make_member(ObserverRole.COORDINATOR, center=other_center)
    elsewhere_partner = make_member(ObserverRole.PARTNER, center=other_center)
    theirs, _ = issue(partner=elsewhere_partner, actor=elsewhere_coordinator, name="Theirs")
    for n in range(5):
        issue(name=f"Batch {n}")
    client.force_login(coordinator_user)
    with django_assert_max_num_queries(10):
        response = client.get(TOKENS)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ours" in body and "Old one" in body and "Theirs" not in body
    assert mine.prefix in body and theirs.prefix not in body
    assert 'data-state="revoked"' in body and 'data-state="active"' in body
    assert "API tokens" in body  # the nav link


def test_another_centers_coordinator_may_not_revoke(client, issue, make_member, other_center):
    token, _ = issue()
    client.force_login(make_member(ObserverRole.COORDINATOR, center=other_center))
    assert client.post(revoke_url(token)).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_issuing_on_the_page_shows_the_secret_once(client, center, coordinator_user, partner_user):
    client.force_login(coordinator_user)
    response = client.post(
        TOKENS,
        {
            "partner": partner_user.pk,
            "name": "UNOCHA sync",
            "scopes": "read write",
            "expires_on": "2099-01-31",
        },
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    token = PartnerToken.objects.get()
    body = response.content.decode()
    secret = response.context["secret"]
    assert token.key_hash == sha256(secret) and secret in body and "shown this once" in body
    assert token.scopes == "read write" and token.created_by == coordinator_user
    # The end of 31 January 2099 in the center's time zone.
    assert token.expires_at == datetime(2099, 2, 1, tzinfo=ZoneInfo(center.time_zone))
    listing = client.get(TOKENS).content.decode()
    assert token.prefix in listing and secret not in listing
    assert token_client(secret).get(PARTIES).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"scopes": "admin"}, "scopes"),
        ({"expires_on": "2001-01-01"}, "expires_on"),
        ({"expires_on": "tomorrow"}, "expires_on"),
        ({"partner": "elsewhere"}, "partner"),
        ({"partner": "observer"}, "partner"),
    ],
)
def test_bad_page_input_is_shown_at_its_field(
    client,
    coordinator_user,
    partner_user,
    observer_user,
    make_member,
    other_center,
    change,
    field,
):
    data = {"partner": partner_user.pk, "name": "Sync", "scopes": "read"}
    if change.get("partner") == "elsewhere":
        change = {"partner": make_member(ObserverRole.PARTNER, center=other_center).pk}
    elif change.get("partner") == "observer":
        change = {"partner": observer_user.pk}
    client.force_login(coordinator_user)
    response = client.post(TOKENS, {**data, **change})
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert f'data-field="{field}"' in response.content.decode()
    assert not PartnerToken.objects.exists()


def test_revoking_on_the_page(client, coordinator_user, issue):
    token, secret = issue()
    client.force_login(coordinator_user)
    response = client.post(revoke_url(token), follow=True)
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == coordinator_user
    assert token_client(secret).get(PARTIES).status_code == 401
    again = client.post(revoke_url(token), follow=True)
    assert "already revoked" in again.content.decode()
    assert client.get(revoke_url(token)).status_code == 405
    assert client.post(reverse("monitoring:token_revoke", args=[999999])).status_code == 404

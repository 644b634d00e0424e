"""The read-only API of parties, agreements and monitoring centers."""

from __future__ import annotations

from datetime import date

import pytest

from monitoring.choices import AgreementSignatoryRole, ObserverRole, PartyKind
from monitoring.models import Agreement, MonitoringCenter, Party
from tests.api_base import APIViewTestCases, client_for, member, passwordless_user
from tests.factories import (
    AgreementFactory,
    AgreementSignatoryFactory,
    CenterFactory,
    PartyFactory,
    ZoneFactory,
)


class TestPartyAPI(APIViewTestCases.ReadOnlyAPIViewTestCase):
    basename = "monitoring-api:party"
    model = Party
    fields = {
        "id",
        "url",
        "code",
        "name",
        "short_name",
        "kind",
        "country_code",
        "description",
        "is_active",
        "is_excluded",
    }
    max_list_queries = 3 + 2  # auth; count, page

    @classmethod
    def create_objects(cls, count):
        return PartyFactory.create_batch(count)

    @classmethod
    def create_filter_objects(cls):
        return {
            "jordan": PartyFactory(
                code="jordan", name="Hashemite Kingdom of Jordan", country_code="JO"
            ),
            "isis": PartyFactory(code="isis", name="Islamic State", kind=PartyKind.EXCLUDED_GROUP),
            "sarc": PartyFactory(
                code="sarc",
                name="Syrian Arab Red Crescent",
                short_name="SARC",
                kind=PartyKind.HUMANITARIAN_ORG,
                is_active=False,
            ),
        }

    filter_cases = [
        ({"kind": "state"}, {"jordan"}),
        ({"kind": ["excluded_group", "humanitarian_org"]}, {"isis", "sarc"}),
        ({"country_code": "jo"}, {"jordan"}),
        ({"is_active": "false"}, {"sarc"}),
        ({"q": "crescent"}, {"sarc"}),
        ({"q": "SARC"}, {"sarc"}),
        ({"code": "jordan,isis"}, {"jordan", "isis"}),
        ({"code": "nobody"}, set()),
    ]
    invalid_filters = [{"kind": "warlord"}, {"kind": ["state", "militia"]}]

    def test_excluded_group_is_flagged(self, reader):
        isis = PartyFactory(kind=PartyKind.EXCLUDED_GROUP)
        assert reader.get(self.detail_url(isis)).json()["is_excluded"] is True


class TestAgreementAPI(APIViewTestCases.ReadOnlyAPIViewTestCase):
    basename = "monitoring-api:agreement"
    model = Agreement
    fields = {
        "id",
        "url",
        "code",
        "title",
        "signed_on",
        "signed_at_place",
        "in_force_from",
        "initial_term_months",
        "auto_extends",
        "extension_months",
        "summary",
        "source",
        "signatories",
        "zones",
    }
    # auth; count, page, signatory roles, their parties, zones
    max_list_queries = 3 + 5

    @classmethod
    def create_objects(cls, count):
        agreements = AgreementFactory.create_batch(count)
        for agreement in agreements:
            AgreementSignatoryFactory(agreement=agreement)
            AgreementSignatoryFactory(agreement=agreement, role=AgreementSignatoryRole.MONITOR)
            ZoneFactory(agreement=agreement)
        return agreements

    @classmethod
    def create_filter_objects(cls):
        russia = PartyFactory(code="russia")
        usa = PartyFactory(code="usa")
        astana = AgreementFactory(code="astana", title="Astana memorandum")
        southwest = AgreementFactory(
            code="southwest",
            title="Memorandum on the southwest de-escalation zone",
            signed_on=date(2017, 7, 7),
        )
        AgreementSignatoryFactory(agreement=astana, party=russia)
        AgreementSignatoryFactory(
            agreement=southwest, party=russia, role=AgreementSignatoryRole.MONITOR
        )
        AgreementSignatoryFactory(
            agreement=southwest, party=usa, role=AgreementSignatoryRole.MONITOR
        )
        ZoneFactory(code="idlib", agreement=astana)
        ZoneFactory(code="south", agreement=southwest)
        return {"astana": astana, "southwest": southwest}

    filter_cases = [
        ({"signatory": "russia"}, {"astana", "southwest"}),
        ({"signatory": "usa"}, {"southwest"}),
        ({"signatory_role": "guarantor"}, {"astana"}),
        ({"signatory_role": "monitor"}, {"southwest"}),
        ({"zone": "idlib"}, {"astana"}),
        ({"signed_after": "2017-06-01"}, {"southwest"}),
        ({"signed_before": "2017-05-04"}, {"astana"}),
        ({"q": "southwest"}, {"southwest"}),
        ({"code": "astana"}, {"astana"}),
    ]
    invalid_filters = [
        {"signed_after": "2017-02-30"},
        {"signatory": "atlantis"},
        {"signatory_role": "king"},
        {"zone": "nowhere"},
        {"in_force_from_after": "yesterday"},
    ]

    def test_signatories_with_roles_and_zones(self, reader):
        russia = PartyFactory(code="russia", name="Russian Federation")
        jordan = PartyFactory(code="jordan", name="Jordan")
        agreement = AgreementFactory(code="southwest")
        AgreementSignatoryFactory(
            agreement=agreement, party=russia, role=AgreementSignatoryRole.MONITOR
        )
        AgreementSignatoryFactory(
            agreement=agreement, party=jordan, role=AgreementSignatoryRole.MONITOR
        )
        AgreementSignatoryFactory(
            agreement=agreement, party=russia, role=AgreementSignatoryRole.GUARANTOR
        )
        zone = ZoneFactory(code="south", agreement=agreement)
        body = reader.get(self.detail_url(agreement)).json()
        pairs = sorted((s["party"]["code"], s["role"]) for s in body["signatories"])
        assert pairs == [("jordan", "monitor"), ("russia", "guarantor"), ("russia", "monitor")]
        assert {"id", "url", "code", "name"} <= set(body["signatories"][0]["party"])
        assert [z["code"] for z in body["zones"]] == [zone.code]


class TestMonitoringCenterAPI(APIViewTestCases.ReadOnlyAPIViewTestCase):
    basename = "monitoring-api:monitoringcenter"
    model = MonitoringCenter
    fields = {
        "id",
        "url",
        "code",
        "name",
        "location",
        "agreement",
        "member_parties",
        "zones",
        "time_zone",
        "reporting_day_cutoff",
        "description",
    }
    max_list_queries = 3 + 4  # auth; count, page (with agreement), member parties, zones

    @classmethod
    def create_objects(cls, count):
        agreement = AgreementFactory()
        zone = ZoneFactory(agreement=agreement)
        return [
            CenterFactory(agreement=agreement, zones=[zone], member_parties=[PartyFactory()])
            for _ in range(count)
        ]

    @classmethod
    def create_filter_objects(cls):
        russia, usa = PartyFactory(code="russia"), PartyFactory(code="usa")
        astana, southwest = AgreementFactory(code="astana"), AgreementFactory(code="southwest")
        idlib = ZoneFactory(code="idlib", agreement=astana)
        south = ZoneFactory(code="south", agreement=southwest)
        return {
            "jwg": CenterFactory(
                code="JWG",
                name="Joint working group",
                agreement=astana,
                zones=[idlib],
                member_parties=[russia],
            ),
            "amman": CenterFactory(
                code="AMC",
                name="Amman monitoring center",
                location="Amman",
                time_zone="Asia/Amman",
                agreement=southwest,
                zones=[south],
                member_parties=[russia, usa],
            ),
        }

    filter_cases = [
        ({"member_party": "usa"}, {"amman"}),
        ({"member_party": "russia"}, {"jwg", "amman"}),
        ({"zone": "idlib"}, {"jwg"}),
        ({"agreement": "southwest"}, {"amman"}),
        ({"time_zone": "Asia/Amman"}, {"amman"}),
        ({"q": "amman"}, {"amman"}),
        ({"code": "JWG"}, {"jwg"}),
    ]
    invalid_filters = [{"zone": "atlantis"}, {"member_party": "nobody"}, {"agreement": "x"}]

    def test_center_lists_members_zones_and_agreement(self, reader):
        party = PartyFactory(code="jordan")
        agreement = AgreementFactory(code="southwest")
        zone = ZoneFactory(code="south", agreement=agreement)
        center = CenterFactory(agreement=agreement, zones=[zone], member_parties=[party])
        body = reader.get(self.detail_url(center)).json()
        assert body["agreement"]["code"] == "southwest"
        assert [p["code"] for p in body["member_parties"]] == ["jordan"]
        assert [z["code"] for z in body["zones"]] == ["south"]
        assert body["time_zone"] == "Asia/Damascus"


# --- The API root -------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_root_lists_every_endpoint():
    response = client_for(member(ObserverRole.PARTNER)).get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "parties",
        "agreements",
        "centers",
        "zones",
        "security-areas",
        "excluded-areas",
        "posts",
        "settlements",
        "classify",
        "reports",
        "summaries",
        "changes",
    }
    assert body["zones"].endswith("/api/v1/zones/")
    assert body["reports"].endswith("/api/v1/reports/")
    assert body["classify"].endswith("/api/v1/classify/")


@pytest.mark.django_db
def test_api_root_refuses_anonymous_and_users_without_a_profile():
    assert client_for(None).get("/api/v1/").status_code in (401, 403)
    assert client_for(passwordless_user()).get("/api/v1/").status_code == 403
    inactive = member(ObserverRole.OBSERVER, is_active=False)
    assert client_for(inactive).get("/api/v1/").status_code == 403

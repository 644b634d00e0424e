"""Test data built through the services, so tests exercise the real write path.

Each factory's ``_create`` calls the service that production code uses (and so writes
audit entries and runs validation); ``build()`` gives unsaved instances.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import factory
from django.contrib.auth import get_user_model

from monitoring.choices import AgreementSignatoryRole, ObserverRole, PartyKind
from monitoring.models import Agreement, AgreementSignatory, MonitoringCenter, Observer, Party
from monitoring.services import observer_save, record_save
from zones.choices import (
    PostKind,
    PostStatus,
    SecurityAreaDerivation,
    ZoneStatus,
    ZoneTermKind,
)
from zones.models import (
    ExcludedArea,
    Post,
    SecurityArea,
    Settlement,
    Zone,
    ZoneSuspension,
    ZoneTerm,
)
from zones.services import (
    excluded_area_save,
    post_save,
    security_area_save,
    settlement_save,
    zone_boundary_add,
    zone_save,
    zone_suspension_save,
    zone_term_add,
)

IN_FORCE = datetime(2017, 5, 5, 21, 0, tzinfo=UTC)  # 6 May 2017 00:00 Damascus time


def square(lon: float, lat: float, half: float = 0.1) -> dict:
    """A GeoJSON MultiPolygon: the square of side 2*half degrees around (lon, lat)."""
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "MultiPolygon", "coordinates": [[ring]]}


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        instance = model_class(*args, **kwargs)
        instance, _ = record_save(instance=instance, actor=None)
        return instance


class PartyFactory(ServiceFactory):
    class Meta:
        model = Party

    code = factory.Sequence(lambda n: f"party-{n}")
    name = factory.Sequence(lambda n: f"Party {n}")
    kind = PartyKind.STATE


class AgreementFactory(ServiceFactory):
    class Meta:
        model = Agreement

    code = factory.Sequence(lambda n: f"agreement-{n}")
    title = factory.Sequence(lambda n: f"Memorandum {n}")
    signed_on = datetime(2017, 5, 4).date()
    in_force_from = IN_FORCE
    initial_term_months = 6
    auto_extends = True
    extension_months = 6


class ZoneFactory(ServiceFactory):
    """A zone with one boundary revision: a square around ``center`` (lon, lat)."""

    class Meta:
        model = Zone

    class Params:
        center = (36.6, 35.9)
        half = 0.1

    code = factory.Sequence(lambda n: f"zone-{n}")
    name = factory.Sequence(lambda n: f"Zone {n}")
    governorates = factory.LazyFunction(lambda: ["idlib"])
    status = ZoneStatus.ACTIVE
    agreement = factory.SubFactory(AgreementFactory)
    effective_from = IN_FORCE
    # Params never reach _create; this declaration carries the square there.
    boundary = factory.LazyAttribute(lambda o: square(*o.center, half=o.half))

    @classmethod
    def _create(cls, model_class, *args, boundary, **kwargs):
        zone = zone_save(zone=model_class(*args, **kwargs), actor=None)
        zone_boundary_add(zone=zone, geometry=boundary, valid_from=IN_FORCE, actor=None)
        return zone

    @classmethod
    def _build(cls, model_class, *args, boundary=None, **kwargs):
        return model_class(*args, **kwargs)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        return kwargs


class CenterFactory(ServiceFactory):
    class Meta:
        model = MonitoringCenter
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: "C" + "".join(chr(65 + int(d)) for d in f"{n:03d}"))
    name = factory.Sequence(lambda n: f"Center {n}")
    time_zone = "Asia/Damascus"
    reporting_day_cutoff = time(0, 0)

    @factory.post_generation
    def zones(self, create, extracted, **kwargs):
        if create and extracted:
            self.zones.set(extracted)

    @factory.post_generation
    def member_parties(self, create, extracted, **kwargs):
        if create and extracted:
            self.member_parties.set(extracted)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password("correct-horse-battery")


class ObserverFactory(ServiceFactory):
    """An observer profile; its delegation joins the center if it is not a member yet."""

    class Meta:
        model = Observer

    user = factory.SubFactory(UserFactory)
    delegation = factory.SubFactory(PartyFactory)
    center = factory.SubFactory(CenterFactory)
    role = ObserverRole.OBSERVER

    @classmethod
    def _create(cls, model_class, *args, assigned_zones=(), **kwargs):
        observer = model_class(*args, **kwargs)
        observer.center.member_parties.add(observer.delegation)
        return observer_save(observer=observer, assigned_zones=assigned_zones, actor=None)


class SettlementFactory(ServiceFactory):
    class Meta:
        model = Settlement

    code = factory.Sequence(lambda n: f"settlement-{n}")
    name = factory.Sequence(lambda n: f"Settlement {n}")
    governorate = "idlib"
    latitude = 35.9
    longitude = 36.6
    population = 1000

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return settlement_save(settlement=model_class(*args, **kwargs), actor=None)


class PostFactory(ServiceFactory):
    """A post at its zone's default centre (35.9 N, 36.6 E) unless told otherwise."""

    class Meta:
        model = Post

    code = factory.Sequence(lambda n: f"post-{n}")
    name = factory.Sequence(lambda n: f"Post {n}")
    kind = PostKind.OBSERVATION_POST
    zone = factory.SubFactory(ZoneFactory)
    operating_party = factory.SubFactory(PartyFactory)
    status = PostStatus.OPERATING
    latitude = 35.9
    longitude = 36.6

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return post_save(post=model_class(*args, **kwargs), actor=None)


class AgreementSignatoryFactory(ServiceFactory):
    """A party's role under an agreement (guarantor by default)."""

    class Meta:
        model = AgreementSignatory

    agreement = factory.SubFactory(AgreementFactory)
    party = factory.SubFactory(PartyFactory)
    role = AgreementSignatoryRole.GUARANTOR


class ZoneTermFactory(factory.django.DjangoModelFactory):
    """A term of a zone, through ``zone_term_add`` (initial, from IN_FORCE, six months)."""

    class Meta:
        model = ZoneTerm

    zone = factory.SubFactory(ZoneFactory)
    kind = ZoneTermKind.INITIAL
    starts_at = IN_FORCE
    ends_at = datetime(2017, 11, 5, 21, 0, tzinfo=UTC)
    note = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return zone_term_add(actor=None, **kwargs)


class ZoneSuspensionFactory(ServiceFactory):
    class Meta:
        model = ZoneSuspension

    zone = factory.SubFactory(ZoneFactory)
    starts_at = datetime(2017, 7, 1, tzinfo=UTC)
    ends_at = datetime(2017, 7, 15, tzinfo=UTC)
    reason = "Fighting resumed along the line of contact."

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return zone_suspension_save(suspension=model_class(*args, **kwargs), actor=None)


class ExcludedGroupFactory(PartyFactory):
    kind = PartyKind.EXCLUDED_GROUP


class SecurityAreaFactory(ServiceFactory):
    """A drawn security area: a square around ``center`` (lon, lat), by default on the
    default zone's centre."""

    class Meta:
        model = SecurityArea

    class Params:
        center = (36.6, 35.9)
        half = 0.05

    zone = factory.SubFactory(ZoneFactory)
    code = factory.Sequence(lambda n: f"security-area-{n}")
    name = factory.Sequence(lambda n: f"Security area {n}")
    derivation = SecurityAreaDerivation.DRAWN
    geometry = factory.LazyAttribute(lambda o: square(*o.center, half=o.half))
    valid_from = IN_FORCE

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return security_area_save(area=model_class(*args, **kwargs), actor=None)


class ExcludedAreaFactory(ServiceFactory):
    """An area held by an excluded group: a square around ``center`` (lon, lat)."""

    class Meta:
        model = ExcludedArea

    class Params:
        center = (38.5, 35.0)
        half = 0.1

    code = factory.Sequence(lambda n: f"excluded-area-{n}")
    name = factory.Sequence(lambda n: f"Excluded area {n}")
    group = factory.SubFactory(ExcludedGroupFactory)
    geometry = factory.LazyAttribute(lambda o: square(*o.center, half=o.half))
    registered_on = datetime(2017, 5, 4).date()
    valid_from = IN_FORCE

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return excluded_area_save(area=model_class(*args, **kwargs), actor=None)


# --- Reports (issue 3): filed and moved through the workflow by the services -------------

REPORT_OCCURRED = datetime(2017, 6, 3, 11, 0, tzinfo=UTC)


def report_values(**overrides) -> dict:
    """Common report fields for a point in the default test zone (35.9 N, 36.6 E)."""
    from incidents.choices import ReportSource

    base = {
        "latitude": 35.9,
        "longitude": 36.6,
        "occurred_at": REPORT_OCCURRED,
        "source": ReportSource.SEEN,
        "narrative": "Mortar fire observed to the north-east, four impacts.",
    }
    return {**base, **overrides}


def report_file(
    author,
    *,
    kind: str = "violation",
    status: str = "draft",
    reviewer=None,
    detail: dict | None = None,
    **values,
):
    """File a report as ``author`` through the services and move it to ``status``.

    ``reviewer`` (a coordinator of the center who is not the author) is needed for the
    statuses a coordinator sets: verified, disputed, rejected, returned.
    """
    from incidents.choices import ReportKind, ReportStatus
    from incidents.services import report_create, report_transition

    if detail is None and kind == ReportKind.VIOLATION:
        detail = {"category": "shelling"}
    report = report_create(actor=author, kind=kind, values=report_values(**values), detail=detail)
    S = ReportStatus
    steps = {
        S.DRAFT: [],
        S.SUBMITTED: [(S.SUBMITTED, author)],
        S.RETRACTED: [(S.RETRACTED, author)],
        S.VERIFIED: [(S.SUBMITTED, author), (S.VERIFIED, reviewer)],
        S.DISPUTED: [(S.SUBMITTED, author), (S.DISPUTED, reviewer)],
        S.REJECTED: [(S.SUBMITTED, author), (S.REJECTED, reviewer)],
        S.RETURNED: [(S.SUBMITTED, author), (S.RETURNED, reviewer)],
    }[status]
    for to_status, actor in steps:
        report = report_transition(
            report=report, to_status=to_status, actor=actor, comment=f"Test: {to_status}."
        )
    return report


def violation_payload(**overrides) -> dict:
    """The JSON body of ``POST /api/v1/reports/`` for a plain violation (``overrides`` replace
    top-level keys)."""
    payload = {
        "kind": "violation",
        "latitude": 35.9,
        "longitude": 36.6,
        "occurred_at": REPORT_OCCURRED.isoformat(),
        "source": "seen",
        "narrative": "Two mortar rounds landed east of the market.",
        "detail": {"category": "shelling", "events": 2},
    }
    return {**payload, **overrides}

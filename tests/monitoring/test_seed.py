"""``manage.py seed`` and ``manage.py demo_accounts``: what they load, that a second run
changes nothing, that edits update, and that a bad file leaves the database as it was."""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from monitoring.choices import AgreementSignatoryRole, AuditEntryAction, AuditEntrySource
from monitoring.models import (
    Agreement,
    AgreementSignatory,
    AuditEntry,
    MonitoringCenter,
    Observer,
    Party,
)
from monitoring.seeding import default_seed_path
from zones.classifier import classify_point
from zones.models import ExcludedArea, Post, SecurityArea, Settlement, Zone, ZoneBoundary, ZoneTerm

pytestmark = pytest.mark.django_db

DAMASCUS = ZoneInfo("Asia/Damascus")

SEEDS = default_seed_path()
MODELS = (
    Party,
    Agreement,
    AgreementSignatory,
    Zone,
    ZoneTerm,
    ZoneBoundary,
    SecurityArea,
    ExcludedArea,
    MonitoringCenter,
    Settlement,
    Post,
    AuditEntry,
)


def seed(path: Path | None = None) -> str:
    out = StringIO()
    args = ["seed"] if path is None else ["seed", "--path", str(path)]
    call_command(*args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def read(folder: Path, name: str):
    return json.loads((folder / name).read_text(encoding="utf-8"))


def write(folder: Path, name: str, data) -> None:
    (folder / name).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def record(records: list, code: str) -> dict:
    return next(r for r in records if r["code"] == code)


def feature(collection: dict, **properties) -> dict:
    return next(
        f
        for f in collection["features"]
        if all(f["properties"].get(k) == v for k, v in properties.items())
    )


@pytest.fixture
def seed_copy(tmp_path) -> Path:
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    return folder


# --------------------------------------------------------------------------- loading


def test_seed_loads_the_five_zones_and_every_record_of_the_files():
    output = seed()

    assert set(Zone.objects.values_list("code", flat=True)) == {
        "idlib",
        "northern-homs",
        "eastern-ghouta",
        "daraa-quneitra",
        "southwest",
    }
    assert Zone.objects.filter(status="active").count() == 5
    assert Party.objects.count() == len(read(SEEDS, "parties.json")["parties"])
    assert Settlement.objects.count() == len(read(SEEDS, "settlements.json")["settlements"])
    assert Post.objects.count() == len(read(SEEDS, "posts.json")["posts"])
    assert 40 <= Settlement.objects.count() <= 80 and 15 <= Post.objects.count() <= 30
    for name, model in (
        ("zone_boundaries.geojson", ZoneBoundary),
        ("security_areas.geojson", SecurityArea),
        ("excluded_areas.geojson", ExcludedArea),
    ):
        assert model.objects.count() == len(read(SEEDS, name)["features"]), name
    assert MonitoringCenter.objects.count() == 3

    # Idlib's lines were redrawn: two revisions, the second from 27 May 2017.
    idlib = Zone.objects.get(code="idlib")
    assert [(b.revision, b.valid_from) for b in idlib.boundaries.order_by("valid_from")] == [
        (1, datetime(2017, 5, 5, 21, tzinfo=UTC)),
        (2, datetime(2017, 5, 26, 21, tzinfo=UTC)),
    ]
    # Astana: in force 6 May 2017 00:00 Damascus, six months, then an automatic extension.
    astana = Agreement.objects.get(code="astana-2017")
    assert astana.in_force_from == datetime(2017, 5, 5, 21, tzinfo=UTC)
    assert (astana.initial_term_months, astana.auto_extends, astana.extension_months) == (
        6,
        True,
        6,
    )
    terms = [(t.kind, t.starts_at, t.ends_at) for t in idlib.terms.order_by("starts_at")]
    assert terms[:2] == [
        ("initial", datetime(2017, 5, 5, 21, tzinfo=UTC), datetime(2017, 11, 5, 22, tzinfo=UTC)),
        ("extension", datetime(2017, 11, 5, 22, tzinfo=UTC), datetime(2018, 5, 5, 21, tzinfo=UTC)),
    ]
    # After the files, the command adds the extensions due by now: six months each, from
    # local midnight to local midnight in Damascus, with no gap, up to a term covering now.
    for (_, _, previous_end), (kind, start, end) in itertools.pairwise(terms):
        assert kind == "extension" and start == previous_end
        local_start, local_end = start.astimezone(DAMASCUS), end.astimezone(DAMASCUS)
        assert (local_start.hour, local_start.minute, local_start.day) == (0, 0, 6)
        assert (local_end.hour, local_end.day) == (0, 6)
        assert local_end.month == (local_start.month + 6 - 1) % 12 + 1
    assert terms[-1][1] <= timezone.now() < terms[-1][2]
    southwest = Zone.objects.get(code="southwest")
    assert [(t.starts_at, t.ends_at) for t in southwest.terms.all()] == [
        (datetime(2017, 7, 9, 9, tzinfo=UTC), None)
    ]
    assert southwest.effective_from > idlib.effective_from  # it governs where zones overlap

    # Russia is one party with two roles.
    russia = Party.objects.get(code="russia")
    assert set(russia.signatory_roles.values_list("agreement__code", "role")) == {
        ("astana-2017", AgreementSignatoryRole.GUARANTOR),
        ("southwest-2017", AgreementSignatoryRole.MONITOR),
    }
    assert set(Party.objects.filter(kind="excluded_group").values_list("code", flat=True)) == {
        "isis",
        "jabhat-al-nusra",
    }
    amc = MonitoringCenter.objects.get(code="AMC")
    assert amc.time_zone == "Asia/Amman"
    assert set(amc.member_parties.values_list("code", flat=True)) == {
        "russia",
        "united-states",
        "jordan",
    }
    assert list(amc.zones.values_list("code", flat=True)) == ["southwest"]
    assert MonitoringCenter.objects.get(code="JWG").zones.count() == 4

    # Derived bands were computed from the border; drawn ones kept their lines.
    band = SecurityArea.objects.get(code="eastern-ghouta-band")
    assert band.derivation == "buffered" and band.width_km == 3.0
    assert band.geometry["type"] == "MultiPolygon"
    assert SecurityArea.objects.filter(derivation="drawn").exists()
    assert Post.objects.get(code="ru-cp-wafideen").purposes == [
        "unarmed civilians",
        "humanitarian deliveries",
        "economic activity",
    ]

    # Audited as a management command; progress per file and counts at the end.
    assert set(AuditEntry.objects.values_list("source", flat=True)) == {AuditEntrySource.COMMAND}
    assert AuditEntry.objects.count() == sum(
        row_counts()[m.__name__] for m in MODELS if m is not AuditEntry
    )
    assert "posts.json: 28 records -> 28 created, 0 updated, 0 unchanged" in output
    assert "Settlement" in output and "Seed data loaded." in output


def test_a_second_run_changes_nothing():
    seed()
    before = row_counts()
    last_audit = AuditEntry.objects.order_by("-id").first().pk

    output = seed()

    assert row_counts() == before
    assert AuditEntry.objects.order_by("-id").first().pk == last_audit
    assert "Seed data up to date." in output
    assert " 0 created, 0 updated" in output and "created, 1 updated" not in output


# --------------------------------------------------------------------------- editing


def test_editing_a_record_updates_exactly_that_record_and_audits_it(seed_copy):
    seed(seed_copy)
    data = read(seed_copy, "settlements.json")
    douma = record(data["settlements"], "douma")
    old = douma["population"]
    douma["population"] = old + 5000
    write(seed_copy, "settlements.json", data)
    before = row_counts()
    last_audit = AuditEntry.objects.order_by("-id").first().pk

    output = seed(seed_copy)

    new_entries = list(AuditEntry.objects.filter(pk__gt=last_audit))
    assert len(new_entries) == 1
    entry = new_entries[0]
    settlement = Settlement.objects.get(code="douma")
    assert (entry.action, entry.object_pk) == (AuditEntryAction.UPDATE, str(settlement.pk))
    assert entry.changes == {"population": [old, old + 5000]}
    assert entry.source == AuditEntrySource.COMMAND
    assert settlement.population == old + 5000
    assert row_counts() == {**before, "AuditEntry": before["AuditEntry"] + 1}
    assert "settlements.json: 78 records -> 0 created, 1 updated, 77 unchanged" in output


HOMS_FROM = "2017-05-06T00:00:00+03:00"


def _moved_first_vertex(geometry: dict, dlon: float) -> dict:
    moved = json.loads(json.dumps(geometry))
    ring = moved["coordinates"][0][0]
    ring[0][0] += dlon
    ring[-1] = list(ring[0])
    return moved


def test_new_lines_from_a_new_moment_add_a_revision(seed_copy):
    seed(seed_copy)
    data = read(seed_copy, "zone_boundaries.geojson")
    first = feature(data, zone="northern-homs")
    redrawn = {
        "type": "Feature",
        "properties": {"zone": "northern-homs", "valid_from": "2017-08-04T00:00:00+03:00"},
        "geometry": _moved_first_vertex(first["geometry"], -0.04),
    }
    data["features"].append(redrawn)
    write(seed_copy, "zone_boundaries.geojson", data)
    last_audit = AuditEntry.objects.order_by("-id").first().pk

    seed(seed_copy)

    zone = Zone.objects.get(code="northern-homs")
    assert list(zone.boundaries.values_list("revision", "valid_from")) == [
        (1, datetime(2017, 5, 5, 21, tzinfo=UTC)),
        (2, datetime(2017, 8, 3, 21, tzinfo=UTC)),
    ]
    new_entries = AuditEntry.objects.filter(pk__gt=last_audit)
    assert [(e.action, e.content_type.model) for e in new_entries] == [
        (AuditEntryAction.CREATE, "zoneboundary")
    ]
    before = row_counts()
    seed(seed_copy)  # and it stays one revision
    assert row_counts() == before


def test_the_same_lines_from_a_new_moment_add_no_revision(seed_copy):
    seed(seed_copy)
    data = read(seed_copy, "zone_boundaries.geojson")
    first = feature(data, zone="northern-homs")
    same = json.loads(json.dumps(first))
    same["properties"]["valid_from"] = "2017-08-04T00:00:00+03:00"
    ring = same["geometry"]["coordinates"][0][0]
    same["geometry"]["coordinates"][0][0] = [*ring[3:-1], *ring[:4]]  # another start vertex
    data["features"].append(same)
    write(seed_copy, "zone_boundaries.geojson", data)
    before = row_counts()

    output = seed(seed_copy)

    assert row_counts() == before
    assert Zone.objects.get(code="northern-homs").boundaries.count() == 1
    assert "zone_boundaries.geojson: 7 records -> 0 created, 0 updated, 7 unchanged" in output


def test_corrected_lines_at_the_same_moment_update_that_revision_and_its_band(seed_copy):
    seed(seed_copy)
    zone = Zone.objects.get(code="northern-homs")
    boundary = zone.boundaries.get()
    band_before = SecurityArea.objects.get(code="northern-homs-band").geometry
    data = read(seed_copy, "zone_boundaries.geojson")
    first = feature(data, zone="northern-homs", valid_from=HOMS_FROM)
    first["geometry"] = _moved_first_vertex(first["geometry"], -0.04)
    write(seed_copy, "zone_boundaries.geojson", data)
    last_audit = AuditEntry.objects.order_by("-id").first().pk

    seed(seed_copy)

    boundary.refresh_from_db()
    assert zone.boundaries.count() == 1 and boundary.revision == 1
    assert boundary.geometry["coordinates"][0][0][0] == first["geometry"]["coordinates"][0][0][0]
    band = SecurityArea.objects.get(code="northern-homs-band")
    assert band.geometry != band_before  # derived from the corrected border
    changed = {
        (e.content_type.model, e.object_pk, tuple(e.changes))
        for e in AuditEntry.objects.filter(pk__gt=last_audit)
    }
    assert changed == {
        ("zoneboundary", str(boundary.pk), ("geometry",)),
        ("securityarea", str(band.pk), ("geometry",)),
    }


def test_records_taken_out_of_the_files_are_kept_and_named(seed_copy):
    seed(seed_copy)
    settlements = read(seed_copy, "settlements.json")
    settlements["settlements"].remove(record(settlements["settlements"], "tasil"))
    write(seed_copy, "settlements.json", settlements)
    boundaries = read(seed_copy, "zone_boundaries.geojson")
    boundaries["features"].remove(
        feature(boundaries, zone="idlib", valid_from="2017-05-27T00:00:00+03:00")
    )
    write(seed_copy, "zone_boundaries.geojson", boundaries)
    before = row_counts()

    output = seed(seed_copy)

    assert row_counts() == before
    assert "note: settlements not in the seed files, left as they are (1): tasil" in output
    assert "note: idlib: revision 2 (from 2017-05-26 21:00 UTC) is not in" in output


def test_a_post_may_stand_in_an_overlapped_zone(seed_copy):
    """Sheikh Maskin lies deep in the Astana southern zone (away from its border band) and
    in the southwest zone, which governs there."""
    seed(seed_copy)
    data = read(seed_copy, "posts.json")
    record(data["posts"], "ru-op-sheikh-maskin")["zone"] = "daraa-quneitra"
    write(seed_copy, "posts.json", data)

    seed(seed_copy)

    post = Post.objects.get(code="ru-op-sheikh-maskin")
    assert post.zone.code == "daraa-quneitra"
    where = classify_point(latitude=post.latitude, longitude=post.longitude)
    assert where.zone_code == "southwest" and post.zone_id in where.zone_ids
    assert post.zone_id not in where.security_area_zone_ids  # accepted as inside, not as band


# --------------------------------------------------------------------------- bad files


def _bow_tie(folder: Path) -> None:
    data = read(folder, "zone_boundaries.geojson")
    ghouta = feature(data, zone="eastern-ghouta")
    ghouta["geometry"]["coordinates"] = [
        [[[36.35, 33.50], [36.50, 33.60], [36.50, 33.50], [36.35, 33.60], [36.35, 33.50]]]
    ]
    write(folder, "zone_boundaries.geojson", data)


def _outside_syria(folder: Path) -> None:
    data = read(folder, "excluded_areas.geojson")
    area = feature(data, code="isis-uqayrbat")
    for position in area["geometry"]["coordinates"][0][0]:
        position[0] += 10  # into Iraq and beyond
    write(folder, "excluded_areas.geojson", data)


def _post_outside_its_zone(folder: Path) -> None:
    data = read(folder, "posts.json")
    post = record(data["posts"], "ru-cp-wafideen")
    post["latitude"], post["longitude"] = 33.511, 36.306  # Damascus old city
    write(folder, "posts.json", data)


def _unknown_party(folder: Path) -> None:
    data = read(folder, "settlements.json")
    record(data["settlements"], "douma")["controlling_party"] = "no-such-formation"
    write(folder, "settlements.json", data)


def _truncated_json(folder: Path) -> None:
    text = (folder / "centers.json").read_text(encoding="utf-8")
    (folder / "centers.json").write_text(text[: len(text) // 2], encoding="utf-8")


def _naive_moment(folder: Path) -> None:
    data = read(folder, "zones.json")
    record(data["zones"], "southwest")["terms"][0]["starts_at"] = "2017-07-09T12:00:00"
    write(folder, "zones.json", data)


BROKEN = {
    "self-intersecting ring": (
        _bow_tie,
        ["zone_boundaries.geojson", "'eastern-ghouta'", "'geometry'", "crosses itself"],
    ),
    "outside Syria": (
        _outside_syria,
        ["excluded_areas.geojson", "'isis-uqayrbat'", "'geometry'", "bounding box"],
    ),
    "post outside its zone": (
        _post_outside_its_zone,
        ["posts.json", "'ru-cp-wafideen'", "'latitude'", "outside every zone"],
    ),
    "unknown party": (
        _unknown_party,
        ["settlements.json", "'douma'", "'controlling_party'", "'no-such-formation'"],
    ),
    "invalid JSON": (_truncated_json, ["centers.json", "not valid JSON", "line"]),
    "moment without offset": (
        _naive_moment,
        ["zones.json", "'southwest'", "'terms.starts_at'", "UTC offset"],
    ),
}


@pytest.mark.parametrize("case", BROKEN.keys())
def test_a_bad_file_names_the_place_and_changes_nothing(seed_copy, case):
    seed(seed_copy)
    # A good edit in the first file, then the broken one: neither may stay.
    parties = read(seed_copy, "parties.json")
    record(parties["parties"], "russia")["short_name"] = "RF"
    write(seed_copy, "parties.json", parties)
    breaker, expected = BROKEN[case]
    breaker(seed_copy)
    before = row_counts()

    with pytest.raises(CommandError) as caught:
        seed(seed_copy)

    message = str(caught.value)
    for part in expected:
        assert part in message, message
    assert "Traceback" not in message
    assert row_counts() == before
    assert Party.objects.get(code="russia").short_name == "Russia"


def test_a_bad_file_on_an_empty_database_loads_nothing(seed_copy):
    _post_outside_its_zone(seed_copy)

    with pytest.raises(CommandError, match="ru-cp-wafideen"):
        seed(seed_copy)

    assert all(count == 0 for count in row_counts().values())


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such folder"):
        seed(tmp_path / "nowhere")


# --------------------------------------------------------------------------- demo accounts


@pytest.fixture
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def demo_accounts() -> str:
    out = StringIO()
    call_command("demo_accounts", stdout=out)
    return out.getvalue()


def test_demo_accounts_refuse_without_debug(settings):
    seed()
    settings.DEBUG = False
    with pytest.raises(CommandError, match="debug mode"):
        demo_accounts()
    assert not get_user_model().objects.exists()


def test_demo_accounts_need_the_seed_data(settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match=r"manage\.py seed"):
        demo_accounts()


def test_demo_accounts_cover_every_delegation_and_are_idempotent(settings, fast_hasher):
    settings.DEBUG = True
    settings.DEMO_PASSWORD = "demo-pass-for-tests"
    seed()

    output = demo_accounts()

    User = get_user_model()
    expected_observers = {
        f"obs-{party}-{center.code.lower()}"
        for center in MonitoringCenter.objects.all()
        for party in center.member_parties.values_list("code", flat=True)
    }
    assert "obs-russia-jwg" in expected_observers and len(expected_observers) == 7
    observers = set(
        Observer.objects.filter(role="observer").values_list("user__username", flat=True)
    )
    assert observers == expected_observers
    russia_jwg = Observer.objects.get(user__username="obs-russia-jwg")
    assert (russia_jwg.center.code, russia_jwg.delegation.code) == ("JWG", "russia")
    assert set(russia_jwg.assigned_zones.values_list("code", flat=True)) == {
        "idlib",
        "northern-homs",
        "eastern-ghouta",
        "daraa-quneitra",
    }
    coordinators = Observer.objects.filter(role="coordinator")
    assert sorted(c.center.code for c in coordinators) == ["AMC", "JWG", "RCR"]
    assert all(c.center.member_parties.filter(pk=c.delegation_id).exists() for c in coordinators)
    assert Observer.objects.filter(role="partner").count() == 1
    admin = Observer.objects.get(role="administrator").user
    assert admin.username == "demo-admin" and admin.is_staff and admin.is_superuser
    assert all(user.check_password("demo-pass-for-tests") for user in User.objects.all())
    assert not User.objects.exclude(pk=admin.pk).filter(is_superuser=True).exists()
    header = output.splitlines()[1].split()
    assert header == ["username", "role", "center", "delegation"]
    assert any(
        line.split()[:3] == ["obs-russia-jwg", "Observer", "JWG"] for line in output.splitlines()
    )
    assert AuditEntry.objects.filter(content_type__model="observer").count() == 12

    before = (User.objects.count(), Observer.objects.count(), AuditEntry.objects.count())
    again = demo_accounts()
    assert (User.objects.count(), Observer.objects.count(), AuditEntry.objects.count()) == before
    assert "0 created, 0 updated, 12 unchanged" in again


def test_demo_accounts_restore_a_changed_password(settings, fast_hasher):
    settings.DEBUG = True
    seed()
    demo_accounts()
    user = get_user_model().objects.get(username="coord-jwg")
    user.set_password("something-else")
    user.save()

    output = demo_accounts()

    user.refresh_from_db()
    assert user.check_password(settings.DEMO_PASSWORD)
    assert "1 updated" in output
    entry = AuditEntry.objects.filter(content_type__model="user", object_pk=str(user.pk)).first()
    assert entry.action == AuditEntryAction.UPDATE and "password" in entry.changes
    assert user.password not in json.dumps(entry.changes)

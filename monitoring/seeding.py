"""Load the reference data in ``seeds/`` through the services, and create the demo accounts.

``manage.py seed`` and ``manage.py demo_accounts`` are thin wrappers around
:func:`seed_load` and :func:`demo_accounts_ensure`.

The seed files are the source of truth for the records they name (by ``code``; terms by
zone and start; boundary revisions by zone and ``valid_from``): a record is created when
missing, brought to the file's values when different, and left alone (no write, no audit
entry) when equal, so loading twice changes nothing. Records that are not in the files are
never deleted; the summary names them.

Boundary revisions are history, so they are handled with care:

- a feature whose ``valid_from`` matches a stored revision of the zone corrects that
  revision when its lines differ (an audited update; the revision keeps its number);
- a feature with a new ``valid_from`` adds a revision, unless its lines equal the ones
  already in force at that moment (which would add nothing but a duplicate).

"Equal" lines are topologically equal (the same area, whatever the vertex order).

Everything runs in one transaction: a bad record stops the load with a :class:`SeedError`
naming the file, the record and the field, and nothing of that run is kept.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from zones import classifier
from zones.choices import PostKind, SecurityAreaDerivation
from zones.geometry import parse_multipolygon, to_geojson
from zones.models import ExcludedArea, Post, SecurityArea, Settlement, Zone, ZoneBoundary, ZoneTerm
from zones.services import (
    excluded_area_save,
    post_save,
    security_area_save,
    settlement_save,
    zone_boundary_add,
    zone_save,
    zone_term_add,
)

from .choices import AgreementSignatoryRole, AuditEntryAction, ObserverRole, PartyKind
from .models import Agreement, AgreementSignatory, MonitoringCenter, Observer, Party
from .services import audit_entry_create, observer_save, record_save, record_snapshot, record_upsert

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"

PURPOSE_FIELDS = {
    "civilians": "serves_civilians",
    "humanitarian": "serves_humanitarian",
    "economic": "serves_economic",
}


class SeedError(Exception):
    """A seed file that cannot be loaded: which file, which record, which field, and why."""

    def __init__(self, file: str, message: str, *, record: str = "", field: str = "") -> None:
        self.file, self.record, self.field, self.message = file, record, field, message
        where = ", ".join(
            part for part in (file, record, f"field {field!r}" if field else "") if part
        )
        super().__init__(f"{where}: {message}")


@dataclass
class SeedReport:
    """What one load did: outcomes per model, in loading order, and notes for the reader."""

    counts: dict[str, Counter] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, model: type[models.Model], outcome: str) -> None:
        self.counts.setdefault(model.__name__, Counter())[outcome] += 1

    def total(self, outcome: str) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    @property
    def changed(self) -> bool:
        return bool(self.total(CREATED) or self.total(UPDATED))

    def table(self) -> str:
        width = max([len("model"), *(len(name) for name in self.counts)])
        lines = [f"{'model':<{width}}  {'created':>7}  {'updated':>7}  {'unchanged':>9}"]
        for name, counter in self.counts.items():
            lines.append(
                f"{name:<{width}}  {counter[CREATED]:>7}  {counter[UPDATED]:>7}  "
                f"{counter[UNCHANGED]:>9}"
            )
        lines.append(
            f"{'total':<{width}}  {self.total(CREATED):>7}  {self.total(UPDATED):>7}  "
            f"{self.total(UNCHANGED):>9}"
        )
        return "\n".join(lines)


def default_seed_path() -> Path:
    from django.conf import settings

    return Path(settings.BASE_DIR) / "seeds"


def seed_load(
    *, path: Path | str | None = None, actor=None, log: Callable[[str], Any] = print
) -> SeedReport:
    """Load every seed file found in ``path`` (default: the project's ``seeds/``).

    Raises :class:`SeedError` for a bad file; the database is then left as it was.
    """
    loader = _Loader(Path(path) if path is not None else default_seed_path(), actor, log)
    try:
        with transaction.atomic():
            report = loader.run()
    except SeedError:
        # The classifier may have loaded lines that were just rolled back.
        classifier.invalidate()
        raise
    return report


# --------------------------------------------------------------------------- reading


def _fail(message: str, field: str = "") -> None:
    raise _RecordError(message, field)


class _RecordError(Exception):
    """A problem inside one record; the loader adds the file and record names."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


def _keys(record: Any, *, required: Iterable[str], optional: Iterable[str] = ()) -> None:
    if not isinstance(record, dict):
        _fail(f"expected an object with fields, got {type(record).__name__}")
    required = tuple(required)
    for key in required:
        if key not in record:
            _fail("this field is required", key)
    unknown = sorted(set(record) - set(required) - set(optional))
    if unknown:
        _fail(f"unknown field (known: {', '.join(sorted({*required, *optional}))})", unknown[0])


def _text(record: Mapping, key: str, default: str = "") -> str:
    value = record.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        _fail(f"expected text, got {json.dumps(value)}", key)
    return value


def _code(record: Mapping, key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        _fail(f"expected a code (text), got {json.dumps(value)}", key)
    return value


def _number(record: Mapping, key: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(f"expected a number, got {json.dumps(value)}", key)
    return float(value)


def _moment(record: Mapping, key: str, *, required: bool = True) -> datetime | None:
    """An ISO 8601 moment with its UTC offset, returned in UTC."""
    value = record.get(key)
    if value is None and not required:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        _fail(f"expected a moment such as 2017-05-06T00:00:00+03:00, got {json.dumps(value)}", key)
    if moment.tzinfo is None or moment.utcoffset() is None:
        _fail(
            f"give the UTC offset, e.g. 2017-05-06T00:00:00+03:00 (Damascus in summer 2017), "
            f"got {json.dumps(value)}",
            key,
        )
    return moment.astimezone(UTC)


def _date(record: Mapping, key: str, *, required: bool = False) -> date | None:
    value = record.get(key)
    if value is None and not required:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        _fail(f"expected a date such as 2017-05-04, got {json.dumps(value)}", key)


def _time(record: Mapping, key: str) -> time:
    value = record.get(key)
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        _fail(f"expected a local time such as 00:00 or 18:00, got {json.dumps(value)}", key)


def _list(record: Mapping, key: str) -> list:
    value = record.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(f"expected a list, got {json.dumps(value)}", key)
    return value


def _ref(model: type[models.Model], code: Any, key: str, what: str, source: str):
    """The record of ``model`` with this code, or an error naming where it should be."""
    if not isinstance(code, str) or not code:
        _fail(f"expected a {what} code, got {json.dumps(code)}", key)
    found = model.objects.filter(code=code).first()
    if found is None:
        _fail(f"unknown {what} {code!r} (not in {source} nor in the database)", key)
    return found


def _party(record: Mapping, key: str, *, required: bool = True) -> Party | None:
    if record.get(key) is None and not required:
        return None
    return _ref(Party, record.get(key), key, "party", "parties.json")


def _zone(code: Any, key: str = "zone") -> Zone:
    return _ref(Zone, code, key, "zone", "zones.json")


def _geometry(value: Any, key: str = "geometry") -> Any:
    try:
        return parse_multipolygon(value)
    except ValidationError as exc:
        _fail(" ".join(exc.messages), key)


def _same_lines(a, b) -> bool:
    return bool(a.equals(b))


def _validation_message(exc: ValidationError) -> tuple[str, str]:
    """(field, message) for the first field of a ValidationError (field "" if none)."""
    if hasattr(exc, "error_dict"):
        items = exc.message_dict
        name = next((key for key in items if key != "__all__"), "__all__")
        return ("" if name == "__all__" else name), " ".join(items[name])
    return "", " ".join(exc.messages)


# --------------------------------------------------------------------------- loading


class _Loader:
    def __init__(self, path: Path, actor, log: Callable[[str], Any]) -> None:
        self.path = path
        self.actor = actor
        self.log = log
        self.report = SeedReport()
        self.file = ""
        self.seen: dict[type[models.Model], set[str]] = {}

    # The files, in the order their references need: (file, list key in a JSON file or
    # None for a GeoJSON FeatureCollection, what one record is called, loader method).
    FILES = (
        ("parties.json", "parties", "party", "_party_load"),
        ("agreements.json", "agreements", "agreement", "_agreement_load"),
        ("zones.json", "zones", "zone", "_zone_load"),
        ("zone_boundaries.geojson", None, "feature", "_boundary_load"),
        ("security_areas.geojson", None, "security area", "_security_area_load"),
        ("excluded_areas.geojson", None, "excluded area", "_excluded_area_load"),
        ("centers.json", "centers", "center", "_center_load"),
        ("settlements.json", "settlements", "settlement", "_settlement_load"),
        ("posts.json", "posts", "post", "_post_load"),
    )

    def run(self) -> SeedReport:
        if not self.path.is_dir():
            raise SeedError(str(self.path), "no such folder")
        if not any((self.path / entry[0]).is_file() for entry in self.FILES):
            names = ", ".join(entry[0] for entry in self.FILES)
            raise SeedError(str(self.path), f"no seed files here (expected {names})")
        self.log(f"Loading seed data from {self.path}")
        for name, key, singular, method in self.FILES:
            if not (self.path / name).is_file():
                self.log(f"  {name}: not present, skipped")
                continue
            self.file = name
            before = {model: Counter(counter) for model, counter in self.report.counts.items()}
            records = self._read(name, key)
            loader = getattr(self, method)
            if key is None:
                loader(records, singular)
            else:
                for index, record in enumerate(records, start=1):
                    label = f"{singular} {index}"
                    if isinstance(record, dict) and isinstance(record.get("code"), str):
                        label = f"{singular} {record['code']!r}"
                    with self._record(label):
                        loader(record)
            self.log(f"  {name}: {self._file_summary(before, len(records))}")
            if name in ("zones.json", "zone_boundaries.geojson"):
                # Terms and lines written through record_save do not reach the classifier
                # on their own; posts are checked against it further on.
                classifier.invalidate()
        self._note_unlisted()
        classifier.invalidate()
        transaction.on_commit(classifier.invalidate)
        return self.report

    def _file_summary(self, before: dict[str, Counter], n: int) -> str:
        delta = Counter()
        for model, counter in self.report.counts.items():
            delta.update(counter - before.get(model, Counter()))
        return (
            f"{n} record{'s' if n != 1 else ''} -> {delta[CREATED]} created, "
            f"{delta[UPDATED]} updated, {delta[UNCHANGED]} unchanged"
        )

    def _read(self, name: str, key: str | None) -> list:
        path = self.path / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SeedError(
                name, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SeedError(name, f"cannot be read: {exc}") from exc
        if key is None:
            if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
                raise SeedError(name, "expected a GeoJSON FeatureCollection")
            records = data.get("features")
            if not isinstance(records, list):
                raise SeedError(name, "expected a list of features under 'features'")
            return records
        if isinstance(data, dict):
            if key not in data:
                raise SeedError(name, f"expected the records in a list under {key!r}")
            data = data[key]
        if not isinstance(data, list):
            raise SeedError(name, f"expected a list of {key}")
        return data

    @contextmanager
    def _record(self, label: str) -> Iterator[None]:
        try:
            yield
        except _RecordError as exc:
            raise SeedError(self.file, exc.message, record=label, field=exc.field) from exc
        except ValidationError as exc:
            name, message = _validation_message(exc)
            raise SeedError(self.file, message, record=label, field=name) from exc
        except IntegrityError as exc:
            raise SeedError(self.file, f"refused by the database: {exc}", record=label) from exc
        except (TypeError, ValueError) as exc:
            raise SeedError(self.file, f"cannot be read: {exc}", record=label) from exc

    def _mark(self, model: type[models.Model], code: str) -> None:
        seen = self.seen.setdefault(model, set())
        if code in seen:
            _fail(f"the code {code!r} appears twice", "code")
        seen.add(code)

    def _note_unlisted(self) -> None:
        for model, codes in self.seen.items():
            extra = list(
                model.objects.exclude(code__in=codes)
                .order_by("code")
                .values_list("code", flat=True)
            )
            if extra:
                shown = ", ".join(extra[:10]) + (", ..." if len(extra) > 10 else "")
                self.report.notes.append(
                    f"{model._meta.verbose_name_plural} not in the seed files, left as they "
                    f"are ({len(extra)}): {shown}"
                )

    # -- writing helpers

    def _upsert(self, model, lookup, values, m2m=None):
        instance, outcome = record_upsert(
            model=model, lookup=lookup, values=values, actor=self.actor, m2m=m2m
        )
        self.report.add(model, outcome)
        return instance

    def _save_with(self, model, lookup: Mapping, values: Mapping, save: Callable[[Any], Any]):
        """Create or update through ``save`` (a zones service, which returns no outcome),
        telling created, updated and unchanged apart by the stored values."""
        instance = model.objects.filter(**lookup).first()
        before = record_snapshot(instance) if instance is not None else None
        if instance is None:
            instance = model(**lookup)
        for key, value in values.items():
            setattr(instance, key, value)
        instance = save(instance)
        if before is None:
            outcome = CREATED
        else:
            outcome = UPDATED if record_snapshot(instance) != before else UNCHANGED
        self.report.add(model, outcome)
        return instance

    # -- one loader per file

    def _party_load(self, record: dict) -> None:
        _keys(
            record,
            required=("code", "name", "kind"),
            optional=("short_name", "country_code", "description", "is_active"),
        )
        code = _code(record, "code")
        self._mark(Party, code)
        is_active = record.get("is_active", True)
        if not isinstance(is_active, bool):
            _fail("expected true or false", "is_active")
        self._upsert(
            Party,
            {"code": code},
            {
                "name": _text(record, "name"),
                "short_name": _text(record, "short_name"),
                "kind": _text(record, "kind"),
                "country_code": _text(record, "country_code"),
                "description": _text(record, "description"),
                "is_active": is_active,
            },
        )

    def _agreement_load(self, record: dict) -> None:
        _keys(
            record,
            required=("code", "title", "signed_on", "in_force_from"),
            optional=(
                "signed_at_place",
                "initial_term_months",
                "auto_extends",
                "extension_months",
                "summary",
                "source",
                "signatories",
            ),
        )
        code = _code(record, "code")
        self._mark(Agreement, code)
        agreement = self._upsert(
            Agreement,
            {"code": code},
            {
                "title": _text(record, "title"),
                "signed_on": _date(record, "signed_on", required=True),
                "signed_at_place": _text(record, "signed_at_place"),
                "in_force_from": _moment(record, "in_force_from"),
                "initial_term_months": record.get("initial_term_months"),
                "auto_extends": record.get("auto_extends", False),
                "extension_months": record.get("extension_months"),
                "summary": _text(record, "summary"),
                "source": _text(record, "source"),
            },
        )
        signatories = record.get("signatories") or {}
        if not isinstance(signatories, dict):
            _fail('expected {"role": ["party code", ...]}', "signatories")
        listed = set()
        for role, codes in signatories.items():
            if role not in AgreementSignatoryRole.values:
                _fail(
                    f"unknown role {role!r} (known: {', '.join(AgreementSignatoryRole.values)})",
                    "signatories",
                )
            if not isinstance(codes, list):
                _fail(f"expected a list of party codes for {role!r}", "signatories")
            for party_code in codes:
                party = _ref(Party, party_code, "signatories", "party", "parties.json")
                listed.add((party.pk, role))
                self._upsert(
                    AgreementSignatory, {"agreement": agreement, "party": party, "role": role}, {}
                )
        stored = agreement.signatory_roles.select_related("party")
        for role in stored:
            if (role.party_id, role.role) not in listed:
                self.report.notes.append(
                    f"{agreement.code}: {role.party} as {role.get_role_display().lower()} is not "
                    "in agreements.json; left as it is"
                )

    def _zone_load(self, record: dict) -> None:
        _keys(
            record,
            required=("code", "name", "governorates", "agreement", "effective_from"),
            optional=("status", "flights_banned", "description", "boundary_note", "terms"),
        )
        code = _code(record, "code")
        self._mark(Zone, code)
        values = {
            "name": _text(record, "name"),
            "governorates": record.get("governorates"),
            "status": _text(record, "status", "proposed"),
            "agreement": _ref(
                Agreement, record.get("agreement"), "agreement", "agreement", "agreements.json"
            ),
            "effective_from": _moment(record, "effective_from"),
            "flights_banned": record.get("flights_banned", True),
            "description": _text(record, "description"),
            "boundary_note": _text(record, "boundary_note"),
        }
        zone = self._save_with(
            Zone, {"code": code}, values, lambda z: zone_save(zone=z, actor=self.actor)
        )
        starts = set()
        for term in _list(record, "terms"):
            try:
                _keys(term, required=("kind", "starts_at"), optional=("ends_at", "note"))
                kind, note = _text(term, "kind"), _text(term, "note")
                starts_at = _moment(term, "starts_at")
                ends_at = _moment(term, "ends_at", required=False)
            except _RecordError as exc:
                _fail(exc.message, f"terms.{exc.field}" if exc.field else "terms")
            if starts_at in starts:
                _fail(f"two terms start at {term['starts_at']}", "terms.starts_at")
            starts.add(starts_at)
            self._term_load(zone, kind, starts_at, ends_at, note)

    def _term_load(
        self, zone: Zone, kind: str, starts_at: datetime, ends_at: datetime | None, note: str
    ) -> None:
        existing = ZoneTerm.objects.filter(zone=zone, starts_at=starts_at).first()
        try:
            if existing is None:
                zone_term_add(
                    zone=zone,
                    kind=kind,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    note=note,
                    actor=self.actor,
                )
                self.report.add(ZoneTerm, CREATED)
                return
            existing.kind, existing.ends_at, existing.note = kind, ends_at, note
            _, changed = record_save(instance=existing, actor=self.actor)
            self.report.add(ZoneTerm, UPDATED if changed else UNCHANGED)
        except ValidationError as exc:
            name, message = _validation_message(exc)
            _fail(message, f"terms.{name}" if name else "terms")

    def _boundary_load(self, features: list, singular: str) -> None:
        parsed = []
        for index, feature in enumerate(features, start=1):
            with self._record(f"{singular} {index}"):
                _keys(feature, required=("type", "properties", "geometry"), optional=("id",))
                if feature["type"] != "Feature":
                    _fail("expected a GeoJSON Feature", "type")
                properties = feature["properties"]
                if not isinstance(properties, dict):
                    _fail("expected an object", "properties")
                try:
                    _keys(properties, required=("zone", "valid_from"), optional=("source",))
                except _RecordError as exc:
                    _fail(exc.message, exc.field or "properties")
                zone = _zone(properties.get("zone"))
                valid_from = _moment(properties, "valid_from")
                label = f"{singular} {index} (zone {zone.code!r} from {properties['valid_from']})"
            with self._record(label):
                shape = _geometry(feature["geometry"])
                if any(p[1].pk == zone.pk and p[2] == valid_from for p in parsed):
                    _fail("another feature has the same zone and valid_from", "valid_from")
                parsed.append((label, zone, valid_from, shape, _text(properties, "source")))
        # Earlier lines first, so "the lines in force" at each moment are already stored.
        for label, zone, valid_from, shape, source in sorted(
            parsed, key=lambda item: (item[1].code, item[2])
        ):
            with self._record(label):
                self._revision_load(zone, valid_from, shape, source)
        listed: dict[Zone, set[datetime]] = {}
        for _, zone, valid_from, _, _ in parsed:
            listed.setdefault(zone, set()).add(valid_from)
        for zone, moments in listed.items():
            for boundary in zone.boundaries.exclude(valid_from__in=moments):
                self.report.notes.append(
                    f"{zone.code}: revision {boundary.revision} (from "
                    f"{boundary.valid_from:%Y-%m-%d %H:%M} UTC) is not in "
                    "zone_boundaries.geojson; left as it is"
                )

    def _revision_load(self, zone: Zone, valid_from: datetime, shape, source: str) -> None:
        existing = zone.boundaries.filter(valid_from=valid_from).first()
        if existing is not None:
            # The same moment: a correction of that revision's lines (or its source).
            if not _same_lines(shape, parse_multipolygon(existing.geometry)):
                existing.geometry = to_geojson(shape)
            existing.source = source
            _, changed = record_save(instance=existing, actor=self.actor)
            self.report.add(ZoneBoundary, UPDATED if changed else UNCHANGED)
            return
        in_force = zone.boundaries.filter(valid_from__lte=valid_from).order_by("-valid_from")
        current = in_force.first()
        if current is not None and _same_lines(shape, parse_multipolygon(current.geometry)):
            # These lines are already in force from an earlier revision: nothing new.
            self.report.add(ZoneBoundary, UNCHANGED)
            return
        zone_boundary_add(
            zone=zone,
            geometry=to_geojson(shape),
            valid_from=valid_from,
            source=source,
            actor=self.actor,
        )
        self.report.add(ZoneBoundary, CREATED)

    def _features(self, features: list, singular: str, load: Callable[[dict, Any], None]) -> None:
        for index, feature in enumerate(features, start=1):
            label = f"{singular} {index}"
            if isinstance(feature, dict) and isinstance(feature.get("properties"), dict):
                code = feature["properties"].get("code")
                if isinstance(code, str):
                    label = f"{singular} {code!r}"
            with self._record(label):
                _keys(feature, required=("type", "properties", "geometry"), optional=("id",))
                if feature["type"] != "Feature":
                    _fail("expected a GeoJSON Feature", "type")
                if not isinstance(feature["properties"], dict):
                    _fail("expected an object", "properties")
                load(feature["properties"], feature["geometry"])

    def _security_area_load(self, features: list, singular: str) -> None:
        self._features(features, singular, self._security_area_one)

    def _security_area_one(self, properties: dict, geometry: Any) -> None:
        _keys(
            properties,
            required=("code", "name", "zone", "derivation", "valid_from"),
            optional=("width_km", "valid_until"),
        )
        code = _code(properties, "code")
        self._mark(SecurityArea, code)
        derivation = _text(properties, "derivation")
        values = {
            "name": _text(properties, "name"),
            "zone": _zone(properties.get("zone")),
            "derivation": derivation,
            "width_km": _number(properties, "width_km"),
            "valid_from": _moment(properties, "valid_from"),
            "valid_until": _moment(properties, "valid_until", required=False),
        }
        if derivation == SecurityAreaDerivation.BUFFERED:
            if geometry is not None:
                _fail(
                    "a buffered area's band is computed from the zone border; leave the "
                    "geometry null (or make the area 'drawn')",
                    "geometry",
                )
        else:
            if geometry is None:
                _fail("a drawn area needs its geometry", "geometry")
            values["geometry"] = to_geojson(_geometry(geometry))
        self._save_with(
            SecurityArea,
            {"code": code},
            values,
            lambda area: security_area_save(area=area, actor=self.actor),
        )

    def _excluded_area_load(self, features: list, singular: str) -> None:
        self._features(features, singular, self._excluded_area_one)

    def _excluded_area_one(self, properties: dict, geometry: Any) -> None:
        _keys(
            properties,
            required=("code", "name", "group", "registered_on", "valid_from"),
            optional=("valid_until", "source"),
        )
        code = _code(properties, "code")
        self._mark(ExcludedArea, code)
        group = _party(properties, "group")
        if group.kind != PartyKind.EXCLUDED_GROUP:
            _fail(f"{group.code!r} is not registered as an excluded group", "group")
        values = {
            "name": _text(properties, "name"),
            "group": group,
            "geometry": to_geojson(_geometry(geometry)),
            "registered_on": _date(properties, "registered_on", required=True),
            "valid_from": _moment(properties, "valid_from"),
            "valid_until": _moment(properties, "valid_until", required=False),
            "source": _text(properties, "source"),
        }
        self._save_with(
            ExcludedArea,
            {"code": code},
            values,
            lambda area: excluded_area_save(area=area, actor=self.actor),
        )

    def _center_load(self, record: dict) -> None:
        _keys(
            record,
            required=("code", "name", "time_zone", "reporting_day_cutoff"),
            optional=("location", "agreement", "member_parties", "zones", "description"),
        )
        code = _code(record, "code")
        self._mark(MonitoringCenter, code)
        agreement = None
        if record.get("agreement") is not None:
            agreement = _ref(
                Agreement, record["agreement"], "agreement", "agreement", "agreements.json"
            )
        members = [
            _ref(Party, c, "member_parties", "party", "parties.json")
            for c in _list(record, "member_parties")
        ]
        zones = [_zone(c, "zones") for c in _list(record, "zones")]
        self._upsert(
            MonitoringCenter,
            {"code": code},
            {
                "name": _text(record, "name"),
                "location": _text(record, "location"),
                "agreement": agreement,
                "time_zone": _text(record, "time_zone"),
                "reporting_day_cutoff": _time(record, "reporting_day_cutoff"),
                "description": _text(record, "description"),
            },
            m2m={"member_parties": members, "zones": zones},
        )

    def _settlement_load(self, record: dict) -> None:
        _keys(
            record,
            required=("code", "name", "governorate", "latitude", "longitude"),
            optional=(
                "name_ar",
                "district",
                "population",
                "controlling_party",
                "reconciliation_status",
                "reconciled_on",
            ),
        )
        code = _code(record, "code")
        self._mark(Settlement, code)
        values = {
            "name": _text(record, "name"),
            "name_ar": _text(record, "name_ar"),
            "governorate": _text(record, "governorate"),
            "district": _text(record, "district"),
            "latitude": record.get("latitude"),
            "longitude": record.get("longitude"),
            "population": record.get("population"),
            "controlling_party": _party(record, "controlling_party", required=False),
            "reconciliation_status": _text(record, "reconciliation_status", "none"),
            "reconciled_on": _date(record, "reconciled_on"),
        }
        self._save_with(
            Settlement,
            {"code": code},
            values,
            lambda s: settlement_save(settlement=s, actor=self.actor),
        )

    def _post_load(self, record: dict) -> None:
        _keys(
            record,
            required=("code", "name", "kind", "zone", "operating_party", "latitude", "longitude"),
            optional=("status", "opened_on", "closed_on", "purposes", "notes"),
        )
        code = _code(record, "code")
        self._mark(Post, code)
        purposes = _list(record, "purposes")
        unknown = [p for p in purposes if p not in PURPOSE_FIELDS]
        if unknown:
            _fail(
                f"unknown purpose {unknown[0]!r} (known: {', '.join(PURPOSE_FIELDS)})", "purposes"
            )
        if purposes and record.get("kind") != PostKind.CHECKPOINT:
            _fail("only a checkpoint serves civilians, aid or economic activity", "purposes")
        values = {
            "name": _text(record, "name"),
            "kind": _text(record, "kind"),
            "zone": _zone(record.get("zone")),
            "operating_party": _party(record, "operating_party"),
            "status": _text(record, "status", "planned"),
            "opened_on": _date(record, "opened_on"),
            "closed_on": _date(record, "closed_on"),
            "latitude": record.get("latitude"),
            "longitude": record.get("longitude"),
            "notes": _text(record, "notes"),
            **{name: key in purposes for key, name in PURPOSE_FIELDS.items()},
        }
        self._save_with(Post, {"code": code}, values, lambda p: post_save(post=p, actor=self.actor))


# --------------------------------------------------------------------------- demo accounts


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    center: str
    delegation: str
    outcome: str


def _demo_plan() -> list[tuple[str, str, MonitoringCenter, Party, list[Zone]]]:
    """(username, role, center, delegation, zones) for every demo account."""
    centers = list(
        MonitoringCenter.objects.order_by("code").prefetch_related("member_parties", "zones")
    )
    if not centers:
        return []
    plan = []
    for center in centers:
        members = sorted(center.member_parties.all(), key=lambda p: p.code)
        zones = list(center.zones.all())
        for party in members:
            username = f"obs-{party.code}-{center.code.lower()}"
            plan.append((username, ObserverRole.OBSERVER, center, party, zones))
        if members:
            username = f"coord-{center.code.lower()}"
            plan.append((username, ObserverRole.COORDINATOR, center, members[0], zones))
    first = centers[0]
    first_member = next(iter(sorted(first.member_parties.all(), key=lambda p: p.code)), None)
    partner_party = (
        Party.objects.filter(code="un-ocha").first()
        or Party.objects.filter(kind=PartyKind.HUMANITARIAN_ORG).order_by("code").first()
        or first_member
    )
    if partner_party is not None:
        plan.append(("demo-partner", ObserverRole.PARTNER, first, partner_party, []))
    if first_member is not None:
        plan.append(("demo-admin", ObserverRole.ADMINISTRATOR, first, first_member, []))
    return plan


def demo_accounts_ensure(*, password: str, actor=None) -> list[DemoAccount]:
    """Create (or bring back to shape) one account per delegation of each center, a
    coordinator per center, a partner and an administrator, all with ``password``.

    Safe to run any number of times: an account that is already right is not touched.
    Users have no service of their own, so their creation is audited here (never with the
    password hash); profiles go through :func:`observer_save`.
    """
    User = get_user_model()
    encoded = make_password(password)

    @functools.cache
    def password_ok(stored: str) -> bool:  # one hash per distinct stored value
        return check_password(password, stored)

    accounts: list[DemoAccount] = []
    with transaction.atomic():
        for username, role, center, party, zones in _demo_plan():
            is_admin = role == ObserverRole.ADMINISTRATOR
            user = User.objects.filter(username=username).first()
            outcome = UNCHANGED
            if user is None:
                user = User(username=username, is_staff=is_admin, is_superuser=is_admin)
                user.password = encoded
                user.full_clean(exclude=["password"])
                user.save()
                audit_entry_create(
                    actor=actor,
                    action=AuditEntryAction.CREATE,
                    instance=user,
                    changes={
                        "username": [None, username],
                        "is_staff": [None, is_admin],
                        "is_superuser": [None, is_admin],
                    },
                    comment="Demo account.",
                )
                outcome = CREATED
            else:
                changes: dict[str, list] = {}
                for name, wanted in (
                    ("is_active", True),
                    ("is_staff", is_admin),
                    ("is_superuser", is_admin),
                ):
                    if getattr(user, name) != wanted:
                        changes[name] = [getattr(user, name), wanted]
                        setattr(user, name, wanted)
                if not password_ok(user.password):
                    user.password = encoded
                    changes["password"] = ["(other)", "(demo password)"]
                if changes:
                    user.save()
                    audit_entry_create(
                        actor=actor,
                        action=AuditEntryAction.UPDATE,
                        instance=user,
                        changes=changes,
                        comment="Demo account brought back to its demo settings.",
                    )
                    outcome = UPDATED
            observer = Observer.objects.filter(user=user).first()
            before = record_snapshot(observer, ["assigned_zones"]) if observer else None
            if observer is None:
                observer = Observer(user=user)
            observer.delegation, observer.center, observer.role = party, center, role
            observer.is_active = True
            observer = observer_save(observer=observer, assigned_zones=zones, actor=actor)
            if outcome == UNCHANGED and (
                before is None or before != record_snapshot(observer, ["assigned_zones"])
            ):
                outcome = UPDATED
            accounts.append(
                DemoAccount(username, role, center.code, party.short_name or party.name, outcome)
            )
    return accounts

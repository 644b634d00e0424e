"""Many reports at once, as :class:`~incidents.api.serializers.ReportSerializer` gives them,
straight from ``values_list`` queries.

A page of the change feed holds up to 1,000 reports. Through ``ReportSerializer`` each costs
about a millisecond (model instances, prefetching, a DRF field call per value); here the
same JSON comes from a fixed number of queries however many reports there are: the reports'
own columns; each kind's detail; the details' rows (organizations, cargo, route, stages,
access incidents) and the attachments; then the records they name (centers, zones,
settlements, posts, parties, users), each table once, by id. No model instance is made.

What follows the serializers by itself: the key, column and JSON form of every plain field
come from the serializer's own field (its ``source`` and ``to_representation``: datetimes,
decimals, UUIDs as DRF gives them), in the serializer's order, so a column added to a
serializer appears here too. Relations (nested records, lists, links) are built here by
name; a relation this module does not know stops it with an error naming the field, and
``tests/incidents/test_api_feed_serialization.py`` compares both forms on every kind.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import tzinfo
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.reverse import reverse
from rest_framework.settings import api_settings

from ..models import ConvoyDetail, Report
from .serializers import ReportSerializer

Row = tuple[Any, ...]
Representation = dict[str, Any]
_MOMENT = serializers.DateTimeField()  # looks up the time zone datetimes are given in

# Fields whose JSON form is the database value itself (``str()``, ``int()``, ``bool()`` of
# what the column holds); any other field converts through its own ``to_representation``.
_AS_STORED = (
    serializers.CharField,
    serializers.IntegerField,
    serializers.BooleanField,
)
_NOT_COLUMNS = (
    serializers.BaseSerializer,
    serializers.RelatedField,
    serializers.ManyRelatedField,
    serializers.SerializerMethodField,
)


def _converter(field: serializers.Field, time_zone: tzinfo | None) -> Callable[[Any], Any] | None:
    """How a stored value becomes its JSON form; ``None``: as stored.

    A ``DateTimeField`` is given ``time_zone``, the one it would look up itself for every
    value (the current time zone): the same text, the look-up (half the cost) made once.
    """
    kind = type(field)
    if isinstance(field, serializers.DateTimeField) and not hasattr(field, "timezone"):
        pinned = copy.copy(field)
        pinned.timezone = time_zone
        return pinned.to_representation
    if kind in _AS_STORED:
        return None
    if kind is serializers.BigIntegerField and not getattr(
        field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING
    ):
        return None
    if kind is serializers.ChoiceField and all(
        isinstance(value, str) and value == text
        for text, value in field.choice_strings_to_values.items()
    ):
        return None  # stored values are the choices' own text
    return field.to_representation


def _column(model: type[models.Model], name: str) -> str:
    return model._meta.pk.attname if name == "pk" else name


@dataclass(frozen=True)
class _Shape:
    """One serializer's rows: the columns to select (its plain fields' sources first, then
    the keys and ids this module reads), and how a row becomes the serializer's dict."""

    serializer: serializers.Serializer
    columns: tuple[str, ...]
    keys: tuple[str, ...]  # the plain fields, named as the first len(keys) columns hold them
    template: dict[str, None]  # every field of the serializer, in its order
    converters: tuple[tuple[int, str, Callable[[Any], Any]], ...]

    def at(self, column: str) -> int:
        return self.columns.index(column)

    def field(self, name: str) -> serializers.Field:
        return self.serializer.fields[name]

    def build(self, row: Row) -> Representation:
        representation = self.template.copy()
        representation.update(zip(self.keys, row, strict=False))  # the plain fields only
        for index, key, convert in self.converters:
            value = row[index]
            if value is not None:
                representation[key] = convert(value)
        return representation


def _shape(
    serializer: serializers.Serializer,
    time_zone: tzinfo | None,
    *,
    related: Collection[str],
    extra: Iterable[str] = (),
) -> _Shape:
    """The shape of ``serializer``; ``related`` names its fields this module builds itself,
    every other field must be a column of the model (else an error names it)."""
    model = serializer.Meta.model
    plain = {f.name for f in model._meta.concrete_fields if not f.is_relation}
    fields = serializer.fields
    unknown = set(related) - set(fields)
    if unknown:
        raise ImproperlyConfigured(
            f"{type(serializer).__name__} has no field {sorted(unknown)}: update {__name__}."
        )
    keys, columns, converters = [], [], []
    for name, field in fields.items():
        if name in related:
            continue
        if isinstance(field, _NOT_COLUMNS) or field.source not in plain:
            raise ImproperlyConfigured(
                f"{type(serializer).__name__}.{name} is not a column of {model.__name__}: "
                f"build it in {__name__}."
            )
        if (convert := _converter(field, time_zone)) is not None:
            converters.append((len(keys), name, convert))
        keys.append(name)
        columns.append(field.source)
    for name in extra:
        if (name := _column(model, name)) not in columns:
            columns.append(name)
    return _Shape(
        serializer=serializer,
        columns=tuple(columns),
        keys=tuple(keys),
        template=dict.fromkeys(fields),
        converters=tuple(converters),
    )


def _link_lookup(field: serializers.Field) -> str:
    if not isinstance(field, serializers.HyperlinkedIdentityField):
        raise ImproperlyConfigured(f"{field!r} is not a record's link: update {__name__}.")
    return field.lookup_field


class _Links:
    """Absolute URLs of one request's records, as ``monitoring.api.base.LinkField`` gives
    them: each view reversed once with a real key, then the same text around every key."""

    def __init__(self, request) -> None:
        self.request = request

    def maker(self, field: serializers.HyperlinkedIdentityField) -> Callable[[Any], str | None]:
        request, view_name, kwarg = self.request, field.view_name, field.lookup_url_kwarg
        template: tuple[str, str] | None = None

        def url(key: Any) -> str | None:
            nonlocal template
            if key in (None, ""):
                return None
            key = str(key)
            if template is not None:
                return f"{template[0]}{key}{template[1]}"
            whole = reverse(view_name, kwargs={kwarg: key}, request=request)
            head, found, tail = whole.rpartition(key)
            if found and "/" not in key and "?" not in key:
                template = (head, tail)
            return whole

        return url


class _References:
    """The records that reports name (a center, a zone, a party, ...), in the brief form of
    their nested serializer: the ids wanted are collected first, then each table is read
    once. :meth:`get` gives a fresh copy, or ``None`` for no id."""

    def __init__(self, shape: _Shape) -> None:
        self.shape = shape
        self.lookup = _link_lookup(shape.field("url"))
        self.wanted: set[Any] = set()
        self.found: dict[Any, Representation] = {}

    def want(self, ids: Iterable[Any]) -> None:
        self.wanted.update(ids)

    def fetch(self, links: _Links, db: str) -> None:
        self.wanted.discard(None)
        if not self.wanted:
            return
        shape = self.shape
        model = shape.serializer.Meta.model
        pk, key = shape.at(_column(model, "pk")), shape.at(_column(model, self.lookup))
        url = links.maker(shape.field("url"))
        rows = model._base_manager.using(db).filter(pk__in=self.wanted).values_list(*shape.columns)
        for row in rows:
            representation = shape.build(row)
            representation["url"] = url(row[key])
            self.found[row[pk]] = representation

    def get(self, pk: Any) -> Representation | None:
        found = self.found.get(pk)
        return None if found is None else found.copy()


@dataclass(frozen=True)
class _Plan:
    report: _Shape
    violation: _Shape
    convoy: _Shape
    cargo: _Shape
    stop: _Shape
    stage: _Shape
    checkpoint: _Shape
    incident: _Shape
    attachment: _Shape


@cache
def _reference_shape(
    serializer_class: type[serializers.Serializer], time_zone: tzinfo | None
) -> _Shape:
    """The shape of a record's brief form (``NestedPartySerializer``, ...), by time zone."""
    serializer = serializer_class()
    lookup = _link_lookup(serializer.fields["url"])
    return _shape(serializer, time_zone, related={"url"}, extra=("pk", lookup))


@cache
def _plan(time_zone: tzinfo | None) -> _Plan:
    """The shapes of ``ReportSerializer`` and its nested serializers, by time zone (built
    once for each)."""
    report = ReportSerializer()
    fields = report.fields
    convoy = fields["convoy"]
    checkpoint = fields["checkpoint"]
    return _Plan(
        report=_shape(
            report,
            time_zone,
            related={
                "url",
                "center",
                "zone",
                "classified_zone",
                "settlement",
                "post",
                "author",
                "delegation",
                "violation",
                "convoy",
                "checkpoint",
                "attachments",
            },
            extra=(
                "pk",
                _link_lookup(fields["url"]),
                "center_id",
                "zone_id",
                "classified_zone_id",
                "settlement_id",
                "post_id",
                "author_id",
                "delegation_id",
            ),
        ),
        violation=_shape(
            fields["violation"],
            time_zone,
            related={"alleged_perpetrator", "affected_party"},
            extra=("report_id", "alleged_perpetrator_id", "affected_party_id"),
        ),
        convoy=_shape(
            convoy,
            time_zone,
            related={"organizations", "destination", "cargo", "route", "stages"},
            extra=("report_id", "destination_id"),
        ),
        cargo=_shape(convoy.fields["cargo"].child, time_zone, related=(), extra=("convoy_id",)),
        stop=_shape(
            convoy.fields["route"].child,
            time_zone,
            related={"post"},
            extra=("convoy_id", "post_id"),
        ),
        stage=_shape(convoy.fields["stages"].child, time_zone, related=(), extra=("convoy_id",)),
        checkpoint=_shape(
            checkpoint,
            time_zone,
            related={"checkpoint", "incidents"},
            extra=("report_id", "checkpoint_id"),
        ),
        incident=_shape(
            checkpoint.fields["incidents"].child,
            time_zone,
            related={"party"},
            extra=("shift_id", "party_id"),
        ),
        attachment=_shape(
            fields["attachments"].child,
            time_zone,
            related={"uploaded_by"},
            extra=("report_id", "uploaded_by_id"),
        ),
    )


def _ordered(model: type[models.Model], parent: str) -> list[str]:
    """``model``'s own order (``Meta.ordering``, as its related manager gives the rows), the
    parent named by its key (no join), the primary key last to settle ties."""
    order = [f"{parent}_id" if name == parent else name for name in model._meta.ordering]
    return order if {"id", "pk"} & set(order) else [*order, "pk"]


def _one_each(shape: _Shape, parent: str, keys: list[Any], db: str) -> dict[Any, Row]:
    """One row of ``shape``'s model per parent key (a report's detail)."""
    if not keys:
        return {}
    model = shape.serializer.Meta.model
    at = shape.at(f"{parent}_id")
    rows = (
        model._base_manager.using(db)
        .filter(**{f"{parent}_id__in": keys})
        .values_list(*shape.columns)
    )
    return {row[at]: row for row in rows}


def _rows_of(shape: _Shape, parent: str, keys: Iterable[Any], db: str) -> dict[Any, list[Row]]:
    """The rows of ``shape``'s model under each parent key, in the model's order."""
    keys = list(keys)
    grouped: dict[Any, list[Row]] = defaultdict(list)
    if not keys:
        return grouped
    model = shape.serializer.Meta.model
    at = shape.at(f"{parent}_id")
    rows = (
        model._base_manager.using(db)
        .filter(**{f"{parent}_id__in": keys})
        .order_by(*_ordered(model, parent))
        .values_list(*shape.columns)
    )
    for row in rows:
        grouped[row[at]].append(row)
    return grouped


def _organizations(convoy_ids: list[Any], db: str) -> dict[Any, list[Any]]:
    """The parties of each convoy's ``organizations``, in the parties' own order."""
    grouped: dict[Any, list[Any]] = defaultdict(list)
    if not convoy_ids:
        return grouped
    field = ConvoyDetail._meta.get_field("organizations")
    owner, party = field.m2m_field_name(), field.m2m_reverse_field_name()
    target = field.remote_field.model
    order = []
    for name in target._meta.ordering:
        if not isinstance(name, str):
            raise ImproperlyConfigured(f"{target.__name__}.Meta.ordering: update {__name__}.")
        descending = name.startswith("-")
        order.append(f"{'-' if descending else ''}{party}__{name.lstrip('-')}")
    pairs = (
        field.remote_field.through._base_manager.using(db)
        .filter(**{f"{owner}_id__in": convoy_ids})
        .order_by(*order, "pk")
        .values_list(f"{owner}_id", f"{party}_id")
    )
    for convoy_id, party_id in pairs:
        grouped[convoy_id].append(party_id)
    return grouped


def _slugs(field: serializers.SlugRelatedField, ids: set[Any], db: str) -> dict[Any, Any]:
    """What a ``SlugRelatedField`` to users gives (the username) of each user id."""
    ids.discard(None)
    if not ids:
        return {}
    users = get_user_model()._base_manager.using(db).filter(pk__in=ids)
    return dict(users.values_list("pk", field.slug_field))


def report_representations(*, reports: QuerySet[Report], request) -> list[Representation]:
    """``ReportSerializer(report, context={"request": request}).data`` of every report of
    ``reports``, in its order, in a fixed number of queries (at most 16, fewer when a kind
    or a kind of row is absent). ``reports`` is already what the caller may see; its
    ``select_related``/``prefetch_related`` are not used."""
    time_zone = _MOMENT.default_timezone()  # as each DateTimeField would look it up
    plan = _plan(time_zone)
    R = plan.report
    rows = list(reports.values_list(*R.columns))  # (prefetching skips tuples)
    if not rows:
        return []
    links, db = _Links(request), reports.db  # the same database as the reports
    r_pk = R.at(_column(Report, "pk"))
    ids = [row[r_pk] for row in rows]

    violations = _one_each(plan.violation, "report", ids, db)
    convoys = _one_each(plan.convoy, "report", ids, db)
    checkpoints = _one_each(plan.checkpoint, "report", ids, db)
    organizations = _organizations(list(convoys), db)
    cargo = _rows_of(plan.cargo, "convoy", convoys, db)
    stops = _rows_of(plan.stop, "convoy", convoys, db)
    stages = _rows_of(plan.stage, "convoy", convoys, db)
    incidents = _rows_of(plan.incident, "shift", checkpoints, db)
    attachments = _rows_of(plan.attachment, "report", ids, db)

    # The records they name, each table read once.
    report_fields, violation, convoy = R.serializer.fields, plan.violation, plan.convoy
    stop, checkpoint, incident = plan.stop, plan.checkpoint, plan.incident
    references: dict[type, _References] = {}

    def table(field: serializers.Field) -> _References:
        kind = type(field)
        if kind not in references:
            references[kind] = _References(_reference_shape(kind, time_zone))
        return references[kind]

    def wanted(shape: _Shape, name: str, rows: Iterable[Row]) -> Callable[[Any], Any]:
        """The reference table of ``shape``'s field ``name`` (wanting its ids in ``rows``),
        as a function of a row."""
        field = shape.field(name)
        refs, at = table(field), shape.at(f"{field.source}_id")
        refs.want(row[at] for row in rows)
        return lambda row: refs.get(row[at])

    center = wanted(R, "center", rows)
    zone = wanted(R, "zone", rows)
    classified_zone = wanted(R, "classified_zone", rows)
    settlement = wanted(R, "settlement", rows)
    post = wanted(R, "post", rows)
    delegation = wanted(R, "delegation", rows)
    perpetrator = wanted(violation, "alleged_perpetrator", violations.values())
    affected = wanted(violation, "affected_party", violations.values())
    destination = wanted(convoy, "destination", convoys.values())
    shift_post = wanted(checkpoint, "checkpoint", checkpoints.values())
    stop_post = wanted(stop, "post", (row for group in stops.values() for row in group))
    party = wanted(incident, "party", (row for group in incidents.values() for row in group))
    parties = table(convoy.field("organizations").child)
    parties.want(pk for group in organizations.values() for pk in group)
    for refs in references.values():
        refs.fetch(links, db)

    author_field = report_fields["author"]
    uploader_field = plan.attachment.field("uploaded_by")
    r_author, a_uploader = R.at("author_id"), plan.attachment.at("uploaded_by_id")
    author_ids = {row[r_author] for row in rows}
    uploader_ids = {row[a_uploader] for group in attachments.values() for row in group}
    if author_field.slug_field == uploader_field.slug_field:
        authors = uploaders = _slugs(author_field, author_ids | uploader_ids, db)
    else:
        authors, uploaders = (
            _slugs(author_field, author_ids, db),
            _slugs(uploader_field, uploader_ids, db),
        )

    # The representations.
    report_url = links.maker(report_fields["url"])
    r_key = R.at(_column(Report, _link_lookup(report_fields["url"])))

    def violation_of(report_id: Any) -> Representation | None:
        row = violations.get(report_id)
        if row is None:
            return None
        representation = violation.build(row)
        representation["alleged_perpetrator"] = perpetrator(row)
        representation["affected_party"] = affected(row)
        return representation

    def convoy_of(report_id: Any) -> Representation | None:
        row = convoys.get(report_id)
        if row is None:
            return None
        representation = convoy.build(row)
        representation["organizations"] = [
            parties.get(pk) for pk in organizations.get(report_id, ())
        ]
        representation["destination"] = destination(row)
        representation["cargo"] = [plan.cargo.build(line) for line in cargo.get(report_id, ())]
        route = []
        for line in stops.get(report_id, ()):
            item = stop.build(line)
            item["post"] = stop_post(line)
            route.append(item)
        representation["route"] = route
        representation["stages"] = [plan.stage.build(line) for line in stages.get(report_id, ())]
        return representation

    def checkpoint_of(report_id: Any) -> Representation | None:
        row = checkpoints.get(report_id)
        if row is None:
            return None
        representation = checkpoint.build(row)
        representation["checkpoint"] = shift_post(row)
        listed = []
        for line in incidents.get(report_id, ()):
            item = incident.build(line)
            item["party"] = party(line)
            listed.append(item)
        representation["incidents"] = listed
        return representation

    def attachments_of(report_id: Any) -> list[Representation]:
        listed = []
        for line in attachments.get(report_id, ()):
            item = plan.attachment.build(line)
            item["uploaded_by"] = uploaders.get(line[a_uploader])
            listed.append(item)
        return listed

    result = []
    for row in rows:
        report_id = row[r_pk]
        representation = R.build(row)
        representation["url"] = report_url(row[r_key])
        representation["center"] = center(row)
        representation["zone"] = zone(row)
        representation["classified_zone"] = classified_zone(row)
        representation["settlement"] = settlement(row)
        representation["post"] = post(row)
        representation["author"] = authors.get(row[r_author])
        representation["delegation"] = delegation(row)
        representation["violation"] = violation_of(report_id)
        representation["convoy"] = convoy_of(report_id)
        representation["checkpoint"] = checkpoint_of(report_id)
        representation["attachments"] = attachments_of(report_id)
        result.append(representation)
    return result

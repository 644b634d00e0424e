"""Data-only API test cases, in the spirit of NetBox's ``utilities/testing/api.py``.

A model's test class declares only what differs (its URL basename, how to create its
records, the fields of a record, its filters with the records each should select, bad
filter values, its query budget) and inherits the cases: list, pagination, ordering,
detail, filters, bad filters, GeoJSON, constant query counts, and a negative test per
permission rule (anonymous, no profile, inactive profile, writes)::

    class TestPostAPI(
        APIViewTestCases.ReadOnlyAPIViewTestCase, APIViewTestCases.GeoJSONViewTestCase
    ):
        basename = "zones-api:post"
        model = Post
        fields = {"id", "url", "code", ...}
        max_list_queries = 5

        @classmethod
        def create_objects(cls, count):
            return PostFactory.create_batch(count, zone=ZoneFactory())

        @classmethod
        def create_filter_objects(cls):
            return {"checkpoint": PostFactory(kind="checkpoint", ...), ...}

        filter_cases = [({"kind": "checkpoint"}, {"checkpoint"}), ...]
        invalid_filters = [{"kind": "tank"}, {"bbox": "1,2,3"}]

Filter expectations name the records ``create_filter_objects`` returns; results are
compared on those records only, so rows made by shared fixtures (a user's center, its
delegation) do not disturb them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from monitoring.choices import ObserverRole
from tests.factories import ObserverFactory, UserFactory

# Per request, before the view's own queries: the session, its user, the user's profile.
AUTH_QUERIES = 3
WRITE_METHODS = ["post", "put", "patch", "delete"]


def member(role: str = ObserverRole.OBSERVER, **kwargs):
    """A user with a profile of ``role`` in a center of its own (no zones).

    Signed in with ``force_login``, it needs no password (hashing one takes ~0.5 s).
    """
    kwargs.setdefault("user", passwordless_user())
    return ObserverFactory(role=role, **kwargs).user


def passwordless_user():
    """A user with an unusable password: quick to make, signs in with ``force_login``."""
    return UserFactory(password=None)


def client_for(user=None) -> APIClient:
    """An API client signed in through the session (as the browser is), or anonymous."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def token_client(partner, *, actor, scopes: str = "read", name: str = "partner tool") -> APIClient:
    """An API client that authenticates with a new token of ``partner`` (issued by the
    coordinator ``actor`` through the service), as a partner tool does."""
    from monitoring.services import partner_token_issue

    _token, secret = partner_token_issue(
        partner_user=partner, name=name, scopes=scopes, actor=actor
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def codes(rows: list[dict[str, Any]]) -> list[str]:
    return [row["code"] for row in rows]


class APIViewTestCases:
    class Base:
        #: ``<namespace>:<basename>``, e.g. ``"zones-api:post"``
        basename: ClassVar[str]
        model: ClassVar[type[Model]]
        #: the keys of one record, list and detail alike
        fields: ClassVar[set[str]]
        #: queries of one list request, authentication included, at any number of rows
        max_list_queries: ClassVar[int]
        #: ``(query parameters, names of the records selected)``
        filter_cases: ClassVar[list[tuple[dict[str, Any], set[str]]]] = []
        #: query parameters that must each give a 400 naming the (single) parameter
        invalid_filters: ClassVar[list[dict[str, Any]]] = []

        @classmethod
        def create_objects(cls, count: int) -> list[Model]:
            raise NotImplementedError(f"{cls.__name__} must declare create_objects()")

        @classmethod
        def create_filter_objects(cls) -> dict[str, Model]:
            raise NotImplementedError(f"{cls.__name__} must declare create_filter_objects()")

        # --- helpers -------------------------------------------------------------------------

        def url(self, action: str = "list", **kwargs) -> str:
            return reverse(f"{self.basename}-{action}", kwargs=kwargs or None)

        def detail_url(self, obj: Model) -> str:
            return self.url("detail", pk=obj.pk)

        def pytest_generate_tests(self, metafunc):
            """Each declared filter case and bad value is a test of its own."""
            if "filter_case" in metafunc.fixturenames:
                if not self.filter_cases:
                    raise TypeError(f"{type(self).__name__} declares no filter_cases")
                metafunc.parametrize(
                    "filter_case",
                    self.filter_cases,
                    ids=[_case_id(params) for params, _ in self.filter_cases],
                )
            if "invalid_filter" in metafunc.fixturenames:
                if not self.invalid_filters:
                    raise TypeError(f"{type(self).__name__} declares no invalid_filters")
                metafunc.parametrize(
                    "invalid_filter",
                    self.invalid_filters,
                    ids=[_case_id(params) for params in self.invalid_filters],
                )

        @pytest.fixture
        def reader(self, db):
            return client_for(member(ObserverRole.OBSERVER))

    class ListObjectsViewTestCase(Base):
        def test_list_objects(self, reader):
            created = self.create_objects(3)
            response = reader.get(self.url())
            assert response.status_code == 200, response.content
            body = response.json()
            assert body["count"] == self.model.objects.count()
            listed = codes(body["results"])
            assert {obj.code for obj in created} <= set(listed)
            for row in body["results"]:
                assert set(row) == self.fields

        def test_list_is_paginated(self, reader):
            self.create_objects(3)
            response = reader.get(self.url(), {"limit": 2})
            body = response.json()
            assert response.status_code == 200
            assert len(body["results"]) == 2
            assert body["next"] is not None and "offset=2" in body["next"]

        def test_list_ordering(self, reader):
            self.create_objects(3)
            ascending = codes(reader.get(self.url(), {"ordering": "code"}).json()["results"])
            descending = codes(reader.get(self.url(), {"ordering": "-code"}).json()["results"])
            assert ascending == sorted(ascending)
            assert descending == list(reversed(ascending))
            assert len(ascending) >= 3

        def test_odd_paging_and_ordering_values_are_harmless(self, reader):
            """DRF ignores what it cannot use in these: never a 500."""
            self.create_objects(2)
            for params in (
                {"limit": "many", "offset": "-3"},
                {"ordering": "password"},
                {"ordering": "-code,,nonexistent"},
            ):
                response = reader.get(self.url(), params)
                assert response.status_code == 200, (params, response.status_code)
                assert response.json()["count"] == self.model.objects.count()

        def test_browsable_api_renders(self, reader):
            obj = self.create_objects(1)[0]
            for url in (self.url(), self.detail_url(obj)):
                response = reader.get(url, HTTP_ACCEPT="text/html")
                assert response.status_code == 200, url
                assert response["Content-Type"].startswith("text/html")
                assert obj.code in response.content.decode()

        def test_list_query_count_is_constant(self, reader, django_assert_max_num_queries):
            """As many queries for 30 rows as for 3 (no N+1), within the declared budget."""
            self.create_objects(3)
            with (
                django_assert_max_num_queries(self.max_list_queries),
                CaptureQueriesContext(connection) as few,
            ):
                assert reader.get(self.url()).status_code == 200
            self.create_objects(27)
            with (
                django_assert_max_num_queries(self.max_list_queries),
                CaptureQueriesContext(connection) as many,
            ):
                response = reader.get(self.url())
            assert response.status_code == 200
            assert response.json()["count"] >= 30
            assert len(many) == len(few), [q["sql"] for q in many.captured_queries]

    class GetObjectViewTestCase(Base):
        def test_get_object(self, reader):
            obj = self.create_objects(1)[0]
            response = reader.get(self.detail_url(obj))
            assert response.status_code == 200, response.content
            body = response.json()
            assert set(body) == self.fields
            assert body["id"] == obj.pk
            assert body["code"] == obj.code
            assert body["url"].endswith(self.detail_url(obj))

        def test_get_missing_object_is_404(self, reader):
            obj = self.create_objects(1)[0]
            missing = self.model.objects.order_by("-pk").first().pk + 1000
            assert reader.get(self.url("detail", pk=missing)).status_code == 404
            assert reader.get(self.detail_url(obj)).status_code == 200

    class FilterViewTestCase(Base):
        def test_filter(self, reader, filter_case):
            params, expected = filter_case
            objects = self.create_filter_objects()
            unknown = expected - set(objects)
            assert not unknown, f"filter case names records never created: {unknown}"
            ours = {obj.code: name for name, obj in objects.items()}
            # Without the filter every declared record is listed, so the filter must narrow.
            unfiltered = reader.get(self.url(), {"limit": 1000}).json()["results"]
            assert set(ours) <= set(codes(unfiltered))
            response = reader.get(self.url(), {**params, "limit": 1000})
            assert response.status_code == 200, response.content
            selected = {ours[code] for code in codes(response.json()["results"]) if code in ours}
            assert selected == expected

        def test_invalid_filter_is_a_400_naming_it(self, reader, invalid_filter):
            self.create_objects(1)
            response = reader.get(self.url(), invalid_filter)
            assert response.status_code == 400, response.content
            body = response.json()
            assert set(body) == set(invalid_filter), body
            assert all(body[name] for name in invalid_filter)

    class PermissionTestCase(Base):
        """A negative test for each rule: anonymous, no profile, inactive profile, writes."""

        def _urls(self) -> list[str]:
            obj = self.create_objects(1)[0]
            return [self.url(), self.detail_url(obj)]

        @pytest.mark.parametrize("role", ObserverRole.values)
        def test_every_role_may_read(self, db, role):
            client = client_for(member(role))
            for url in self._urls():
                assert client.get(url).status_code == 200, url

        def test_anonymous_is_refused(self, db):
            client = client_for(None)
            for url in self._urls():
                response = client.get(url)
                assert response.status_code in (401, 403), url
                assert "results" not in response.json()

        def test_user_without_profile_is_refused(self, db):
            client = client_for(passwordless_user())
            for url in self._urls():
                response = client.get(url)
                assert response.status_code == 403, url
                assert "profile" in response.json()["detail"]

        def test_inactive_profile_is_refused(self, db):
            user = member(ObserverRole.ADMINISTRATOR, is_active=False)
            client = client_for(user)
            for url in self._urls():
                assert client.get(url).status_code == 403, url

        def test_inactive_user_is_refused(self, db):
            user = member(ObserverRole.ADMINISTRATOR)
            client = client_for(user)
            user.is_active = False
            user.save(update_fields=["is_active"])
            for url in self._urls():
                assert client.get(url).status_code in (401, 403), url

        @pytest.mark.parametrize("method", WRITE_METHODS)
        @pytest.mark.parametrize("role", [ObserverRole.OBSERVER, ObserverRole.ADMINISTRATOR])
        def test_writes_are_not_allowed(self, db, method, role):
            client = client_for(member(role))
            urls = self._urls()
            before = self.model.objects.count()
            for url in urls:
                response = getattr(client, method)(url, {"code": "written"}, format="json")
                assert response.status_code == 405, (url, response.status_code)
            assert self.model.objects.count() == before

        @pytest.mark.parametrize("method", WRITE_METHODS)
        def test_anonymous_writes_are_refused(self, db, method):
            client = client_for(None)
            urls = self._urls()
            before = self.model.objects.count()
            for url in urls:
                response = getattr(client, method)(url, {"code": "written"}, format="json")
                assert response.status_code in (401, 403), (url, response.status_code)
            assert self.model.objects.count() == before

    class ReadOnlyAPIViewTestCase(
        GetObjectViewTestCase, ListObjectsViewTestCase, FilterViewTestCase, PermissionTestCase
    ):
        """Everything a read-only record endpoint must do."""

    class GeoJSONViewTestCase(Base):
        """``GET <list>/geojson/``: a FeatureCollection of the filtered records."""

        #: ``"MultiPolygon"`` or ``"Point"``
        geometry_type: ClassVar[str]
        #: query parameters the GeoJSON of ``create_objects`` records needs (e.g. a moment)
        geojson_params: ClassVar[dict[str, Any]] = {}

        def test_geojson(self, reader):
            created = self.create_objects(3)
            response = reader.get(self.url("geojson"), self.geojson_params)
            assert response.status_code == 200, response.content
            assert response["Content-Type"].startswith("application/geo+json")
            collection = response.json()
            assert collection["type"] == "FeatureCollection"
            features = collection["features"]
            assert len(features) == self.model.objects.count()
            by_id = {feature["id"]: feature for feature in features}
            for obj in created:
                feature = by_id[obj.pk]
                assert feature["type"] == "Feature"
                assert feature["properties"]["code"] == obj.code
                assert feature["geometry"]["type"] == self.geometry_type

        def test_geojson_as_plain_json(self, reader):
            self.create_objects(1)
            response = reader.get(self.url("geojson"), {**self.geojson_params, "format": "json"})
            assert response.status_code == 200
            assert response["Content-Type"].startswith("application/json")
            assert response.json()["type"] == "FeatureCollection"

        def test_geojson_honours_filters(self, reader):
            objects = self.create_filter_objects()
            ours = {obj.code: name for name, obj in objects.items()}
            for params, expected in self.filter_cases:
                response = reader.get(self.url("geojson"), {**self.geojson_params, **params})
                assert response.status_code == 200, (params, response.content)
                found = {
                    ours[f["properties"]["code"]]
                    for f in response.json()["features"]
                    if f["properties"]["code"] in ours
                }
                assert found == expected, params

        def test_geojson_bad_filter_is_a_400(self, reader):
            self.create_objects(1)
            bad = self.invalid_filters[0]
            response = reader.get(self.url("geojson"), bad)
            assert response.status_code == 400
            assert set(response.json()) == set(bad)

        def test_geojson_query_count_is_constant(self, reader, django_assert_max_num_queries):
            self.create_objects(3)
            budget = self.max_list_queries  # no count query, but the same joins
            with (
                django_assert_max_num_queries(budget),
                CaptureQueriesContext(connection) as few,
            ):
                reader.get(self.url("geojson"), self.geojson_params)
            self.create_objects(27)
            with (
                django_assert_max_num_queries(budget),
                CaptureQueriesContext(connection) as many,
            ):
                response = reader.get(self.url("geojson"), self.geojson_params)
            assert len(response.json()["features"]) >= 30
            assert len(many) == len(few)

        def test_geojson_anonymous_is_refused(self, db):
            self.create_objects(1)
            assert client_for(None).get(self.url("geojson")).status_code in (401, 403)
            assert client_for(passwordless_user()).get(self.url("geojson")).status_code == 403

        def test_geojson_writes_are_not_allowed(self, db):
            client = client_for(member(ObserverRole.ADMINISTRATOR))
            assert client.post(self.url("geojson"), {}, format="json").status_code == 405


def _case_id(params: dict[str, Any]) -> str:
    return "&".join(
        f"{key}={','.join(value) if isinstance(value, list | tuple) else value}"
        for key, value in params.items()
    )

"""The OpenAPI schema and the API docs: built with no warnings, true to the responses,
following the naming conventions, and served offline (no CDN).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from incidents.api import urls as incidents_api_urls
from monitoring.api import urls as monitoring_api_urls
from monitoring.choices import ObserverRole
from tests.api_base import client_for, member, passwordless_user
from tests.factories import (
    ExcludedAreaFactory,
    PostFactory,
    SecurityAreaFactory,
    SettlementFactory,
    ZoneFactory,
)
from zones.api import urls as zones_api_urls

ROUTERS = [monitoring_api_urls.router, zones_api_urls.router, incidents_api_urls.router]
# Reports are found by their public UUID; their workflow has an endpoint per transition.
REPORT_ACTIONS = {
    "history",
    "transitions",
    "submit",
    "retract",
    "verify",
    "dispute",
    "reject",
    "return",
}
LIST_PATHS = {
    "/api/v1/parties/",
    "/api/v1/agreements/",
    "/api/v1/centers/",
    "/api/v1/zones/",
    "/api/v1/security-areas/",
    "/api/v1/excluded-areas/",
    "/api/v1/posts/",
    "/api/v1/settlements/",
}
# Daily summaries: read, with their versions; one action starts a compilation.
SUMMARY_PATHS = {
    "/api/v1/summaries/",
    "/api/v1/summaries/{id}/",
    "/api/v1/summaries/{id}/versions/",
    "/api/v1/summaries/{id}/versions/{number}/",
    "/api/v1/summaries/compile/",
}
GEOJSON = {
    "/api/v1/zones/": "Zone",
    "/api/v1/security-areas/": "SecurityArea",
    "/api/v1/excluded-areas/": "ExcludedArea",
    "/api/v1/posts/": "Post",
    "/api/v1/settlements/": "Settlement",
}


@pytest.fixture
def reader(db):
    return client_for(member(ObserverRole.PARTNER))


@pytest.fixture
def schema(reader) -> dict:
    response = reader.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def resolve(schema: dict, ref_or_schema: dict) -> dict:
    """Follow ``$ref`` (also through a one-element ``allOf``) to the component."""
    node = ref_or_schema
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", ())) == 1:
            node = node["allOf"][0]
        else:
            return node


def response_schema(schema: dict, path: str, media_type: str = "application/json") -> dict:
    content = schema["paths"][path]["get"]["responses"]["200"]["content"]
    return resolve(schema, content[media_type]["schema"])


# --- The schema builds, with no warnings -------------------------------------------------------


def test_spectacular_validates_with_no_warnings(tmp_path):
    """Exactly the documented command: ``manage.py spectacular --validate --fail-on-warn``."""
    out = tmp_path / "schema.yml"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(out),
        ],
        cwd=Path(settings.BASE_DIR),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    assert out.read_text().startswith("openapi: 3.")


def test_schema_lists_every_endpoint(schema):
    paths = set(schema["paths"])
    expected = (
        LIST_PATHS
        | {f"{p}{{id}}/" for p in LIST_PATHS}
        | {f"{p}geojson/" for p in GEOJSON}
        | {"/api/v1/classify/", "/api/v1/reports/", "/api/v1/reports/{uuid}/"}
        | {"/api/v1/changes/", "/api/v1/reports/geojson/", "/api/v1/reports/export/"}
        | {"/api/v1/reports/import/", "/api/v1/reports/{uuid}/links/"}
        | {
            "/api/v1/reports/{uuid}/attachments/",
            "/api/v1/reports/{uuid}/attachments/{attachment_id}/",
        }
        | {f"/api/v1/reports/{{uuid}}/{name}/" for name in REPORT_ACTIONS}
        | SUMMARY_PATHS
    )
    assert paths == expected
    # Reference data is read-only: GET only (HEAD and OPTIONS are implicit). Reports are
    # filed (POST), edited (PATCH) and moved through the workflow (POST), never deleted.
    # Summaries are read (GET); a compilation is started with a POST.
    methods = {path: set(item) for path, item in schema["paths"].items()}
    for path, verbs in methods.items():
        if path == "/api/v1/reports/":
            assert verbs == {"get", "post"}
        elif path == "/api/v1/reports/{uuid}/":
            assert verbs == {"get", "patch"}
        elif path == "/api/v1/summaries/compile/":
            assert verbs == {"post"}
        elif path == "/api/v1/reports/{uuid}/links/":
            assert verbs == {"get", "post"}
        elif path == "/api/v1/reports/{uuid}/attachments/{attachment_id}/":
            assert verbs == {"get"}
        elif path.startswith("/api/v1/reports/") and path.rsplit("/", 2)[1] not in {
            "history",
            "transitions",
            "geojson",
            "export",
        }:
            assert verbs == {"post"}, path
        else:
            assert verbs == {"get"}, path


def test_schema_and_docs_need_a_profile(db):
    for url in ("/api/schema/", "/api/docs/", "/api/redoc/"):
        assert client_for(None).get(url).status_code in (401, 403), url
        assert client_for(passwordless_user()).get(url).status_code == 403, url
        inactive = member(ObserverRole.OBSERVER, is_active=False)
        assert client_for(inactive).get(url).status_code == 403, url


# --- The schema says what the endpoints return ---------------------------------------------------


def test_every_list_endpoint_documents_its_filters(schema):
    for router in ROUTERS:
        for prefix, viewset, _ in router.registry:
            path = f"/api/v1/{prefix}/"
            documented = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
            filters = set(viewset.filterset_class.base_filters)
            assert filters <= documented, (path, filters - documented)
            assert {"limit", "offset", "ordering"} <= documented
            if path in GEOJSON:
                on_geojson = {
                    p["name"] for p in schema["paths"][f"{path}geojson/"]["get"]["parameters"]
                }
                assert filters <= on_geojson, (path, filters - on_geojson)


def test_zone_endpoints_document_the_moment(schema):
    for path in ("/api/v1/zones/", "/api/v1/zones/{id}/", "/api/v1/zones/geojson/"):
        names = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert names["at"]["schema"]["format"] == "date-time", path


@pytest.fixture
def one_of_each(db):
    zone = ZoneFactory()
    SecurityAreaFactory(zone=zone)
    ExcludedAreaFactory()
    SettlementFactory()
    PostFactory(zone=zone)


def test_records_have_the_documented_fields(schema, reader, one_of_each):
    for path in LIST_PATHS:
        rows = reader.get(path).json()["results"]
        assert rows, path
        listed = response_schema(schema, path)
        item = resolve(schema, listed["properties"]["results"]["items"])
        assert set(rows[0]) == set(item["properties"]), path
        assert set(item["required"]) == set(item["properties"]), path
        detail = response_schema(schema, f"{path}{{id}}/")
        assert detail == item, path


@pytest.mark.parametrize(("path", "name"), GEOJSON.items())
def test_geojson_has_the_documented_shape(schema, reader, one_of_each, path, name):
    response = reader.get(f"{path}geojson/")
    assert response.status_code == 200
    collection = response.json()
    documented = response_schema(schema, f"{path}geojson/", "application/geo+json")
    assert documented == response_schema(schema, f"{path}geojson/", "application/json")
    assert set(collection) == set(documented["properties"])
    feature_schema = resolve(schema, documented["properties"]["features"]["items"])
    (feature, *_) = collection["features"]
    assert set(feature) == set(feature_schema["properties"])
    properties = resolve(schema, feature_schema["properties"]["properties"])
    assert set(feature["properties"]) == set(properties["properties"]), name
    geometry = resolve(schema, feature_schema["properties"]["geometry"])
    assert geometry["properties"]["type"]  # a documented GeoJSON geometry
    assert feature["geometry"]["type"] in {"Point", "MultiPolygon"}
    assert f"{name}FeatureCollection" in schema["components"]["schemas"]


def test_classification_has_the_documented_shape(schema, reader, one_of_each):
    body = reader.get("/api/v1/classify/", {"latitude": 35.9, "longitude": 36.6}).json()
    documented = response_schema(schema, "/api/v1/classify/")
    assert set(body) == set(documented["properties"])
    for key in ("zone", "nearest_settlement", "nearest_post"):
        assert body[key] is not None, key
        nested = resolve(schema, documented["properties"][key])
        assert set(body[key]) == set(nested["properties"]), key
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/classify/"]["get"]["parameters"]}
    assert parameters["latitude"]["required"] and parameters["longitude"]["required"]
    assert not parameters["at"].get("required", False)


# --- Naming conventions (STYLE.md: <Model>ViewSet, <Model>Serializer, <Model>FilterSet) ---------


@pytest.mark.parametrize(
    "entry",
    [entry for router in ROUTERS for entry in router.registry],
    ids=lambda entry: entry[0],
)
def test_viewsets_follow_the_naming_conventions(entry):
    _prefix, viewset, basename = entry
    model = viewset().get_queryset().model
    app = model._meta.app_label
    name = model.__name__
    assert viewset.__name__ == f"{name}ViewSet"
    assert viewset.serializer_class.__name__ == f"{name}Serializer"
    # In api/views.py and api/serializers.py, or together in one subject module of the
    # app's api package (incidents/api/summaries.py), as services and selectors are.
    if viewset.__module__ == f"{app}.api.views":
        assert viewset.serializer_class.__module__ == f"{app}.api.serializers"
    else:
        assert viewset.__module__.rpartition(".")[0] == f"{app}.api", viewset.__module__
        assert viewset.serializer_class.__module__ == viewset.__module__
    assert viewset.serializer_class.Meta.model is model
    assert viewset.filterset_class.__name__ == f"{name}FilterSet"
    assert viewset.filterset_class is getattr(
        importlib.import_module(f"{app}.filtersets"), f"{name}FilterSet"
    )
    assert viewset.filterset_class._meta.model is model
    assert basename == model._meta.model_name
    assert reverse(f"{app}-api:{basename}-list").startswith("/api/v1/")


# --- Offline docs ---------------------------------------------------------------------------------

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
ANY_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


@pytest.mark.parametrize("docs_url", ["/api/docs/", "/api/redoc/"])
def test_docs_reference_only_local_static_files(reader, docs_url):
    response = reader.get(docs_url)
    assert response.status_code == 200
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert assets, "the page loads its viewer from somewhere"
    assert all(url.startswith(settings.STATIC_URL) for url in assets), assets
    assert "drf_spectacular_sidecar" in " ".join(assets)
    assert not ANY_URL.findall(html), ANY_URL.findall(html)  # no CDN, no web fonts
    assert "/api/schema/" in html
    for url in assets:
        asset = reader.get(url)
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert len(body) > 100, url


def test_swagger_ui_has_no_online_validator(reader):
    html = reader.get("/api/docs/").content.decode()
    assert re.search(r'"validatorUrl":\s*null', html)

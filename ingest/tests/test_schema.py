"""The OpenAPI description and the browsable docs page: public, and only this API."""

import re

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_schema_is_public_and_describes_the_ingestion_api(client):
    response = client.get("/api/v1/schema")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert set(schema["paths"]) == {
        "/api/v1/calls",
        "/api/v1/calls/{call_id}",
        "/api/v1/calls/{call_id}/recording",
    }
    assert set(schema["paths"]["/api/v1/calls"]) == {"get", "post"}
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "An API key with the ingest permission.",
    }
    assert "caller_number" in schema["components"]["schemas"]["Call"]["required"]


def test_the_schema_is_available_as_json(client):
    response = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "callportal call ingestion API"


def test_the_docs_page_loads_its_assets_from_this_site(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/schema" in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    # No asset from another site (a CDN): every address the page loads is this site's. Not
    # "cdn" anywhere in the page: its CSRF token is random and once held those letters.
    addresses = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""", page)
    loaded = [a or b for a, b in addresses]
    assert loaded
    assert not [url for url in loaded if re.match(r"(?i)(https?:)?//", url)], loaded


def test_every_operation_is_tagged_calls_and_no_stray_enum_is_described(client):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)

    tags = {
        tag
        for operations in schema["paths"].values()
        for op in operations.values()
        for tag in op["tags"]
    }
    assert tags == {"calls"}
    assert "BlankEnum" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["DirectionEnum"]["enum"] == [
        "inbound",
        "outbound",
        "internal",
    ]


def test_the_docs_link_back_to_the_site(client):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)

    assert "[Back to callportal](/)" in schema["info"]["description"]

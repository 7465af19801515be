"""The OpenAPI description: only the ingestion API, with its X-Api-Key scheme."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PREFIX = "/api/v1/"


def only_ingestion_paths(endpoints: list[tuple[str, Any, str, Any]]) -> list:
    """Leave out the Business API and the schema views themselves."""
    return [
        endpoint
        for endpoint in endpoints
        if endpoint[0].startswith(PREFIX)
        and not endpoint[0].startswith(PREFIX + "schema")
        and not endpoint[0].startswith(PREFIX + "docs")
    ]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ingest.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Api-Key",
            "description": "An API key with the ingest permission.",
        }

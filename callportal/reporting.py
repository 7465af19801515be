"""Error reports (the DEBUG page, admin error mails) without API secrets.

Django's reports print GET parameters, the full URL and every frame's local variables
unfiltered; `sensitive_post_parameters` covers POST only. Business API clients put
`apiKey`, `token` and `password` into query strings, and handlers hold them in variables,
so this filter and reporter blank them wherever a report would show them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest, QueryDict
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# Parameter, header and variable names whose values are secrets.
SECRET_NAMES = re.compile(r"key|token|passw|secret|auth|signature|cookie|credential", re.IGNORECASE)
# Headers that carry API secrets.
SECRET_HEADERS = ("HTTP_X_API_KEY", "HTTP_X_API_TOKEN", "HTTP_AUTHORIZATION")
SUBSTITUTE = SafeExceptionReporterFilter.cleansed_substitute


def scrub_query_string(query: str) -> str:
    """`query` with the values of secret-named parameters blanked."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [(name, SUBSTITUTE if SECRET_NAMES.search(name) else value) for name, value in pairs],
        safe="*",
    )


def scrub_querydict(params: QueryDict) -> QueryDict:
    cleaned = params.copy()
    for name in cleaned:
        if SECRET_NAMES.search(name):
            cleaned.setlist(name, [SUBSTITUTE])
    return cleaned


def scrubbed_path(request: HttpRequest) -> str:
    query = request.META.get("QUERY_STRING", "")
    return f"{request.path}?{scrub_query_string(query)}" if query else request.path


class SecretScrubbingFilter(SafeExceptionReporterFilter):
    """Blanks secrets in POST data, request metadata (the query string, key and token
    headers) and frame variables, whether DEBUG is on or off."""

    hidden_settings = re.compile(
        r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|QUERY_STRING|URI",
        flags=re.IGNORECASE,
    )

    def is_active(self, request: HttpRequest | None) -> bool:
        # Secrets of API clients are not the developer's to see, even with DEBUG on.
        return True

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        if "QUERY_STRING" in getattr(request, "META", {}):
            meta["QUERY_STRING"] = scrub_query_string(request.META["QUERY_STRING"])
        return meta

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        return scrub_querydict(params) if isinstance(params, QueryDict) else params

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        secrets = _request_secrets(request)
        return [(name, self._scrub_variable(name, value, secrets)) for name, value in variables]

    def _scrub_variable(self, name: str, value: Any, secrets: set[str]) -> Any:
        if SECRET_NAMES.search(name):
            return SUBSTITUTE
        if isinstance(value, HttpRequest) or hasattr(value, "_request"):
            # A request's repr carries its full path, query string included.
            inner = getattr(value, "_request", value)
            return f"<{type(value).__name__}: {inner.method} {scrubbed_path(inner)!r}>"
        if isinstance(value, QueryDict):
            return scrub_querydict(value)
        if secrets:
            # A secret copied into a variable of any name (or inside a larger value).
            try:
                text = repr(value)
            except Exception:
                return value
            if any(secret in text for secret in secrets):
                return SUBSTITUTE
        return value


def _request_secrets(request: HttpRequest | None) -> set[str]:
    """The secret values this request carries, to recognise them wherever they were copied."""
    if request is None:
        return set()
    found: set[str] = set()
    # The body's fields only if they were read already: reading them now could fail again.
    posted = request.POST if hasattr(request, "_post") else QueryDict()
    for params in (request.GET, posted):
        for name, values in params.lists():
            if SECRET_NAMES.search(name):
                found.update(v.strip() for v in values)
    for header in SECRET_HEADERS:
        value = request.META.get(header, "")
        found.update({value.strip(), value.partition(" ")[2].strip()})
    # Very short values would blank harmless variables; they are no secrets either.
    return {value for value in found if len(value) >= 6}


class SecretScrubbingReporter(ExceptionReporter):
    """Also blanks the GET parameters and the request URL of the report."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if self.request is not None:
            data["request_GET_items"] = scrub_querydict(self.request.GET).items()
            data["request_insecure_uri"] = (
                # The raw host, as Django's own report shows it: get_host() would raise again
                # for a host that ALLOWED_HOSTS refuses. Private, so not in django-stubs.
                f"{self.request.scheme}://{self.request._get_raw_host()}"  # type: ignore[attr-defined]
                f"{scrubbed_path(self.request)}"
            )
        return data

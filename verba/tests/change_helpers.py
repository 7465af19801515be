"""Shared by the tests of the actions that change calls: keys, tokens and result codes."""

from __future__ import annotations

import json

from django.contrib.auth.models import Permission

STAFF_PASSWORD = "pw-staff-1"  # the conftest's staff_user


def code_of(response) -> int:
    return int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])


def message_of(response) -> str:
    return response.content.decode().split("<ErrorMessage>", 1)[1].split("</ErrorMessage>")[0]


def json_of(response) -> dict:
    return json.loads(response.content)


def grant(user, *codenames: str) -> None:
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label="calls")
        )


def request_token(api, key: str) -> str:
    response = api(
        action="RequestToken",
        apiKey=key,
        userName="staff",
        password=STAFF_PASSWORD,
        responseType="TEXT",
    )
    assert response.status_code == 200, response.content
    return response.content.decode().strip()

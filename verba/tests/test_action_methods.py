"""An action that takes fewer HTTP methods (PutMedia: POST only) answers others with 405."""

import pytest

from verba.actions import REGISTRY, Action, Context
from verba.answers import Answer

pytestmark = pytest.mark.django_db


class PostOnly(Action):
    name = "PostOnly"
    methods = frozenset({"POST"})

    def run(self, context: Context) -> Answer:
        return Answer(type=self.name)


@pytest.fixture(autouse=True)
def _post_only_action(monkeypatch):
    monkeypatch.setitem(REGISTRY, PostOnly.name, PostOnly())


def test_a_get_of_a_post_only_action_is_405_in_xml_allowing_post(api, key):
    response = api(action="PostOnly", apiKey=key, responseType="JSON")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.content == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi>\n'
        b'<Response code="1" type="PostOnly">\n'
        b"<ErrorMessage>PostOnly takes POST only.</ErrorMessage>\n</Response>\n</VerbaApi>\n"
    )


def test_a_post_of_it_runs(api, key):
    response = api(method="post", action="PostOnly", apiKey=key)

    assert response.status_code == 200
    assert response["Allow"] == "GET, POST"
    assert b'<Response code="0" type="PostOnly"/>' in response.content

"""`manage.py prune_sessions`: finished API tokens and expired login sessions go."""

import io
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone

from apikeys.models import ApiSession
from apikeys.services import create_api_key, release_token, request_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(django_user_model):
    return create_api_key("Tokens")[0], django_user_model.objects.create_user("agent")


def token_started(key, days_ago: float, *, released_days_ago: float | None = None):
    api_key, user = key
    now = timezone.now()
    session, _ = request_token(api_key, user, now=now - timedelta(days=days_ago))
    if released_days_ago is not None:
        release_token(session, now=now - timedelta(days=released_days_ago))
    return session.pk


def test_tokens_finished_longer_ago_than_the_retention_are_deleted(key, settings):
    settings.SESSION_RETENTION_DAYS = 30
    settings.API_TOKEN_LIFETIME = 3600
    live = token_started(key, 0)
    expired_lately = token_started(key, 10)
    expired_long_ago = token_started(key, 60)
    released_long_ago = token_started(key, 0, released_days_ago=45)

    out = io.StringIO()
    call_command("prune_sessions", stdout=out)

    assert set(ApiSession.objects.values_list("pk", flat=True)) == {live, expired_lately}
    assert released_long_ago not in ApiSession.objects.values_list("pk", flat=True)
    assert expired_long_ago not in ApiSession.objects.values_list("pk", flat=True)
    assert out.getvalue().startswith("Deleted 2 API tokens finished over 30 days ago")


def test_expired_login_sessions_are_deleted_and_live_ones_kept(key):
    live = SessionStore()
    live["x"] = 1
    live.create()
    gone = SessionStore()
    gone["x"] = 1
    gone.create()
    Session.objects.filter(session_key=gone.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    out = io.StringIO()
    call_command("prune_sessions", "--days", "7", stdout=out)

    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert "and 1 expired login sessions" in out.getvalue()

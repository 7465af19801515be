"""Fixtures shared by every app's tests."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from hypothesis import HealthCheck, settings

# The fuzz tests (verba/tests/test_fuzz.py, ingest/tests/test_fuzz.py) draw the same cases on
# every run, so CI is reproducible and a failure seen once is seen again; no example database
# is kept between runs. Requests through the test client are slower than Hypothesis expects
# of a test, and one database per test serves all its cases: those checks are off.
settings.register_profile(
    "callportal",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("callportal")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


_BROWSER_FIXTURES = ("page", "new_context", "context", "browser")


def _drives_a_browser(item: pytest.Item) -> bool:
    """Does the test take pytest-playwright's page, context or browser (not a parameter or
    another fixture of the same name)?"""
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(
        d.func.__module__.startswith("pytest_playwright")
        for name in _BROWSER_FIXTURES
        for d in defs.get(name, ())
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests are the ones marked `browser`, all of them in `test_browser_*.py`
    modules, and every test there is one: CI runs them once (on PostgreSQL) by the marker
    and counts them by the module name, so the two must agree, and a test that drives a
    browser without the marker would run on both databases."""
    wrong = []
    for item in items:
        marked = item.get_closest_marker("browser") is not None
        named = item.path.name.startswith("test_browser_")
        if marked != named or (_drives_a_browser(item) and not marked):
            wrong.append(item.nodeid)
    if wrong:
        raise pytest.UsageError(
            "Browser tests must be marked `browser` and live in test_browser_*.py modules "
            "(and nothing else there): " + ", ".join(wrong)
        )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium, never a downloaded browser; no outbound connections."""
    if not Path(CHROMIUM).exists():
        # A failure, not a skip: browser tests must run wherever the suite runs.
        pytest.fail(f"Chromium not found at {CHROMIUM}; install Debian's chromium package.")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(autouse=True)
def _fresh_last_used_memo():
    """Each test starts with an empty last-used memo, as a new process would: row ids repeat
    between tests, so a key remembered from an earlier test would be a different key."""
    from apikeys.services import forget_last_used_memo

    forget_last_used_memo()
    yield
    forget_last_used_memo()


@pytest.fixture
def media_root(settings, tmp_path):
    """Recordings go to a throw-away folder. A test module that stores any uses it for all
    its tests: `pytest.mark.usefixtures("media_root")`."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def staff_user(django_user_model):
    """A logged-in-able user who sees every call (directory access `all`) and may request
    API tokens (calls.view_call), password "pw-staff-1"."""
    from directory.models import Access, Profile

    user = django_user_model.objects.create_user(
        username="staff", password="pw-staff-1", is_staff=True
    )
    Profile.objects.create(user=user, access=Access.ALL)
    user.user_permissions.add(
        Permission.objects.get(codename="view_call", content_type__app_label="calls")
    )
    return user


@pytest.fixture
def api_key():
    """An active key allowed to query the Business API, with its plaintext."""
    from apikeys.services import create_api_key

    key, plaintext = create_api_key("Test integration")
    return key, plaintext


@pytest.fixture
def full_disk(monkeypatch):
    """The media disk fills up part-way through writing a file (or is read-only):
    `full_disk["full"] = False` frees it, `full_disk["error"]` is the errno raised."""
    import errno
    import os
    from pathlib import Path

    from django.core.files.storage import FileSystemStorage

    state = {"full": True, "error": errno.ENOSPC}
    save = FileSystemStorage._save

    def filling(self, name, content):
        if not state["full"]:
            return save(self, name, content)
        path = self.path(name)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"RIFF half a file")
        raise OSError(state["error"], os.strerror(state["error"]))

    monkeypatch.setattr(FileSystemStorage, "_save", filling)
    return state


@pytest.fixture(autouse=True)
def _retention_command_keeps_its_priority(settings):
    """`manage.py apply_retention` run in the test process would lower the priority of the
    whole test run for good (os.nice cannot be undone): tests run it at niceness 0."""
    settings.RETENTION_NICENESS = 0

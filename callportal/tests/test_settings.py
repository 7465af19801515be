import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(
    code: str = "from django.conf import settings; print(settings.DEBUG)", **env: str
) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "API_DIGEST_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(env)
    return subprocess.run(  # noqa: S603 - this interpreter, code from the tests
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **environment,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "callportal.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_production_start_without_secret_key_refuses_with_a_clear_message():
    # Empty rather than absent, so that a developer's .env cannot fill it in.
    result = load_settings(SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_is_off_unless_set():
    assert load_settings(SECRET_KEY="x" * 50).stdout.strip() == "False"
    assert load_settings(SECRET_KEY="x" * 50, DEBUG="on").stdout.strip() == "True"


def test_a_debug_start_may_omit_the_secret_key():
    assert load_settings(DEBUG="on", SECRET_KEY="").returncode == 0

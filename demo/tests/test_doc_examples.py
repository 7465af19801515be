"""docs/api.md's "Try it on the demo" block, run as a newcomer would paste it: in bash, with
curl, against a live server holding what `manage.py demo` loaded. Only the secrets the demo
printed are filled in; every other line runs as written in the docs."""

import json
import re
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

API_DOC = Path(django_settings.BASE_DIR) / "docs" / "api.md"
# The lines the docs ask the reader to fill in from the demo's output.
SECRETS = ("KEY", "AGENT_PASSWORD")


def demo_block() -> str:
    text = API_DOC.read_text()
    section = text.split("\n## Try it on the demo\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "docs/api.md's 'Try it on the demo' section has no sh block"
    return match.group(1)


def assignment(name: str, block: str) -> str:
    match = re.search(rf"^{name}=(\S+)", block, re.MULTILINE)
    assert match, f"the block does not set {name}"
    return match.group(1)


def run_demo(base_url: str) -> str:
    out = StringIO()
    call_command("demo", "--base-url", base_url, stdout=out)
    return out.getvalue()


def filled_in(block: str, output: str, base: str) -> str:
    """The block with the demo's secrets and this test server's address in place of the
    docs' `…` and 127.0.0.1:8000; each curl command announced on stdout, so that its
    answer can be told from the next one's."""
    key = re.search(r"^API key:\s+(\S+)$", output, re.MULTILINE)
    agent = re.search(r"^\s+agent\s+(\S+)\s", output, re.MULTILINE)
    assert key and agent, output
    values = {"KEY": key.group(1), "AGENT_PASSWORD": agent.group(1)}
    lines = []
    for number, line in enumerate(block.splitlines(), 1):
        name = line.split("=", 1)[0]
        if name in values:
            line = f"{name}={values[name]}"
        elif name == "BASE":
            line = line.replace("http://127.0.0.1:8000", base)
        elif line.startswith("curl "):
            lines.append(f"echo; echo '### {number} {line.split('action=')[1].split('&')[0]}'")
        lines.append(line)
    lines.append('echo; echo "### token $TOKEN"')
    return "\n".join(lines) + "\n"


def answers(stdout: str) -> dict[str, str]:
    """Each announced command's answer, by action name (each appears once in the block)."""
    parts = re.split(r"^### (\d+ \w+|token.*)$", stdout, flags=re.MULTILINE)[1:]
    got = {}
    for head, body in zip(parts[::2], parts[1::2], strict=True):
        if head.startswith("token"):
            got["token"] = head.removeprefix("token").strip()
        else:
            got[head.split()[-1]] = body.strip()
    return got


def test_the_docs_block_names_the_demo_s_recorded_call_and_leaves_only_secrets_to_fill_in():
    block = demo_block()
    output = run_demo("http://127.0.0.1:8000")
    recorded = re.search(r"^A recording: \S+/calls/([0-9a-f-]{36})/$", output, re.MULTILINE)
    assert recorded, output
    assert assignment("CALL", block) == recorded.group(1)
    assert assignment("BASE", block) == "http://127.0.0.1:8000/verba/api"
    for name in SECRETS:
        assert assignment(name, block) == "…", f"{name} should be left for the reader"


def test_every_request_of_the_docs_demo_block_answers_with_the_demo_s_calls(live_server, tmp_path):
    output = run_demo(live_server.url)
    script = filled_in(demo_block(), output, live_server.url)
    # The docs' own block is the input under test; shutil.which finds the reader's bash.
    done = subprocess.run(  # noqa: S603
        [shutil.which("bash") or "/bin/bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = answers(done.stdout)

    assert set(got) == {
        "GetCallURL",
        "GetCallInformation",
        "SearchCalls",
        "GetMedia",
        "GetMediaEncoded",
        "AddMarker",
        "AttachMetaData",
        "GetMarkers",
        "KeepCall",
        "token",
    }, got
    for action in ("GetCallURL", "AddMarker", "AttachMetaData", "KeepCall"):
        assert f'<Response code="0" type="{action}"' in got[action], (action, got[action])
    assert "<CallURL>" in got["GetCallURL"] and "ccdrId=" in got["GetCallURL"]
    information = json.loads(got["GetCallInformation"])
    assert information["code"] == 0, information
    # The agent's token lists her calls of the two days: at least the one going on now.
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", got["token"]), got["token"]
    rows = [row.split("\t") for row in got["SearchCalls"].splitlines()]
    assert rows and all(len(row) == 5 for row in rows), got["SearchCalls"]
    assert all("8856" in (row[3], row[4]) for row in rows), "the agent sees only her own calls"
    assert "Follow-up" in got["GetMarkers"]
    # The downloads are the recording, not an error page saved under an audio name.
    assert got["GetMedia"] == got["GetMediaEncoded"] == ""
    assert (tmp_path / "call.wav").read_bytes()[:4] == b"RIFF"
    mp3 = (tmp_path / "call.mp3").read_bytes()
    assert mp3[:3] == b"ID3" or mp3[:2] == b"\xff\xfb", mp3[:64]

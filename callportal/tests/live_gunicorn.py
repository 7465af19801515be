"""The README's server (gunicorn with gunicorn.conf.py) started by a test, its logs captured.

Runs on 127.0.0.1, a free port and a SQLite file of its own, with one worker; stdout (the
access log) and stderr (gunicorn's error log and the application's log) go to files the
test reads, exactly as the configuration writes them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    base: str
    port: int
    env: dict[str, str]
    stdout: Path
    stderr: Path
    process: subprocess.Popen | None = None

    def stop(self) -> int:
        """Stop gracefully (SIGTERM to the master, as a deploy sends); its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)

    def manage(self, *args: str) -> str:
        """Run a manage.py command against the server's database; its output."""
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def send_raw(self, data: bytes) -> bytes:
        """Send bytes as they are (malformed requests too); the whole answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as connection:
            connection.sendall(data)
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def wait_for_log(self, seen: Callable[[str], bool], timeout: float = 15) -> str:
        """The logs, once `seen(logs)` holds (lines reach the files when written)."""
        deadline = time.monotonic() + timeout
        while not seen(logs := self.logs()):
            assert time.monotonic() < deadline, f"log never showed what was expected:\n{logs}"
            time.sleep(0.05)
        return logs


@contextmanager
def running_gunicorn(tmp_path: Path, **settings: str) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/server.sqlite3",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "8",
        "API_THROTTLE": "off",
        # These servers take many failed logins on purpose (hostile input, secrets in logs);
        # the lockout and RequestToken's rate have tests of their own.
        "API_TOKEN_THROTTLE": "off",
        "LOGIN_FAILURE_LIMIT": "100000",
        **settings,
    }
    server = Server(
        base=f"http://127.0.0.1:{port}",
        port=port,
        env=env,
        stdout=tmp_path / "gunicorn.stdout",
        stderr=tmp_path / "gunicorn.stderr",
    )
    server.manage("migrate", "--noinput")
    with server.stdout.open("wb") as out, server.stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "callportal.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    server.process = process
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{server.base}/verba/api", timeout=2).read()  # noqa: S310
                break
            except OSError:
                assert time.monotonic() < deadline, f"gunicorn did not start:\n{server.logs()}"
                assert process.poll() is None, f"gunicorn exited:\n{server.logs()}"
                time.sleep(0.1)
        yield server
    finally:
        server.stop()

"""A throw-away PostgreSQL cluster for the benchmarks that need their own server settings.

    with ThrowawayCluster(max_connections=50) as cluster:
        cluster.url("callportal_app", "callportal")

initdb + pg_ctl (Debian's PostgreSQL binaries) on a free loopback port, in a temporary
directory, as the `postgres` user when run as root (initdb refuses root). The cluster is
stopped and deleted on exit. It sets up the roles docs/deployment.md describes: an owner
that runs migrations and a plain login role for the app servers (no superuser).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

OWNER = "callportal_owner"
APP = "callportal_app"
DATABASE = "callportal"

GRANTS = f"""
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {APP};
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP};
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO {APP};
"""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL's server binaries are missing: apt-get install postgresql")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayCluster:
    def __init__(self, **server_settings: object) -> None:
        self.settings = {"listen_addresses": "127.0.0.1", "fsync": "off", **server_settings}
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="callportal-pg-"))
        self.data = self.dir / "data"
        self.bin = _bindir()

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def __enter__(self) -> ThrowawayCluster:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")
        options = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        options += f" -c port={self.port} -c unix_socket_directories={self.dir}"
        log = str(self.dir / "server.log")
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start"
        )
        self.psql("postgres", f"CREATE ROLE {OWNER} LOGIN; CREATE ROLE {APP} LOGIN;")
        self.psql("postgres", f"CREATE DATABASE {DATABASE} OWNER {OWNER};")
        self.psql(DATABASE, GRANTS)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, database: str, sql: str, user: str = "postgres") -> str:
        result = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def url(self, user: str = APP, database: str = DATABASE) -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

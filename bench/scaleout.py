"""Scale-out on loopback: HAProxy in front of two app servers sharing PostgreSQL, Redis, S3.

    .venv/bin/python bench/scaleout.py [--database callportal_scaleout]
                                       [--redis redis://127.0.0.1:6379/0]
                                       [--throttle-store redis|database]
                                       [--clients 20] [--seconds 20]

Needs Debian's haproxy and a redis-server on 127.0.0.1:6379 (the one CI starts); starts
everything else itself on free loopback ports: moto's S3 server, app servers A and B
(gunicorn with gunicorn.conf.py, one gevent worker each, S3_BUCKET and REDIS_URL set) and
HAProxy balancing over both with /readyz health checks. The PostgreSQL database given is
dropped and recreated on 127.0.0.1:5432. Then it checks, and prints:

1. a recording uploaded through A plays through B (a Range request, byte for byte);
2. `next` waiters parked on A are released by calls written through B (release times);
3. the throttle holds across both servers (one key, requests alternating A/B);
4. under steady load through HAProxy (`--clients` clients for `--seconds`: GetCallURL
   reads and ingestion writes), A is killed with SIGKILL halfway: failed requests (all
   should be those in flight on A at the kill), and whether every call answered 201 is in
   the database.

Exits non-zero if any check fails. Everything is bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import wave
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from benchdb import ROOT, connect, pg_url, recreate

THROTTLE = 120  # requests per minute per key on both servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def request(url: str, data: bytes | None = None, method: str = "GET", **headers: str):
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=120) as response:  # noqa: S310 - loopback
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="callportal-scaleout-"))
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports = {name: free_port() for name in ("s3", "a", "b", "lb")}
        self.bucket = f"scaleout-{uuid.uuid4().hex[:8]}"
        self.prefix = f"callportal-scaleout-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "API_DIGEST_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": pg_url(args.database),
            "REDIS_URL": args.redis,
            "REDIS_KEY_PREFIX": self.prefix,
            "API_THROTTLE_STORE": args.throttle_store,
            "API_THROTTLE": f"{THROTTLE}/min",
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{self.ports['s3']}",
            "S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "scaleout",
            "AWS_SECRET_ACCESS_KEY": "scaleout",
            "TRUSTED_PROXIES": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "NEXT_WINDOW_SECONDS": "30",
        }

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.dir / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches every worker
        )

    def up(self) -> None:
        recreate(self.args.database)
        self.start(
            "s3",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.ports["s3"])],
        )
        wait_for(self.url("s3"))
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.url("s3"),
            region_name="us-east-1",
            aws_access_key_id="scaleout",
            aws_secret_access_key="scaleout",  # noqa: S106 - moto's throw-away server
        ).create_bucket(Bucket=self.bucket)
        for name in ("a", "b"):
            env = {**self.env, "BIND": f"127.0.0.1:{self.ports[name]}"}
            gunicorn = [str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py"]
            self.start(name, [*gunicorn, "--access-logfile", "/dev/null", "callportal.wsgi"], env)
        for name in ("a", "b"):
            wait_for(f"{self.url(name)}/readyz")
        config = self.dir / "haproxy.cfg"
        config.write_text(
            f"""
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 90s
    timeout server 90s
    # A request that could not reach a server (refused, or a reused idle connection that
    # died with it) is sent to the other one at once. Only requests a server may already
    # have acted on (POSTs whose answer never came) are not retried: they fail.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
listen app
    bind 127.0.0.1:{self.ports["lb"]}
    balance roundrobin
    option forwardfor
    http-request disable-l7-retry if METH_POST
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1
    default-server inter 500ms fall 2 rise 2
    server a 127.0.0.1:{self.ports["a"]} check
    server b 127.0.0.1:{self.ports["b"]} check
"""
        )
        self.start("lb", ["haproxy", "-f", str(config), "-db"])
        wait_for(f"{self.url('lb')}/healthz")

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()

    def down(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM if name in ("a", "b") else signal.SIGKILL)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.args.redis:
            import redis

            client = redis.Redis.from_url(self.args.redis)
            for key in client.scan_iter(f"{self.prefix}:*"):
                client.delete(key)


def make_key(stack: Stack, name: str, *flags: str) -> str:
    created = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", name, *flags],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip().splitlines()[-1]


def post_call(base: str, key: str, number: str) -> tuple[int, str | None]:
    body = {
        "caller_number": "+442071111111",
        "called_number": number,
        "started_at": datetime.now(UTC).isoformat(),
    }
    status, raw, _ = request(
        f"{base}/api/v1/calls",
        json.dumps(body).encode(),
        "POST",
        **{"Content-Type": "application/json", "X-Api-Key": key},
    )
    return status, json.loads(raw)["id"] if status == 201 else None


def api(base: str, key: str, **params: str) -> str:
    query = {"action": "GetCallURL", "apiKey": key, "responseType": "TEXT", **params}
    return f"{base}/verba/api?{urllib.parse.urlencode(query)}"


def wav(seconds: float = 3.0) -> bytes:
    buffer = BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes((n * 13) % 256 for n in range(int(seconds * 8000) * 2)))
    return buffer.getvalue()


def check_recording(stack: Stack, ingest: str) -> bool:
    _, call_id = post_call(stack.url("a"), ingest, "4000")
    data = wav()
    status, _, _ = request(
        f"{stack.url('a')}/api/v1/calls/{call_id}/recording",
        data,
        "PUT",
        **{"Content-Type": "audio/wav", "X-Api-Key": ingest},
    )
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("scaleout", password="scaleout-pw-1")  # noqa: S106
    opener = login(stack.url("b"))
    req = urllib.request.Request(  # noqa: S310 - loopback
        f"{stack.url('b')}/calls/{call_id}/recording", headers={"Range": "bytes=1000-"}
    )
    with opener.open(req, timeout=60) as response:
        played, code = response.read(), response.status
    ok = status in (200, 201) and code == 206 and played == data[1000:]
    print(
        f"1. recording uploaded through A ({status}), played through B: HTTP {code}, "
        f"{len(played)} bytes from byte 1000, identical: {played == data[1000:]}"
    )
    return ok


def login(base: str) -> urllib.request.OpenerDirector:
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=60).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": "scaleout", "password": "scaleout-pw-1", "csrfmiddlewaretoken": token}
    ).encode()
    opener.open(
        urllib.request.Request(  # noqa: S310 - loopback
            f"{base}/accounts/login/", data=form, headers={"Referer": f"{base}/accounts/login/"}
        ),
        timeout=60,
    ).read()
    return opener


def check_waiters(stack: Stack, query: str, ingest: str, count: int = 20) -> bool:
    results: dict[str, tuple[int, str, float]] = {}
    numbers = [f"3{n:04d}" for n in range(count)]

    def wait(number: str) -> None:
        status, body, _ = request(api(stack.url("a"), query, extension=number, status="next"))
        results[number] = (status, body.decode().strip(), time.monotonic())

    threads = [threading.Thread(target=wait, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    time.sleep(3)  # all parked on A
    written: dict[str, tuple[str, float]] = {}
    for number in numbers:
        _, call_id = post_call(stack.url("b"), ingest, number)
        written[number] = (call_id, time.monotonic())
    for thread in threads:
        thread.join(60)
    delays, wrong = [], 0
    for number in numbers:
        status, body, at = results.get(number, (0, "", 0.0))
        call_id, written_at = written[number]
        if status == 200 and body.endswith(f"={call_id}"):
            delays.append(at - written_at)
        else:
            wrong += 1
    ok = not wrong and max(delays) <= 1.5
    print(
        f"2. {count} next waiters on A, calls written through B: released {len(delays)}, "
        f"wrong/unanswered {wrong}, release after write p50 "
        f"{statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
    )
    return ok


def check_throttle(stack: Stack, key: str, total: int = 300) -> bool:
    statuses: list[int] = []
    lock = threading.Lock()
    started = time.monotonic()

    def client(i: int) -> None:
        for n in range(total // 4):
            base = stack.url("a" if (i + n) % 2 else "b")
            status, _, _ = request(api(base, key, callID=str(uuid.uuid4())))
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    allowed = sum(1 for s in statuses if s == 200)
    bound = THROTTLE + THROTTLE / 60 * elapsed
    ok = allowed <= bound + 1 and allowed >= THROTTLE
    print(
        f"3. throttle {THROTTLE}/min, {len(statuses)} requests alternating A/B in "
        f"{elapsed:.1f} s: {allowed} allowed (the bucket allows at most {bound:.0f}), "
        f"{statuses.count(429)} answered 429"
    )
    return ok


def check_failover(stack: Stack, keys: list[str], ingest: str) -> bool:
    stop = threading.Event()
    lock = threading.Lock()
    outcomes: list[tuple[float, float, bool, str]] = []  # (sent, answered, ok, what)
    written: list[str] = []
    base = stack.url("lb")

    def client(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            sent = time.monotonic()
            try:
                if n % 3 == 0:
                    status, call_id = post_call(base, ingest, f"2{i:03d}{n % 1000:03d}")
                    ok, what = status == 201, f"write {status}"
                    if ok:
                        with lock:
                            written.append(call_id)
                else:
                    status, body, _ = request(api(base, keys[i], extension="5000", status="last"))
                    ok, what = status == 200, f"read {status} {body[:40]!r}"
            except OSError as error:
                ok, what = False, type(error).__name__
            with lock:
                outcomes.append((sent, time.monotonic(), ok, what))
            # 2 requests/s per client, 1.3 reads/s per key: under the throttle (2/s per key).
            time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    time.sleep(stack.args.seconds / 2)
    killed_at = time.monotonic()
    stack.kill("a")
    time.sleep(stack.args.seconds / 2)
    stop.set()
    for thread in threads:
        thread.join(120)
    failed = [o for o in outcomes if not o[2]]
    in_flight = [o for o in failed if o[0] <= killed_at <= o[1]]
    after = [o for o in failed if o[0] > killed_at]
    stored = 0
    with connect(stack.args.database) as db, db.cursor() as cur:
        cur.execute("SELECT count(*) FROM calls_call WHERE id = ANY(%s::uuid[])", [written])
        stored = cur.fetchone()[0]
    ok = len(failed) == len(in_flight) and stored == len(written)
    print(
        f"4. steady load through HAProxy, {len(keys)} clients, {len(outcomes)} requests; "
        f"A killed (SIGKILL) after {stack.args.seconds / 2:.0f} s: {len(failed)} failed, "
        f"of which {len(in_flight)} were in flight at the kill, {len(after)} sent after it; "
        f"{len(written)} calls answered 201, {stored} of them in the database"
    )
    for what in sorted({o[3] for o in failed})[:5]:
        print(f"   failure: {what}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="callportal_scaleout")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--throttle-store", choices=["redis", "database"], default="redis")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 4 <= args.seconds <= 300:
        parser.error("--clients 1..200, --seconds 4..300")
    stack = Stack(args)
    os.environ.update({k: v for k, v in stack.env.items() if k not in os.environ})
    os.environ["DATABASE_URL"] = stack.env["DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    try:
        stack.up()
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callportal.settings")
        import django

        django.setup()
        print(
            f"HAProxy :{stack.ports['lb']} -> app servers A :{stack.ports['a']}, "
            f"B :{stack.ports['b']} (gevent, 1 worker each); PostgreSQL {args.database}; "
            f"Redis {args.redis}; S3 (moto) :{stack.ports['s3']}; throttle store "
            f"{args.throttle_store}"
        )
        query = make_key(stack, "scaleout query")
        ingest = make_key(stack, "scaleout ingest", "--ingest")
        results = [
            check_recording(stack, ingest),
            check_waiters(stack, query, ingest),
            check_throttle(stack, make_key(stack, "scaleout throttle")),
            check_failover(
                stack,
                [make_key(stack, f"scaleout load {i}") for i in range(args.clients)],
                make_key(stack, "scaleout load writes", "--ingest"),
            ),
        ]
    finally:
        stack.down()
        print(f"logs: {stack.dir}")
    print("all checks passed" if all(results) else "SOME CHECKS FAILED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

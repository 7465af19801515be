"""What the access log costs the requests that write it, on PostgreSQL.

    .venv/bin/python bench/access_log_cost.py [--requests 300] [--rounds 5]
                                              [--database callportal_access_log_bench]

Recreates the PostgreSQL database given (it is dropped first!), migrates it, makes one API
key, one staff user and one call with a recording, then times requests through Django's
full request handling in this process (no network, no server): each round runs every case
once with the access log written and once with its writes replaced by nothing, one after
the other, so both see the same machine load. Prints the median time per request of each
case and the ratio logged / not logged.

Cases:
- GetCallInformation by callID with a key: one `view` event (one INSERT, autocommitted);
- the staff player's range request: `record_play` (a transaction, an advisory lock, the
  look-up of this playback's event; after the first request of a round, nothing to insert);
- the staff call list: one `search` event.
Nothing leaves the machine.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from benchdb import recreate, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per case and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", default="callportal_access_log_bench")
    args = parser.parse_args()

    recreate(args.database)
    # Django's test client asks for "testserver"; the recording goes to a throw-away folder.
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="access-log-bench-")
    setup_django(args.database)
    cases = prepare()

    timings: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.rounds):
        for name, send in cases.items():
            for logged in (True, False):
                with access_log(logged):
                    seconds = timed(send, args.requests)
                timings.setdefault((name, logged), []).append(seconds / args.requests)

    print(f"{args.requests} requests per case, {args.rounds} interleaved rounds (median):")
    for name in cases:
        on = statistics.median(timings[(name, True)]) * 1000
        off = statistics.median(timings[(name, False)]) * 1000
        print(f"  {name:<22} logged {on:6.2f} ms   not logged {off:6.2f} ms   ratio {on / off:.2f}")


def prepare() -> dict[str, Callable[[], Any]]:
    from django.contrib.auth.models import Permission, User
    from django.core.files.base import ContentFile
    from django.test import Client
    from django.utils import timezone

    from apikeys.services import create_api_key
    from calls.models import Call

    now = timezone.now()
    call = Call.objects.create(
        caller_number="+442071234567",
        called_number="8856",
        started_at=now - timezone.timedelta(minutes=5),
        ended_at=now,
    )
    call.recording.save("bench.wav", ContentFile(b"RIFF" + bytes(64_000)))
    _, key = create_api_key("Bench")
    user = User.objects.create_user("bench")
    user.user_permissions.add(Permission.objects.get(codename="view_call"))
    api, staff = Client(), Client()
    staff.force_login(user)

    def drain(response: Any) -> None:
        if response.streaming:
            b"".join(response.streaming_content)
        if response.status_code not in (200, 206):
            raise RuntimeError(f"the bench's request answered {response.status_code}")

    params = {"action": "GetCallInformation", "apiKey": key, "callID": str(call.pk)}

    def get_call_information() -> None:
        answer = api.get("/verba/api", params)
        if b'code="0"' not in answer.content:
            raise RuntimeError(f"GetCallInformation answered {answer.content[:200]!r}")

    return {
        "GetCallInformation": get_call_information,
        "staff player (range)": lambda: drain(
            staff.get(f"/calls/{call.pk}/recording", headers={"Range": "bytes=0-1023"})
        ),
        "staff call list": lambda: drain(staff.get("/calls/", {"number": "8856"})),
    }


@contextmanager
def access_log(logged: bool):  # type: ignore[no-untyped-def]
    """The access log as shipped, or every write of it replaced by nothing."""
    import staff.views
    import verba.actions.access

    if logged:
        yield
        return
    saved = (
        verba.actions.access.record_access,
        staff.views.record_access,
        staff.views.record_play,
    )
    verba.actions.access.record_access = lambda *a, **k: None
    staff.views.record_access = lambda *a, **k: None
    staff.views.record_play = lambda *a, **k: None
    try:
        yield
    finally:
        (
            verba.actions.access.record_access,
            staff.views.record_access,
            staff.views.record_play,
        ) = saved


def timed(send: Callable[[], Any], count: int) -> float:
    send()  # warm: the first request of a round compiles and caches
    started = time.perf_counter()
    for _ in range(count):
        send()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()

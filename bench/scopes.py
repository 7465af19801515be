"""What a scope costs (issue 20, part 6), on PostgreSQL:

1. SearchCalls over a month for a supervisor of 50 agents, and with a key limited to the
   supervisor's group, in every `orderby` both ways: the database time of the queries the
   action sends (EXPLAIN ANALYZE, median of 5 after a warm-up), against the same search
   unscoped. Goal: ≤ 200 ms at 10 M calls.
2. GetCallURL by callID and by extension with status=last, with a token, in one process
   through Django's test client (the whole view, no HTTP server): a token of an `own`
   agent (the scoped path: the scope is checked inside the lookup's one statement) against
   a token of an `all` user (the path without a scope, what every token took before the
   directory) and a key without a token; interleaved rounds, median per round. Goal:
   scoped ≤ 1.2 × unscoped. (bench/run.py measures the same over HTTP with wrk.)

    .venv/bin/python bench/scopes.py [--rows 10000000] [--database cp_scopes_bench]
    .venv/bin/python bench/scopes.py --reuse        # measure again without reloading

Recreates the database given (dropped first!), migrates it and fills it in one INSERT …
SELECT with the secondary indexes built after (bench/benchdb.py): calls spread evenly over
365 days, the caller an external number, the called number one of 2,000 extensions
(7000–8999), each owned by one agent for all time; the supervisor's group holds the agents
of the first 50 extensions (so 2.5 % of all calls are in her scope). The machine is shared:
report the load average printed with the figures, and compare ratios from one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

from benchdb import connect, indexes_built_after, recreate, setup_django

AGENTS = 2000
# Django's mark of a user who cannot log in with a password (set_unusable_password).
UNUSABLE = "!"
TEAM = 50
RUNS = 5
ROUNDS = 7
PER_ROUND = 200


def fill(database: str, rows: int, days: float = 365.0) -> float:
    connection = connect(database)
    connection.autocommit = True
    started = time.perf_counter()
    try:
        with connection.cursor() as cur:
            cur.execute(
                """
                INSERT INTO calls_call (id, caller_number, caller_name, called_number,
                    called_name, started_at, ended_at, direction, native_id, platform_call_id,
                    keep, delete_when_ended, recording, recording_content_type, created_at,
                    updated_at, delete_requested_by, recording_sha256)
                SELECT gen_random_uuid(), '+4420' || (1000000 + n %% 50021), '',
                       (7000 + n %% %(agents)s)::text, '', s.started,
                       s.started + (n %% 1800) * interval '1 second', 'inbound',
                       'native-' || n, n || '@pbx', false, false, '', '', s.started,
                       s.started, '', ''
                FROM generate_series(1, %(rows)s) AS n,
                     LATERAL (SELECT now() - interval '1 hour'
                                         - (n * (%(days)s * 86400.0 / %(rows)s))
                                           * interval '1 second' AS started) AS s
                """,
                {"rows": rows, "agents": AGENTS, "days": days},
            )
            cur.execute("VACUUM ANALYZE calls_call")
    finally:
        connection.close()
    return time.perf_counter() - started


def directory() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from directory.models import Access, Extension, Group, Profile

    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(username=f"agent{n}", password=UNUSABLE) for n in range(AGENTS)
    )
    agents = list(user_model.objects.filter(username__startswith="agent").order_by("id"))
    Extension.objects.bulk_create(
        Extension(user=a, number=str(7000 + n)) for n, a in enumerate(agents)
    )
    lead = user_model.objects.create_user("lead")
    dpo = user_model.objects.create_user("dpo")
    Profile.objects.create(user=lead, access=Access.OWN)
    Profile.objects.create(user=dpo, access=Access.ALL)
    team = Group.objects.create(name="Team")
    team.members.set(agents[:TEAM])
    team.supervisors.set([lead])
    view = Permission.objects.get(codename="view_call", content_type__app_label="calls")
    for user in (agents[0], lead, dpo):
        user.user_permissions.add(view)
    from django.db import connection

    with connection.cursor() as cur:
        for table in ("directory_extension", "directory_group_members", "auth_user"):
            cur.execute(f"ANALYZE {table}")


def search_month() -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone
    from search_calls import explain_steps

    from directory.models import Group
    from directory.scopes import EVERYTHING, groups_scope, user_scope
    from search.search_calls import OrderBy, PeriodSearch

    with connection.cursor() as cur:
        cur.execute("SELECT count(*), max(started_at) FROM calls_call")
        total, newest = cur.fetchone()
    lead = get_user_model().objects.get(username="lead")
    team = Group.objects.get(name="Team")
    now = timezone.now()
    end = newest - timedelta(days=3)
    print(f"\n{total:,} calls; SearchCalls over 31 days, 100 rows")
    print(f"{'case':64} {'db ms (median of 5)':>20}  top nodes")
    scopes = {
        "supervisor of 50 agents": user_scope(lead),
        "key limited to the team": groups_scope([team.pk]),
        "no scope": EVERYTHING,
    }
    for order in OrderBy:
        for descending in (True, False):
            month = PeriodSearch(
                started_from=end - timedelta(days=31),
                started_before=end,
                order_by=order,
                descending=descending,
            )
            for name, scope in scopes.items():
                figures = []
                for run in range(RUNS + 1):
                    plans = explain_steps(connection, month, offset=0, now=now, scope=scope)
                    if run:
                        ms = sum(p["planning"] + p["execution"] for p in plans)
                        figures.append((ms, " ; ".join(p["top"][:60] for p in plans)))
                ms, top = sorted(figures)[len(figures) // 2]
                label = f"{order.value} {'desc' if descending else 'asc'}, {name}"
                print(f"{label:64} {ms:20.1f}  {top}")


def get_call_url() -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from apikeys.services import create_api_key, request_token
    from calls.models import Call

    users = {u.username: u for u in get_user_model().objects.filter(username__in=["agent0", "dpo"])}
    key, plaintext = create_api_key("Bench scopes")
    call = Call.objects.filter(called_number="7000").order_by("-started_at").first()
    tokens = {
        "key, no token": {},
        "token of an `all` user (unscoped, as before)": {
            "token": request_token(key, users["dpo"])[1]
        },
        "token of an `own` agent (scoped)": {"token": request_token(key, users["agent0"])[1]},
    }
    forms = {
        "callID": {"callID": call.pk},
        "extension 7000 last": {"extension": "7000", "status": "last"},
    }
    cases = {
        (form, label): {"action": "GetCallURL", "apiKey": plaintext, **named, **extra}
        for form, named in forms.items()
        for label, extra in tokens.items()
    }
    client = Client(HTTP_HOST="localhost")
    timings: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    for case, params in cases.items():  # warm: prepared statements, caches
        for _ in range(50):
            answer = client.get("/verba/api", params)
            if b'code="0"' not in answer.content:
                raise SystemExit(f"{case}: {answer.content!r}")
    for _ in range(ROUNDS):
        for case, params in cases.items():
            started = time.perf_counter()
            for _ in range(PER_ROUND):
                client.get("/verba/api", params)
            timings[case].append((time.perf_counter() - started) / PER_ROUND * 1000)
    print(f"\nGetCallURL, in process ({ROUNDS} interleaved rounds of {PER_ROUND})")
    print(f"{'case':60} {'ms/request (median)':>20} {'× unscoped token':>17}")
    for form in forms:
        base = statistics.median(timings[form, "token of an `all` user (unscoped, as before)"])
        for label in tokens:
            median = statistics.median(timings[form, label])
            print(f"{form + ', ' + label:60} {median:20.3f} {median / base:17.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--database", default="cp_scopes_bench")
    parser.add_argument("--reuse", action="store_true", help="measure the loaded database")
    args = parser.parse_args()
    # As shipped (the database store, every request spends from its bucket), at a rate no
    # run reaches.
    os.environ.setdefault("API_THROTTLE", "1000000000/min")
    os.environ.setdefault("API_THROTTLE_STORE", "database")
    if not args.reuse:
        recreate(args.database)
        with indexes_built_after(args.database):
            seconds = fill(args.database, args.rows)
        print(f"filled {args.rows:,} calls in {seconds:.0f} s (indexes built after)")
    setup_django(args.database)
    if not args.reuse:
        directory()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    search_month()
    get_call_url()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

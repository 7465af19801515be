"""The hot queries keep their plans: index scans on the indexes meant for them, and no
sort of more than a few rows (PostgreSQL only; see conftest.py).

A table of generated calls, ANALYZEd, stands in for a large one: a hot extension on one
call in ten, a number whose calls are all old. Each query is taken from the code as it runs
(captured, with its parameters), EXPLAINed, and its plan checked, so a change that turns a
lookup into an OR with ORDER BY, a sequential scan or a big sort fails here.
"""

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys.selectors import api_key_for_secret, session_read
from apikeys.services import create_api_key, request_token
from calls.selectors import Status, call_by_id, calls_by_status
from directory.models import Access, Extension, Group, Profile
from ingest.selectors import list_calls
from search.search_calls import OrderBy
from shared.paginators import BoundedCountPaginator
from shared.sql import explainable, run

pytestmark = pytest.mark.django_db

ROWS = 30_000
HOT = "8856"
OLD = "+442079460000"
# `ongoing` may also read the small partial index of the calls without an end.
NUMBER_INDEXES = {"call_caller_ended", "call_called_ended", "call_in_progress"}
# ... and for an end still to come, the end index (SearchCalls' order by end) from now on:
# only calls that have not ended yet are in that part of it (see _ends_to_come_only).
LOOKUP_INDEXES = NUMBER_INDEXES | {"call_ended"}
START_INDEXES = {"call_caller_started", "call_called_started"}
# A hot number's newest calls are as soon found by walking the start-time index back
# (one call in ten is the number's): the planner may take either. A number whose calls are
# all old is where that walk reads the whole table, and there it must not be taken.
HOT_START_INDEXES = START_INDEXES | {"call_started"}
BIGGEST_SORT = 100


@pytest.fixture
def calls() -> None:
    # The other callers have about 30 calls each: a prepared lookup's generic plan is costed
    # for the average number, and with a handful of calls per number a bitmap scan and a
    # sort look as cheap as a short index scan, which they are not for a hot number.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO calls_call (id, caller_number, caller_name, called_number, called_name,
                started_at, ended_at, direction, native_id, platform_call_id, keep,
                delete_when_ended, recording, recording_content_type, created_at, updated_at,
                delete_requested_by, recording_sha256)
            SELECT gen_random_uuid(),
                   CASE WHEN n %% 20 = 0 THEN %(hot)s
                        WHEN n > %(rows)s - 300 AND n %% 50 = 7 THEN %(old)s
                        ELSE '+4420' || (1000000 + n %% 1009) END, '',
                   CASE WHEN n %% 20 = 10 THEN %(hot)s ELSE (7000 + n %% 500)::text END, '',
                   now() - n * interval '5 minutes',
                   CASE WHEN n %% 1000 = 999 THEN NULL
                        ELSE now() - n * interval '5 minutes' + interval '2 minutes' END,
                   'inbound', 'native-' || n, n || '@pbx', false, false, '', '',
                   now() - n * interval '5 minutes', now(), '', ''
            FROM generate_series(1, %(rows)s) AS n
            """,
            {"rows": ROWS, "hot": HOT, "old": OLD},
        )
        cursor.execute("ANALYZE calls_call")


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plans(run) -> list[tuple[str, dict[str, Any]]]:
    """The plan of every SELECT `run` sends."""
    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    for query in captured:
        sql = query["sql"]
        statement = explainable(sql)
        if statement is None:
            continue
        # A prepared statement runs on a custom plan its first five times, then on the
        # generic plan if that looks no costlier: both must hold.
        prepared = statement.upper().startswith("EXECUTE")
        modes = ["force_custom_plan", "force_generic_plan"] if prepared else ["auto"]
        for mode in modes:
            with connection.cursor() as cursor:
                cursor.execute(f"SET plan_cache_mode = {mode}")
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement)
                raw = cursor.fetchone()[0]
                cursor.execute("RESET plan_cache_mode")
            plan = json.loads(raw) if isinstance(raw, str) else raw
            plans.append((f"{sql} [{mode}]", plan[0]["Plan"]))
    assert plans, "nothing was queried"
    return plans


def _assert_indexed(run, table: str, indexes: set[str]) -> None:
    for sql, plan in _plans(run):
        if table not in sql:
            continue
        scans = [n for n in _nodes(plan) if n.get("Relation Name") == table]
        assert scans, sql
        for node in scans:
            assert node["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}, (
                node["Node Type"],
                sql,
            )
        used = {n["Index Name"] for n in _nodes(plan) if "Index Name" in n}
        # A unique CharField has two indexes (equality and LIKE); either answers `=`.
        assert used and {name.removesuffix("_like") for name in used} <= indexes, (used, sql)
        for node in _nodes(plan):
            if node["Node Type"] == "Sort":
                rows = max([node["Plan Rows"], *(c["Plan Rows"] for c in node.get("Plans", []))])
                assert rows <= BIGGEST_SORT, (rows, sql)


def test_a_call_id_lookup_reads_the_primary_key(calls):
    _assert_indexed(lambda: call_by_id(uuid.uuid4()), "calls_call", {"calls_call_pkey"})


@pytest.mark.parametrize("number", [HOT, OLD, "7001"])
@pytest.mark.parametrize(
    "statuses",
    [[Status.LAST], [Status.ONGOING], [Status.ONGOING, Status.LAST]],
    ids=["last", "ongoing", "ongoing,last"],
)
def test_extension_lookups_read_only_the_number_indexes(calls, number, statuses):
    def lookup() -> None:
        calls_by_status(number, statuses, arrived_at=timezone.now())

    _assert_indexed(lookup, "calls_call", LOOKUP_INDEXES)
    for sql, plan in _plans(lookup):
        _ends_to_come_only(plan, sql)


def _ends_to_come_only(plan: dict[str, Any], sql: str) -> None:
    """The end index serves nothing but an end still to come (a range from now on)."""
    for node in _nodes(plan):
        if node.get("Index Name") == "call_ended":
            assert node["Index Cond"].startswith("((ended_at > "), (node["Index Cond"], sql)


def test_a_key_and_a_token_are_found_through_their_digest_indexes(django_user_model):
    key, plaintext = create_api_key("Plans")
    user = django_user_model.objects.create_user("plans")
    _, token = request_token(key, user)
    # The key's lookup also says whether the key is limited to directory groups: a probe of
    # the key's rows in the groups table, by its key column's index.
    _assert_indexed(
        lambda: api_key_for_secret(plaintext),
        "apikeys_apikey",
        _digest_indexes("apikeys_apikey") | _key_column_indexes("apikeys_apikey_groups"),
    )
    read = session_read(token, permission="calls.view_call")
    for _, plan in _plans(lambda: run(connection, read)):
        scans = [n for n in _nodes(plan) if n.get("Relation Name") == "apikeys_apisession"]
        assert len(scans) == 1
        assert scans[0].get("Index Name", "").removesuffix("_like") in _digest_indexes(
            "apikeys_apisession"
        )


def _key_column_indexes(table: str) -> set[str]:
    """The names of the indexes whose first column is the API key's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [table, "%(apikey_id%"],
        )
        return {row[0] for row in cursor.fetchall()}


def _digest_indexes(table: str) -> set[str]:
    """The names of the unique digest column's indexes (without the _like suffix)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [table, "%_digest%"],
        )
        return {name.removesuffix("_like") for (name,) in cursor.fetchall()}


@pytest.mark.parametrize(("number", "indexes"), [(HOT, HOT_START_INDEXES), (OLD, START_INDEXES)])
def test_the_ingestion_list_by_number_reads_one_start_index_per_side(calls, number, indexes):
    def first_page() -> None:
        list(list_calls(number=number).order_by("-started_at", "-id")[0:101])

    _assert_indexed(first_page, "calls_call", indexes)


# The ingestion list as the view sends it: filters, cursor paginator and all.
@pytest.mark.parametrize(("number", "indexes"), [(HOT, HOT_START_INDEXES), (OLD, START_INDEXES)])
def test_the_ingestion_list_request_by_number_reads_one_start_index_per_side(
    calls, client, number, indexes
):
    _, plaintext = create_api_key("Plans ingest", can_ingest=True, can_query=False)

    def first_page() -> None:
        response = client.get("/api/v1/calls", {"number": number}, HTTP_X_API_KEY=plaintext)
        assert response.status_code == 200
        assert response.json()["results"]

    _assert_indexed(first_page, "calls_call", indexes)


# The admin's search: one side per index (either number, the native and the platform call
# id), never the start-time index walked under an OR; its paginator's bounded count may read
# the (number, ended_at) indexes as well.
ADMIN_SEARCH_INDEXES = START_INDEXES | {
    "call_caller_ended",
    "call_called_ended",
    "call_native_id",
    "call_platform_call_id",
    "calls_call_pkey",
}


@pytest.mark.parametrize(
    ("number", "indexes"),
    [(HOT, ADMIN_SEARCH_INDEXES | HOT_START_INDEXES), (OLD, ADMIN_SEARCH_INDEXES)],
)
def test_the_admin_search_by_number_reads_one_index_per_side(
    calls, admin_client, monkeypatch, number, indexes
):
    # The paginator's cap scaled to this table as 10,000 is to millions of calls: below a
    # hot number's calls, so that counting stops early, as it does there.
    monkeypatch.setattr(BoundedCountPaginator, "CAP", BIGGEST_SORT)

    def first_page() -> None:
        response = admin_client.get("/admin/calls/call/", {"q": number})
        assert response.status_code == 200
        assert number.encode() in response.content

    _assert_indexed(first_page, "calls_call", indexes)
    # Each query reads one side: an OR over the sides, answered by a BitmapOr here, is
    # a walk of the start-time index on a large table (docs/performance.md).
    for sql, plan in _plans(first_page):
        for node in _nodes(plan):
            assert node["Node Type"] != "BitmapOr", sql
            assert " OR " not in node.get("Filter", "") + node.get("Index Cond", ""), sql


# GetCallURL as a client sends it: the key's (or the token's) lookup and the call's travel as
# one statement, whose calls_call part must keep the plans above.
@pytest.mark.parametrize(
    "lookup",
    [
        {"callID": None},
        {"extension": HOT, "status": "last"},
        {"extension": HOT, "status": "ongoing,last"},
    ],
    ids=["callID", "last", "ongoing,last"],
)
@pytest.mark.parametrize("with_token", [False, True], ids=["key", "token"])
# A request spends from the throttle's bucket in its statement, or from its process's lease
# (verba.throttling.Leases: a bucket of 1,000 leases 10 at a time) and sends no spend.
@pytest.mark.parametrize("allowance", ["100/min", "1000/min"], ids=["spends", "leased"])
def test_a_get_call_url_request_reads_its_key_and_its_call_in_one_indexed_statement(
    calls, client, staff_user, lookup, with_token, allowance, settings
):
    settings.API_THROTTLE = allowance
    key, plaintext = create_api_key("Plans GetCallURL", requires_auth=with_token)
    params = {"action": "GetCallURL", "apiKey": plaintext, **lookup}
    if "callID" in lookup:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM calls_call WHERE caller_number = %s LIMIT 1", [HOT])
            params["callID"] = str(cursor.fetchone()[0])
    if with_token:
        params["token"] = request_token(key, staff_user)[1]

    def get_call_url() -> None:
        response = client.get("/verba/api", params)
        assert b'code="0"' in response.content

    get_call_url()  # prepares the statement
    plans = [(sql, plan) for sql, plan in _plans(get_call_url) if "calls_call" in sql]
    # One statement (explained under a custom and under the generic plan).
    assert len({sql.rsplit(" [", 1)[0] for sql, _ in plans}) == 1, plans
    allowed = LOOKUP_INDEXES | {"calls_call_pkey"}
    for sql, plan in plans:
        # The key's (or session's) row drives a nested loop: without it the call's part
        # never runs, so an unknown key costs the calls table nothing.
        assert (plan["Node Type"], plan.get("Join Type")) == ("Nested Loop", "Left"), sql
        assert "calls_call" not in json.dumps(plan["Plans"][0]), sql
        _ends_to_come_only(plan, sql)
        # As shipped (the database throttle store), the throttle's spend is the statement's
        # WITH: one row of the bucket, found through its primary key, its key by digest.
        spends = [n for n in _nodes(plan) if n["Node Type"] == "ModifyTable"]
        if allowance == "1000/min":
            assert spends == [], sql
        else:
            [spend] = spends
            assert spend["Relation Name"] == "verba_throttlebucket", sql
            assert spend["Conflict Arbiter Indexes"] == ["verba_throttlebucket_pkey"], sql
            key_scans = [n for n in _nodes(spend) if n.get("Relation Name") == "apikeys_apikey"]
            assert [n["Node Type"] for n in key_scans] == ["Index Scan"], sql
        scans = [n for n in _nodes(plan) if n.get("Relation Name") == "calls_call"]
        assert scans, sql
        for node in scans:
            # A bitmap scan is harmless where it serves an arm with no order (the calls in
            # progress: the number and "no end" are both index conditions) and no sort
            # follows (checked below); the ordered arms must walk their index.
            assert node["Node Type"] in {"Index Scan", "Bitmap Heap Scan"}, (node["Node Type"], sql)
            if node["Node Type"] == "Bitmap Heap Scan":
                [node] = node["Plans"]
                assert "ended_at IS NULL" in node["Index Cond"], sql
            assert node["Index Name"] in allowed, (node["Index Name"], sql)
        # With a token, the call's part also checks the token user's `own` scope: the
        # directory's tables here are empty, so they may be scanned (their plans on a real
        # directory: test_scope_plans.py); the user's permission tables and the key's
        # groups alike.
        for node in _nodes(plan):
            assert node["Node Type"] not in {"Sort", "Seq Scan"} or node.get(
                "Relation Name", ""
            ).startswith(("auth_", "directory_", "apikeys_apikey_groups")), (
                node["Node Type"],
                sql,
            )


# SearchCalls: every order, either direction, a hot number's month, a recent one and one far
# from the newest and the oldest calls; unscoped, for a supervisor of 50 agents (a token)
# and for a key limited to a group.
#
# Its own table, of a year of calls: a plan that reads a whole month and sorts its hot
# calls looks cheap when a month is a third of a small table, and is not when it is a
# twelfth of millions (as in production and bench/search_calls.py). The ends vary, as real
# calls' do, so that an order by duration or end has as few ties as on a real table.
SEARCH_ROWS = 100_000
# A page of 10 on a year of 100,000 calls weighs a walk of the index against reading the
# month as a page of 100 does on millions: the walk reads about 100 calls (one in ten is the
# hot number's), the month holds 8,000.
SEARCH_PAGE = 10


@pytest.fixture
def year_of_calls() -> None:
    with connection.cursor() as cursor:
        # A busy test machine may take longer than a request may.
        cursor.execute("SET statement_timeout = 0")
        cursor.execute(
            """
            INSERT INTO calls_call (id, caller_number, caller_name, called_number, called_name,
                started_at, ended_at, direction, native_id, platform_call_id, keep,
                delete_when_ended, recording, recording_content_type, created_at, updated_at,
                delete_requested_by, recording_sha256)
            SELECT gen_random_uuid(),
                   CASE WHEN n %% 20 = 0 THEN %(hot)s ELSE '+4420' || (1000000 + n %% 5003) END,
                   '', CASE WHEN n %% 20 = 10 THEN %(hot)s ELSE (7000 + n %% 500)::text END, '',
                   s.started,
                   CASE WHEN n %% 1000 = 999 THEN NULL
                        ELSE s.started + (abs(hashtext(n::text)) %% 1800) * interval '1 second'
                   END,
                   'inbound', 'native-' || n, n || '@pbx', false, false, '', '',
                   s.started, s.started, '', ''
            FROM generate_series(1, %(rows)s) AS n,
                 LATERAL (SELECT now() - n * (365 * 86400 / %(rows)s) * interval '1 second'
                          AS started) AS s
            """,
            {"rows": SEARCH_ROWS, "hot": HOT},
        )
        cursor.execute("VACUUM ANALYZE calls_call")
        cursor.execute("RESET statement_timeout")


AGENTS = 500
TEAM = 50


@pytest.fixture
def office(year_of_calls, django_user_model) -> dict[str, Any]:
    """The directory of the calls above: an agent per extension (7000–7499, the called
    numbers) and one owning the hot number; a team of 50 of them and the hot number's
    owner, its supervisor, and a key limited to the team."""
    django_user_model.objects.bulk_create(
        django_user_model(username=f"agent{n}", password="!") for n in range(AGENTS + 1)
    )
    agents = list(django_user_model.objects.filter(username__startswith="agent").order_by("id"))
    numbers = [str(7000 + n) for n in range(AGENTS)] + [HOT]
    Extension.objects.bulk_create(
        Extension(user=agent, number=number) for agent, number in zip(agents, numbers, strict=True)
    )
    lead = django_user_model.objects.create_user("lead")
    Profile.objects.create(user=lead, access=Access.OWN)
    lead.user_permissions.add(Permission.objects.get(codename="view_call"))
    team = Group.objects.create(name="Team")
    team.members.set([*agents[:TEAM], agents[-1]])
    team.supervisors.set([lead])
    with connection.cursor() as cursor:
        for table in ("directory_extension", "directory_group_members", "auth_user"):
            cursor.execute(f"ANALYZE {table}")
    _, plain = create_api_key("Plans search")
    key, supervised = create_api_key("Plans search, token", requires_auth=True)
    _, team_key = create_api_key("Plans search, team", groups=["Team"])
    return {
        "none": {"apiKey": plain},
        "supervisor": {"apiKey": supervised, "token": request_token(key, lead)[1]},
        "group key": {"apiKey": team_key},
    }


# The indexes each query of a search may read, in the order the queries are sent (search/
# search_calls.py): a walk of the index that gives the order, stopped by the page's limit.
# By a number: the page's numbers by (number, start), then the last number's calls by id.
# By end, newest first: the period's longest call, then the walk from the end it bounds.
SEARCH_STEPS: dict[tuple[OrderBy, bool], list[set[str]]] = {
    **{(OrderBy.START_TIME, d): [{"call_started"}] for d in (True, False)},
    **{(OrderBy.DURATION, d): [{"call_duration"}] for d in (True, False)},
    (OrderBy.END_TIME, True): [{"call_duration"}, {"call_ended"}],
    (OrderBy.END_TIME, False): [{"call_ended"}],
    # The last number's calls: by id; a number with few calls may be read from its
    # (number, start) index and its few calls sorted (BIGGEST_SORT holds it to few).
    **{
        (OrderBy.SOURCE_CALLER_ID, d): [
            {"call_caller_started"},
            {"call_caller_id", "call_caller_started"},
        ]
        for d in (True, False)
    },
    **{
        (OrderBy.DESTINATION_CALLER_ID, d): [
            {"call_called_started"},
            {"call_called_id", "call_called_started"},
        ]
        for d in (True, False)
    },
}
# A narrowed scope's search names the scope's numbers (search.search_calls.SCOPE_NUMBERS_MAX):
# instead of a walk, the planner may read the scope's calls of the period, through the
# number indexes or the period's, filter them by those numbers and sort them; by a number
# it always does (one query). Such a sort is bounded by the scope's calls of the period,
# not by the page: here the calls of the hot number and the team in the month (about
# 1,600), never the month (8,000). Which index is cheaper depends on the table's
# proportions: on this small table the period's; at 2 M calls, the numbers'
# (bench/scopes.py, docs/performance.md).
SCOPED_SEARCH_STEPS: dict[tuple[OrderBy, bool], list[set[str]]] = {
    **{
        (order_by, d): [indexes | START_INDEXES | {"call_started"} for indexes in steps]
        for (order_by, d), steps in SEARCH_STEPS.items()
        if order_by not in {OrderBy.SOURCE_CALLER_ID, OrderBy.DESTINATION_CALLER_ID}
    },
    **{
        (order_by, d): [START_INDEXES | {"call_started"}]
        for order_by in (OrderBy.SOURCE_CALLER_ID, OrderBy.DESTINATION_CALLER_ID)
        for d in (True, False)
    },
}
BIGGEST_SCOPED_SORT = 2000
# A recent month, and one far from the newest and from the oldest calls.
MONTHS = {"recent": (35, 4), "far": (200, 169)}


def _search_every_order(client, credentials: dict[str, str], *, scoped: bool) -> list[str]:
    """What breaks the rule, for every order, direction and month of the hot number: each
    query SearchCalls sends reads the calls table only through the indexes of its step,
    and sorts no more than a few rows (a narrowed scope's: no more than the scope's)."""
    faults = []
    now = timezone.now()
    every_step = SCOPED_SEARCH_STEPS if scoped else SEARCH_STEPS
    biggest_sort = BIGGEST_SCOPED_SORT if scoped else BIGGEST_SORT
    for (order_by, descending), steps in every_step.items():
        for month, (first, last) in MONTHS.items():
            params = {
                "action": "SearchCalls",
                **credentials,
                "start": f"{now - timedelta(days=first):%Y-%m-%d %H:%M}",
                "end": f"{now - timedelta(days=last):%Y-%m-%d %H:%M}",
                "anynum": HOT,
                "orderby": order_by.value,
                "order": "desc" if descending else "asc",
                "pagelen": str(SEARCH_PAGE),
                "responseType": "JSON",
            }
            shape = f"{order_by.value} {params['order']}, {month} month"

            def search(params: dict[str, str] = params, shape: str = shape) -> None:
                response = client.get("/verba/api", params)
                body = response.json()
                assert body["code"] == 0 and len(body["calls"]) == SEARCH_PAGE, (shape, body)

            plans = [(sql, plan) for sql, plan in _plans(search) if '"calls_call"' in sql]
            if len(plans) != len(steps):
                faults.append(f"{shape}: {len(plans)} queries, not {len(steps)}")
                continue
            for (_, plan), indexes in zip(plans, steps, strict=True):
                faults += [
                    f"{shape}: {fault}" for fault in _walk_faults(plan, indexes, biggest_sort)
                ]
    return faults


def _walk_faults(plan: dict[str, Any], indexes: set[str], biggest_sort: int) -> list[str]:
    faults = []
    if plan["Node Type"] != "Limit":
        faults.append(f"not bounded by the limit: {plan['Node Type']}")
    nodes = list(_nodes(plan))
    for node in nodes:
        if node.get("Relation Name") == "calls_call":
            used = {node["Index Name"]} if "Index Name" in node else {
                n["Index Name"] for n in _nodes(node) if "Index Name" in n
            }  # fmt: skip
            if node["Node Type"] not in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}:
                faults.append(f"{node['Node Type']} of the calls")
            elif not used or not used <= indexes:
                faults.append(f"reads {sorted(used)}, not {sorted(indexes)}")
        if node["Node Type"] == "Sort":
            rows = max([node["Plan Rows"], *(c["Plan Rows"] for c in node.get("Plans", []))])
            if rows > biggest_sort:
                faults.append(f"sorts {rows} rows")
    return faults


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside a transaction
@pytest.mark.parametrize("scope", ["none", "supervisor", "group key"])
def test_every_search_calls_order_walks_an_index_bounded_by_the_page(office, client, scope):
    faults = _search_every_order(client, office[scope], scoped=scope != "none")
    assert not faults, "\n".join(faults)


@pytest.mark.django_db(transaction=True)
def test_without_any_one_of_the_search_indexes_some_order_sorts_or_walks_another(office, client):
    # The check above fails when an index it relies on is gone: each dropped in turn (and
    # put back: the drop is rolled back).
    for index in sorted(set().union(*(i for steps in SEARCH_STEPS.values() for i in steps))):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX {index}")
            assert _search_every_order(client, office["none"], scoped=False), index
            transaction.set_rollback(True)

"""What one Business API request costs, against a bare Django view and a bare DRF view.

    .venv/bin/python bench/verba_api.py [--requests 2000] [--rounds 5] [--calls 100000]
                                        [--database callportal_api_bench]

Recreates the PostgreSQL database given (it is dropped first!), migrates it, and fills it
with `--calls` calls (one hot number, 8856, on one side of a fifth of them). Then, in this
one process, sends requests through Django's full stack (middleware, URL resolving, view,
rendering) with the test client, `--requests` per variant and round, and prints the median
microseconds per request, the ratio to a bare Django view, and the database queries per
request once caches are warm (the audit row is buffered, as in production).

Variants: a Django view returning a constant; a DRF APIView returning a constant;
GetCallURL by callID (XML, TEXT, JSON); by extension with status=last on the hot number
(two index scans); with a user token. Keys and tokens are looked up on every request
(nothing is cached between requests, so a revoked key or released token is refused at once):
one query for the key, or one for the token and its key together. Ratios are the point:
absolute figures on a shared machine drift. Nothing leaves the machine.
"""

import argparse
import os
import statistics
import sys
import time

from benchdb import ROOT, fill_calls, recreate, setup_django

HOT = "8856"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--database", default="callportal_api_bench")
    args = parser.parse_args()

    os.environ["API_THROTTLE"] = "off"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.chdir(ROOT)
    recreate(args.database)
    # One call a minute, the hot number on one side of every fifth.
    fill_calls(args.database, args.calls, hot=HOT, hot_every=5, days=args.calls / 1440)
    setup_django(args.database)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.http import HttpResponse
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.urls import path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from apikeys.services import create_api_key
    from calls.models import Call

    class Constant(APIView):
        authentication_classes: list = []
        permission_classes: list = []

        def get(self, request):
            return Response({"ok": 1})

    def constant(request):
        return HttpResponse("ok\n", content_type="text/plain")

    import callportal.urls

    module = type(sys)("bench_urls")
    module.urlpatterns = [
        path("bench/django", constant),
        path("bench/drf", Constant.as_view()),
        *callportal.urls.urlpatterns,
    ]
    sys.modules["bench_urls"] = module

    _, key = create_api_key("Bench")
    _, auth_key = create_api_key("Bench with token", requires_auth=True)
    user = get_user_model().objects.create_user("bench", password="bench-pw-123456")  # noqa: S106
    user.user_permissions.add(Permission.objects.get(codename="view_call"))
    # The newest call: finished, and away from the hot number.
    call_id = str(Call.objects.order_by("-started_at").values_list("pk", flat=True)[0])
    client = Client()
    token = (
        client.get(
            "/verba/api",
            {
                "action": "RequestToken",
                "apiKey": auth_key,
                "userName": "bench",
                "password": "bench-pw-123456",
                "responseType": "TEXT",
            },
        )
        .content.decode()
        .strip()
    )

    api = "/verba/api?action=GetCallURL&apiKey="
    variants = {
        "Django view, constant": "/bench/django",
        "DRF APIView, constant": "/bench/drf",
        "GetCallURL callID, XML": f"{api}{key}&callID={call_id}",
        "GetCallURL callID, TEXT": f"{api}{key}&callID={call_id}&responseType=TEXT",
        "GetCallURL callID, JSON": f"{api}{key}&callID={call_id}&responseType=JSON",
        "GetCallURL 8856 last (hot number)": f"{api}{key}&extension={HOT}&status=last",
        "GetCallURL callID + token": f"{api}{auth_key}&token={token}&callID={call_id}",
    }

    results: dict[str, list[float]] = {name: [] for name in variants}
    queries: dict[str, int] = {}
    with override_settings(ROOT_URLCONF="bench_urls"):
        for _ in range(args.rounds):
            for name, url in variants.items():
                response = client.get(url)
                answered = response.status_code == 200 and (
                    not url.startswith(api) or b"gwtCallDetail.do?ccdrId=" in response.content
                )
                if not answered:
                    raise SystemExit(f"{name}: unexpected answer {response.content!r}")
                with CaptureQueriesContext(connection) as captured:
                    client.get(url)
                queries[name] = len(captured)
                started = time.perf_counter()
                for _ in range(args.requests):
                    client.get(url)
                results[name].append((time.perf_counter() - started) / args.requests * 1e6)

    base = statistics.median(results["Django view, constant"])
    print(f"{'variant':34} {'µs/request':>11} {'× Django':>9} {'queries':>8}")
    for name, runs in results.items():
        median = statistics.median(runs)
        print(f"{name:34} {median:11.0f} {median / base:9.2f} {queries[name]:8d}")


if __name__ == "__main__":
    main()

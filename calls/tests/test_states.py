"""One definition of a call's state: the Business API, the staff pages and the admin agree."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call
from calls.selectors import ongoing_calls
from calls.states import LABELS, State, call_state, state_q
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db

# caller number → (start, end) relative to now, in minutes; None = no end.
KINDS = {
    "NOEND-RECENT": (-5, None, State.IN_PROGRESS),
    "END-TO-COME": (-60 * 30, 2, State.IN_PROGRESS),  # longer than the maximum, end known
    "NOEND-STALE": (-60 * 25, None, State.NO_END),
    "FINISHED": (-30, -20, State.FINISHED),
    "ENDS-NOW-ISH": (-30, -1, State.FINISHED),
    "NOT-STARTED": (3, None, State.NOT_STARTED),
}


@pytest.fixture
def calls(settings):
    settings.MAX_CALL_LENGTH_HOURS = 24
    now = timezone.now()
    for number, (start, end, _) in KINDS.items():
        CallFactory(
            caller_number=number,
            called_number="8856",
            started_at=now + timedelta(minutes=start),
            ended_at=None if end is None else now + timedelta(minutes=end),
        )


def expected(state: str) -> set[str]:
    return {number for number, (_, _, s) in KINDS.items() if s == state}


def test_each_call_has_the_state_its_filter_finds_it_in(calls):
    now = timezone.now()
    for state in LABELS:
        by_filter = set(
            Call.objects.filter(state_q(state, now)).values_list("caller_number", flat=True)
        )
        by_call = {c.caller_number for c in Call.objects.all() if call_state(c, now) == state}
        assert by_filter == by_call == expected(state), state


@pytest.mark.parametrize("state", [State.IN_PROGRESS, State.FINISHED, State.NO_END])
def test_the_staff_list_and_the_admin_filter_the_same_calls(
    calls, state, client, admin_client, staff_user
):
    client.force_login(staff_user)
    staff = client.get("/calls/", {"state": state}).content.decode()
    admin = admin_client.get("/admin/calls/call/", {"state": state}).content.decode()

    for number in KINDS:
        listed = number in expected(state)
        assert (f">{number}<" in staff) is listed, (state, number, "staff")
        assert (f">{number}<" in admin) is listed, (state, number, "admin")
    assert LABELS[state] in admin


def test_the_api_ongoing_lookup_finds_exactly_the_calls_in_progress(calls):
    found = {call.caller_number for call in ongoing_calls("8856")}

    # Two in progress on 8856: the API sees both (and answers "more than one").
    assert found == expected(State.IN_PROGRESS)


def test_the_admin_says_no_end_recorded_in_the_site_vocabulary(calls, admin_client):
    html = admin_client.get("/admin/calls/call/").content.decode()

    assert "No end recorded" in html and "Not started yet" in html
    assert "in progress" not in html

"""Waking `status=next` long polls when a call is written.

(Interface only; the waiting side is built with the Business API.)
"""

from calls.models import Call


def announce(call: Call) -> None:
    """Tell waiters in this process that `call` was just written (after commit).

    Writers in other processes are found by the watcher's own look at the database; this
    is the shortcut that releases waiters in the writing process at once.
    """

"""Log lines a stranger can make us write: at most one per address per minute.

Every request with a Host header outside ALLOWED_HOSTS (a scanner, a misconfigured probe,
DNS pointing elsewhere) made Django log an ERROR with a full traceback: one client could
fill the log. The line itself is worth keeping (someone is sending us the wrong host), so
it is written once per client address per minute, as one line, without the traceback
(there is no bug to trace).
"""

from __future__ import annotations

import logging
import threading
import time

from shared.clients import client_address

PER_ADDRESS_SECONDS = 60.0
_MAX_ADDRESSES = 10_000


class OncePerAddressPerMinute(logging.Filter):
    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        address = (client_address(request) if request is not None else None) or "(unknown)"
        now = time.monotonic()
        with self._lock:
            last = self._last.get(address)
            if last is not None and now - last < PER_ADDRESS_SECONDS:
                return False
            if len(self._last) >= _MAX_ADDRESSES:
                self._last = {a: t for a, t in self._last.items() if now - t < PER_ADDRESS_SECONDS}
            self._last[address] = now
        record.exc_info = None
        record.exc_text = None
        record.msg = f"{record.getMessage()} (from {address}; logged once a minute per address)"
        record.args = ()
        return True

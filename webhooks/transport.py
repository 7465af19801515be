"""One POST to an endpoint, within a deadline, to the address destinations.resolve checked.

The connection is opened to that address itself; the Host header and the TLS server name
(SNI, and the certificate check) are the URL's host name. Redirects are never followed (a
3xx is an answer like any other non-2xx: a failure). The whole attempt — name lookup,
connection, TLS, sending and the answer's first bytes — has one deadline: a receiver that
answers a byte at a time is cut off at it.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from webhooks.destinations import Refused, parse_url, resolve

TIMEOUT_SECONDS = 5.0
EXCERPT_BYTES = 1024


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, unreachable, timed out, not HTTP)
    excerpt: bytes  # the first EXCERPT_BYTES of the answer's body
    error: str  # why there was no answer, for the delivery log
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# Replaceable in tests (a test CA); the default checks certificates against the system's.
ssl_context: ssl.SSLContext | None = None


def _context() -> ssl.SSLContext:
    global ssl_context
    if ssl_context is None:
        ssl_context = ssl.create_default_context()
    return ssl_context


def post(
    url: str, headers: Mapping[str, str], body: bytes, *, timeout: float = TIMEOUT_SECONDS
) -> Answer:
    started = time.monotonic()
    status, excerpt, error = None, b"", ""
    sock: socket.socket | None = None
    watchdog: threading.Timer | None = None
    try:
        destination = parse_url(url)
        address = resolve(destination, timeout)
        remaining = max(timeout - (time.monotonic() - started), 0.001)
        sock = socket.create_connection((str(address), destination.port), timeout=remaining)
        # The deadline for everything after the connection: shutting the socket down
        # ends any read or write still waiting on it.
        held = [sock]
        watchdog = threading.Timer(max(timeout - (time.monotonic() - started), 0.001), _cut, [held])
        watchdog.daemon = True
        watchdog.start()
        if destination.scheme == "https":
            sock = _context().wrap_socket(sock, server_hostname=destination.host)
            held[0] = sock
        connection = http.client.HTTPConnection(destination.host, destination.port)
        connection.sock = sock
        connection.request("POST", destination.target, body=body, headers=dict(headers))
        response = connection.getresponse()
        status = response.status
        try:
            excerpt = response.read(EXCERPT_BYTES)
        except (OSError, http.client.HTTPException):
            excerpt = b""  # the status is what counts; a cut-off body is not a failure
    except Refused as refused:
        error = str(refused)
    except TimeoutError:
        error = f"No answer within {timeout:g} s."
    except ssl.SSLError as exc:
        error = f"TLS failed: {exc.reason or type(exc).__name__}."
    except http.client.HTTPException:
        error = (
            f"No answer within {timeout:g} s."
            if time.monotonic() - started >= timeout
            else "The answer was not HTTP."
        )
    except OSError as exc:
        error = (
            f"No answer within {timeout:g} s."
            if time.monotonic() - started >= timeout
            else f"Connection failed: {exc.strerror or type(exc).__name__}."
        )
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if sock is not None:
            sock.close()
    duration_ms = round((time.monotonic() - started) * 1000)
    return Answer(status=status, excerpt=excerpt, error=error, duration_ms=duration_ms)


def _cut(held: list[socket.socket]) -> None:
    with contextlib.suppress(OSError):  # already closed
        held[0].shutdown(socket.SHUT_RDWR)

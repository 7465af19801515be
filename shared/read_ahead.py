"""A download made ahead of its client: the database is read at the server's pace.

A streamed download (the admin's CSV export) read in step with its client holds its database
connection, and on PostgreSQL a transaction and a server-side cursor, for as long as the
client takes: a client on a slow link holds a pooled connection for the whole download, and
a few of them hold every connection of the worker (issue 19). `read_ahead(pieces)` makes the
pieces in a thread of their own (a greenlet under gevent, where threading is patched) as fast
as the server can, into an unnamed temporary file, and gives them to the client from that
file as they arrive. The maker gives its connection back as soon as the last piece is
written, however slowly the client reads; the file costs disk (at most the download's size,
while the client lags behind), not memory.

Inside a transaction (a test's, or ATOMIC_REQUESTS) the pieces are made in step with the
client instead, on the caller's connection: another thread's connection would not see the
transaction's rows.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator

from django.db import connections

# The client is given the file in reads of this size.
READ_BYTES = 256 * 1024


class _Spool:
    """The pieces made so far, in a temporary file, and what the client has been told."""

    def __init__(self) -> None:
        # Closed by the last of its two holders (`let_go`), not by a with block.
        self.file = tempfile.TemporaryFile(prefix="download-")  # noqa: SIM115
        self.written = 0
        self.done = False
        self.error: BaseException | None = None
        # Set when the client has gone: the maker stops at its next piece.
        self.abandoned = False
        self.changed = threading.Condition()
        self._holders = 2  # the maker and the reader; the last to let go closes the file

    def let_go(self) -> None:
        with self.changed:
            self._holders -= 1
            last = self._holders == 0
        if last:
            self.file.close()


def read_ahead(pieces: Iterable[bytes], using: str = "default") -> Iterator[bytes]:
    """`pieces`, joined, in reads of READ_BYTES; made ahead of the reader (see above).

    What making them raised is raised to the reader after the pieces made before it.
    """
    if connections[using].in_atomic_block:
        yield from pieces
        return
    spool = _Spool()
    maker = threading.Thread(target=_make, args=(pieces, spool), name="read-ahead", daemon=True)
    maker.start()
    # The request's own connection (its session, its permission checks) goes back too: it
    # would otherwise stay with the request until the client has read the last byte.
    connections[using].close()
    try:
        yield from _read(spool)
    finally:
        with spool.changed:
            spool.abandoned = True
        spool.let_go()


def _make(pieces: Iterable[bytes], spool: _Spool) -> None:
    try:
        for piece in pieces:
            if spool.abandoned:
                break
            spool.file.write(piece)
            spool.file.flush()
            with spool.changed:
                spool.written += len(piece)
                spool.changed.notify_all()
    except BaseException as error:  # handed to the reader, which raises it
        spool.error = error
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # a generator's own `finally` (its transaction) ends here, in this thread
        # This thread's connection goes back to the pool now, not when the client is done.
        connections.close_all()
        with spool.changed:
            spool.done = True
            spool.changed.notify_all()
        spool.let_go()


def _read(spool: _Spool) -> Iterator[bytes]:
    offset = 0
    while True:
        with spool.changed:
            while spool.written == offset and not spool.done:
                spool.changed.wait()
            written, done, error = spool.written, spool.done, spool.error
        while offset < written:
            # A read at an offset of its own: the maker's writes move the file's position.
            block = os.pread(spool.file.fileno(), min(READ_BYTES, written - offset), offset)
            offset += len(block)
            yield block
        if done and offset == written:
            if error is not None:
                raise error
            return

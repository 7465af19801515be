"""Writes to calls: create-or-update by id, one call at a time or in batches, and recordings.

The ingestion API and the CSV import write through here, so that the rules "required on
create", "an end never before the start" and "wake the `next` long polls after commit" hold
whichever door a call came in through. (Imports skip the wake-up: the long-poll watcher's
own look at the database finds imported calls.)
"""

import csv
import hashlib
import io
import logging
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import IO, Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, connection, transaction

from calls import deletion, rules, signals
from calls.models import Call
from directory.scopes import EVERYTHING, LoadedScope, Scope
from recordings import types as recording_types
from recordings.encoded import delete_recording
from shared.model_fields import concrete_field

logger = logging.getLogger(__name__)

# The fields a writer may set; everything else (created/updated stamps, the recording) is
# managed here.
WRITABLE_FIELDS: tuple[str, ...] = (
    "caller_number",
    "caller_name",
    "called_number",
    "called_name",
    "started_at",
    "ended_at",
    "direction",
    "native_id",
    "platform_call_id",
    "keep",
)
REQUIRED_ON_CREATE: tuple[str, ...] = ("caller_number", "called_number", "started_at")

REQUIRED_MESSAGE = "This field is required when the call is created."


@dataclass(frozen=True)
class UpsertResult:
    call: Call
    created: bool
    # False when an update changed nothing (an idempotent replay): no write happened.
    changed: bool
    # The write ended a call that DeleteCall had marked: the call is deleted.
    deleted: bool = False


class OutsideScope(Exception):
    """The call written is not, or would no longer be, in the writer's scope (access.md §2):
    a writer writes only calls it may see, and creates none it could not see. Nothing was
    written."""


def upsert_call(
    call_id: uuid.UUID, fields: Mapping[str, Any], *, scope: Scope = EVERYTHING
) -> UpsertResult:
    """Create the call `call_id` with `fields`, or update the given fields of an existing one.

    Race-free on PostgreSQL and SQLite: two writers of one new id end with one row, one
    "created" and one "updated", and no error. Raises ValidationError (keyed by field name)
    and writes nothing when the result would be incomplete or inconsistent; OutsideScope
    when the call, before or after the write, is outside `scope` (the writer's,
    directory.scopes). The caller answers a call found outside the scope as it answers an
    unknown one: it looks the call up in the scope first, so this meets only a race.
    """
    _check_writable(fields)
    judge = _ScopeJudge(scope)
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id).first()
        if call is not None:
            judge.check(call)
        if call is None:
            call = _insert(call_id, fields, judge)
            if call is not None:
                signals.changed(call, signals.written(call, created=True, was_open=True))
                transaction.on_commit(partial(_announce, call), robust=True)
                return UpsertResult(call, created=True, changed=True)
            # Another writer inserted this id between our look and our insert; its row is
            # committed now, so this write becomes an update of it.
            call = Call.objects.select_for_update().get(pk=call_id)
            judge.check(call)
        was_open = call.ended_at is None
        changed = _apply(call, fields)
        if changed:
            judge.check(call)
        if changed:
            # Announced before a deletion it may cause: the end, then the deletion.
            signals.changed(call, signals.written(call, created=False, was_open=was_open))
        if call.keep and call.delete_when_ended:
            # Keeping a call cancels the deletion that waited for its end.
            call.delete_when_ended = False
            changed.append("delete_when_ended")
        elif changed and deletion.delete_if_due(call):
            # The write that ends a call marked by DeleteCall deletes it.
            return UpsertResult(call, created=False, changed=True, deleted=True)
        if changed:
            call.save(update_fields=[*changed, "updated_at"])
            transaction.on_commit(partial(_announce, call), robust=True)
    return UpsertResult(call, created=False, changed=bool(changed))


def update_call(
    call: Call, fields: Mapping[str, Any], *, scope: Scope = EVERYTHING
) -> UpsertResult:
    """Change the given fields of an existing call (a partial update)."""
    return upsert_call(call.pk, fields, scope=scope)


class _ScopeJudge:
    """Whether calls are in a writer's scope: the scope's ownership periods are read at the
    first question (one query), and only when the scope is not everything."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._loaded: LoadedScope | None = None

    def check(self, call: Call) -> None:
        """OutsideScope unless `call`, with the values it holds now, is in the scope."""
        if self._scope.everything:
            return
        if self._loaded is None:
            self._loaded = self._scope.loaded()
        if not self._loaded.admits(call.caller_number, call.called_number, call.started_at):
            raise OutsideScope()


def _check_writable(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - set(WRITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not writable call fields: {sorted(unknown)}")


def _insert(
    call_id: uuid.UUID, fields: Mapping[str, Any], judge: _ScopeJudge | None = None
) -> Call | None:
    """Insert a new call; None when the id turned out to exist (a concurrent writer won).
    OutsideScope when the new call is outside the writer's scope (`judge`)."""
    missing = {name: REQUIRED_MESSAGE for name in REQUIRED_ON_CREATE if name not in fields}
    if missing:
        raise ValidationError(missing)
    call = Call(id=call_id, **fields)
    _check_consistent(call, fields)
    if judge is not None:
        judge.check(call)
    try:
        # A savepoint, so that a lost race leaves the outer transaction usable.
        with transaction.atomic():
            call.save(force_insert=True)
    except IntegrityError:
        if Call.objects.filter(pk=call_id).exists():
            return None
        raise
    return call


def _apply(call: Call, fields: Mapping[str, Any]) -> list[str]:
    """Set the given fields on `call`; returns the names of those whose value changed."""
    changed = [name for name, value in fields.items() if getattr(call, name) != value]
    for name in changed:
        setattr(call, name, fields[name])
    _check_consistent(call, fields)
    return changed


def _check_consistent(call: Call, fields: Mapping[str, Any]) -> None:
    try:
        rules.check_span(call.started_at, call.ended_at)
    except rules.EndBeforeStart as refused:
        # Name the field the writer sent: that is the one to correct.
        name = "started_at" if "started_at" in fields and "ended_at" not in fields else "ended_at"
        raise ValidationError({name: refused.message}) from None


def _announce(call: Call) -> None:
    signals.call_written.send(sender=Call, call=call)


# --- Batches (the CSV import) --------------------------------------------------------------


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: "BatchResult") -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


def bulk_upsert_calls(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> BatchResult:
    """Create or update many calls (each row has "id" and every name in `fields`).

    One transaction per batch. Rows already stored with the same values are not written
    again, so re-running an import changes nothing. A later row with the same id as an
    earlier one in the batch wins, as it would have in a file imported row by row. Rows must
    be validated already (see calls.cdr_csv).
    """
    _check_writable(dict.fromkeys(fields))
    by_id: dict[uuid.UUID, Mapping[str, Any]] = {}
    for row in rows:
        by_id[row["id"]] = row
    # Earlier rows of a repeated id count as updates: the last one overwrote them.
    result = BatchResult(updated=len(rows) - len(by_id))
    if not by_id:
        return result
    with transaction.atomic():
        if connection.vendor == "postgresql":
            batch, changes = _upsert_postgresql(list(by_id.values()), fields)
        else:
            batch, changes = _upsert_portable(by_id, fields)
        result.add(batch)
        signals.changed_many(changes)
    return result


def _batch_change(created: bool, has_end: bool, was_open: bool) -> signals.Change:
    if created:
        return signals.Change.ENDED if has_end else signals.Change.STARTED
    return signals.Change.ENDED if was_open and has_end else signals.Change.UPDATED


def _upsert_portable(
    by_id: Mapping[uuid.UUID, Mapping[str, Any]], fields: Sequence[str]
) -> tuple[BatchResult, list[signals.Changed]]:
    """Look up the stored rows, then one INSERT … ON CONFLICT DO UPDATE for the changed ones."""
    result = BatchResult()
    changes: list[signals.Changed] = []
    stored = {
        values["id"]: values
        for values in Call.objects.filter(pk__in=list(by_id)).values("id", "ended_at", *fields)
    }
    to_write: list[Call] = []
    for call_id, row in by_id.items():
        old = stored.get(call_id)
        if old is None:
            result.created += 1
        elif all(old[name] == row[name] for name in fields):
            result.unchanged += 1
            continue
        else:
            result.updated += 1
        has_end = row.get("ended_at", old["ended_at"] if old else None) is not None
        was_open = old is not None and old["ended_at"] is None
        changes.append(signals.Changed(call_id, _batch_change(old is None, has_end, was_open)))
        to_write.append(Call(id=call_id, **{name: row[name] for name in fields}))
    if to_write:
        Call.objects.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=[*fields, "updated_at"],
        )
    return result, changes


def _upsert_postgresql(
    rows: Sequence[Mapping[str, Any]], fields: Sequence[str]
) -> tuple[BatchResult, list[signals.Changed]]:
    """COPY the batch into a temporary table, drop the rows already stored as they are,
    then one INSERT … SELECT … ON CONFLICT DO UPDATE for the rest.

    About three times faster than bulk_create, which spends more time compiling its
    statement than PostgreSQL spends running it. Unchanged rows are removed by a read-only
    join first, because ON CONFLICT DO UPDATE locks (and so writes) every conflicting row
    even when its WHERE skips it; that keeps a re-run of an import a pure read.
    RETURNING (xmax = 0) tells inserted rows from updated ones without another query; the
    statement's `before` part reads which calls were open before it (it sees the table as
    the statement began), for the calls.signals announcement: created, ended or updated.
    """
    meta = Call._meta
    quote = connection.ops.quote_name

    def column(name: str, prefix: str = "") -> str:
        return prefix + quote(concrete_field(Call, name).column)

    table = quote(meta.db_table)
    given = ", ".join(column(name) for name in ("id", *fields))
    updated = ", ".join(column(name) for name in fields)
    stored = ", ".join(column(name, f"{table}.") for name in fields)
    excluded = ", ".join(column(name, "EXCLUDED.") for name in fields)
    nullable = [column(name) for name in fields if concrete_field(Call, name).null]
    buffer = io.StringIO()
    # QUOTE_ALL writes None as a quoted empty string; FORCE_NULL turns it back into NULL
    # for nullable columns while text columns keep their empty strings.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([row["id"], *(row[name] for name in fields)] for row in rows)
    buffer.seek(0)
    force_null = f", FORCE_NULL ({', '.join(nullable)})" if nullable else ""
    # Only quoted names from the model are formatted into these statements; the data goes
    # through COPY.
    with connection.cursor() as cursor:
        # A lost batch after a crash is harmless (a re-run imports it again), so the import
        # does not wait for each commit to reach the disk.
        cursor.execute("SET LOCAL synchronous_commit TO off")
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_IMPORT_TABLE} "  # noqa: S608
            f"ON COMMIT DELETE ROWS AS SELECT * FROM {table} WITH NO DATA"
        )
        cursor.cursor.copy_expert(
            f"COPY {_IMPORT_TABLE} ({given}) FROM STDIN WITH (FORMAT csv{force_null})", buffer
        )
        imported = f"{_IMPORT_TABLE}."
        cursor.execute(
            f"DELETE FROM {_IMPORT_TABLE} USING {table} "  # noqa: S608
            f"WHERE {table}.id = {imported}id "
            f"AND ({stored}) IS NOT DISTINCT FROM "
            f"({', '.join(column(name, imported) for name in fields)})"
        )
        unchanged = cursor.rowcount
        # Columns the file does not give take the model's defaults on insert, and are left
        # alone on update.
        defaults = {
            f.column: f.get_default()
            for f in meta.concrete_fields
            if f.attname not in ("id", "created_at", "updated_at", *fields)
        }
        default_columns = "".join(f", {quote(name)}" for name in defaults)
        default_values = "".join(", %s" for _ in defaults)
        ended_at = column("ended_at")
        cursor.execute(
            f"WITH before AS (SELECT {table}.id, {table}.{ended_at} IS NULL AS was_open "  # noqa: S608
            f"FROM {table} JOIN {_IMPORT_TABLE} ON {table}.id = {imported}id), "
            f"written AS (INSERT INTO {table} ({given}{default_columns}, created_at, updated_at) "
            f"SELECT {given}{default_values}, now(), now() FROM {_IMPORT_TABLE} "
            f"ON CONFLICT (id) DO UPDATE SET ({updated}, updated_at) = ({excluded}, now()) "
            f"RETURNING id, (xmax = 0) AS inserted, {ended_at} IS NOT NULL AS has_end) "
            "SELECT written.id, written.inserted, written.has_end, "
            "coalesce(before.was_open, false) FROM written LEFT JOIN before USING (id)",
            list(defaults.values()),
        )
        returned = cursor.fetchall()
    created = sum(1 for (_id, inserted, _end, _open) in returned if inserted)
    changes = [
        signals.Changed(uuid.UUID(str(call_id)), _batch_change(inserted, has_end, was_open))
        for call_id, inserted, has_end, was_open in returned
    ]
    batch = BatchResult(created=created, updated=len(returned) - created, unchanged=unchanged)
    return batch, changes


_IMPORT_TABLE = "calls_import_batch"


# --- Recordings --------------------------------------------------------------------------
#
# Every write of a call's recording goes through store_recording (or remove_recording):
# the ingestion upload, the admin, and any other door. Nothing else may set Call.recording
# or Call.recording_content_type.


class RecordingProblem(StrEnum):
    UNSUPPORTED_TYPE = "unsupported_type"  # the declared type is not an allowed audio type
    NOT_AUDIO = "not_audio"  # the bytes are not the audio the declared type promises
    TOO_LARGE = "too_large"  # more than RECORDING_MAX_BYTES
    EMPTY = "empty"
    INCOMPLETE = "incomplete"  # fewer bytes arrived than the sender announced


class RecordingRejected(Exception):
    """A recording refused before anything was stored.

    `problem` says which rule it broke (callers map it to their own answer: 415, 413, 400…);
    `reason` is a sentence for the sender. Neither repeats the content.
    """

    def __init__(self, problem: RecordingProblem, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True)
class StoredRecording:
    call: Call  # the call as stored now, with its new recording
    content_type: str  # the allowed type the recording was stored and will be served as
    size: int  # bytes
    replaced: bool  # the call had a recording before, whose file is now deleted


_SPOOL_MEMORY_BYTES = 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class Readable(Protocol):
    """A binary stream as store_recording reads it: `read(n)` until it answers b""."""

    def read(self, size: int = -1, /) -> bytes: ...


def store_recording(
    call: Call,
    content: Readable,
    declared_content_type: str,
    *,
    announced_size: int | None = None,
) -> StoredRecording:
    """Store `content` as the call's recording, replacing any previous one; the one way in.

    - `content`: a binary stream read to its end (a request body, an uploaded file); it need
      not be seekable. Reading stops as soon as it passes RECORDING_MAX_BYTES.
    - `declared_content_type`: what the sender says it is (`audio/wav; codecs=1` is fine). It
      must be one of RECORDING_CONTENT_TYPES (common aliases such as `audio/x-m4a` count as
      the type they name), and the first bytes must be that audio (recordings.audio): a declared
      type alone is never trusted.
    - `announced_size`: the length the sender announced (Content-Length), if any: a larger
      one is refused before anything is read, and a body ending short of it is refused.

    Raises RecordingRejected (nothing stored, the call unchanged) or Call.DoesNotExist (the
    call was deleted meanwhile). Commits on its own: call it outside any `transaction.atomic`
    block (it raises RuntimeError inside one), so that it knows whether its file is kept.
    Concurrent uploads to one call end with the last one stored and every other file
    deleted; a failed write deletes its own file. Files go through the recording field's
    storage API only (local files, or S3 with django-storages).
    """
    return _store(call, content, declared_content_type, announced_size, created=False)


def _store(
    call: Call,
    content: Readable,
    declared_content_type: str,
    announced_size: int | None,
    *,
    created: bool,
) -> StoredRecording:
    content_type = _accepted_type(declared_content_type)
    if announced_size is not None:
        _check_size(announced_size)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY_BYTES) as spool:
        digest = hashlib.sha256()
        size = _copy_bounded(content, spool, digest)
        if announced_size is not None and size < announced_size:
            raise RecordingRejected(
                RecordingProblem.INCOMPLETE,
                f"The recording ended after {size} of the {announced_size} bytes announced.",
            )
        _check_size(size)
        spool.seek(0)
        _check_content(content_type, spool.read(recording_types.HEAD_BYTES))
        spool.seek(0)
        return _save_recording(call, spool, content_type, size, digest.hexdigest(), created=created)


def check_recording(content: IO[bytes], declared_content_type: str) -> str:
    """Run store_recording's checks on a seekable file without storing it, and rewind it.

    For forms, which show the reason beside the field; the write itself still goes through
    store_recording. Returns the content type the recording would be stored as; raises
    RecordingRejected.
    """
    content_type = _accepted_type(declared_content_type)
    content.seek(0)
    size = _copy_bounded(content, None)
    _check_size(size)
    content.seek(0)
    _check_content(content_type, content.read(recording_types.HEAD_BYTES))
    content.seek(0)
    return content_type


def remove_recording(call: Call) -> bool:
    """Detach the call's recording and delete its file after commit; False when it had none.

    Raises deletion.CallIsHeld (nothing changes) for a call under legal hold. Commits on its
    own, like store_recording.
    """
    with transaction.atomic(durable=True):
        locked = Call.objects.select_for_update().get(pk=call.pk)
        previous = locked.recording.name or ""
        if not previous:
            return False
        if deletion.is_held(locked.pk):
            raise deletion.CallIsHeld
        locked.recording = ""
        locked.recording_content_type = ""
        locked.recording_sha256 = ""
        locked.save(
            update_fields=["recording", "recording_content_type", "recording_sha256", "updated_at"]
        )
        signals.changed(locked, signals.Change.UPDATED)
    _delete_file(previous)
    return True


def _accepted_type(declared: str) -> str:
    content_type = recording_types.accepted_type(declared or "")
    if content_type is None:
        raise RecordingRejected(
            RecordingProblem.UNSUPPORTED_TYPE,
            "A recording must be sent as one of: "
            + ", ".join(recording_types.allowed_types())
            + ".",
        )
    return content_type


def _check_size(size: int) -> None:
    if size <= 0:
        raise RecordingRejected(RecordingProblem.EMPTY, "The recording is empty.")
    if size > settings.RECORDING_MAX_BYTES:
        raise _too_large(f"; this one has {size}")


def _too_large(detail: str = "") -> RecordingRejected:
    return RecordingRejected(
        RecordingProblem.TOO_LARGE,
        f"A recording may be at most {settings.RECORDING_MAX_BYTES} bytes{detail}.",
    )


def _copy_bounded(
    content: Readable, target: IO[bytes] | None, digest: "hashlib._Hash | None" = None
) -> int:
    """Copy `content` into `target` (or just count it), feeding `digest` on the way (the
    recording's SHA-256 costs no second read); refuses it one byte past the limit."""
    limit = settings.RECORDING_MAX_BYTES
    copied = 0
    while chunk := content.read(min(_CHUNK_BYTES, limit + 1 - copied)):
        copied += len(chunk)
        if copied > limit:
            raise _too_large()
        if target is not None:
            target.write(chunk)
        if digest is not None:
            digest.update(chunk)
    return copied


def _check_content(content_type: str, head: bytes) -> None:
    if not recording_types.content_matches(content_type, head):
        raise RecordingRejected(
            RecordingProblem.NOT_AUDIO,
            f"The content is not {content_type} audio: its first bytes do not match.",
        )


class StorageRefused(Exception):
    """The recordings' storage would not take the file (a full or read-only disk, a bucket
    that refuses): nothing was stored, no partial file is left, the call is unchanged.
    The transports answer "unavailable, retry" (503 / code 9), naming the storage."""

    RETRY_AFTER_SECONDS = 60

    def __init__(self, error: BaseException) -> None:
        reason = getattr(error, "strerror", None) or type(error).__name__
        self.message = (
            f"The recordings storage cannot take the file now ({reason}); nothing was "
            "stored. Try again later."
        )
        super().__init__(self.message)


def _write_file(call: Call, filename: str, content: IO[bytes]) -> str:
    """Write the recording file for `call`; its stored name. StorageRefused when the storage
    fails, after deleting whatever part of the file it wrote (a full disk keeps nothing)."""
    field = call.recording.field
    storage = field.storage
    # The name is chosen here, not inside save(), so that a write that fails half-way
    # still knows which file to delete.
    name = storage.get_available_name(
        field.generate_filename(call, filename), max_length=field.max_length
    )
    try:
        return storage.save(name, File(content), max_length=field.max_length)
    except Exception as error:
        try:
            if storage.exists(name):
                storage.delete(name)
        except Exception:
            logger.warning("Could not delete the partial recording file %s", name)
        logger.warning("The recordings storage refused a file: %s", type(error).__name__)
        raise StorageRefused(error) from error


def _save_recording(
    call: Call,
    content: IO[bytes],
    content_type: str,
    size: int,
    sha256: str,
    *,
    created: bool = False,
) -> StoredRecording:
    saved = ""
    try:
        # Durable: when this block is left normally the row is committed, so the previous
        # file can go; when it is left by an exception the new file is nobody's and goes.
        with transaction.atomic(durable=True):
            # The lock orders concurrent uploads; `previous` is read under it, so each
            # upload deletes exactly the file it replaced.
            locked = Call.objects.select_for_update().get(pk=call.pk)
            previous = locked.recording.name or ""
            if previous and deletion.is_held(locked.pk, fixed=True):
                # Replacing a recording deletes the one it replaces: a hold forbids that as
                # it forbids every deletion (a held call without a recording may get one).
                raise deletion.CallIsHeld
            extension = recording_types.EXTENSIONS.get(content_type, ".bin")
            saved = _write_file(locked, f"{locked.pk}{extension}", content)
            locked.recording.name = saved
            locked.recording_content_type = content_type
            locked.recording_sha256 = sha256
            locked.save(
                update_fields=[
                    "recording", "recording_content_type", "recording_sha256", "updated_at"
                ]
            )  # fmt: skip
            if created:
                # A call created with its recording (PutMedia) is announced with it, so
                # that a refused upload, which removes the row again, announces nothing.
                signals.changed(locked, signals.written(locked, created=True, was_open=True))
            signals.changed(locked, signals.Change.RECORDING_READY)
    except BaseException:
        if saved:
            _delete_file(saved)
        raise
    if previous and previous != saved:
        _delete_file(previous)
    return StoredRecording(
        call=locked, content_type=content_type, size=size, replaced=bool(previous)
    )


# --- A call and its recording together (PutMedia) -----------------------------------------


class CallExists(Exception):
    """add_call_with_recording: the id is taken (a concurrent writer won); nothing written."""


@dataclass(frozen=True)
class PutRecording:
    call: Call  # as stored now
    created: bool
    recording: StoredRecording


def add_call_with_recording(
    call_id: uuid.UUID,
    fields: Mapping[str, Any],
    content: IO[bytes],
    declared_content_type: str,
    *,
    announced_size: int | None = None,
    scope: Scope = EVERYTHING,
) -> PutRecording:
    """Create the call `call_id` with `fields` and `content` as its recording: both or neither.

    `content` must be seekable (an uploaded file): its checks run before the row is written,
    so a refused file never creates a call. The row is committed first and the recording
    then stored through store_recording (which needs the row and commits on its own); if
    that fails, the row is deleted again. So no call is left without its file and no file
    without its call; for that short moment the call is visible without a recording.
    `next` long polls are woken only once both are stored.

    Raises RecordingRejected or ValidationError (nothing written), CallExists (the id is
    taken; nothing written), OutsideScope (the call would be outside the writer's `scope`;
    nothing written). Call it outside any `transaction.atomic` block.
    """
    _check_writable(fields)
    check_recording(content, declared_content_type)
    with transaction.atomic(durable=True):
        call = _insert(call_id, fields, _ScopeJudge(scope))
    if call is None:
        raise CallExists(call_id)
    try:
        stored = _store(call, content, declared_content_type, announced_size, created=True)
    except BaseException:
        # The row came without its recording: it goes too (store_recording has already
        # deleted any file of its own).
        Call.objects.filter(pk=call_id).delete()
        raise
    _announce(stored.call)
    return PutRecording(call=stored.call, created=True, recording=stored)


def update_call_with_recording(
    call: Call,
    fields: Mapping[str, Any],
    content: IO[bytes],
    declared_content_type: str,
    *,
    announced_size: int | None = None,
    scope: Scope = EVERYTHING,
) -> PutRecording:
    """Replace the call's recording with `content`, then set the given `fields`.

    The fields must be valid already (nothing half-written when they are not: they are
    checked against the call before the recording is touched). The recording goes first
    because it is the part that can be refused; the field update after it is a plain row
    update. Raises RecordingRejected (nothing changed), ValidationError (nothing changed),
    Call.DoesNotExist (deleted meanwhile), OutsideScope (the call is, or would be, outside
    the writer's `scope`: nothing changed). Call it outside any `transaction.atomic` block.
    """
    _check_writable(fields)
    written = Call(**{**_field_values(call), **fields})
    _check_consistent(written, fields)
    judge = _ScopeJudge(scope)
    judge.check(call)
    judge.check(written)
    # store_recording checks the file before it changes anything.
    stored = store_recording(call, content, declared_content_type, announced_size=announced_size)
    result = upsert_call(call.pk, fields, scope=scope)
    return PutRecording(call=result.call, created=False, recording=stored)


def _field_values(call: Call) -> dict[str, Any]:
    return {name: getattr(call, name) for name in WRITABLE_FIELDS}


def _delete_file(name: str) -> None:
    storage = Call._meta.get_field("recording").storage
    try:
        delete_recording(storage, name)
    except Exception:
        # A leftover file wastes space but loses nothing: no call points to it.
        logger.warning("Could not delete the unused recording file %s", name, exc_info=True)

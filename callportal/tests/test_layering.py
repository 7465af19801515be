"""The import floors between the rooms, read from their source with `ast`.

A room may import the rooms on the floors below its own, never one beside or above it, so
there can be no import cycle between rooms. `docs/architecture.md` says what each room
holds; this is the map it describes (rooms not written yet are placed already, so that
they start on their floor):

    callportal                                   the project: settings, URLs, wiring
    demo                                         demo data, reaches into everything
    verba  ingest  staff                         the transports: Business API, ingestion, pages
    longpoll  search  purge  webhooks            features built on the domain
    calls  apikeys  audit                        the domain, keys, the API audit trail
    retention                                    rules, holds, the deletion ledger
    recordings  directory  access_log            audio files, who is who, who accessed what
    lockouts                                     (floor 1 too) the login lockout's policy
    shared                                       imports no room

Application code only: tests and migrations are left out (tests set up rows of several
rooms; a migration's dependency on another app's schema is not an import). An import
inside a function counts like one at the top of a module.
"""

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)

FLOORS: list[tuple[str, ...]] = [
    ("shared",),
    ("recordings", "directory", "access_log", "lockouts"),
    ("retention",),
    ("calls", "apikeys", "audit"),
    ("longpoll", "search", "purge", "webhooks"),
    ("verba", "ingest", "staff"),
    ("demo",),
    ("callportal",),
]
FLOOR_OF = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}
ROOMS = tuple(FLOOR_OF)


def imports_of(room: str) -> dict[str, set[str]]:
    """For each other room that `room`'s modules import: the files that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / room).rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if "tests" in parts or "migrations" in parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in FLOOR_OF and top != room:
                    found.setdefault(top, set()).add("/".join(parts))
    return found


def test_every_project_package_has_a_floor():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}

    assert packages - set(ROOMS) == set(), "add the new room to FLOORS and docs/architecture.md"


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_the_floors_below_it(room):
    upward = {
        imported: sorted(files)
        for imported, files in imports_of(room).items()
        if FLOOR_OF[imported] >= FLOOR_OF[room]
    }

    assert upward == {}, f"{room} imports rooms on its own floor or above: {upward}"


def test_the_reader_sees_the_imports_that_are_allowed():
    # Otherwise the tests above would pass on a reader that finds nothing.
    assert "calls" in imports_of("verba")
    assert "shared" in imports_of("calls")
    assert "recordings" in imports_of("calls")
    assert "calls" in imports_of("longpoll")
    assert "search" in imports_of("staff")
    assert "shared" in imports_of("access_log")
    assert "access_log" in imports_of("verba")
    # The deletion paths in calls reach the holds and the ledger below them; the run that
    # applies the rules sits above calls.
    assert "retention" in imports_of("calls")
    assert "calls" in imports_of("purge")
    # The outbox hears calls' changes through calls.signals: webhooks imports calls, never
    # the other way round (a_room_imports_only_the_floors_below_it checks that side).
    assert "calls" in imports_of("webhooks")
    assert "directory" in imports_of("webhooks")


def test_the_architecture_document_describes_every_room():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = [room for room in ROOMS if (ROOT / room).is_dir() and f"`{room}/`" not in text]

    assert missing == []

"""The import layers between the apps, read from their source with `ast`.

    verba, ingest          (the transports)
    calls  apikeys  audit  (calls may use apikeys; apikeys and audit know nothing of each
                            other; audit knows nothing of calls)
    shared                 (imports no app)

Application code only: tests and migrations are left out (tests set up rows of several
apps; a migration's dependency on another app's schema is not an import). An import
inside a function counts like one at the top of a module.
"""

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = ("callportal", "calls", "apikeys", "audit", "verba", "ingest", "shared")


def imports_of(app: str) -> dict[str, set[str]]:
    """For each project package `app`'s modules import: the files that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / app).rglob("*.py")):
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
                if top in APPS and top != app:
                    found.setdefault(top, set()).add("/".join(parts))
    return found


FORBIDDEN = [
    ("calls", "verba"),
    ("calls", "ingest"),
    ("audit", "calls"),
    ("apikeys", "audit"),
    ("audit", "apikeys"),
    *(("shared", app) for app in APPS if app != "shared"),
]


@pytest.mark.parametrize(
    ("importer", "imported"), FORBIDDEN, ids=[f"{a}-imports-{b}" for a, b in FORBIDDEN]
)
def test_no_app_imports_across_its_layer(importer, imported):
    offenders = imports_of(importer).get(imported, set())

    assert offenders == set(), f"{importer} imports {imported} in {sorted(offenders)}"


def test_the_reader_sees_the_imports_that_are_allowed():
    # Otherwise the test above would pass on a reader that finds nothing.
    assert "calls" in imports_of("verba")
    assert "shared" in imports_of("calls")
    assert "shared" in imports_of("audit")
    assert "apikeys" in imports_of("calls")  # the demo command makes a key

"""Every variable the settings read from the environment is documented, in `.env.example`
and in the README's settings table; and neither documents a variable nothing reads."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where the project reads its environment: Django's settings and gunicorn's.
READERS = [ROOT / "callportal" / "settings.py", ROOT / "gunicorn.conf.py"]
# Documented for the operator, but read by a library, not by our code.
READ_BY_LIBRARIES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def _reads_environment(func: ast.expr) -> bool:
    """`env(…)`, `env.int(…)` and the like (django-environ), `_secret(…)`,
    `os.environ.get(…)`, `os.getenv(…)`."""
    if isinstance(func, ast.Name):
        return func.id in {"env", "_secret"}
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value
    if isinstance(owner, ast.Name):
        return owner.id == "env" or (owner.id == "os" and func.attr == "getenv")
    return (
        func.attr == "get"
        and isinstance(owner, ast.Attribute)
        and owner.attr == "environ"
        and isinstance(owner.value, ast.Name)
        and owner.value.id == "os"
    )


def variables_read(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            key = node.slice
        elif isinstance(node, ast.Call) and _reads_environment(node.func) and node.args:
            key = node.args[0]
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


def in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def in_readme_table() -> set[str]:
    """The names in the first column of the README's "Configuration" table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def read() -> set[str]:
    return set().union(*(variables_read(path) for path in READERS))


def test_the_reader_finds_the_settings_reads_of_every_kind():
    names = read()
    # One of each way of reading: env.str, env.db_url, env.bool, _secret, gunicorn's env.int.
    assert {"TIME_ZONE", "DATABASE_URL", "DEBUG", "SECRET_KEY", "WEB_CONCURRENCY"} <= names
    assert "dict" not in names and "UTC" not in names  # values, not variables


def test_every_variable_the_settings_read_is_in_the_env_example():
    missing = read() - in_env_example()
    assert not missing, f"not in .env.example: {sorted(missing)}"


def test_every_variable_the_settings_read_is_in_the_readme_table():
    missing = read() - in_readme_table()
    assert not missing, f"not in the README's settings table: {sorted(missing)}"


def test_the_env_example_and_the_readme_document_no_variable_nothing_reads():
    stale_example = in_env_example() - read() - READ_BY_LIBRARIES
    stale_readme = in_readme_table() - read() - READ_BY_LIBRARIES
    assert not stale_example, f".env.example documents what nothing reads: {sorted(stale_example)}"
    assert not stale_readme, f"the README documents what nothing reads: {sorted(stale_readme)}"

"""The README's flag table matches the settings tree: the same flags, each with its field's default."""

from __future__ import annotations

import re
from pathlib import Path

from vigil_server.settings import flag_fields, render_default

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Running the server"
# | `--listen` | `127.0.0.1:50051` | meaning |
ROW = re.compile(r"^\| `--([a-z0-9-]+)` \| (.+?) \| (.+?) \|$")


def readme_rows() -> list[tuple[str, str, str]]:
    """(flag, default cell, meaning) for each row of the flag table in the README's section."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    section = text[start : None if end < 0 else end]
    rows = [ROW.match(line) for line in section.splitlines()]
    return [(m[1], m[2], m[3]) for m in rows if m]


def shown_in_readme(default: object) -> str:
    """The default cell: `text` in backticks, numbers as render_default writes them, 'empty' for ""."""
    text = render_default(default)
    return f"`{text}`" if text else "empty"


def test_the_readme_lists_every_flag_once() -> None:
    documented = [name for name, _, _ in readme_rows()]
    generated = [flag.name for _, _, flag in flag_fields()]
    assert len(documented) == len(set(documented)), "a flag has two rows"
    missing, unknown = set(generated) - set(documented), set(documented) - set(generated)
    assert not missing and not unknown, f"no README row for {sorted(missing)}; rows of no flag: {sorted(unknown)}"


def test_each_readme_default_is_the_field_default() -> None:
    defaults = {flag.name: shown_in_readme(f.default) for _, f, flag in flag_fields()}
    for name, cell, meaning in readme_rows():
        assert cell == defaults[name], f"--{name}: the README says {cell}, the settings {defaults[name]}"
        assert meaning.strip(), f"--{name} has no meaning in the README"


def test_the_model_cache_row_shows_the_home_cache() -> None:
    assert ("model-cache", "`~/.cache/vigil`") in [(name, cell) for name, cell, _ in readme_rows()]

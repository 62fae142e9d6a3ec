"""Print finsent's configuration table (every setting: env name, default, doc) as Markdown.

    .venv/bin/python scripts/config_table.py > docs/configuration.md

The README's table is this output, so it follows the code (tests/unit/test_config_table.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.settings import SettingRow, describe_settings


def markdown_table(rows: list[SettingRow]) -> str:
    lines = ["| environment variable | default | meaning |", "|---|---|---|"]
    for row in rows:
        default = f"`{_home(row.default)}`" if row.default else "(unset)"
        doc = row.doc + (" — secret" if row.secret and "secret" not in row.doc else "")
        lines.append(f"| `{row.env}` | {_cell(default)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def _home(value: str) -> str:
    """Machine-independent defaults: the home directory printed as ~."""
    home = str(Path.home())
    return "~" + value[len(home) :] if value.startswith(home + "/") else value


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.stdout.write(markdown_table(describe_settings()))

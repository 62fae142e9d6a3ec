"""The README's configuration table lists every setting exactly once, with pipes escaped."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.settings import describe_settings, setting_env_names

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "config_table.py"


def _markdown() -> str:
    spec = importlib.util.spec_from_file_location("config_table", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.markdown_table(describe_settings())
    assert isinstance(table, str)
    return table


def test_every_setting_appears_once_as_a_row() -> None:
    rows = _markdown().splitlines()[2:]
    names = [row.split("|")[1].strip().strip("`") for row in rows]
    assert sorted(names) == sorted(setting_env_names())
    assert all(row.count(" | ") == 2 for row in rows), "an unescaped pipe splits a row"


def test_secrets_show_no_value_and_home_is_abstracted() -> None:
    table = _markdown()
    token_row = next(r for r in table.splitlines() if "`FINSENT_API__TOKEN`" in r)
    assert "(unset)" in token_row
    assert "secret" in token_row
    assert str(Path.home()) + "/" not in table

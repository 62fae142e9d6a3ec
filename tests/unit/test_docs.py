"""The docs match the code: the README's commands exist, the configuration table is current."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from pipeline.settings import describe_settings, setting_env_names
from workers.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_commands() -> list[list[str]]:
    commands = []
    for line in re.findall(r"^(finsent [^#\n&]+)", README, flags=re.MULTILINE):
        words = shlex.split(line.split("&&")[0])[1:]
        commands.append([w for w in words if not w.startswith("-")][:2])
    return commands


def test_readme_names_the_two_commands() -> None:
    assert "bash scripts/bootstrap.sh" in README
    assert "bash scripts/test.sh" in README
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec bash scripts/test.sh")


@pytest.mark.parametrize("words", _readme_commands(), ids=" ".join)
def test_every_readme_command_exists(words: list[str]) -> None:
    for depth in (2, 1):
        result = CliRunner().invoke(app, [*words[:depth], "--help"])
        if result.exit_code == 0:
            return
    pytest.fail(f"`finsent {' '.join(words)}` in README.md is not a command")


def test_readme_variables_are_settings() -> None:
    named = set(re.findall(r"FINSENT_[A-Z_]+", README)) - {"FINSENT_CACHE_DIR"}
    assert named <= setting_env_names(), named - setting_env_names()


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_is_generated_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINSENT_CACHE_DIR", raising=False)  # the doc shows the built-in default
    expected = _script("config_table").markdown_table(describe_settings())
    on_disk = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert expected in on_disk, "docs/configuration.md is stale: run scripts/config_table.py"


def test_events_doc_is_generated_from_schemas() -> None:
    expected = _script("schema_docs").events_markdown()
    on_disk = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert on_disk == expected, "docs/events.md is stale: run scripts/schema_docs.py"


def test_events_doc_names_every_field_of_the_wire_models() -> None:
    from schemas import NewsEvent
    from schemas.alerts import Alert, Explanation, TopItem
    from schemas.webhooks import AlertNotification, SlackMessage

    doc = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    for model in (NewsEvent, AlertNotification, Alert, Explanation, TopItem, SlackMessage):
        for name in model.model_fields:
            assert f"| `{name}` |" in doc, f"{model.__name__}.{name} is not in docs/events.md"


def test_readme_links_resolve_in_a_clone() -> None:
    assert "../shared" not in README, "a user's clone has no ../shared"
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" in target:
            continue
        assert not target.startswith("../"), f"{target}: a user's clone has no parent folder"
        assert (ROOT / target).exists(), f"README.md links {target}, which is not in the repo"

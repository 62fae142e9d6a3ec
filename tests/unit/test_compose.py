"""Docker cannot run here: the stack's files are checked against the code they start instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from pipeline.settings import setting_env_names
from workers.cli import app

ROOT = Path(__file__).resolve().parents[2]
FINSENT_VAR = re.compile(r"\b(FINSENT_[A-Z0-9_]+)")


class _ComposeLoader(yaml.SafeLoader):
    """Accepts compose's `!reset` and `!override` merge tags."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: None)
_ComposeLoader.add_constructor(
    "!override",
    lambda loader, node: loader.construct_object(node.value),  # type: ignore[arg-type]
)


def _compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    loaded = yaml.load((ROOT / name).read_text(), Loader=_ComposeLoader)
    assert isinstance(loaded, dict)
    return loaded


def _finsent_services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    return {n: s for n, s in services.items() if str(s.get("image", "")).startswith("finsent:")}


def _resolve(args: list[str]) -> object:
    """Walk the CLI tree like the shell would; every option given must be one the leaf takes."""
    command: Any = typer.main.get_command(app)
    words = list(args)
    while hasattr(command, "commands"):
        assert words, "a group needs a sub-command"
        assert words[0] in command.commands, f"no command {words[0]!r}"
        command = command.commands[words.pop(0)]
    known = {opt for param in command.params for opt in param.opts}
    unknown = [w for w in words if w.startswith("-") and w.split("=")[0] not in known]
    assert not unknown, f"unknown options {unknown}"
    return command


def test_the_stack_has_every_service() -> None:
    services = set(_compose()["services"])
    expected = {
        "kafka",
        "postgres",
        "migrate",
        "topics",
        "classifier",
        "scheduler",
        "notifier",
        "api",
    }
    assert expected <= services


@pytest.mark.parametrize("service", sorted(_finsent_services()))
def test_every_service_command_exists_in_the_cli(service: str) -> None:
    command = _finsent_services()[service]["command"]
    assert isinstance(command, list)
    _resolve([str(part) for part in command])


def test_resolve_rejects_unknown_commands_and_options() -> None:
    with pytest.raises(AssertionError, match="no command 'dance'"):
        _resolve(["worker", "dance"])
    with pytest.raises(AssertionError, match="unknown options"):
        _resolve(["api", "--colour", "blue"])
    with pytest.raises(AssertionError, match="sub-command"):
        _resolve(["db"])


def test_every_finsent_variable_is_a_real_setting() -> None:
    known = setting_env_names()
    texts = [
        (ROOT / name).read_text()
        for name in ("docker-compose.yml", "docker-compose.cpu.yml", ".env.example", "Dockerfile")
    ]
    used = {m for text in texts for m in FINSENT_VAR.findall(text)}
    # The cache directory is read before settings exist (the venv and caches live there).
    unknown = used - known - {"FINSENT_CACHE_DIR"}
    assert used, "no FINSENT_ variables found at all"
    assert not unknown, f"not settings: {sorted(unknown)}"


def test_every_file_the_dockerfile_copies_exists() -> None:
    copies = [
        line.split()[1:-1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    sources = [src for group in copies for src in group if not src.startswith("--")]
    assert "pipeline" in sources
    missing = [src for src in sources if not (ROOT / src).exists()]
    assert not missing


def test_classifier_scales_and_reserves_a_gpu() -> None:
    classifier = _compose()["services"]["classifier"]
    devices = classifier["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "replicas" in classifier["deploy"]
    cpu_override = _compose("docker-compose.cpu.yml")["services"]["classifier"]
    assert cpu_override["deploy"]["resources"] is None
    assert cpu_override["environment"]["FINSENT_MODEL__PROVIDER"] == "cpu"


def test_long_running_services_have_healthchecks() -> None:
    for name, service in _compose()["services"].items():
        if service.get("restart") == "no":
            continue
        assert "healthcheck" in service, name


def test_kafka_runs_kraft_without_auto_created_topics() -> None:
    kafka = _compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"

"""Imports point down the layers of docs/architecture.md; this test keeps that page true."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first; a module may import its own layer and the layers before it.
LAYERS: dict[str, tuple[str, ...]] = {
    "schemas": ("schemas",),
    "core": (
        "pipeline.data",
        "pipeline.settings",
        "pipeline.errors",
        "pipeline.clock",
        "pipeline.scope",
        "pipeline.metrics",
        "pipeline.boundary",
        "pipeline.alert_metrics",
    ),
    "items": ("pipeline.items",),
    "model": ("pipeline.model",),
    "storage": ("pipeline.storage",),
    "training": ("pipeline.training",),
    "consumer": ("pipeline.consumer",),
    "alerting": ("pipeline.alerting",),
    "delivery": ("pipeline.delivery",),
    "reporting": ("pipeline.reporting",),
    "demo": ("pipeline.demo",),
    "workers": ("workers",),
}
RANK = {prefix: rank for rank, prefixes in enumerate(LAYERS.values()) for prefix in prefixes}


def layer_of(module: str) -> int | None:
    """The rank of the longest listed prefix of `module`; None when it is not finsent's.

    The bare package `pipeline` (its __init__) is core, but not a prefix: a module of it
    that no layer lists has no rank, so the test asks for it to be placed.
    """
    if module == "pipeline":
        return RANK["pipeline.settings"]
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        rank = RANK.get(".".join(parts[:end]))
        if rank is not None:
            return rank
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from pipeline import alert_metrics` imports the module pipeline.alert_metrics
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


SOURCES = sorted(
    path for folder in ("schemas", "pipeline", "workers") for path in (ROOT / folder).rglob("*.py")
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_layers(path: Path) -> None:
    name = module_name(path)
    own = layer_of(name)
    assert own is not None, f"{name} is in no layer of docs/architecture.md: place it there"
    upward = [
        module
        for module in sorted(imported(path))
        if (rank := layer_of(module)) is not None and rank > own
    ]
    assert not upward, f"{name} imports upwards: {upward}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_of_the_service_imports_the_tests_or_the_benchmarks(path: Path) -> None:
    roots = {module.split(".")[0] for module in imported(path)}
    assert not roots & {"tests", "bench"}, (
        f"{path.relative_to(ROOT)} imports {roots & {'tests', 'bench'}}"
    )


def test_the_layer_check_sees_an_upward_import() -> None:
    """The check is not blind: a storage module importing the scheduler is upward, and a
    module no layer lists is noticed."""
    storage, scheduling = layer_of("pipeline.storage.tables"), layer_of("pipeline.alerting.scheduling")
    assert storage is not None
    assert scheduling is not None
    assert storage < scheduling
    assert layer_of("pipeline.unplaced_module") is None
    assert "pipeline.alert_metrics" in imported(ROOT / "pipeline" / "alerting" / "scheduling.py")


def test_pipeline_top_level_holds_only_the_core() -> None:
    """The subsystems live in packages; a module added beside the core must be placed."""
    top = {path.stem for path in (ROOT / "pipeline").glob("*.py")} - {"__init__"}
    assert {f"pipeline.{name}" for name in top} <= set(LAYERS["core"])

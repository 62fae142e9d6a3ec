from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from pipeline.model.bundle import ModelBundle
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.evaluate import evaluate
from pipeline.training.testbundle import checkpoint_of_test_bundle
from workers.cli import app

ROWS = [
    {
        "text": "Tesla plunges after quarterly earnings and revenue",
        "sentiment": "negative",
        "topic": "Earnings",
    },
    {
        "text": "Apple soars after quarterly dividend payout",
        "sentiment": "positive",
        "topic": "Dividend",
    },
    {"text": "Globex schedules its ipo listing", "sentiment": "neutral"},
    {"text": "Initech announces the ceo appointment", "topic": "Personnel Change"},
]


@pytest.fixture
def labeled(tmp_path: Path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def test_evaluates_a_bundle_to_json_and_png(
    test_bundle: ModelBundle, labeled: Path, tmp_path: Path
) -> None:
    from pipeline.training.data import DataSource, load_rows

    report = evaluate(
        test_bundle.path,
        load_rows([DataSource(labeled)]),
        out_json=tmp_path / "r.json",
        png_dir=tmp_path / "png",
    )
    assert report["model_version"] == test_bundle.version
    assert report["tasks"]["sentiment"]["rows"] == 3
    assert report["tasks"]["topic"]["rows"] == 3
    confusion = report["tasks"]["topic"]["confusion"]
    assert len(confusion) == 20
    assert sum(map(sum, confusion)) == 3
    assert json.loads((tmp_path / "r.json").read_text())["tasks"].keys() == {"topic", "sentiment"}
    for task in ("topic", "sentiment"):
        assert (tmp_path / "png" / f"confusion_{task}.png").read_bytes()[:4] == b"\x89PNG"


def test_checkpoint_and_bundle_agree(test_bundle: ModelBundle, labeled: Path) -> None:
    from pipeline.training.data import DataSource, load_rows

    rows = load_rows([DataSource(labeled)])
    checkpoint = checkpoint_of_test_bundle(test_bundle.path)
    from_checkpoint = evaluate(checkpoint, rows)
    from_bundle = evaluate(test_bundle.path, rows, precision="fp32")
    assert from_checkpoint["kind"] == "checkpoint"
    for task in ("topic", "sentiment"):
        assert (
            from_checkpoint["tasks"][task]["confusion"] == from_bundle["tasks"][task]["confusion"]
        )


def test_cli_info_evaluate_export(test_bundle: ModelBundle, labeled: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    info = runner.invoke(app, ["model", "info", str(test_bundle.path)])
    assert info.exit_code == 0, info.output
    assert test_bundle.version in info.output

    result = runner.invoke(
        app, ["evaluate", str(test_bundle.path), str(labeled), "--out", str(tmp_path / "e.json")]
    )
    assert result.exit_code == 0, result.output
    assert "sentiment: accuracy" in result.output

    checkpoint = Checkpoint.open(checkpoint_of_test_bundle(test_bundle.path))
    exported = runner.invoke(
        app, ["export", str(checkpoint.path), "--out", str(tmp_path / "b"), "--no-fp16"]
    )
    assert exported.exit_code == 0, exported.output
    assert "fp16" not in ModelBundle.load(tmp_path / "b").manifest.files


def test_cli_refuses_a_bad_file_without_a_traceback(
    test_bundle: ModelBundle, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,mood\nx,happy\n")
    result = CliRunner().invoke(app, ["evaluate", str(test_bundle.path), str(bad)])
    assert result.exit_code == 2
    assert "no label column" in result.output
    assert "Traceback" not in result.output

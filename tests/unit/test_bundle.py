from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import BundleError
from pipeline.model.bundle import MANIFEST_NAME, ModelBundle, content_version
from pipeline.model.labels import SENTIMENTS, TOPICS
from pipeline.model.preprocessing import PREPROCESSING_ID


@pytest.fixture
def bundle_copy(test_bundle: ModelBundle, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(test_bundle.path, target)
    return target


def _edit_manifest(path: Path, **changes: Any) -> None:
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    manifest.update(changes)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_manifest_describes_the_model(test_bundle: ModelBundle) -> None:
    manifest = test_bundle.manifest
    assert manifest.labels.topics == TOPICS
    assert manifest.labels.sentiments == SENTIMENTS
    assert manifest.preprocessing == PREPROCESSING_ID
    assert manifest.version == content_version(test_bundle.path, manifest.files)
    assert set(manifest.files) == {"fp32", "int8", "fp16", "tokenizer"}
    assert manifest.base.layers == 2
    assert manifest.max_length == 64
    assert manifest.training["data"][0]["sha256"]
    assert manifest.training["rows_dev"] > 0
    assert manifest.serving.cpu in ("int8", "fp32")
    assert manifest.serving.reason


def test_manifest_records_export_checks(test_bundle: ModelBundle) -> None:
    metrics = test_bundle.manifest.metrics
    assert metrics["parity_fp32_max_abs_diff"] <= 1e-4
    assert set(metrics["int8_agreement"]) == {"topic", "sentiment"}
    assert all(0.0 <= v <= 1.0 for v in metrics["int8_agreement"].values())
    assert set(metrics["dev"]) == {"fp32", "int8"}
    assert metrics["fusion"]["Attention"] == 2


def test_a_copied_bundle_loads_with_the_same_version(
    test_bundle: ModelBundle, bundle_copy: Path
) -> None:
    assert ModelBundle.load(bundle_copy).version == test_bundle.version


def _flip_a_byte(path: Path) -> None:
    model = path / "model.int8.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(_flip_a_byte, "does not match its manifest", id="corrupt onnx"),
        pytest.param(lambda p: (p / "model.fp32.onnx").unlink(), "lacks files", id="missing file"),
        pytest.param(
            lambda p: (p / MANIFEST_NAME).unlink(), "not a model bundle", id="no manifest"
        ),
        pytest.param(
            lambda p: (p / MANIFEST_NAME).write_text("{not json"), "not valid JSON", id="bad json"
        ),
        pytest.param(
            lambda p: _edit_manifest(p, preprocessing="other-v0"), "preprocessing", id="other prep"
        ),
        pytest.param(
            lambda p: _edit_manifest(p, version="0" * 16), "does not match", id="wrong version"
        ),
        pytest.param(
            lambda p: _edit_manifest(
                p,
                labels={"topics": list(TOPICS), "sentiments": ["positive", "neutral", "negative"]},
            ),
            "sentiments must be",
            id="sentiment order",
        ),
        pytest.param(
            lambda p: _edit_manifest(
                p, serving={"cpu": "int8", "gpu": "fp16", "reason": "x"}, files={"fp32": "a"}
            ),
            "files lacks",
            id="serving file not listed",
        ),
    ],
)
def test_a_damaged_bundle_is_refused(bundle_copy: Path, damage: Any, message: str) -> None:
    damage(bundle_copy)
    with pytest.raises(BundleError, match=message):
        ModelBundle.load(bundle_copy)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a model bundle"):
        ModelBundle.load(tmp_path / "nothing")

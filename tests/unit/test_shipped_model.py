"""The shipped model: its files are hash-checked, derived once, and a bad file is one error."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import pipeline.model.shipped as shipped
from pipeline.errors import BundleError
from pipeline.model.bundle import ModelBundle
from pipeline.model.judging import softmax
from pipeline.model.runtime import ModelRuntime
from workers.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def derived(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    """The shipped model derived from scratch into an empty cache, once per session."""
    return shipped.shipped_bundle(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A copy of the shipped files; the large weights are linked, never written to."""
    target = tmp_path / "model"
    target.mkdir()
    for path in shipped.SHIPPED_DIR.iterdir():
        if path.name == shipped.WEIGHTS_NAME:
            (target / path.name).symlink_to(path)
        else:
            shutil.copyfile(path, target / path.name)
    return target


def test_the_shipped_files_hash_to_what_pack_json_records() -> None:
    index = shipped.read_pack(shipped.SHIPPED_DIR)
    shipped.verify_shipped(shipped.SHIPPED_DIR, index)
    manifest = json.loads((shipped.SHIPPED_DIR / "manifest.json").read_text())
    assert manifest["version"] == index.version
    sizes = sum(p.stat().st_size for p in shipped.SHIPPED_DIR.iterdir())
    assert sizes <= 64 * 1024 * 1024


def test_the_derived_bundle_is_verified_and_the_second_use_is_a_cache_hit(
    derived: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    index = shipped.read_pack(shipped.SHIPPED_DIR)
    assert derived.version == index.version
    assert {shipped.file_sha256(derived.file(r)) for r in ("fp32", "int8", "fp16")} == set(
        index.derived.values()
    )
    caplog.set_level(logging.INFO, logger="pipeline.model.shipped")
    again = shipped.shipped_bundle(derived.path.parents[1])
    assert again.path == derived.path
    assert "cache hit" in caplog.text


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda d: (d / "model.graph.onnx").unlink(), "lacks", id="graph missing"),
        pytest.param(lambda d: (d / "weights.fp16.bin").unlink(), "lacks", id="weights missing"),
        pytest.param(
            lambda d: _truncate(d / "weights.fp16.bin"), "corrupt", id="weights cut short"
        ),
        pytest.param(lambda d: _flip_byte(d / "tokenizer.json"), "corrupt", id="tokenizer changed"),
        pytest.param(lambda d: _flip_byte(d / "manifest.json"), "corrupt", id="manifest changed"),
        pytest.param(lambda d: (d / "pack.json").unlink(), "missing", id="pack index missing"),
        pytest.param(lambda d: (d / "pack.json").write_text("{"), "corrupt", id="pack not json"),
    ],
)
def test_a_missing_or_corrupt_shipped_file_is_one_clear_error(
    shipped_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[Path], None],
    message: str,
) -> None:
    damage(shipped_copy)
    with pytest.raises(BundleError, match=message) as caught:
        shipped.shipped_bundle(tmp_path / "cache", shipped_copy)
    assert "restore" in str(caught.value)
    assert not (tmp_path / "cache" / "models").exists() or not any(
        p.name.startswith("shipped-") and p.is_dir()
        for p in (tmp_path / "cache" / "models").iterdir()
    )
    # The CLI says it in one line, exit 2.
    monkeypatch.setattr(shipped, "SHIPPED_DIR", shipped_copy)
    monkeypatch.setenv("FINSENT_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["model", "info"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_runtime_serves_calibrated_probabilities(derived: ModelBundle) -> None:
    runtime = ModelRuntime(derived, provider="cpu", precision="int8")
    try:
        texts = ["Novalith shares plunge after a guidance cut", "Board sets meeting date"]
        _, sentiment_logits = runtime.logits(texts)
        served = np.array([p.probabilities for p in runtime.classify(texts)])
    finally:
        runtime.close()
    temperature = derived.temperature("int8", "sentiment")
    assert temperature != 1.0
    np.testing.assert_allclose(served, softmax(sentiment_logits, temperature), atol=1e-5)


def test_serving_the_shipped_model_imports_no_torch(derived: ModelBundle) -> None:
    code = (
        "import sys; from pathlib import Path; import pipeline.model.shipped as s;"
        f"s.shipped_bundle(Path({str(derived.path.parents[1])!r}));"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_derivation_that_cannot_run_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.model.precisions

    def missing_dependency(fp32: Path, fp16: Path) -> None:
        raise ImportError("missing 'sympy'")

    monkeypatch.setattr(pipeline.model.precisions, "convert_fp16", missing_dependency)
    with pytest.raises(BundleError, match=r"deriving the shipped model .* failed: ImportError"):
        shipped.shipped_bundle(tmp_path / "cache")
    models = tmp_path / "cache" / "models"
    assert not [p for p in models.iterdir() if p.is_dir() and p.name.startswith("shipped-")]

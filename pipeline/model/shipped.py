"""The model finsent serves by default: carried in the package, derived once into the cache.

The package holds the fp32 graph without its weights, the weights as fp16 (the checkpoint was
trained and stored in fp16, so this is lossless: packing checks it), the tokenizer and the
manifest. At first use the fp32, int8 and fp16 ONNX files are derived into the cache and must
hash to what packing recorded; the result is an ordinary bundle that `ModelBundle.load` checks.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import BundleError
from pipeline.model.bundle import MANIFEST_NAME, TOKENIZER_NAME, ModelBundle
from pipeline.settings import default_cache_dir

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "model"
PACK_NAME = "pack.json"
GRAPH_NAME = "model.graph.onnx"
WEIGHTS_NAME = "weights.fp16.bin"
_RESTORE = "restore it from the repository (git checkout -- pipeline/data/model)"


class PackIndex(BaseModel):
    """`pack.json`: what the shipped files are and what they derive to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = 1
    version: str
    shipped: dict[str, str]  # file name -> sha256
    tensors: list[tuple[str, list[int]]]  # fp32 initializers in graph order: name, shape
    derived: dict[str, str]  # bundle role (fp32, int8, fp16) -> sha256 of the derived file


def shipped_bundle(cache_dir: Path | None = None, source: Path | None = None) -> ModelBundle:
    """The shipped model as a loaded bundle, derived into the cache the first time."""
    source = source or SHIPPED_DIR
    index = read_pack(source)
    verify_shipped(source, index)
    models = (cache_dir or default_cache_dir()) / "models"
    # The manifest (calibration, serving choice) can change without the weights: key on both.
    name = f"shipped-{index.version}-{index.shipped[MANIFEST_NAME][:8]}"
    target = models / name
    models.mkdir(parents=True, exist_ok=True)
    with (models / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one deriver; a second process then finds the cache
        if (target / MANIFEST_NAME).is_file():
            log.info("shipped model %s: cache hit (%s)", index.version, target)
            return ModelBundle.load(target)
        log.info(
            "shipped model %s: cache miss, deriving fp32/int8/fp16 into %s", index.version, target
        )
        _derive(source, index, models, target)
    return ModelBundle.load(target)


def read_pack(source: Path) -> PackIndex:
    path = source / PACK_NAME
    if not path.is_file():
        raise BundleError(f"the shipped model is missing: {path} does not exist; {_RESTORE}")
    try:
        return PackIndex.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as e:
        raise BundleError(
            f"the shipped model's {path} is corrupt ({type(e).__name__}); {_RESTORE}"
        ) from e


def verify_shipped(source: Path, index: PackIndex) -> None:
    """Every shipped file is present and hashes to what `pack.json` records."""
    for name, expected in index.shipped.items():
        path = source / name
        if not path.is_file():
            raise BundleError(f"the shipped model lacks {path}; {_RESTORE}")
        actual = file_sha256(path)
        if actual != expected:
            raise BundleError(
                f"the shipped model file {path} is corrupt: sha256 {actual[:12]}… "
                f"expected {expected[:12]}…; {_RESTORE}"
            )


def pack_bundle(bundle: ModelBundle, out: Path, manifest_update: dict[str, Any]) -> PackIndex:
    """Writes the shipped form of `bundle` (graph, fp16 weights, tokenizer, manifest) to `out`.

    `manifest_update` holds what packing adds to the manifest (calibration, serving choice,
    metrics). The pack is derived once here and checked against the bundle's own fp32 file.
    """
    import onnx

    model = onnx.load(str(bundle.file("fp32")))
    tensors, halves = _strip_weights(model)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / GRAPH_NAME))
    np.concatenate(halves).tofile(out / WEIGHTS_NAME)
    shutil.copyfile(bundle.file("tokenizer"), out / TOKENIZER_NAME)
    with tempfile.TemporaryDirectory(prefix="finsent-pack-") as tmp:
        draft = PackIndex(version="", shipped={}, tensors=tensors, derived={})
        derived = _derive_files(out, draft, Path(tmp))
        if derived["fp32"] != file_sha256(bundle.file("fp32")):
            raise BundleError("packing is not lossless: the derived fp32 model differs")
        files = {**{role: name for role, name in _DERIVED.items()}, "tokenizer": TOKENIZER_NAME}
        from pipeline.model.bundle import content_version

        shutil.copyfile(out / TOKENIZER_NAME, Path(tmp) / TOKENIZER_NAME)
        version = content_version(Path(tmp), files)
    manifest = bundle.manifest.model_copy(
        update={**manifest_update, "files": files, "version": version}
    )
    (out / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    shipped = {
        name: file_sha256(out / name)
        for name in (GRAPH_NAME, WEIGHTS_NAME, TOKENIZER_NAME, MANIFEST_NAME)
    }
    index = PackIndex(version=version, shipped=shipped, tensors=tensors, derived=derived)
    (out / PACK_NAME).write_text(index.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return index


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_DERIVED = {"fp32": "model.fp32.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}


def _strip_weights(model: Any) -> tuple[list[tuple[str, list[int]]], list[np.ndarray[Any, Any]]]:
    from onnx import TensorProto, numpy_helper

    tensors: list[tuple[str, list[int]]] = []
    halves: list[np.ndarray[Any, Any]] = []
    for tensor in model.graph.initializer:
        if tensor.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(tensor).astype(np.float32)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            raise BundleError(f"weight {tensor.name} is not exactly representable in fp16")
        tensors.append((tensor.name, list(values.shape)))
        halves.append(half.ravel())
        tensor.ClearField("float_data")
        tensor.raw_data = b""
    return tensors, halves


def _derive(source: Path, index: PackIndex, models: Path, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".shipped-", dir=models))
    try:
        try:
            derived = _derive_files(source, index, staging)
        except (ImportError, OSError, ValueError, RuntimeError) as e:
            raise BundleError(
                f"deriving the shipped model into {models} failed: {type(e).__name__}: {e}"
            ) from e
        for role, expected in index.derived.items():
            if derived[role] != expected:
                raise BundleError(
                    f"the {role} model derived from the shipped weights differs from the one "
                    "packed (are onnx and onnxruntime the pinned versions?)"
                )
        shutil.copyfile(source / TOKENIZER_NAME, staging / TOKENIZER_NAME)
        shutil.copyfile(source / MANIFEST_NAME, staging / MANIFEST_NAME)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _derive_files(source: Path, index: PackIndex, out: Path) -> dict[str, str]:
    """fp32 (weights restored), then int8 and fp16 from it; their sha256 by role."""
    import onnx

    from pipeline.model.precisions import convert_fp16, quantize_int8

    model = onnx.load(str(source / GRAPH_NAME))
    halves = np.fromfile(source / WEIGHTS_NAME, dtype=np.float16)
    by_name = {t.name: t for t in model.graph.initializer}
    offset = 0
    for name, shape in index.tensors:
        count = int(np.prod(shape)) if shape else 1
        values = halves[offset : offset + count].astype(np.float32)
        by_name[name].raw_data = values.tobytes()
        offset += count
    if offset != halves.size:
        raise BundleError(
            f"the shipped weights hold {halves.size} values, the graph needs {offset}"
        )
    fp32 = out / _DERIVED["fp32"]
    onnx.save(model, str(fp32))
    quantize_int8(fp32, out / _DERIVED["int8"])
    convert_fp16(fp32, out / _DERIVED["fp16"])
    return {role: file_sha256(out / name) for role, name in _DERIVED.items()}

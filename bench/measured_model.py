"""Which model a benchmark measures, and the torch checkpoint its naive baseline runs.

Shared by bench.runtime and bench.pipeline so that both measure what the service serves.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.model.bundle import ModelBundle
from pipeline.settings import default_cache_dir, load_settings

ROOT = Path(__file__).resolve().parents[1]
# The torch checkpoint the shipped model was exported from (the naive baseline runs it).
SHIPPED_CHECKPOINT = ROOT.parent / "shared" / "models" / "tfn-minilm-c"


def resolve_bundle(path: Path | None, smoke: bool = False) -> ModelBundle:
    """--bundle or FINSENT_MODEL__BUNDLE, else what the service serves: the shipped model
    (smoke runs check the machinery with the tiny test bundle)."""
    chosen = path or load_settings().model.bundle
    if chosen is not None:
        return ModelBundle.load(chosen)
    if smoke:
        from pipeline.training.testbundle import cached_test_bundle

        print("smoke: using the tiny test bundle", flush=True)
        return cached_test_bundle(default_cache_dir() / "models")
    from pipeline.model.shipped import shipped_bundle

    bundle = shipped_bundle()
    print(f"benchmarking the shipped model {bundle.version}", flush=True)
    return bundle


def resolve_checkpoint(checkpoint: Path | None, bundle: ModelBundle) -> Path | None:
    """--checkpoint, else the torch checkpoint the bundle was exported from, when known and
    torch (the train extra) is there to run it."""
    if checkpoint is not None:
        return checkpoint
    if not torch_installed():
        return None
    from pipeline.model.shipped import SHIPPED_DIR, read_pack
    from pipeline.training.testbundle import checkpoint_of_test_bundle

    if bundle.version == read_pack(SHIPPED_DIR).version:
        candidate = SHIPPED_CHECKPOINT
    else:
        candidate = checkpoint_of_test_bundle(bundle.path)
    return candidate if (candidate / "checkpoint.json").is_file() else None


def torch_installed() -> bool:
    """torch and transformers (the train extra): the naive baselines need them."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers"))

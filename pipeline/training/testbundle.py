"""A tiny bundle (2-layer BERT, own small vocabulary) built in seconds through the real
training and export path, so tests of the worker, alerts and reliability need no real model.

It is trained briefly on templated headlines, so obvious words move it: "plunges" reads
negative, "soars" positive, "schedules" neutral; "dividend" reads as the Dividend topic.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import BertConfig, BertModel

from pipeline.model.bundle import ModelBundle
from pipeline.training.data import DataSource
from pipeline.training.export import ExportOptions, export_bundle
from pipeline.training.train import TrainConfig, train

log = logging.getLogger(__name__)

MAX_LENGTH = 64
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

_COMPANIES = ["Apple", "Tesla", "$AAPL", "$TSLA", "Acme Corp", "Globex", "$XOM", "Initech"]
_SENTIMENT_VERBS = {
    "negative": ["plunges", "slumps", "misses estimates", "warns", "crashes", "cuts outlook"],
    "positive": ["soars", "beats estimates", "rallies", "jumps", "raises outlook", "surges"],
    "neutral": ["schedules", "announces", "reports", "comments on", "files", "updates"],
}
_TOPIC_PHRASES = {
    "Dividend": "quarterly dividend payout",
    "Earnings": "quarterly earnings and revenue",
    "Fed | Central Banks": "the fed rate decision",
    "Energy | Oil": "crude oil output",
    "IPO": "its ipo listing",
    "M&A | Investments": "the merger and acquisition deal",
    "Legal | Regulation": "the lawsuit and regulator probe",
    "Currencies": "the dollar and euro exchange rate",
    "Analyst Update": "the analyst price target upgrade",
    "Personnel Change": "the ceo appointment",
}


def build_test_bundle(out_dir: Path, checkpoint_dir: Path | None = None) -> Path:
    """Builds the tiny bundle into `out_dir` and returns its path; keeps the torch
    checkpoint in `checkpoint_dir` when given (parity tests compare against it)."""
    with tempfile.TemporaryDirectory(prefix="finsent-testbundle-") as tmp:
        work = Path(tmp)
        corpus = _write_corpus(work / "corpus.jsonl", random.Random(0))
        base = _tiny_base(work / "tiny-bert-2l", corpus)
        config = TrainConfig(
            sources=[DataSource(corpus)],
            base=base,
            epochs=10,
            batch_size=16,
            learning_rate=3e-3,
            head_learning_rate=3e-3,
            warmup_ratio=0.1,
            max_length=MAX_LENGTH,
            dev_fraction=0.15,
            seed=0,
            threads=1,
        )
        result = train(config, checkpoint_dir or work / "checkpoint")
        export_bundle(result.checkpoint.path, out_dir, ExportOptions())
    return out_dir


def cached_test_bundle(cache_root: Path) -> ModelBundle:
    """The test bundle, built once per version of the code that makes it.

    Its checkpoint sits beside it, in `checkpoint_of_test_bundle(bundle.path)`.
    """
    target = cache_root / f"test-bundle-{_code_key()}"
    if (target / "manifest.json").is_file() and checkpoint_of_test_bundle(target).is_dir():
        return ModelBundle.load(target)
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".test-bundle-", dir=cache_root))
    build_test_bundle(staging / "bundle", staging / "checkpoint")
    try:
        # Renames are atomic: a concurrent build of the same key wins or loses whole.
        os.rename(staging / "checkpoint", checkpoint_of_test_bundle(target))
        os.rename(staging / "bundle", target)
    except OSError as e:
        # A concurrent build of the same key renamed its copy into place first; ours is
        # dropped below. Had the rename failed for another reason, the load says so.
        log.info("test bundle: another build is in place (%s); using it", e)
    shutil.rmtree(staging, ignore_errors=True)
    return ModelBundle.load(target)


def checkpoint_of_test_bundle(bundle_path: Path) -> Path:
    """Where the torch checkpoint of a cached test bundle is kept."""
    return bundle_path.with_name(bundle_path.name + ".checkpoint")


def _write_corpus(path: Path, rng: random.Random) -> Path:
    rows = []
    pairs = itertools.product(_COMPANIES, _SENTIMENT_VERBS.items(), _TOPIC_PHRASES.items())
    for company, (sentiment, verbs), (topic, phrase) in pairs:
        verb = rng.choice(verbs)
        rows.append(
            {"text": f"{company} {verb} after {phrase}", "sentiment": sentiment, "topic": topic}
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _tiny_base(path: Path, corpus: Path) -> Path:
    path.mkdir(parents=True)
    tokenizer = _tokenizer([json.loads(line)["text"] for line in corpus.read_text().splitlines()])
    tokenizer.save(str(path / "tokenizer.json"))
    config = BertConfig(  # type: ignore[no-untyped-call]  # untyped in transformers
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    encoder = BertModel(config, add_pooling_layer=False)  # type: ignore[no-untyped-call]
    encoder.save_pretrained(str(path))
    return path


def _tokenizer(texts: list[str]) -> Tokenizer:
    unknown = "[UNK]"
    tokenizer = Tokenizer(models.WordPiece(unk_token=unknown))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    alphabet = [chr(c) for c in range(33, 127)]
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=alphabet
    )
    tokenizer.train_from_iterator([*texts, "url @user"], trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def _code_key() -> str:
    """A hash of the sources that shape the bundle, so a code change rebuilds it."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in (
        "model/preprocessing.py",
        "model/encoding.py",
        "model/bundle.py",
        "training/testbundle.py",
        "training/export.py",
        "training/train.py",
        "training/model.py",
    ):
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:12]

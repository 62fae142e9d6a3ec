"""Runtime benchmark, like with like in one run: items/s on the texts of both Twitter Financial
News valid splits, in corpus order, preprocessing and tokenization included, of

- `ModelRuntime` (int8 and fp32) at batch 1/8/32/64/128;
- a plain ONNX Runtime loop on the same model files at the same batch sizes: `preprocess` and
  the bundle's tokenizer (so both feed the model the same ids), padded to the batch's longest,
  `session.run`, argmax, nothing else; ORT's default session options but the thread count;
- the pinned naive baseline: a transformers text-classification pipeline, one item a call
  (needs torch, the train extra; without it, or without a checkpoint, "not measured").

At each batch size ModelRuntime and the plain loop take turns, `--rounds` passes over the texts
each, and each keeps its best pass: a change in the machine's load hits both alike.

  python -m bench.runtime            # the shipped model: writes bench/results/runtime.json
  python -m bench.runtime --smoke    # tiny test bundle, 64 texts: bench/results/smoke/runtime.json
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Tokenizer

from bench.measured_model import resolve_bundle, resolve_checkpoint, torch_installed
from pipeline.model.bundle import ModelBundle
from pipeline.model.preprocessing import preprocess
from pipeline.model.runtime import OUTPUTS, ModelRuntime, PrecisionChoice

ROOT = Path(__file__).resolve().parents[1]
TFN = Path(
    os.environ.get("FINSENT_TFN_DIR", ROOT.parent / "shared" / "data" / "twitter_financial_news")
)
BATCHES = (1, 8, 32, 64, 128)
PRECISIONS: tuple[PrecisionChoice, ...] = ("int8", "fp32")
NAIVE_THREADS = 2
NAIVE_TEXTS = 1_000  # one item a call is slow; its rate is steady well before this
NAIVE_VS = ("int8", "64")  # the goal: int8 at batch 64 against the naive baseline
AGREEMENT_TEXTS = 512
AGREEMENT_BATCH = 32

log = logging.getLogger("bench.runtime")

Rates = dict[str, dict[str, float]]  # precision -> batch -> items/s


def main() -> None:
    args = _parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    bundle = resolve_bundle(args.bundle, args.smoke)
    checkpoint = resolve_checkpoint(args.checkpoint, bundle)
    texts = _texts(64 if args.smoke else args.limit)
    load_before = os.getloadavg()
    runtime: Rates = {}
    plain: Rates = {}
    agreement: dict[str, float] = {}
    for precision in PRECISIONS:
        runtime[precision], plain[precision], agreement[precision] = _side_by_side(
            bundle, precision, texts, args
        )
    naive = _naive(checkpoint, texts, bundle.manifest.max_length)
    log.info("naive baseline: %s", naive)
    measured = Measured(runtime, plain, naive, agreement)
    result = _result(args, bundle, texts, measured, load_before)
    default = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / "runtime.json"
    out = args.out or default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


class PlainLoop:
    """What ModelRuntime's per-call overhead is judged against: ids -> session.run -> argmax."""

    def __init__(self, model: Path, tokenizer_file: Path, max_length: int, threads: int) -> None:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self._tokenizer = tokenizer
        self._session = ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Topic and sentiment class indices, one per text."""
        encodings = self._tokenizer.encode_batch([preprocess(t) for t in texts])
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        topic, sentiment = self._session.run(OUTPUTS, feed)
        return np.asarray(topic).argmax(axis=1), np.asarray(sentiment).argmax(axis=1)


@dataclass(frozen=True)
class Measured:
    """One run's rates (ModelRuntime and the plain loop by precision and batch; naive, or why
    not) and, per precision, how often the two ORT paths agree."""

    runtime: Rates
    plain: Rates
    naive: float | str
    agreement: dict[str, float]

    def runtime_over_plain(self) -> Rates:
        return {
            precision: {b: round(rate / self.plain[precision][b], 3) for b, rate in rates.items()}
            for precision, rates in self.runtime.items()
        }

    def over_naive(self) -> float | None:
        precision, batch = NAIVE_VS
        if isinstance(self.naive, str) or batch not in self.runtime[precision]:
            return None
        return round(self.runtime[precision][batch] / self.naive, 2)


def _side_by_side(
    bundle: ModelBundle, precision: PrecisionChoice, texts: list[str], args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, float], float]:
    """Rates of ModelRuntime and the plain loop on one model file, and how often they agree."""
    runtime = ModelRuntime(
        bundle, provider="cpu", precision=precision, intra_op_threads=args.threads
    )
    plain = PlainLoop(
        bundle.file(runtime.precision),
        bundle.file("tokenizer"),
        bundle.manifest.max_length,
        args.threads,
    )
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    try:
        for batch in BATCHES:
            ours[str(batch)], theirs[str(batch)] = 0.0, 0.0
            for _ in range(args.rounds):
                ours[str(batch)] = max(ours[str(batch)], _rate(runtime.classify, texts, batch))
                theirs[str(batch)] = max(theirs[str(batch)], _rate(plain, texts, batch))
            log.info(
                "%s batch %d: ModelRuntime %.0f, plain loop %.0f items/s",
                precision,
                batch,
                ours[str(batch)],
                theirs[str(batch)],
            )
        return ours, theirs, _agreement(runtime, plain, texts[:AGREEMENT_TEXTS], bundle)
    finally:
        runtime.close()


def _rate(classify: Callable[[Sequence[str]], object], texts: list[str], batch: int) -> float:
    """Items/s of one pass over `texts`, `batch` a call, after one warm-up call."""
    classify(texts[:batch])
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        classify(texts[start : start + batch])
    return round(len(texts) / (time.perf_counter() - started), 1)


def _agreement(
    runtime: ModelRuntime, plain: PlainLoop, texts: list[str], bundle: ModelBundle
) -> float:
    """The share of texts where both give the same sentiment: that they compute the same thing
    (int8's dynamic quantization may flip a near tie between differently padded batches)."""
    sentiments = bundle.manifest.labels.sentiments
    ours = [p.sentiment for p in runtime.classify(texts)]
    theirs = [
        sentiments[int(i)]
        for start in range(0, len(texts), AGREEMENT_BATCH)
        for i in plain(texts[start : start + AGREEMENT_BATCH])[1]
    ]
    return round(sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(texts), 4)


def _naive(checkpoint: Path | None, texts: list[str], max_length: int) -> float | str:
    """The baseline's items/s on `texts`, one item per call, or why it was not measured."""
    if not torch_installed():
        return "not measured: torch and transformers (the train extra) are not installed"
    if checkpoint is None:
        return "not measured: no training checkpoint for this bundle (pass --checkpoint)"
    classifier = naive_classifier(checkpoint, max_length)
    classifier(texts[0])
    texts = texts[:NAIVE_TEXTS]
    started = time.perf_counter()
    for text in texts:
        classifier(text)
    return round(len(texts) / (time.perf_counter() - started), 1)


def naive_classifier(checkpoint: Path, max_length: int) -> Callable[[str], Any]:
    """The pinned naive baseline: a stock sentiment-only BertForSequenceClassification (our
    encoder and sentiment head) behind transformers' text-classification pipeline on the CPU,
    called one item at a time, the way tutorials do it. Shared with bench.pipeline."""
    import torch
    from transformers import pipeline

    torch.set_num_threads(NAIVE_THREADS)
    with tempfile.TemporaryDirectory(prefix="finsent-naive-") as tmp:
        _save_sentiment_classifier(checkpoint, Path(tmp))
        return pipeline(  # type: ignore[no-any-return]  # loaded fully before tmp goes
            "text-classification",
            model=tmp,
            tokenizer=tmp,
            device=-1,
            truncation=True,
            max_length=max_length,
        )


def _save_sentiment_classifier(checkpoint_dir: Path, out: Path) -> None:
    """The same encoder and sentiment head as a stock BertForSequenceClassification.

    Its pooler is set to the identity on [CLS] (stock BERT pools [CLS], not the mean), so its
    labels can differ from ours; the compute per item is the same, which is what is timed.
    """
    import torch
    from transformers import BertForSequenceClassification, PreTrainedTokenizerFast

    from pipeline.training.checkpoint import Checkpoint

    checkpoint = Checkpoint.open(checkpoint_dir)
    ours = checkpoint.load_model()
    config = ours.config
    config.num_labels = 3
    config.id2label = {0: "negative", 1: "neutral", 2: "positive"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    stock = BertForSequenceClassification(config)
    stock.bert.load_state_dict(ours.encoder.state_dict(), strict=False)
    with torch.no_grad():
        stock.bert.pooler.dense.weight.copy_(torch.eye(config.hidden_size))
        stock.bert.pooler.dense.bias.zero_()
        stock.classifier.load_state_dict(ours.sentiment_head.state_dict())
    stock.save_pretrained(str(out))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(checkpoint.tokenizer),
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(str(out))


def _texts(limit: int | None) -> list[str]:
    texts: list[str] = []
    for name in ("sentiment/sent_valid.csv", "topic/topic_valid.csv"):
        with (TFN / name).open(encoding="utf-8", newline="") as f:
            texts.extend(row["text"] for row in csv.DictReader(f))
    if not limit or limit >= len(texts):
        return texts
    step = len(texts) / limit  # an even sample of both splits, in corpus order
    return [texts[int(i * step)] for i in range(limit)]


def _result(
    args: argparse.Namespace,
    bundle: ModelBundle,
    texts: list[str],
    measured: Measured,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    return {
        "git_sha": _git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": bundle.version,
        "model": bundle.path.name,
        "corpus": f"twitter_financial_news valid splits (sentiment + topic), {len(texts)} texts",
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "items_per_s": {
            "model_runtime": measured.runtime,
            "plain_ort_loop": measured.plain,
            "naive": measured.naive,
        },
        "runtime_over_plain": measured.runtime_over_plain(),
        "int8_b64_over_naive": measured.over_naive(),
        "sentiment_agreement_runtime_vs_plain": measured.agreement,
        "details": {
            "threads": args.threads,
            "rounds": args.rounds,
            "model_runtime": "ModelRuntime(bundle, provider='cpu', precision, intra_op_threads)"
            ".classify(texts), calibrated Predictions",
            "plain_ort_loop": (
                "preprocess + the bundle's tokenizer (truncation, padding to the batch's "
                "longest) -> InferenceSession(same file, intra_op_num_threads, ORT defaults "
                "otherwise).run -> argmax"
            ),
            "naive": (
                f'pipeline("text-classification", device=-1, truncation=True, '
                f"max_length={bundle.manifest.max_length}), "
                f"torch.set_num_threads({NAIVE_THREADS}), one item per call, "
                "sentiment-only BertForSequenceClassification"
            ),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "onnxruntime": ort.__version__,
            "smoke": args.smoke,
        },
    }


def _git_sha() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--smoke", action="store_true")
    p.add_argument(
        "--bundle", type=Path, default=None, help="default: FINSENT_MODEL__BUNDLE, else shipped"
    )
    p.add_argument("--checkpoint", type=Path, default=None, help="for the naive baseline")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of both ORT paths")
    p.add_argument("--rounds", type=int, default=2, help="passes per path and batch; best kept")
    p.add_argument("--limit", type=int, default=None, help="use an even sample of N texts")
    p.add_argument("--out", type=Path, default=None, help="default: bench/results[/smoke]")
    args = p.parse_args()
    if args.smoke:
        args.rounds = 1
    return args


if __name__ == "__main__":
    main()

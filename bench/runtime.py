"""Runtime benchmark: items/s of ModelRuntime (tokenization included) on the texts of both
Twitter Financial News valid splits, int8 and fp32 at batch 1/8/32/128, beside the naive
baseline pinned by the issue (a transformers text-classification pipeline, one item a call).

  python -m bench.runtime            # full: writes bench/results/runtime.json
  python -m bench.runtime --smoke    # tiny bundle, few texts: bench/results/smoke/runtime.json
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TFN = Path(
    os.environ.get("FINSENT_TFN_DIR", ROOT.parent / "shared" / "data" / "twitter_financial_news")
)
# The torch checkpoint the shipped model was exported from (the naive baseline runs it).
SHIPPED_CHECKPOINT = ROOT.parent / "shared" / "models" / "tfn-minilm-c"
BATCHES = (1, 8, 32, 128)
PRECISIONS = ("int8", "fp32")
NAIVE_THREADS = 2

log = logging.getLogger("bench.runtime")


def main() -> None:
    args = _parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    bundle, checkpoint = _model(args)
    texts = _texts(64 if args.smoke else args.limit)
    load_before = os.getloadavg()
    by_batch = {p: {} for p in PRECISIONS}  # type: dict[str, dict[str, float]]
    for batch in BATCHES:
        for precision in PRECISIONS:
            rate = _runtime_rate(bundle, precision, texts, batch, args.threads)
            by_batch[precision][str(batch)] = round(rate, 1)
            log.info("%s batch %d: %.0f items/s", precision, batch, rate)
    naive = _naive_rate(checkpoint, texts, _max_length(bundle))
    log.info("naive baseline: %.1f items/s", naive)
    result = _result(args, bundle, texts, by_batch, naive, load_before)
    out = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / "runtime.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def _runtime_rate(
    bundle: Path, precision: str, texts: list[str], batch: int, threads: int
) -> float:
    from pipeline.bundle import ModelBundle
    from pipeline.runtime import ModelRuntime

    runtime = ModelRuntime(
        ModelBundle.load(bundle),
        provider="cpu",
        precision=precision,
        intra_op_threads=threads,  # type: ignore[arg-type]
    )
    try:
        runtime.classify(texts[:batch])
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            runtime.classify(texts[start : start + batch])
        return len(texts) / (time.perf_counter() - started)
    finally:
        runtime.close()


def _naive_rate(checkpoint: Path, texts: list[str], max_length: int) -> float:
    """The baseline's rate on `texts`, one item per call."""
    classifier = naive_classifier(checkpoint, max_length)
    classifier(texts[0])
    started = time.perf_counter()
    for text in texts:
        classifier(text)
    return len(texts) / (time.perf_counter() - started)


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


def _model(args: argparse.Namespace) -> tuple[Path, Path]:
    from pipeline.settings import default_cache_dir

    if args.bundle and args.checkpoint:
        return args.bundle, args.checkpoint
    if args.smoke:
        from pipeline.training.testbundle import cached_test_bundle, checkpoint_of_test_bundle

        bundle = cached_test_bundle(default_cache_dir() / "models").path
        return bundle, checkpoint_of_test_bundle(bundle)
    from pipeline.shipped_model import shipped_bundle

    bundle = shipped_bundle().path
    log.info("benchmarking the shipped model %s", bundle.name)
    if args.checkpoint is None and not (SHIPPED_CHECKPOINT / "checkpoint.json").is_file():
        raise SystemExit(f"no checkpoint for the naive baseline at {SHIPPED_CHECKPOINT}")
    return bundle, args.checkpoint or SHIPPED_CHECKPOINT


def _texts(limit: int | None) -> list[str]:
    texts: list[str] = []
    for name in ("sentiment/sent_valid.csv", "topic/topic_valid.csv"):
        with (TFN / name).open(encoding="utf-8", newline="") as f:
            texts.extend(row["text"] for row in csv.DictReader(f))
    if not limit or limit >= len(texts):
        return texts
    step = len(texts) / limit  # an even sample of both splits, in corpus order
    return [texts[int(i * step)] for i in range(limit)]


def _max_length(bundle: Path) -> int:
    return int(json.loads((bundle / "manifest.json").read_text())["max_length"])


def _result(
    args: argparse.Namespace,
    bundle: Path,
    texts: list[str],
    by_batch: dict[str, dict[str, float]],
    naive: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    runtime_rate = by_batch["int8"]["32"]
    return {
        "git_sha": _git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": manifest["version"],
        "corpus": f"twitter_financial_news valid splits (sentiment + topic), {len(texts)} texts",
        "by_batch": by_batch,
        "runtime_items_per_s": runtime_rate,
        "naive_items_per_s": round(naive, 1),
        "details": {
            "speedup_int8_b32_vs_naive": round(runtime_rate / naive, 2) if naive else None,
            "runtime_threads": args.threads,
            "naive": (
                f'pipeline("text-classification", device=-1, truncation=True, '
                f"max_length={manifest['max_length']}), torch.set_num_threads({NAIVE_THREADS}), "
                "one item per call, sentiment-only BertForSequenceClassification"
            ),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
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
    p.add_argument("--bundle", type=Path, default=None)
    p.add_argument("--checkpoint", type=Path, default=None, help="for the naive baseline")
    p.add_argument("--threads", type=int, default=2, help="runtime intra-op threads")
    p.add_argument("--limit", type=int, default=None, help="use an even sample of N texts")
    return p.parse_args()


if __name__ == "__main__":
    main()

"""Accuracy benchmark.

By default it scores the model finsent ships (served int8, and fp32 beside it) per kind of
text — the robustness report of shared/PLAN.md: TFN dev, TFN dev style-shifted, held-out
seed-grammar headlines, the formal gold set per kind, gold headlines with a body, and TFN
valid (the final report, never used to choose) — with calibration (ECE, 15 bins) and the
int8-vs-fp32 paired bootstrap, into bench/results/accuracy.json.

With --recipe it reproduces a training recipe instead: fine-tune on TFN train, select on a
dev split carved from train, evaluate on valid (bench/results/accuracy_recipe.json).

  python -m bench.accuracy                      # the shipped model's report
  python -m bench.accuracy --smoke              # 100 rows a set, writes bench/results/smoke/
  python -m bench.accuracy --recipe             # train + evaluate the recipe here (CPU)
  python -m bench.accuracy --train-only --out-checkpoint DIR --device cuda   # on a GPU host
  python -m bench.accuracy --from-checkpoint DIR                             # evaluate here
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TFN = Path(
    os.environ.get("FINSENT_TFN_DIR", ROOT.parent / "shared" / "data" / "twitter_financial_news")
)
KEYS = ("accuracy", "macro_f1")

log = logging.getLogger("bench.accuracy")


def main() -> None:
    args = _parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not (args.recipe or args.train_only or args.from_checkpoint or args.from_bundle):
        from bench.robustness import shipped_report

        _write(shipped_report(smoke=args.smoke, bundle=args.default_bundle), args, "accuracy")
        return
    work = _work_dir(args)
    checkpoint = args.from_checkpoint or args.out_checkpoint or work / "checkpoint"
    train_wall = None
    if args.from_checkpoint is None:
        train_wall = _train(args, checkpoint)
    if args.train_only:
        log.info("checkpoint written to %s", checkpoint)
        return
    bundle = args.from_bundle or _export(checkpoint, args.out_bundle or work / "bundle")
    _write(_evaluate(args, bundle, checkpoint, train_wall), args, "accuracy_recipe")


def _write(result: dict[str, Any], args: argparse.Namespace, name: str) -> None:
    out = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def _work_dir(args: argparse.Namespace) -> Path:
    if args.train_only and args.out_checkpoint:  # a GPU host may lack the serving deps
        return args.out_checkpoint.parent
    from pipeline.settings import default_cache_dir

    return default_cache_dir() / "bench" / ("accuracy-smoke" if args.smoke else "accuracy")


def _base(args: argparse.Namespace) -> Path:
    if args.base is not None:
        return Path(args.base)
    from pipeline.training.base_model import default_base

    return default_base()


def _train(args: argparse.Namespace, checkpoint: Path) -> float:
    from pipeline.training.data import DataSource
    from pipeline.training.train import TrainConfig, train

    config = TrainConfig(
        sources=_sources("train"),
        base=_base(args),
        epochs=1 if args.smoke else args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        head_learning_rate=args.head_learning_rate,
        max_length=32 if args.smoke else args.max_length,
        label_smoothing=args.label_smoothing,
        device=args.device,
        seed=args.seed,
        max_rows=300 if args.smoke else args.max_rows,
        weights_dtype=args.weights_dtype,
        extra_meta={"benchmark": "bench/accuracy.py"},
    )
    assert all(isinstance(s, DataSource) for s in config.sources)
    started = time.perf_counter()
    result = train(config, checkpoint)
    log.info(
        "trained in %.0f s, best epoch %d: %s",
        result.wall_s,
        result.best_epoch,
        result.checkpoint.meta["dev_metrics"],
    )
    return time.perf_counter() - started


def _export(checkpoint: Path, out: Path) -> Path:
    from pipeline.training.export import export_bundle

    return export_bundle(checkpoint, out).path


def _evaluate(
    args: argparse.Namespace, bundle: Path, checkpoint: Path, train_wall: float | None
) -> dict[str, Any]:
    from pipeline.model.bundle import ModelBundle
    from pipeline.training.checkpoint import Checkpoint
    from pipeline.training.metrics import agreement

    valid = _valid_rows(limit=120 if args.smoke else None)
    fp32, fp32_pred = _scores(bundle, valid, "fp32")
    int8, int8_pred = _scores(bundle, valid, "int8")
    default_path, default_source = _default_model(args)
    default, _ = _scores(default_path, valid, "auto")
    meta = Checkpoint.open(checkpoint).meta
    manifest = ModelBundle.load(bundle).manifest
    return {
        "git_sha": _git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": manifest.version,
        "epochs": meta["training"]["hyperparameters"]["epochs"],
        "train_wall_s": round(train_wall if train_wall is not None else meta["train_wall_s"], 1),
        "fp32": fp32,
        "int8": int8,
        "int8_agreement": {
            task: agreement(fp32_pred[task], int8_pred[task]) for task in ("sentiment", "topic")
        },
        "default_model": default,
        "details": {
            "train_device": meta["training"].get("device", "unknown"),
            "note": args.note,
            "best_epoch": meta["training"]["best_epoch"],
            "hyperparameters": meta["training"]["hyperparameters"],
            "dev_metrics_torch": meta["dev_metrics"],
            "cpu_serving": manifest.serving.model_dump(),
            "valid_rows": {task: len(rows) for task, rows in valid.items()},
            "default_model": default_source,
            "default_model_version": ModelBundle.load(default_path).version,
            "smoke": args.smoke,
        },
    }


def _scores(
    target: Path, valid: dict[str, list[Any]], precision: str
) -> tuple[dict[str, float], dict[str, list[int]]]:
    from pipeline.training.evaluate import predict_labels, score_rows

    scores: dict[str, float] = {}
    predictions: dict[str, list[int]] = {}
    for task, rows in valid.items():
        predicted, described = predict_labels(target, [r.text for r in rows], precision)  # type: ignore[arg-type]
        metrics = score_rows(rows, predicted, described["topics"])[task]
        log.info(
            "%s %s on %s valid: %s",
            target.name,
            precision,
            task,
            {k: round(metrics[k], 4) for k in KEYS},
        )
        predictions[task] = predicted[task]
        for key in KEYS:
            scores[f"{task}_{key}"] = round(metrics[key], 4)
    return scores, predictions


def _default_model(args: argparse.Namespace) -> tuple[Path, str]:
    if args.default_bundle is not None:
        return args.default_bundle, f"bundle {args.default_bundle} (given with --default-bundle)"
    from pipeline.model.shipped import shipped_bundle

    bundle = shipped_bundle()
    return bundle.path, f"the shipped model {bundle.version}"


def _sources(split: str) -> list[Any]:
    from pipeline.training.data import DataSource

    return [
        DataSource.parse(f"{TFN / 'sentiment' / f'sent_{split}.csv'}:label=sentiment"),
        DataSource.parse(f"{TFN / 'topic' / f'topic_{split}.csv'}:label=topic"),
    ]


def _valid_rows(limit: int | None) -> dict[str, list[Any]]:
    from pipeline.training.data import load_rows

    sentiment_source, topic_source = _sources("valid")
    rows = {"sentiment": load_rows([sentiment_source]), "topic": load_rows([topic_source])}
    if limit is not None:
        rows = {task: random.Random(0).sample(r, limit) for task, r in rows.items()}
    return rows


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes; writes bench/results/smoke/")
    p.add_argument("--recipe", action="store_true", help="train and evaluate the recipe here")
    p.add_argument("--device", default="cpu", help="torch device for training: cpu | cuda")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=8e-5)
    p.add_argument("--head-learning-rate", type=float, default=1e-3)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--note", default="", help="free text recorded in the result's details")
    p.add_argument("--max-rows", type=int, default=None, help="train on a sample (quick checks)")
    p.add_argument("--base", type=Path, default=None, help="local BERT-family dir")
    p.add_argument("--train-only", action="store_true", help="stop after writing the checkpoint")
    p.add_argument("--out-checkpoint", type=Path, default=None)
    p.add_argument("--from-checkpoint", type=Path, default=None, help="skip training")
    p.add_argument("--out-bundle", type=Path, default=None, help="where to export the bundle")
    p.add_argument("--from-bundle", type=Path, default=None, help="skip export: evaluate this")
    p.add_argument(
        "--default-bundle", type=Path, default=None, help="score this bundle, not the shipped one"
    )
    p.add_argument(
        "--weights-dtype",
        choices=["float32", "float16"],
        default="float32",
        help="checkpoint storage (float16 halves what travels from a GPU host)",
    )
    return p.parse_args()


if __name__ == "__main__":
    main()

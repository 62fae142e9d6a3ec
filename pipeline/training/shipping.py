"""Building the shipped model from a checkpoint: export, calibrate on dev, pack.

`finsent model build-shipped CHECKPOINT` runs this; its output is `pipeline/data/model/`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.model.bundle import ModelBundle, Precision
from pipeline.model.judging import expected_calibration_error, fit_temperature, softmax
from pipeline.model.runtime import ModelRuntime
from pipeline.model.shipped import SHIPPED_DIR, PackIndex, pack_bundle
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.data import LabeledRow
from pipeline.training.export import export_bundle

log = logging.getLogger(__name__)

TASKS = ("topic", "sentiment")


def build_shipped(checkpoint_dir: Path, out: Path = SHIPPED_DIR) -> PackIndex:
    """Exports `checkpoint_dir`, fits a temperature per CPU precision and task, packs to `out`."""
    dev = Checkpoint.open(checkpoint_dir).dev_rows()
    with tempfile.TemporaryDirectory(prefix="finsent-ship-") as tmp:
        bundle = export_bundle(checkpoint_dir, Path(tmp) / "bundle")
        calibration, report = calibrate(bundle, dev)
        metrics = {
            **bundle.manifest.metrics,
            "calibration_dev": report,
            "label_prior": {"sentiment": sentiment_prior(dev)},
        }
        return pack_bundle(bundle, out, {"calibration": calibration, "metrics": metrics})


def calibrate(
    bundle: ModelBundle, dev: list[LabeledRow]
) -> tuple[dict[Precision, dict[str, float]], dict[str, Any]]:
    """Temperatures fitted on dev for fp32 and int8; fp16 (GPU only) takes fp32's."""
    temperatures: dict[Precision, dict[str, float]] = {}
    report: dict[str, Any] = {}
    for precision in ("fp32", "int8"):
        runtime = ModelRuntime(bundle, provider="cpu", precision=precision)
        try:
            logits = dict(zip(TASKS, runtime.logits([r.text for r in dev]), strict=True))
        finally:
            runtime.close()
        temperatures[precision] = {}
        for task in TASKS:
            rows = [i for i, r in enumerate(dev) if getattr(r, task) is not None]
            z = logits[task][rows]
            labels = np.asarray([getattr(dev[i], task) for i in rows])
            t = fit_temperature(z, labels)
            temperatures[precision][task] = round(t, 4)
            report[f"{precision}.{task}"] = {
                "temperature": round(t, 4),
                "ece_before": expected_calibration_error(softmax(z), labels),
                "ece_after": expected_calibration_error(softmax(z, t), labels),
                "rows": len(rows),
            }
            figures = report[f"{precision}.{task}"]
            log.info(
                "%s %s: temperature %.3f, dev ECE %.4f -> %.4f",
                *(precision, task, t, figures["ece_before"], figures["ece_after"]),
            )
    # No GPU here to run fp16 on; its logits match fp32's to ~1e-3 (export parity).
    temperatures["fp16"] = dict(temperatures["fp32"])
    report["fp16"] = "temperatures taken from fp32 (fp16 runs only on a GPU)"
    return temperatures, report


def sentiment_prior(dev: list[LabeledRow]) -> dict[str, float]:
    """Sentiment shares of the dev split (carved stratified from train: train's shares)."""
    from pipeline.model.labels import SENTIMENTS

    labels = [r.sentiment for r in dev if r.sentiment is not None]
    return {name: round(labels.count(i) / len(labels), 4) for i, name in enumerate(SENTIMENTS)}

"""Export a checkpoint to a bundle: ONNX fp32 (fused), int8 for CPU, fp16 for GPU, manifest.

Graph fusion (attention, layer norm, GELU) runs before quantization: the quantizer then
sees the fused MatMuls and the int8 model keeps the fused kernels.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.transformers.optimizer import optimize_model
from torch import nn

from pipeline.errors import ModelError
from pipeline.model.bundle import (
    BaseModelInfo,
    BundleManifest,
    LabelSet,
    ModelBundle,
    ServingChoice,
    content_version,
    write_manifest,
)
from pipeline.model.encoding import TextEncoder
from pipeline.model.judging import PairedInterval, paired_accuracy_loss
from pipeline.model.precisions import quantize_int8
from pipeline.model.preprocessing import PREPROCESSING_ID
from pipeline.model.runtime import PrecisionChoice
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.data import LabeledRow
from pipeline.training.evaluate import predict_labels, score_rows
from pipeline.training.metrics import agreement
from pipeline.training.model import MultiTaskClassifier

log = logging.getLogger(__name__)

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUTS = ["topic_logits", "sentiment_logits"]
FILES = {
    "fp32": "model.fp32.onnx",
    "int8": "model.int8.onnx",
    "fp16": "model.fp16.onnx",
    "tokenizer": "tokenizer.json",
}
PARITY_SAMPLES = (
    "Fed raises rates by 25bp; $SPY slides as yields jump",
    "Apple beats earnings estimates and lifts its dividend",
    "ok",
)


@dataclass(frozen=True)
class ExportOptions:
    int8: bool = True
    fp16: bool = True
    opset: int = 17
    parity_tolerance: float = 1e-4
    int8_tolerance: float = 0.005  # int8 serves CPU unless its loss is shown to exceed this


def export_bundle(
    checkpoint_dir: Path, out: Path, options: ExportOptions | None = None
) -> ModelBundle:
    """Writes a complete bundle to `out` and returns it, loaded and verified."""
    options = options or ExportOptions()
    checkpoint = Checkpoint.open(checkpoint_dir)
    model = checkpoint.load_model()
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.onnx"), out / "manifest.json"]:
        stale.unlink(missing_ok=True)
    files = {"fp32": FILES["fp32"], "tokenizer": FILES["tokenizer"]}
    with tempfile.TemporaryDirectory(prefix="finsent-export-") as tmp:
        raw = Path(tmp) / "model.raw.onnx"
        export_onnx(model, raw, options.opset)
        fusion = _fuse(raw, out / FILES["fp32"], model)
        if options.int8:
            quantize_int8(out / FILES["fp32"], out / FILES["int8"])
            files["int8"] = FILES["int8"]
        if options.fp16:
            _to_fp16(raw, out / FILES["fp16"], model)
            files["fp16"] = FILES["fp16"]
    shutil.copyfile(checkpoint.tokenizer, out / FILES["tokenizer"])
    dev = checkpoint.dev_rows()
    encoder = TextEncoder(out / FILES["tokenizer"], checkpoint.max_length)
    parity = check_parity(model, out / FILES["fp32"], encoder, _parity_texts(dev), options)
    metrics: dict[str, Any] = {"parity_fp32_max_abs_diff": parity, "fusion": fusion}
    serving = ServingChoice(cpu="fp32", gpu="fp16" if options.fp16 else "fp32", reason="")
    manifest = _manifest(checkpoint, model, files, serving, metrics, out)
    write_manifest(out, manifest)
    serving, comparison = _choose_cpu_model(ModelBundle.load(out), dev, options)
    metrics.update(comparison)
    write_manifest(out, manifest.model_copy(update={"serving": serving, "metrics": metrics}))
    return ModelBundle.load(out)


class _OnnxForward(nn.Module):
    """The model with the exact input and output names of the bundle contract."""

    def __init__(self, model: MultiTaskClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        result: tuple[torch.Tensor, torch.Tensor] = self.model(
            input_ids, attention_mask, token_type_ids
        )
        return result


def export_onnx(model: MultiTaskClassifier, path: Path, opset: int) -> None:
    """The fp32 graph with dynamic batch and sequence axes."""
    sample = torch.ones((2, 8), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes.update({name: {0: "batch"} for name in OUTPUTS})
    with torch.no_grad():
        torch.onnx.export(
            _OnnxForward(model).eval(),
            (sample, sample, torch.zeros_like(sample)),
            str(path),
            input_names=INPUTS,
            output_names=OUTPUTS,
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    model.eval()  # the exporter restores the wrapper's (training) mode onto the model


def check_parity(
    model: MultiTaskClassifier,
    fp32: Path,
    encoder: TextEncoder,
    texts: list[str],
    options: ExportOptions,
) -> float:
    """Max |torch - onnx| over both logit outputs; raises ModelError above the tolerance."""
    batch = encoder.encode(texts)
    model.eval()
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(OUTPUTS, batch.feed())
    with torch.no_grad():
        torch_logits = model(*(torch.from_numpy(a) for a in batch.feed().values()))
    diff = max(
        float(np.abs(np.asarray(o) - t.numpy()).max())
        for o, t in zip(onnx_logits, torch_logits, strict=True)
    )
    if diff > options.parity_tolerance:
        raise ModelError(
            f"ONNX export differs from torch by {diff:.2e} > {options.parity_tolerance}"
        )
    return diff


def _fuse(raw: Path, target: Path, model: MultiTaskClassifier) -> dict[str, int]:
    config = model.config
    fused = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,
    )
    fused.save_model_to_file(str(target))
    stats = fused.get_fused_operator_statistics()
    log.info("graph fusion: %s", stats)
    return {k: int(v) for k, v in stats.items() if v}


def _to_fp16(raw: Path, target: Path, model: MultiTaskClassifier) -> None:
    config = model.config
    fused = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,
        use_gpu=True,
    )
    fused.convert_float_to_float16(keep_io_types=True)
    fused.save_model_to_file(str(target))


def _choose_cpu_model(
    bundle: ModelBundle, dev: list[LabeledRow], options: ExportOptions
) -> tuple[ServingChoice, dict[str, Any]]:
    # shared/PLAN.md: CPU serves int8 unless the lower end of the 95 % paired-bootstrap
    # interval of its dev accuracy loss exceeds the tolerance (a few rows are noise, not loss).
    gpu = bundle.manifest.serving.gpu
    if "int8" not in bundle.manifest.files:
        return ServingChoice(cpu="fp32", gpu=gpu, reason="no int8 model was exported"), {}
    if not dev:
        reason = "no dev split to check int8 against; fp32 serves CPU"
        return ServingChoice(cpu="fp32", gpu=gpu, reason=reason), {}
    precisions: tuple[PrecisionChoice, ...] = ("fp32", "int8")
    scores = {p: _dev_predictions(bundle, dev, p) for p in precisions}
    dev_metrics = {p: {t: _summary(m) for t, m in s[0].items()} for p, s in scores.items()}
    agree = {t: agreement(scores["fp32"][1][t], scores["int8"][1][t]) for t in scores["fp32"][1]}
    losses = {
        task: _int8_loss(dev, task, scores["fp32"][1][task], scores["int8"][1][task])
        for task in dev_metrics["fp32"]
    }
    detail = ", ".join(
        f"{t} {i.mean:+.4f} [{i.low:+.4f}, {i.high:+.4f}]" for t, i in losses.items()
    )
    tolerance = options.int8_tolerance
    if all(i.low <= tolerance for i in losses.values()):
        reason = (
            f"int8 serves CPU: no dev accuracy loss above {tolerance} is shown "
            f"(fp32 - int8, 95 % paired bootstrap over {len(dev)} rows: {detail})"
        )
        cpu: Literal["fp32", "int8"] = "int8"
    else:
        reason = f"int8 loses more than {tolerance} dev accuracy ({detail}); fp32 serves CPU"
        cpu = "fp32"
    comparison = {
        "dev": dev_metrics,
        "int8_agreement": agree,
        "dev_rows": len(dev),
        "int8_loss": {t: i.__dict__ for t, i in losses.items()},
    }
    return ServingChoice(cpu=cpu, gpu=gpu, reason=reason), comparison


def _int8_loss(
    dev: list[LabeledRow], task: str, fp32: list[int], int8: list[int]
) -> PairedInterval:
    rows = [(i, getattr(r, task)) for i, r in enumerate(dev) if getattr(r, task) is not None]
    return paired_accuracy_loss(
        [fp32[i] == label for i, label in rows], [int8[i] == label for i, label in rows]
    )


def _dev_predictions(
    bundle: ModelBundle, dev: list[LabeledRow], precision: PrecisionChoice
) -> tuple[dict[str, dict[str, Any]], dict[str, list[int]]]:
    predicted, _ = predict_labels(bundle.path, [row.text for row in dev], precision)
    return score_rows(dev, predicted, bundle.manifest.labels.topics), predicted


def _summary(metrics: dict[str, Any]) -> dict[str, float]:
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def _parity_texts(dev: list[LabeledRow]) -> list[str]:
    return [*PARITY_SAMPLES, *(row.text for row in dev[:29])]


def _manifest(
    checkpoint: Checkpoint,
    model: MultiTaskClassifier,
    files: dict[str, str],
    serving: ServingChoice,
    metrics: dict[str, Any],
    out: Path,
) -> BundleManifest:
    meta = checkpoint.meta
    base = meta["base"]
    parameters = sum(p.numel() for p in model.parameters())
    training = {**meta["training"], "dev_metrics_torch": meta.get("dev_metrics", {})}
    training["train_wall_s"] = meta.get("train_wall_s")
    if meta["preprocessing"] != PREPROCESSING_ID:
        raise ModelError(
            f"checkpoint used preprocessing {meta['preprocessing']!r}, not {PREPROCESSING_ID!r}"
        )
    return BundleManifest(
        version=content_version(out, files),
        created_at=datetime.now(UTC),
        base=BaseModelInfo(
            name=base["name"],
            layers=base["layers"],
            hidden_size=base["hidden_size"],
            heads=base["heads"],
            parameters=parameters,
        ),
        max_length=checkpoint.max_length,
        preprocessing=meta["preprocessing"],
        labels=LabelSet(
            topics=tuple(meta["labels"]["topics"]), sentiments=tuple(meta["labels"]["sentiments"])
        ),
        files=files,
        serving=serving,
        training=training,
        metrics=metrics,
    )

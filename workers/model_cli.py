"""`finsent train | evaluate | export` and `finsent model ...`: the model's command line.

torch is imported inside the commands only, so the CLI starts fast without the `train` extra.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workers.invocation import F, console, friendly_errors, settings
from workers.logs import configure_logging

if TYPE_CHECKING:
    from pipeline.model.runtime import PrecisionChoice

model_app = typer.Typer(
    help="Model bundles: the default model, the test bundle, info, switching the current one."
)
_PRECISIONS: dict[str, PrecisionChoice] = {"auto": "auto", "fp32": "fp32", "int8": "int8"}

FilesArg = Annotated[
    list[str], typer.Argument(help="Labeled CSV/JSONL files: PATH or PATH:COLUMN=TASK")
]
DISTIL = "Distillation (a smaller student)"
LabelMapOpt = Annotated[
    Path | None, typer.Option(help='JSON {"topic": {id: name}, "sentiment": {id: name}}')
]


def _friendly(fn: F) -> F:
    """`friendly_errors`, with logging on: these commands run without loading settings."""
    guarded = friendly_errors(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        configure_logging()
        return guarded(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


@_friendly
def train(
    files: FilesArg,
    out: Annotated[Path, typer.Option(help="Checkpoint directory to write")],
    base: Annotated[Path | None, typer.Option(help="Local BERT-family dir")] = None,
    epochs: int = 4,
    batch_size: int = 32,
    learning_rate: float = 8e-5,
    max_length: int = 128,
    dev_fraction: float = 0.1,
    seed: int = 13,
    device: str = "cpu",
    threads: int | None = None,
    freeze_embeddings: bool = False,
    label_map: LabelMapOpt = None,
    head_learning_rate: float = 1e-3,
    max_rows: Annotated[
        int | None, typer.Option(help="Train on a seeded sample of this many rows")
    ] = None,
    init_checkpoint: Annotated[
        Path | None, typer.Option(help="Continue training from this checkpoint's weights")
    ] = None,
    dev_file: Annotated[
        Path | None, typer.Option(help="Select on these rows (never trained on), not a carve")
    ] = None,
    weights_dtype: Annotated[
        str, typer.Option(help="float32 | float16 (fp16 weights pack losslessly for shipping)")
    ] = "float32",
    teacher: Annotated[
        Path | None,
        typer.Option(help="Distil from this checkpoint's logits", rich_help_panel=DISTIL),
    ] = None,
    student_layers: Annotated[
        str | None,
        typer.Option(
            help="Keep these encoder layers of --init-checkpoint, e.g. 0,2,4",
            rich_help_panel=DISTIL,
        ),
    ] = None,
    distill_temperature: Annotated[float, typer.Option(rich_help_panel=DISTIL)] = 2.0,
    distill_weight: Annotated[
        float,
        typer.Option(
            help="Weight of the teacher's term (1 - it: the labels')", rich_help_panel=DISTIL
        ),
    ] = 0.7,
    unlabeled: Annotated[
        Path | None,
        typer.Option(help='JSONL of {"text"}: taught by the teacher alone', rich_help_panel=DISTIL),
    ] = None,
    unlabeled_max: Annotated[int | None, typer.Option(rich_help_panel=DISTIL)] = None,
) -> None:
    """Fine-tune the topic + sentiment model (or distil a smaller one); keeps the best on dev."""
    from pipeline.training.base_model import default_base
    from pipeline.training.data import DataSource, LabelMap
    from pipeline.training.distill import Distillation
    from pipeline.training.train import TrainConfig
    from pipeline.training.train import train as run_training

    if student_layers and init_checkpoint is None:
        raise typer.BadParameter("--student-layers cuts down --init-checkpoint; give both")
    distill = None
    if teacher is not None:
        distill = Distillation(
            teacher=teacher,
            student_layers=tuple(int(i) for i in student_layers.split(","))
            if student_layers
            else (),
            temperature=distill_temperature,
            soft_weight=distill_weight,
            unlabeled=unlabeled,
            unlabeled_rows_max=unlabeled_max,
            seed=seed,
        )

    config = TrainConfig(
        sources=[DataSource.parse(f) for f in files],
        base=base or init_checkpoint or default_base(),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_length=max_length,
        dev_fraction=dev_fraction,
        seed=seed,
        device=device,
        threads=threads,
        freeze_embeddings=freeze_embeddings,
        label_map=LabelMap.from_file(label_map) if label_map else None,
        head_learning_rate=head_learning_rate,
        max_rows=max_rows,
        init_checkpoint=init_checkpoint,
        dev_file=dev_file,
        weights_dtype="float16" if weights_dtype == "float16" else "float32",
        distill=distill,
    )
    result = run_training(config, out)
    console.print(f"checkpoint {out} (best epoch {result.best_epoch}, {result.wall_s:.0f} s)")
    console.print_json(data=result.checkpoint.meta["dev_metrics"])


@_friendly
def evaluate(
    target: Annotated[Path, typer.Argument(help="A bundle or a checkpoint directory")],
    files: FilesArg,
    out: Annotated[Path | None, typer.Option(help="Write the JSON report here")] = None,
    png_dir: Annotated[Path | None, typer.Option(help="Write confusion PNGs here")] = None,
    precision: Annotated[str, typer.Option(help="bundles: auto | fp32 | int8")] = "auto",
    device: Annotated[str, typer.Option(help="checkpoints: torch device")] = "cpu",
    label_map: LabelMapOpt = None,
) -> None:
    """Accuracy, macro-F1, per-class report and confusion matrix per task."""
    if precision not in _PRECISIONS:
        raise typer.BadParameter(f"precision must be one of {sorted(_PRECISIONS)}")
    from pipeline.training.data import DataSource, LabelMap, load_rows
    from pipeline.training.evaluate import evaluate as run_evaluation

    labels = LabelMap.from_file(label_map) if label_map else None
    rows = load_rows([DataSource.parse(f) for f in files], labels)
    report = run_evaluation(
        target,
        rows,
        precision=_PRECISIONS[precision],
        device=device,
        out_json=out,
        png_dir=png_dir,
    )
    for task, metrics in report["tasks"].items():
        console.print(
            f"{task}: accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}"
            f"  ({metrics['rows']} rows)"
        )


@_friendly
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint directory from `train`")],
    out: Annotated[Path, typer.Option(help="Bundle directory to write")],
    int8: bool = True,
    fp16: bool = True,
) -> None:
    """ONNX fp32 (parity-checked), int8 for CPU, fp16 for GPU, tokenizer and manifest."""
    from pipeline.training.export import ExportOptions, export_bundle

    bundle = export_bundle(checkpoint, out, ExportOptions(int8=int8, fp16=fp16))
    console.print(f"bundle {bundle.path} version {bundle.version}")
    console.print(f"CPU serves {bundle.manifest.serving.cpu}: {bundle.manifest.serving.reason}")


@model_app.command("build-shipped")
@_friendly
def build_shipped(
    checkpoint: Annotated[Path, typer.Argument(help="Trained checkpoint directory")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write it (default: the package)")
    ] = None,
) -> None:
    """Export CHECKPOINT, calibrate it on its dev split and pack it as the shipped model."""
    from pipeline.model.shipped import SHIPPED_DIR
    from pipeline.training.shipping import build_shipped as build

    started = time.perf_counter()
    index = build(checkpoint, out or SHIPPED_DIR)
    console.print(
        f"shipped model {index.version} written to {out or SHIPPED_DIR} "
        f"({time.perf_counter() - started:.0f} s)"
    )


@model_app.command("build-test-bundle")
@_friendly
def build_test_bundle(
    out: Annotated[Path, typer.Argument(help="Directory to write the tiny bundle to")],
) -> None:
    """Build the tiny 2-layer bundle that tests use."""
    from pipeline.training.testbundle import build_test_bundle as build

    console.print(f"test bundle: {build(out)}")


@model_app.command("info")
@_friendly
def info(
    bundle: Annotated[
        Path | None, typer.Argument(help="Bundle directory (default: the shipped model)")
    ] = None,
) -> None:
    """Verify a bundle (by default the shipped model) and print its manifest."""
    from pipeline.model.bundle import ModelBundle
    from pipeline.model.shipped import SHIPPED_DIR, shipped_bundle

    loaded = ModelBundle.load(bundle) if bundle else shipped_bundle()
    if bundle is None:
        console.print(f"shipped model {loaded.version}, card: {SHIPPED_DIR / 'MODEL_CARD.md'}")
    console.print_json(json.dumps(loaded.manifest.model_dump(mode="json")))


@model_app.command("switch")
@friendly_errors
def switch(
    bundle: Annotated[
        Path | None, typer.Argument(help="Bundle directory (default: the configured model)")
    ] = None,
) -> None:
    """Make BUNDLE's model current: rescore what the spike rule reads, then record it.

    Resumable: run again, it rescores only what still lacks a row of the model."""
    from pipeline.alerting.model_switch import plan_switch, refuse_pinned
    from pipeline.alerting.rules import load_rules
    from pipeline.clock import WallClock
    from pipeline.storage.db import open_database
    from pipeline.storage.model_version import publish_current_model
    from workers.model_loading import configured_bundle, with_bundle
    from workers.stream_cli import rescore_with_progress

    config = with_bundle(settings(), bundle)
    target = configured_bundle(config).version
    refuse_pinned(config, target)
    engine = open_database(config.database)
    try:
        with engine.connect() as conn:
            plan = plan_switch(conn, config, load_rules(config.alerts), target)
        if plan.old is not None and plan.old != target:
            # Rescoring registers the new model, the fallback when nothing is recorded:
            # record the old one, so nothing follows the new model before it covers the span.
            publish_current_model(engine, plan.old, WallClock())
        _, rescored = rescore_with_progress(config, engine, plan.span)
        publish_current_model(engine, target, WallClock())
    finally:
        engine.dispose()
    for line in plan.summary(rescored):
        console.print(line, highlight=False, soft_wrap=True)

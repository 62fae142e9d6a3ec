from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.errors import ModelError
from pipeline.model.bundle import MANIFEST_NAME, ModelBundle
from pipeline.model.labels import TOPICS
from pipeline.model.runtime import BUCKET_ITEMS, ModelRuntime, Prediction

HEADLINES = [
    "Tesla plunges after quarterly earnings and revenue",
    "Apple soars on quarterly dividend payout",
    "Globex schedules its ipo listing",
    "ok",
    "Initech crashes after the lawsuit and regulator probe " * 6,
    "$XOM jumps after crude oil output &amp; https://t.co/x @desk",
]


@pytest.fixture(scope="module")
def runtime(test_bundle: ModelBundle) -> ModelRuntime:
    loaded = ModelRuntime(test_bundle, provider="cpu")
    yield loaded  # type: ignore[misc]
    loaded.close()


def test_reports_what_it_runs(runtime: ModelRuntime, test_bundle: ModelBundle) -> None:
    assert runtime.active_provider == "cpu"
    assert runtime.session_providers == ["CPUExecutionProvider"]
    assert runtime.precision == test_bundle.manifest.serving.cpu
    assert runtime.version == test_bundle.version
    assert runtime.max_length == 64


def test_predictions_are_well_formed(runtime: ModelRuntime) -> None:
    for prediction in runtime.classify(HEADLINES):
        assert prediction.topic in TOPICS
        assert 0.0 < prediction.topic_confidence <= 1.0
        assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)
        neg, _, pos = prediction.probabilities
        assert prediction.score == pytest.approx(pos - neg)
        assert (
            prediction.sentiment
            == ("negative", "neutral", "positive")[
                max(range(3), key=lambda i: prediction.probabilities[i])
            ]
        )


def test_obvious_words_move_the_score(runtime: ModelRuntime) -> None:
    bad, good = runtime.classify(
        ["Acme Corp plunges after quarterly earnings", "Acme Corp soars after quarterly earnings"]
    )
    assert bad.score < good.score


def test_buckets_keep_input_order(test_bundle: ModelBundle) -> None:
    # fp32: int8 quantizes activations per batch, so its numbers depend on the batch.
    # 2 threads: a batch runs as buckets side by side, a single text on the all-threads session.
    fp32 = ModelRuntime(test_bundle, provider="cpu", precision="fp32", intra_op_threads=2)
    texts = [h + " x" * (i % 7) for i, h in enumerate(HEADLINES * 12)]
    assert len(texts) > 2 * BUCKET_ITEMS
    try:
        together = fp32.classify(texts)
        alone = [fp32.classify([t])[0] for t in texts]
    finally:
        fp32.close()
    for a, b in zip(together, alone, strict=True):
        assert a.topic == b.topic
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_empty_input(runtime: ModelRuntime) -> None:
    assert runtime.classify([]) == []


def test_token_ids_truncate_to_max_length(runtime: ModelRuntime) -> None:
    short, long = runtime.token_ids(["Oil up", "oil " * 500])
    assert 2 < len(short) < 10
    assert len(long) == runtime.max_length


def test_classify_encoded_answers_what_classify_answers(runtime: ModelRuntime) -> None:
    assert runtime.classify_encoded(runtime.token_ids(HEADLINES)) == runtime.classify(HEADLINES)
    assert runtime.classify_encoded([]) == []


def test_is_thread_safe(runtime: ModelRuntime) -> None:
    batches = [HEADLINES[i:] + HEADLINES[:i] for i in range(len(HEADLINES))] * 3
    expected = [runtime.classify(b) for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(runtime.classify, batches))
    assert [[p.topic for p in b] for b in got] == [[p.topic for p in b] for b in expected]
    for b_got, b_expected in zip(got, expected, strict=True):
        for p, q in zip(b_got, b_expected, strict=True):
            assert p.probabilities == pytest.approx(q.probabilities, abs=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_explicit_cpu_precisions(test_bundle: ModelBundle, precision: str) -> None:
    loaded = ModelRuntime(test_bundle, provider="cpu", precision=precision)  # type: ignore[arg-type]
    try:
        assert loaded.precision == precision
        assert isinstance(loaded.classify(["Fed hikes"])[0], Prediction)
    finally:
        loaded.close()


def test_fp16_cannot_run_on_cpu(test_bundle: ModelBundle) -> None:
    with pytest.raises(ModelError, match="cannot run on provider cpu"):
        ModelRuntime(test_bundle, provider="cpu", precision="fp16")


@pytest.mark.skipif(bool(glob.glob("/dev/nvidia[0-9]*")), reason="this host has a GPU")
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_a_configured_gpu_never_falls_back_to_cpu(test_bundle: ModelBundle, provider: str) -> None:
    with pytest.raises(ModelError, match=f"provider {provider}"):
        ModelRuntime(test_bundle, provider=provider)  # type: ignore[arg-type]


@pytest.mark.skipif(bool(glob.glob("/dev/nvidia[0-9]*")), reason="this host has a GPU")
def test_auto_takes_the_cpu_on_a_host_without_gpu(test_bundle: ModelBundle) -> None:
    loaded = ModelRuntime(test_bundle)
    try:
        assert loaded.active_provider == "cpu"
    finally:
        loaded.close()


def test_a_bundle_whose_model_mismatches_its_labels_is_refused(
    test_bundle: ModelBundle, tmp_path: Path
) -> None:
    target = tmp_path / "bundle"
    shutil.copytree(test_bundle.path, target)
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    manifest["labels"]["topics"] = list(TOPICS[:5])
    (target / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="topic_logits should have 5 classes"):
        ModelRuntime(ModelBundle.load(target), provider="cpu")


def test_importing_the_runtime_loads_neither_torch_nor_transformers() -> None:
    code = (
        "import sys, pipeline.model.runtime, pipeline.model.bundle;"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""bench.gpu: an honest answer without a GPU, and the parts that judge a GPU run."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import gpu
from pipeline.model.bundle import ModelBundle
from pipeline.model.runtime import ModelRuntime
from pipeline.model.sessions import nvidia_device_present

no_gpu_here = pytest.mark.skipif(nvidia_device_present(), reason="this host has a GPU")

TEXTS = [
    "Tesla plunges after quarterly earnings miss",
    "Apple soars on record iPhone sales",
    "Fed holds rates steady",
    "$XOM jumps as crude rallies https://t.co/x",
    "ok",
] * 8


def _run(argv: list[str]) -> tuple[int, dict[str, Any] | None, Path]:
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else gpu.RESULT
    code = gpu.main(argv)
    return code, json.loads(out.read_text()) if out.is_file() else None, out


def _figures(result: dict[str, Any]) -> list[str]:
    return [name for name, s in result["sessions"].items() if "items_per_s_by_batch" in s]


@no_gpu_here
def test_a_host_without_gpu_says_so_with_no_figures(
    test_bundle: ModelBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result, _ = _run(["--bundle", str(test_bundle.path), "--out", str(tmp_path / "g.json")])

    assert code == 0
    assert result is not None
    assert result["gpu_present"] is False
    assert result["sessions"] == {}
    assert "texts" not in result
    assert result["model"]["version"] == test_bundle.version
    assert {g["verdict"] for g in result["goals"].values()} == {"not measured"}
    assert {g["measured"] for g in result["goals"].values()} == {None}
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert last_line == result["summary"]
    assert last_line.startswith("no NVIDIA GPU on this host")


@no_gpu_here
def test_without_gpu_the_committed_result_is_left_alone(
    test_bundle: ModelBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = tmp_path / "gpu.json"
    committed.write_text('{"earlier": "measurement"}')
    monkeypatch.setattr(gpu, "RESULT", committed)

    assert gpu.main(["--bundle", str(test_bundle.path)]) == 0
    assert committed.read_text() == '{"earlier": "measurement"}'


@no_gpu_here
def test_a_gpu_whose_providers_cannot_start_is_recorded_with_the_reason(
    test_bundle: ModelBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The device is faked; ONNX Runtime's refusal to start CUDA here is real.
    monkeypatch.setattr(gpu, "nvidia_device_present", lambda: True)
    monkeypatch.setattr(gpu, "RESULT", tmp_path / "gpu.json")

    code, result, out = _run(["--bundle", str(test_bundle.path), "--tfn-dir", str(tmp_path)])

    assert code == 1
    assert out == tmp_path / "gpu.json"
    assert result is not None
    assert result["gpu_present"] is True
    assert result["texts"]["source"].startswith("packaged demo stream headlines")
    assert set(result["sessions"]) == {"cuda fp32", "cuda fp16", "tensorrt fp16"}
    for session in result["sessions"].values():
        assert "could not start" in session["error"]
        assert session["provider_library_error"]
    assert _figures(result) == []
    assert {g["verdict"] for g in result["goals"].values()} == {"not measured"}
    assert "cuda fp16: did not start" in result["summary"]


@pytest.fixture(scope="module")
def fp32_reference(test_bundle: ModelBundle) -> gpu.Probabilities:
    runtime = ModelRuntime(test_bundle, provider="cpu", precision="fp32")
    try:
        return gpu.served_probabilities(runtime, TEXTS)
    finally:
        runtime.close()


def test_a_session_is_measured_through_the_serving_path(
    test_bundle: ModelBundle, fp32_reference: gpu.Probabilities
) -> None:
    # The GPU code path, on the CPU provider: the same record a GPU session gets.
    record = gpu.measure_session(test_bundle, "cpu", TEXTS, (1, 8), fp32_reference, "int8")

    assert record["session_providers"] == ["CPUExecutionProvider"]
    assert record["active_provider"] == "CPUExecutionProvider"
    assert record["precision"] == "int8"
    assert set(record["items_per_s_by_batch"]) == {"1", "8"}
    assert all(rate > 0 for rate in record["items_per_s_by_batch"].values())
    agreement = record[gpu.AGREEMENT]
    assert set(agreement) == {"topic", "sentiment"}
    for task in agreement.values():
        assert 0.0 <= task["label_agreement"] <= 1.0
        assert 0.0 <= task["max_abs_probability_diff"] < 1.0


def test_the_same_precision_agrees_with_itself(
    test_bundle: ModelBundle, fp32_reference: gpu.Probabilities
) -> None:
    record = gpu.measure_session(test_bundle, "cpu", TEXTS, (8,), fp32_reference, "fp32")

    for task in record[gpu.AGREEMENT].values():
        assert task["label_agreement"] == 1.0
        assert task["max_abs_probability_diff"] < 1e-5


def test_probabilities_are_calibrated_and_complete(fp32_reference: gpu.Probabilities) -> None:
    for probabilities in fp32_reference.values():
        assert probabilities.shape[0] == len(TEXTS)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)


def test_a_session_that_cannot_start_is_not_measured(test_bundle: ModelBundle) -> None:
    record = gpu.measure_session(test_bundle, "cpu", TEXTS, (1,), None, "fp16")

    assert record["error"].startswith("ModelError: precision fp16 cannot run on provider cpu")
    assert "items_per_s_by_batch" not in record


@pytest.mark.parametrize(
    ("candidate", "agreement", "diff"),
    [
        pytest.param([[0.9, 0.1], [0.2, 0.8]], 1.0, 0.0, id="identical"),
        pytest.param([[0.85, 0.15], [0.2, 0.8]], 1.0, 0.05, id="same labels, shifted"),
        pytest.param([[0.9, 0.1], [0.6, 0.4]], 0.5, 0.4, id="one label flipped"),
    ],
)
def test_compare(candidate: list[list[float]], agreement: float, diff: float) -> None:
    reference = {"sentiment": np.array([[0.9, 0.1], [0.2, 0.8]])}

    result = gpu.compare(reference, {"sentiment": np.array(candidate)})["sentiment"]

    assert result.label_agreement == agreement
    assert result.max_abs_probability_diff == pytest.approx(diff)


@pytest.mark.parametrize(
    ("measured", "expected"),
    [
        pytest.param(None, "not measured", id="no figure"),
        pytest.param(0.994, "missed", id="below"),
        pytest.param(0.995, "met", id="at the target"),
        pytest.param(0.999, "met", id="above"),
    ],
)
def test_verdict(measured: float | None, expected: str) -> None:
    assert gpu.verdict(0.995, measured) == expected


def _cuda_fp16(speed_128: float, topic: float, sentiment: float) -> dict[str, Any]:
    return {
        "items_per_s_by_batch": {"1": 900.0, "128": speed_128},
        gpu.AGREEMENT: {
            "topic": {"label_agreement": topic, "max_abs_probability_diff": 0.01},
            "sentiment": {"label_agreement": sentiment, "max_abs_probability_diff": 0.01},
        },
    }


@pytest.mark.parametrize(
    ("sessions", "speed", "agreement"),
    [
        pytest.param({}, "not measured", "not measured", id="no GPU session"),
        pytest.param(
            {"cuda fp16": _cuda_fp16(25_000.0, 0.999, 0.998)}, "met", "met", id="both met"
        ),
        pytest.param(
            {"cuda fp16": _cuda_fp16(7_736.0, 0.999, 0.990)},
            "missed",
            "missed",
            id="the lower task decides",
        ),
        pytest.param(
            {"tensorrt fp16": _cuda_fp16(40_000.0, 1.0, 1.0)},
            "not measured",
            "not measured",
            id="TensorRT does not stand in for CUDA",
        ),
        pytest.param(
            {"cuda fp16": {"error": "x", "provider_library_error": None}},
            "not measured",
            "not measured",
            id="CUDA did not start",
        ),
    ],
)
def test_goals(sessions: dict[str, dict[str, Any]], speed: str, agreement: str) -> None:
    goals = gpu.judge_goals(sessions)

    assert goals["cuda_fp16_items_per_s_at_batch_128"]["verdict"] == speed
    assert goals["cuda_fp16_vs_fp32_label_agreement"]["verdict"] == agreement


def test_throughput_warms_up_on_the_same_calls_it_times() -> None:
    calls: list[int] = []

    def classify(texts: Sequence[str]) -> None:
        calls.append(len(texts))

    result = gpu.measure_throughput(classify, TEXTS, 16)

    assert calls == [16, 16, 8] * 2
    assert result.items_per_s > 0
    assert result.warm_up_s >= 0


def test_texts_come_from_tfn_valid_when_present(tmp_path: Path) -> None:
    for split, name in (("sentiment", "sent_valid.csv"), ("topic", "topic_valid.csv")):
        (tmp_path / split).mkdir()
        with (tmp_path / split / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows([f"{split} text {i}", 0] for i in range(gpu.MIN_TEXTS // 2))

    source, texts = gpu.load_texts(tmp_path)

    assert source.startswith("twitter_financial_news valid splits")
    assert len(texts) == gpu.MIN_TEXTS
    assert texts[0] == "sentiment text 0"
    assert texts[-1] == f"topic text {gpu.MIN_TEXTS // 2 - 1}"


def test_without_tfn_the_packaged_headlines_are_used(tmp_path: Path) -> None:
    source, texts = gpu.load_texts(tmp_path / "absent")

    assert source.startswith("packaged demo stream headlines")
    assert len(texts) >= gpu.MIN_TEXTS
    assert all(isinstance(t, str) and t for t in texts)


@pytest.mark.parametrize(
    ("provider", "loads"),
    [
        pytest.param("shared", True, id="a library that loads"),
        pytest.param("nosuch", False, id="a library that is not there"),
    ],
)
def test_provider_library_error(provider: str, loads: bool) -> None:
    error = gpu.provider_library_error(provider)

    assert (error is None) == loads
    if not loads:
        assert "does not exist" in str(error)

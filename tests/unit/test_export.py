from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import onnxruntime as ort  # noqa: E402

from pipeline.errors import ModelError  # noqa: E402
from pipeline.model.bundle import ModelBundle  # noqa: E402
from pipeline.model.encoding import TextEncoder  # noqa: E402
from pipeline.training.checkpoint import Checkpoint  # noqa: E402
from pipeline.training.export import (  # noqa: E402
    OUTPUTS,
    ExportOptions,
    _choose_cpu_model,
    check_parity,
)
from pipeline.training.testbundle import checkpoint_of_test_bundle  # noqa: E402

TEXTS = ["Fed raises rates", "$AAPL soars after quarterly dividend payout and revenue beat", "ok"]


@pytest.fixture(scope="module")
def checkpoint(test_bundle: ModelBundle) -> Checkpoint:
    return Checkpoint.open(checkpoint_of_test_bundle(test_bundle.path))


def test_onnx_matches_torch_on_new_text(test_bundle: ModelBundle, checkpoint: Checkpoint) -> None:
    model = checkpoint.load_model()
    encoder = TextEncoder(test_bundle.file("tokenizer"), 64)
    batch = encoder.encode(TEXTS)
    session = ort.InferenceSession(
        str(test_bundle.file("fp32")), providers=["CPUExecutionProvider"]
    )
    onnx_out = session.run(OUTPUTS, batch.feed())
    with torch.no_grad():
        torch_out = model(*(torch.from_numpy(v) for v in batch.feed().values()))
    for o, t in zip(onnx_out, torch_out, strict=True):
        assert np.abs(o - t.numpy()).max() <= 1e-4


def test_parity_check_rejects_a_model_that_differs(
    test_bundle: ModelBundle, checkpoint: Checkpoint
) -> None:
    encoder = TextEncoder(test_bundle.file("tokenizer"), 64)
    with pytest.raises(ModelError, match="differs from torch"):
        check_parity(
            checkpoint.load_model(),
            test_bundle.file("int8"),
            encoder,
            TEXTS,
            ExportOptions(parity_tolerance=1e-7),
        )


def test_inputs_and_outputs_have_dynamic_batch_and_sequence(test_bundle: ModelBundle) -> None:
    for role in ("fp32", "int8"):
        session = ort.InferenceSession(
            str(test_bundle.file(role)), providers=["CPUExecutionProvider"]
        )
        assert [i.name for i in session.get_inputs()] == [
            "input_ids",
            "attention_mask",
            "token_type_ids",
        ]
        assert all(isinstance(d, str) for i in session.get_inputs() for d in i.shape)
        assert [o.name for o in session.get_outputs()] == OUTPUTS


def test_int8_is_quantized_and_fp16_keeps_float_io(test_bundle: ModelBundle) -> None:
    int8 = onnx.load(str(test_bundle.file("int8")))
    assert any(
        n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QAttention")
        for n in int8.graph.node
    )
    fp16 = onnx.load(str(test_bundle.file("fp16")))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in fp16.graph.output)


def test_int8_ships_only_within_the_dev_tolerance(
    test_bundle: ModelBundle, checkpoint: Checkpoint
) -> None:
    dev = checkpoint.dev_rows()
    strict, comparison = _choose_cpu_model(test_bundle, dev, ExportOptions(int8_tolerance=-1.0))
    assert strict.cpu == "fp32"
    assert "fp32 serves CPU" in strict.reason
    assert set(comparison["int8_agreement"]) == {"topic", "sentiment"}
    lenient, _ = _choose_cpu_model(test_bundle, dev, ExportOptions(int8_tolerance=1.0))
    assert lenient.cpu == "int8"


def test_without_a_dev_split_fp32_serves_cpu(test_bundle: ModelBundle) -> None:
    choice, comparison = _choose_cpu_model(test_bundle, [], ExportOptions())
    assert choice.cpu == "fp32"
    assert "no dev split" in choice.reason
    assert comparison == {}


def test_checkpoint_shards_round_trip(checkpoint: Checkpoint, tmp_path: Path) -> None:
    from pipeline.training.checkpoint import save_checkpoint

    model = checkpoint.load_model()
    copy = save_checkpoint(
        tmp_path / "ck",
        model,
        tokenizer=checkpoint.tokenizer,
        dev=[],
        meta=checkpoint.meta,
        dtype="float16",
        shard_bytes=4096,
    )
    assert len(copy.meta["weights"]) > 3
    restored = copy.load_model()
    for (name, a), (_, b) in zip(
        model.state_dict().items(), restored.state_dict().items(), strict=True
    ):
        assert b.dtype == torch.float32, name
        assert torch.allclose(a, b, atol=2e-3, rtol=1e-3), name

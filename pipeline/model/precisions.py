"""Deriving the served precisions from the fp32 ONNX model (onnx + onnxruntime, no torch).

Used by the export and by the shipped model, which carries only fp32 weights (stored as
fp16) and derives int8 and fp16 at first use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.onnx_model import OnnxModel


def quantize_int8(fp32: Path, int8: Path) -> None:
    """Dynamic int8, per-channel weights (activations quantized at run time).

    7-bit weights (reduce_range): CPUs without VNNI multiply u8 x s8 pairs into saturating
    int16 sums; on the benchmark model this halved the int8 dev accuracy loss.
    """
    with _root_logger_quiet():
        _quantize(fp32, int8)


def _quantize(fp32: Path, int8: Path) -> None:
    quantize_dynamic(
        fp32,
        int8,
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
        # Fused contrib ops defeat ONNX shape inference; their outputs are float.
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def convert_fp16(fp32: Path, fp16: Path) -> None:
    """fp16 weights and activations for GPUs; inputs and outputs keep their types."""
    model = OnnxModel(onnx.load(str(fp32)))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(fp16))


@contextmanager
def _root_logger_quiet() -> Iterator[None]:
    # The quantizer logs per-tensor notes and a pre-processing hint through the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)

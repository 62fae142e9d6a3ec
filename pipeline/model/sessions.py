"""Opening an ONNX Runtime session on the configured provider, never falling back silently."""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import onnxruntime as ort

from pipeline.errors import ModelError

Provider = Literal["auto", "tensorrt", "cuda", "cpu"]
ResolvedProvider = Literal["tensorrt", "cuda", "cpu"]

EXECUTION_PROVIDERS: dict[ResolvedProvider, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_AUTO_ORDER: tuple[ResolvedProvider, ...] = ("tensorrt", "cuda", "cpu")
_ORT_DEFAULT_SEVERITY = 2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionPlan:
    """One attempt: a provider and the ONNX file that suits it."""

    provider: ResolvedProvider
    model_path: Path


def candidate_providers(provider: Provider) -> list[ResolvedProvider]:
    """The providers to try, best first; `auto` skips GPUs on a host without an NVIDIA device."""
    if provider != "auto":
        return [provider]
    available = set(ort.get_available_providers())
    has_gpu = nvidia_device_present()
    return [
        p for p in _AUTO_ORDER if EXECUTION_PROVIDERS[p] in available and (p == "cpu" or has_gpu)
    ]


def nvidia_device_present() -> bool:
    """Whether this host has an NVIDIA GPU device node.

    The GPU build of ONNX Runtime lists its CUDA and TensorRT providers on any host, so the
    provider list alone cannot say whether a GPU is there.
    """
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def open_session(
    plan: SessionPlan,
    intra_op_threads: int,
    *,
    quiet: bool,
    cache_dir: Path,
    spinning: bool = False,
) -> ort.InferenceSession | None:
    """A session on `plan.provider`, or None when ONNX Runtime put it on another provider.

    `spinning` lets idle intra-op threads spin instead of sleeping between operators: it is
    what makes one small batch fast over several threads, and it burns the cores meanwhile.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads would steal the cores that tokenization and the batcher need, unless
    # the session is the one a lone small batch runs on (the worker is idle then).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    providers = _provider_list(plan.provider, cache_dir)
    if quiet:
        ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(str(plan.model_path), options, providers=providers)
    except Exception as e:  # onnxruntime raises its own untyped Fail/RuntimeException
        if quiet:
            log.debug("provider %s did not start: %s", plan.provider, e)
            return None
        raise ModelError(f"cannot open {plan.model_path} on {plan.provider}: {e}") from e
    finally:
        if quiet:
            ort.set_default_logger_severity(_ORT_DEFAULT_SEVERITY)
    if session.get_providers()[0] != EXECUTION_PROVIDERS[plan.provider]:
        return None
    return session


def default_intra_op_threads() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) or 1


def _provider_list(
    provider: ResolvedProvider, cache_dir: Path
) -> list[str | tuple[str, dict[str, str]]]:
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if provider == "cuda":
        return [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "DEFAULT"})]
    engines = cache_dir / "tensorrt"
    engines.mkdir(parents=True, exist_ok=True)
    trt = {
        "trt_fp16_enable": "True",
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(engines),
    }
    return [("TensorrtExecutionProvider", trt), "CUDAExecutionProvider"]

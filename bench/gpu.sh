#!/usr/bin/env bash
# GPU check for an NVIDIA host that may have no internet, only the CPU build of ONNX Runtime
# and a CUDA build of torch. Reports what it finds, honestly, in bench/results/gpu.json:
#   1. ONNX Runtime's providers;
#   2. the ORT CUDA path (fp32 vs fp16 bundle files, IOBinding) when CUDAExecutionProvider works;
#   3. otherwise a PROXY: the same weights (the bundle's training checkpoint) through torch on
#      CUDA, fp32 vs fp16 autocast -- labelled "torch-cuda-proxy", not the serving path.
# With no GPU there are no GPU figures at all. Usage:
#   bench/gpu.sh [--bundle DIR] [--checkpoint DIR] [--texts FILE] [--items N]
# Defaults: FINSENT_MODEL__BUNDLE, else the cached tiny test bundle; FINSENT_GPU_CHECKPOINT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[[ -x $PYTHON ]] || PYTHON="$(command -v python3)"
OUT="$ROOT/bench/results/gpu.json"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

GPU_NAME=""
if command -v nvidia-smi >/dev/null 2>&1; then
    GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
fi
export FINSENT_GPU_NAME="$GPU_NAME" FINSENT_GPU_OUT="$OUT"

exec "$PYTHON" - "$@" <<'PY'
import argparse, json, os, subprocess, sys, time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(os.environ["PYTHONPATH"].split(":")[0])
BATCHES = (1, 8, 32, 128)


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--bundle", type=Path, default=os.environ.get("FINSENT_MODEL__BUNDLE"))
    p.add_argument("--checkpoint", type=Path, default=os.environ.get("FINSENT_GPU_CHECKPOINT"))
    p.add_argument("--texts", type=Path,
                   default=ROOT.parent / "shared/data/news_stream/stocknet_tweets_stream.csv")
    p.add_argument("--items", type=int, default=2048)
    return p.parse_args()


def texts(path, n):
    import csv
    if path and Path(path).is_file():
        with open(path, encoding="utf-8", newline="") as f:
            rows = [r.get("text") or r.get("headline") or "" for _, r in zip(range(n), csv.DictReader(f))]
        if rows:
            return (rows * (n // len(rows) + 1))[:n]
    base = ["Shares of Acme rise after earnings beat", "Regulator fines bank over reporting",
            "Oil falls as inventories grow", "Central bank holds rates steady"]
    return (base * (n // len(base) + 1))[:n]


def bundle(path):
    from pipeline.bundle import ModelBundle
    if path:
        return ModelBundle.load(path)
    from pipeline.settings import default_cache_dir
    from pipeline.training.testbundle import cached_test_bundle
    return cached_test_bundle(default_cache_dir() / "models")


def throughput(run, items):
    by_batch = {}
    for size in BATCHES:
        run(items[:size])  # warm-up for this shape
        started = time.perf_counter()
        for i in range(0, len(items), size):
            run(items[i:i + size])
        by_batch[str(size)] = round(len(items) / (time.perf_counter() - started), 1)
    return by_batch


def compare(p32, p16):
    a, b = np.asarray(p32, dtype=np.float64), np.asarray(p16, dtype=np.float64)
    return float(np.abs(a - b).max()), float((a.argmax(1) == b.argmax(1)).mean())


def ort_cuda(b, items):
    from pipeline.runtime import ModelRuntime
    rt32 = ModelRuntime(b, provider="cuda", precision="fp32")
    rt16 = ModelRuntime(b, provider="cuda", precision="fp16")
    probs = lambda rt: [p.probabilities for p in rt.classify(items)]
    diff, agree = compare(probs(rt32), probs(rt16))
    return {"method": "onnxruntime-cuda", "provider_active": rt16.active_provider,
            "fp16_max_abs_diff": diff, "fp16_label_agreement": agree,
            "items_per_s_by_batch": throughput(rt16.classify, items)}


def torch_proxy(b, checkpoint, items):
    import torch
    from pipeline.encoding import TextEncoder
    from pipeline.preprocessing import preprocess
    from pipeline.training.checkpoint import Checkpoint
    if checkpoint is None:
        return {"method": "torch-cuda-proxy", "provider_active": None,
                "note": "no --checkpoint / FINSENT_GPU_CHECKPOINT: the bundle's training "
                        "checkpoint is needed to run the same weights through torch"}
    model = Checkpoint.open(Path(checkpoint)).load_model().cuda().eval()
    encoder = TextEncoder(b.file("tokenizer"), b.manifest.max_length)

    def run(batch, half=False):
        enc = encoder.encode([preprocess(t) for t in batch]).feed()
        ids = torch.from_numpy(enc["input_ids"]).cuda()
        mask = torch.from_numpy(enc["attention_mask"]).cuda()
        with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=half):
            _, sentiment = model(ids, mask)
        return torch.softmax(sentiment.float(), -1).cpu().numpy()

    diff, agree = compare(run(items[:512]), run(items[:512], half=True))
    return {"method": "torch-cuda-proxy (same weights via torch, NOT the ORT serving path)",
            "provider_active": "torch-cuda", "fp16_max_abs_diff": diff,
            "fp16_label_agreement": agree,
            "items_per_s_by_batch": throughput(lambda x: run(x, half=True), items)}


def main():
    a = args()
    import onnxruntime as ort
    providers = ort.get_available_providers()
    gpu_name = os.environ.get("FINSENT_GPU_NAME") or None
    try:
        import torch
        torch_cuda = torch.cuda.is_available()
        gpu_name = gpu_name or (torch.cuda.get_device_name(0) if torch_cuda else None)
    except ImportError:
        torch_cuda = False
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    result = {"git_sha": sha.stdout.strip() or "unknown",
              "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
              "gpu_present": bool(gpu_name) or torch_cuda, "gpu_name": gpu_name,
              "ort_providers": providers, "provider_active": "cpu", "method": "none",
              "fp16_max_abs_diff": None, "fp16_label_agreement": None,
              "items_per_s_by_batch": {}}
    if result["gpu_present"]:
        b, items = bundle(a.bundle), texts(a.texts, a.items)
        result["model_version"] = b.version
        if "CUDAExecutionProvider" in providers:
            try:
                result.update(ort_cuda(b, items))
            except Exception as e:  # report why the ORT CUDA path failed, then try the proxy
                result["ort_cuda_error"] = f"{type(e).__name__}: {e}"[:500]
        if result["method"] == "none" and torch_cuda:
            beside = Path(f"{b.path}.checkpoint")  # where the test bundle keeps its checkpoint
            checkpoint = a.checkpoint or (beside if beside.is_dir() else None)
            result.update(torch_proxy(b, checkpoint, items))
    out = Path(os.environ["FINSENT_GPU_OUT"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


main()
PY

#!/usr/bin/env bash
# The GPU check under the name the issue and older notes use: runs `python -m bench.gpu`
# (the serving runtime on ORT CUDA / TensorRT with the shipped fp16 model). See docs/gpu.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
cd "$ROOT"
exec "$PYTHON" -m bench.gpu "$@"

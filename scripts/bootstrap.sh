#!/usr/bin/env bash
# The README's first command: on a fresh machine, make the service's venv (no torch: the shipped
# model serves through ONNX Runtime), then run `finsent demo` — the embedded default: no Kafka,
# no Postgres; a bundled replay stream, SQLite, a simulated clock and a local webhook receiver.
#   bash scripts/bootstrap.sh [demo options…]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export FINSENT_CACHE_DIR="${FINSENT_CACHE_DIR:-$HOME/.cache/finsent}"
started=$(date +%s)
FINSENT_EXTRAS="${FINSENT_EXTRAS-}" scripts/venv.sh >/dev/null
echo "[bootstrap] venv ready ($(( $(date +%s) - started ))s); running finsent demo" >&2
exec "$ROOT/.venv/bin/finsent" demo "$@"

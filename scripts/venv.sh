#!/usr/bin/env bash
# Makes (once) the project's virtualenv in the cache dir and links it to ./.venv.
# The venv is keyed by a hash of pyproject's dependency lists: a changed list builds a new one.
#   scripts/venv.sh            # runtime + train + dev extras
#   FINSENT_EXTRAS=train scripts/venv.sh
#   FINSENT_EXTRAS= scripts/venv.sh   # the service alone (no torch): what bootstrap.sh uses
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FINSENT_CACHE_DIR="${FINSENT_CACHE_DIR:-$HOME/.cache/finsent}"
FINSENT_EXTRAS="${FINSENT_EXTRAS-train,dev}"
PYTHON="${FINSENT_PYTHON:-python3}"

log() { printf '[venv] %s\n' "$*" >&2; }

deps=$("$PYTHON" -c 'import json, sys, tomllib; p = tomllib.load(open(sys.argv[1], "rb"))["project"]; print(json.dumps([p["dependencies"], p.get("optional-dependencies", {})], sort_keys=True))' "$ROOT/pyproject.toml")
key=$( (echo "$deps"; echo "$FINSENT_EXTRAS"; "$PYTHON" --version) | sha256sum | cut -c1-12)
venv="$FINSENT_CACHE_DIR/venv-$key"
mkdir -p "$FINSENT_CACHE_DIR"

if [[ -f $venv/.complete ]]; then
    log "cache hit: venv $venv"
else
    log "cache miss: venv $venv (installing finsent with extras '${FINSENT_EXTRAS:-none}'; the train extra's torch is large: minutes)"
    command -v "$PYTHON" >/dev/null || { log "ERROR: $PYTHON not found"; exit 1; }
    if ! "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then
        log "python3-venv missing: installing Debian's python3-venv"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    target="$ROOT"
    [[ -n $FINSENT_EXTRAS ]] && target="$ROOT[$FINSENT_EXTRAS]"
    "$venv/bin/pip" install --quiet --progress-bar off -e "$target"
    touch "$venv/.complete"
    log "venv ready"
fi

# The editable install points at the checkout it was made from; re-point it when the clone moved.
# Asked in isolated mode (-I: no current directory on the path), the way `finsent` run from any
# folder finds its packages; from the checkout itself `import pipeline` would always succeed.
linked="import pipeline, workers, sys; sys.exit(0 if all(m.__file__.startswith('$ROOT/') for m in (pipeline, workers)) else 1)"
if ! (cd / && "$venv/bin/python" -I -c "$linked") 2>/dev/null; then
    log "linking the venv to this checkout ($ROOT)"
    "$venv/bin/pip" install --quiet --no-deps -e "$ROOT"
fi
ln -sfn "$venv" "$ROOT/.venv"
echo "$venv"

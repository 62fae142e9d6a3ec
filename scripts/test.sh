#!/usr/bin/env bash
# The whole test suite, from a fresh machine: venv, real Kafka + PostgreSQL, the tiers, the
# benchmark smoke runs. This is the README's test command and what .ci/run calls.
#   scripts/test.sh                 # everything
#   scripts/test.sh unit            # one tier: unit | integration | e2e | chaos | bench
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export FINSENT_CACHE_DIR="${FINSENT_CACHE_DIR:-$HOME/.cache/finsent}"
if (( $# )); then TIERS=("$@"); else TIERS=(unit integration e2e chaos bench); fi
OUT="$ROOT/finsent-out/test"
mkdir -p "$OUT"

say() { printf '\n==== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }
elapsed() { echo $(( $(date +%s) - $1 ))s; }

t0=$(date +%s)
say "python environment"
scripts/venv.sh >/dev/null
PY="$ROOT/.venv/bin/python"
say "venv ready in $(elapsed "$t0")"

needs_servers=0
for tier in "${TIERS[@]}"; do
    case $tier in integration|e2e|chaos|bench) needs_servers=1 ;; esac
done
if (( needs_servers )); then
    say "services: Kafka + PostgreSQL"
    ts=$(date +%s)
    scripts/services.sh up
    say "services up in $(elapsed "$ts")"
fi

for tier in "${TIERS[@]}"; do
    if [[ $tier == e2e ]] && ! command -v chromium >/dev/null; then
        say "installing Debian's chromium for the browser test"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    if [[ $tier == unit ]] && ! command -v promtool >/dev/null; then
        say "installing Debian's prometheus for promtool (the alerting rules' tests)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    fi
done

status=0
run_tier() {
    local tier=$1 ts
    ts=$(date +%s)
    say "tier: $tier"
    case $tier in
        unit|integration|e2e|chaos)
            set +e
            "$PY" -m pytest "tests/$tier" -o cache_dir="$OUT/.pytest_cache" --junitxml="$OUT/$tier.xml"
            local rc=$?
            set -e
            # pytest exits 5 when a tier has no tests yet; that is not a failure of the suite.
            if (( rc != 0 && rc != 5 )); then status=1; fi
            ;;
        bench)
            set +e
            "$PY" -m bench.smoke
            (( $? == 0 )) || status=1
            set -e
            ;;
        *) echo "unknown tier: $tier" >&2; exit 2 ;;
    esac
    say "tier $tier done in $(elapsed "$ts")"
}

for tier in "${TIERS[@]}"; do
    run_tier "$tier"
done

say "all tiers done in $(elapsed "$t0"), status $status"
exit "$status"

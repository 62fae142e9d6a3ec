# shellcheck shell=bash
# Shared settings and small primitives for scripts/services.sh (sourced, not executed).
# Every setting has an env name and a default; the defaults are what tests and CI use.

FINSENT_CACHE_DIR="${FINSENT_CACHE_DIR:-$HOME/.cache/finsent}"
FINSENT_STATE_DIR="${FINSENT_STATE_DIR:-$FINSENT_CACHE_DIR/state}"
FINSENT_KAFKA_VERSION="${FINSENT_KAFKA_VERSION:-4.1.1}"
FINSENT_KAFKA_PORT="${FINSENT_KAFKA_PORT:-9092}"
FINSENT_KAFKA_CONTROLLER_PORT="${FINSENT_KAFKA_CONTROLLER_PORT:-9093}"
# 2 shared cores: a small heap keeps GC cheap and leaves room for the classifier.
FINSENT_KAFKA_HEAP_OPTS="${FINSENT_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
FINSENT_PG_PORT="${FINSENT_PG_PORT:-5432}"
# FINSENT_PG_DATA (optional): the Postgres data dir; default chosen by pg_data_dir.
# Seconds to wait for a server to answer (and for services.lock).
FINSENT_SERVICES_TIMEOUT="${FINSENT_SERVICES_TIMEOUT:-120}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Prints the last lines of a log file, framed, so a failure explains itself.
show_log_tail() {
    local file=$1
    [[ -f $file ]] || { log "(no log file at $file)"; return 0; }
    log "---- last 40 lines of $file ----"
    tail -n 40 "$file" >&2
    log "---- end of $file ----"
}

port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

pid_alive() {
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null
}

# A pid file can outlive its process (a crash, a reboot) and the pid be reused: check
# that the process still runs the expected program.
pid_runs() {
    local pid=$1 program=$2
    pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$program"
}

pid_from_file() {
    if [[ -f $1 ]]; then head -n 1 "$1" | tr -dc '0-9'; fi
}

# Installs Debian packages only when a command is missing: a fresh machine works, a
# prepared one pays nothing.
ensure_command() {
    local cmd=$1; shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    log "'$cmd' not found: installing Debian package(s) $*"
    apt_install "$@"
}

apt_install() {
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Rotates an old log so each start's output can be read on its own.
rotate_log() {
    [[ -f $1 ]] && mv -f "$1" "$1.1"
    : >"$1"
}

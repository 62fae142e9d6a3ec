#!/usr/bin/env bash
# Starts, stops and reports the real servers that integration tests, CI and people use:
# Apache Kafka (KRaft, jars from Maven Central, cached) and PostgreSQL (Debian package).
#   scripts/services.sh up      start what is not running (idempotent), print connection settings
#   scripts/services.sh down    stop what 'up' started
#   scripts/services.sh status  pids and ports; exits 0 only when both servers run
# Logs and pid files: $FINSENT_STATE_DIR (kafka.log, postgres.log, kafka.pid).
# Settings (env): FINSENT_CACHE_DIR, FINSENT_STATE_DIR, FINSENT_KAFKA_VERSION,
# FINSENT_KAFKA_PORT, FINSENT_KAFKA_CONTROLLER_PORT, FINSENT_KAFKA_HEAP_OPTS,
# FINSENT_PG_PORT, FINSENT_PG_DATA, FINSENT_SERVICES_TIMEOUT; see scripts/lib/common.sh.
set -euo pipefail

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib"
# shellcheck source=scripts/lib/common.sh
source "$LIB_DIR/common.sh"
# shellcheck source=scripts/lib/kafka.sh
source "$LIB_DIR/kafka.sh"
# shellcheck source=scripts/lib/postgres.sh
source "$LIB_DIR/postgres.sh"

print_connection_settings() {
    echo "FINSENT_KAFKA__BOOTSTRAP=127.0.0.1:$FINSENT_KAFKA_PORT"
    echo "FINSENT_DATABASE__URL=postgresql+psycopg://finsent:finsent@127.0.0.1:$FINSENT_PG_PORT/finsent"
}

# Kafka boots in the background while Postgres starts, so a warm 'up' costs the slower one.
cmd_up() {
    kafka_ensure_jars
    pg_ensure_installed
    PG_DATA=$(pg_data_dir)
    kafka_start
    pg_start
    pg_wait
    kafka_wait
    print_connection_settings
}

cmd_down() {
    kafka_stop
    PG_BIN=$(pg_find_bin)
    if [[ -n $PG_BIN && -d $FINSENT_STATE_DIR ]]; then
        PG_DATA=$(pg_data_dir)
        pg_stop
    fi
}

cmd_status() {
    local rc=0
    kafka_status || rc=1
    PG_BIN=$(pg_find_bin)
    if [[ -n $PG_BIN && -d $FINSENT_STATE_DIR ]]; then
        PG_DATA=$(pg_data_dir)
        pg_status || rc=1
    else
        echo "postgres: stopped"; rc=1
    fi
    return "$rc"
}

# Test sessions and people may call 'up' at the same moment; one at a time changes state.
take_lock() {
    mkdir -p "$FINSENT_STATE_DIR"
    exec 9>"$FINSENT_STATE_DIR/services.lock"
    flock -w "$FINSENT_SERVICES_TIMEOUT" 9 || die "another scripts/services.sh holds $FINSENT_STATE_DIR/services.lock"
}

main() {
    pg_identity
    case "${1:-}" in
        up) take_lock; cmd_up ;;
        down) take_lock; cmd_down ;;
        status) cmd_status ;;
        *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
    esac
}

main "$@"

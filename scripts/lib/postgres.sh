# shellcheck shell=bash
# PostgreSQL from Debian's package, as a private cluster on 127.0.0.1 that this script owns.
# Sourced by scripts/services.sh after lib/common.sh.

PG_LOG="$FINSENT_STATE_DIR/postgres.log"
PG_MIN_MAJOR=15

# Postgres refuses to run as root: as root we act as the 'postgres' user, otherwise as ourselves.
pg_identity() {
    if [[ $(id -u) -eq 0 ]]; then
        PG_AS=(runuser -u postgres --)
        PG_SUPERUSER=postgres
    else
        PG_AS=()
        PG_SUPERUSER=$(id -un)
    fi
}

pg_find_bin() {
    local initdb
    initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    [[ -x $initdb ]] && dirname "$initdb"
    return 0
}

pg_ensure_installed() {
    PG_BIN=$(pg_find_bin)
    if [[ -z $PG_BIN ]]; then
        log "postgres binaries missing: installing Debian package postgresql"
        apt_install postgresql
        pg_stop_debian_clusters
        PG_BIN=$(pg_find_bin)
        [[ -n $PG_BIN ]] || die "postgresql installed but no initdb under /usr/lib/postgresql"
    fi
    local major
    major=$(basename "$(dirname "$PG_BIN")")
    ((${major%%.*} >= PG_MIN_MAJOR)) || die "postgres $major is older than $PG_MIN_MAJOR"
}

# The package may start its own 'main' cluster on 5432 where invoke-rc.d is allowed;
# right after our own install nobody uses it, so it gives the port back.
pg_stop_debian_clusters() {
    command -v pg_lsclusters >/dev/null || return 0
    local ver name _rest
    pg_lsclusters -h | while read -r ver name _rest; do
        if [[ $_rest == *online* ]]; then pg_ctlcluster "$ver" "$name" stop >&2; fi
    done
}

# The data dir sits in the state dir when the postgres user can reach it (not under a
# 0700 /root); otherwise in postgres' home, named after the state dir so each stays apart.
pg_data_dir() {
    if [[ -n ${FINSENT_PG_DATA:-} ]]; then
        echo "$FINSENT_PG_DATA"
    elif (cd / && "${PG_AS[@]}" test -x "$FINSENT_STATE_DIR" -a -r "$FINSENT_STATE_DIR"); then
        echo "$FINSENT_STATE_DIR/postgres"
    else
        echo "/var/lib/postgresql/finsent/$(printf %s "$FINSENT_STATE_DIR" | cksum | cut -d' ' -f1)"
    fi
}

pg_pid() {
    local pid
    pid=$(pid_from_file "$PG_DATA/postmaster.pid")
    if pid_runs "$pid" postgres; then echo "$pid"; fi
    return 0
}

pg_init_cluster() {
    [[ -f $PG_DATA/PG_VERSION ]] && return 0
    log "initialising a postgres cluster in $PG_DATA"
    mkdir -p "$PG_DATA"
    [[ ${PG_AS[*]-} ]] && chown postgres:postgres "$PG_DATA"
    chmod 0700 "$PG_DATA"
    (cd / && "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" -E UTF8 \
        --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256) >>"$PG_LOG" 2>&1 \
        || { show_log_tail "$PG_LOG"; die "initdb failed"; }
    cat >>"$PG_DATA/postgresql.conf" <<CONF

# finsent test server. Its data is disposable, so durability across an OS crash is
# traded for speed (a database per test); a killed postgres still recovers cleanly.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
}

pg_start() {
    if [[ -n $(pg_pid) ]]; then
        log "postgres already running (pid $(pg_pid))"
        return 0
    fi
    port_open "$FINSENT_PG_PORT" \
        && die "port $FINSENT_PG_PORT is taken by a process this script did not start (set FINSENT_PG_PORT)"
    rotate_log "$PG_LOG"
    pg_init_cluster
    log "starting postgres on 127.0.0.1:$FINSENT_PG_PORT"
    # The server keeps pg_ctl's stdout, so its log lands in our file without write access to
    # it; fd 9 (services.lock) is closed so the server does not hold the lock.
    (cd / && setsid "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t "$FINSENT_SERVICES_TIMEOUT" \
        -o "-p $FINSENT_PG_PORT" start) </dev/null >>"$PG_LOG" 2>&1 9>&- \
        || { show_log_tail "$PG_LOG"; die "postgres did not start"; }
}

pg_psql() {
    (cd / && "${PG_AS[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DATA" \
        -p "$FINSENT_PG_PORT" -U "$PG_SUPERUSER" -d postgres)
}

# CREATEROLE lets tests create the reporting role, pg_signal_backend lets them drop their
# databases with FORCE; everything here is safe to repeat.
pg_ensure_app_database() {
    pg_psql >>"$PG_LOG" 2>&1 <<'SQL' || { show_log_tail "$PG_LOG"; die "could not create role/database finsent"; }
DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'finsent') THEN
    ALTER ROLE finsent LOGIN CREATEDB CREATEROLE PASSWORD 'finsent';
  ELSE
    CREATE ROLE finsent LOGIN CREATEDB CREATEROLE PASSWORD 'finsent';
  END IF;
END $$;
-- Tests drop their databases WITH (FORCE); a backend left by a role a test created must not
-- block that (this private test cluster only).
GRANT pg_signal_backend TO finsent;
SELECT 'CREATE DATABASE finsent OWNER finsent'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'finsent') \gexec
SQL
}

pg_wait() {
    local deadline=$((SECONDS + FINSENT_SERVICES_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$FINSENT_PG_PORT"; do
        ((SECONDS < deadline)) || { show_log_tail "$PG_LOG"; die "postgres did not answer"; }
        [[ -n $(pg_pid) ]] || { show_log_tail "$PG_LOG"; die "postgres exited during start-up"; }
        sleep 0.3
    done
    pg_ensure_app_database
    log "postgres is up (pid $(pg_pid), 127.0.0.1:$FINSENT_PG_PORT, data $PG_DATA)"
}

pg_stop() {
    if [[ -z $(pg_pid) ]]; then
        log "postgres is not running"; return 0
    fi
    log "stopping postgres (pid $(pg_pid))"
    (cd / && "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop) >>"$PG_LOG" 2>&1 \
        || { show_log_tail "$PG_LOG"; die "postgres did not stop"; }
}

pg_status() {
    local pid
    pid=$(pg_pid)
    if [[ -n $pid ]] && port_open "$FINSENT_PG_PORT"; then
        echo "postgres: running (pid $pid, 127.0.0.1:$FINSENT_PG_PORT, data $PG_DATA, log $PG_LOG)"
    elif [[ -n $pid ]]; then
        echo "postgres: starting or stuck (pid $pid, port $FINSENT_PG_PORT closed, log $PG_LOG)"; return 1
    else
        echo "postgres: stopped"; return 1
    fi
}

#!/bin/sh
# Start (or stop) a throw-away PostgreSQL server for the tests, on 127.0.0.1:$PG_PORT with
# trust authentication for local connections only. Runs as the 'postgres' system user when
# started by root (PostgreSQL refuses to run as root).
set -eu
PG_DIR=${PG_DIR:-/tmp/personae-pg}
PG_PORT=${PG_PORT:-54329}
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-start}" in
start)
    if [ -f "$PG_DIR/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
        echo "postgres already running on port $PG_PORT"
        exit 0
    fi
    if [ ! -f "$PG_DIR/PG_VERSION" ]; then
        mkdir -p "$PG_DIR"
        [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
        as_owner "$BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    as_owner "$BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
    echo "postgres running on 127.0.0.1:$PG_PORT"
    ;;
stop)
    if [ -f "$PG_DIR/postmaster.pid" ]; then as_owner "$BIN/pg_ctl" -D "$PG_DIR" -m fast stop >/dev/null; fi
    ;;
esac

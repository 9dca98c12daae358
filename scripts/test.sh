#!/usr/bin/env bash
# Runs every test of every crate (`make test`). The PostgreSQL tests need a
# server at TEST_DATABASE_URL; when none answers this script brings one up:
# docker-compose's `postgres` service where a Docker engine runs, else a
# throwaway cluster made with initdb/pg_ctl where PostgreSQL is installed.
# Only when neither is possible does it stop, saying what to install.
# Then: `cargo test --workspace --all-targets "$@"`, keeping its exit status.
#
# Environment:
#   TEST_DATABASE_URL  admin URL of a server where tests may CREATE DATABASE
#                      (default postgres://postgres@127.0.0.1:5432/postgres).
#   TESSERA_TEST_CMD   a shell command run instead of cargo test, with the same
#                      TEST_DATABASE_URL and arguments (for checking this script),
#                      e.g. TESSERA_TEST_CMD='psql "$TEST_DATABASE_URL" -c "select 1"'.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

URL_FROM_USER=${TEST_DATABASE_URL:-}
: "${TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
export TEST_DATABASE_URL

# The credentials of docker-compose.yml's postgres service.
readonly COMPOSE_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"

log() { printf 'test.sh: %s\n' "$*" >&2; }

# Does a PostgreSQL answer at URL $1?
pg_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -t 3 -d "$1" >/dev/null 2>&1
    elif command -v psql >/dev/null 2>&1; then
        psql -w "$1" -Atqc 'select 1' >/dev/null 2>&1
    else
        # No client tools at all: settle for a TCP connect to host:port.
        local rest=${1#*://}
        rest=${rest#*@}
        rest=${rest%%/*}
        rest=${rest%%\?*}
        local host=${rest%:*} port=5432
        [[ $rest == *:* ]] && port=${rest##*:}
        [[ -n $host ]] || return 1
        timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
    fi
}

# Wait until URL $1 answers, at most $2 seconds.
wait_for_pg() {
    local i
    for ((i = 0; i < $2; i++)); do
        pg_answers "$1" && return 0
        sleep 1
    done
    return 1
}

# Is TCP port $1 on 127.0.0.1 free?
port_free() {
    ! timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# --- (a) docker-compose's postgres service ---------------------------------

start_compose_postgres() {
    command -v docker >/dev/null 2>&1 || return 1
    docker info >/dev/null 2>&1 || return 1
    local compose
    if docker compose version >/dev/null 2>&1; then
        compose="docker compose"
    elif command -v docker-compose >/dev/null 2>&1; then
        compose="docker-compose"
    else
        return 1
    fi
    log "no PostgreSQL answers at $TEST_DATABASE_URL; starting docker-compose's postgres service"
    if [[ $compose == "docker compose" ]]; then
        docker compose up -d --wait postgres || return 1
    else
        docker-compose up -d postgres || return 1
    fi
    if ! wait_for_pg "$COMPOSE_DATABASE_URL" 60; then
        log "docker-compose's postgres did not answer at $COMPOSE_DATABASE_URL within 60 s"
        return 1
    fi
    TEST_DATABASE_URL=$COMPOSE_DATABASE_URL
    log "using $TEST_DATABASE_URL (left running; \`make db-down\` stops it)"
}

# --- (b) a throwaway cluster ------------------------------------------------

PG_BIN=""
PG_TMP=""

# The directory holding initdb and pg_ctl of one installation.
find_pg_bin() {
    local initdb dir
    initdb=$(command -v initdb 2>/dev/null || true)
    if [[ -n $initdb ]] && command -v pg_ctl >/dev/null 2>&1; then
        # /usr/local/bin/initdb may be a symlink into /usr/lib/postgresql/N/bin.
        dir=$(dirname "$(readlink -f "$initdb")")
        if [[ -x $dir/pg_ctl ]]; then
            PG_BIN=$dir
        else
            PG_BIN=$(dirname "$initdb")
        fi
        return 0
    fi
    local dirs=()
    mapfile -t dirs < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
    for dir in "${dirs[@]}"; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            PG_BIN=$dir
            return 0
        fi
    done
    return 1
}

# Run a server binary from the cluster's folder, as the postgres system user
# when we are root (initdb and postgres refuse to run as root).
as_pg_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$PG_TMP" && runuser -u postgres -- "$@")
    else
        (cd "$PG_TMP" && "$@")
    fi
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_throwaway_cluster() {
    if [[ -n $PG_TMP && -d $PG_TMP ]]; then
        if [[ -f $PG_TMP/data/postmaster.pid ]]; then
            as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PG_TMP"
    fi
}

start_throwaway_cluster() {
    find_pg_bin || return 1
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        log "running as root, and there is no 'postgres' system user to own a throwaway cluster"
        return 1
    fi
    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tessera-pg.XXXXXX") || return 1
    trap stop_throwaway_cluster EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    log "no PostgreSQL answers at $TEST_DATABASE_URL; starting a throwaway cluster ($PG_BIN) in $PG_TMP"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$PG_TMP" || return 1
    fi

    if ! as_pg_owner "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres -A trust \
        -E UTF8 --no-locale --no-sync >"$PG_TMP/initdb.log" 2>&1; then
        log "initdb failed:"
        cat "$PG_TMP/initdb.log" >&2
        return 1
    fi
    # Throwaway data: durability off, which makes CREATE/DROP DATABASE fast.
    cat >>"$PG_TMP/data/postgresql.conf" <<EOF

# scripts/test.sh: a throwaway cluster for the tests
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_TMP'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    # A free port; another process may take it between the check and the
    # bind, so on "Address already in use" move on to the next one.
    local port=55432 started=""
    while ((port <= 55532)); do
        if port_free "$port"; then
            rm -f "$PG_TMP/server.log"
            if as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" \
                -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
                started=yes
                break
            fi
            grep -q 'already in use' "$PG_TMP/server.log" 2>/dev/null || break
        fi
        port=$((port + 1))
    done
    if [[ -z $started ]]; then
        log "the throwaway cluster did not start:"
        tail -n 20 "$PG_TMP/server.log" >&2 2>/dev/null || true
        return 1
    fi
    local url="postgres://postgres@127.0.0.1:$port/postgres"
    if ! wait_for_pg "$url" 30; then
        log "the throwaway cluster does not answer at $url"
        return 1
    fi
    TEST_DATABASE_URL=$url
    log "using $TEST_DATABASE_URL (stopped and removed on exit)"
}

# --- main --------------------------------------------------------------------

if pg_answers "$TEST_DATABASE_URL"; then
    # pg_isready does not log in. docker-compose's postgres (`make db-up`)
    # wants a password over TCP, which the default URL lacks: use its URL.
    if [[ -z $URL_FROM_USER ]] && command -v psql >/dev/null 2>&1 &&
        ! psql -w "$TEST_DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1 &&
        psql -w "$COMPOSE_DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; then
        TEST_DATABASE_URL=$COMPOSE_DATABASE_URL
        log "using $TEST_DATABASE_URL (docker-compose's postgres credentials)"
    fi
else
    # The EXIT trap cleans up a half-started cluster.
    if ! start_compose_postgres && ! start_throwaway_cluster; then
        cat >&2 <<EOF

test.sh: no PostgreSQL answers at TEST_DATABASE_URL=$TEST_DATABASE_URL,
and none could be started here (that takes a running Docker engine with docker
compose, or PostgreSQL's initdb and pg_ctl). The PostgreSQL tests need one.
Do one of:
  - install PostgreSQL:    apt-get install -y postgresql
    (then run \`make test\` again: it starts a throwaway cluster by itself)
  - install Docker, then:  make db-up
    (PostgreSQL 15 on 127.0.0.1:5432; \`make test\` then finds it)
  - set TEST_DATABASE_URL to a server where that user may CREATE DATABASE
EOF
        exit 1
    fi
fi
export TEST_DATABASE_URL

status=0
if [[ -n ${TESSERA_TEST_CMD:-} ]]; then
    log "TESSERA_TEST_CMD is set: running it instead of cargo test"
    bash -c "$TESSERA_TEST_CMD" tessera-test "$@" || status=$?
else
    cargo test --workspace --all-targets "$@" || status=$?
fi
exit "$status"

#!/usr/bin/env bash
# Runs every test of every crate. The PostgreSQL tests need a server at
# TEST_DATABASE_URL; when none answers this script brings one up itself:
# docker-compose's `postgres` service where a Docker engine runs, else a
# throwaway cluster made with initdb/pg_ctl where PostgreSQL is installed.
# Only when neither is possible does it stop, saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -d "$1" >/dev/null 2>&1
  elif command -v psql >/dev/null 2>&1; then
    psql "$1" -qtAc 'select 1' >/dev/null 2>&1
  else
    # Without client tools, at least check that something listens.
    local hostport="${1#*@}"; hostport="${hostport%%/*}"
    (exec 3<>"/dev/tcp/${hostport%%:*}/${hostport##*:}") 2>/dev/null
  fi
}

wait_for() {
  for _ in $(seq 1 60); do
    answers "$1" && return 0
    sleep 1
  done
  return 1
}

find_pg_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  ls -1 /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1
}

start_with_docker() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || return 1
  echo "test.sh: starting PostgreSQL with docker compose (service postgres)" >&2
  if docker compose version >/dev/null 2>&1; then
    docker compose up -d --wait postgres
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose up -d postgres
  else
    return 1
  fi
  export TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
  wait_for "$TEST_DATABASE_URL"
}

# Globals, so the EXIT trap can still see them.
PG_CTL= PG_DIR= RUN_AS=()

stop_throwaway_cluster() {
  "${RUN_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}

start_throwaway_cluster() {
  local initdb port=55432
  initdb=$(find_pg_bin initdb); PG_CTL=$(find_pg_bin pg_ctl)
  [ -n "$initdb" ] && [ -n "$PG_CTL" ] || return 1
  PG_DIR=$(mktemp -d /tmp/tessera-pg.XXXXXX)
  local dir=$PG_DIR
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  # initdb refuses to run as root: run the cluster as the postgres user.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || return 1
    chown postgres "$dir"
    RUN_AS=(runuser -u postgres --)
  fi
  echo "test.sh: starting a throwaway PostgreSQL cluster in $dir on port $port" >&2
  trap stop_throwaway_cluster EXIT
  "${RUN_AS[@]}" "$initdb" -D "$dir/data" -U postgres -A trust >/dev/null
  "${RUN_AS[@]}" "$PG_CTL" -D "$dir/data" -l "$dir/log" -w \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  wait_for "$TEST_DATABASE_URL"
}

if ! answers "$TEST_DATABASE_URL"; then
  echo "test.sh: no PostgreSQL answers at $TEST_DATABASE_URL" >&2
  if ! start_with_docker && ! start_throwaway_cluster; then
    cat >&2 <<'MSG'
test.sh: cannot start a PostgreSQL for the tests. Do one of:
  - install PostgreSQL:   sudo apt-get install -y postgresql   (then run make test again)
  - install Docker, then: make db-up
  - point TEST_DATABASE_URL at a server where this user may CREATE DATABASE
MSG
    exit 1
  fi
fi

echo "test.sh: PostgreSQL tests use $TEST_DATABASE_URL" >&2
${TESSERA_TEST_CMD:-cargo test --workspace --all-targets} "$@"

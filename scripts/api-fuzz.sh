#!/usr/bin/env bash
# `make api-fuzz`: schemathesis (PyPI) against Tessera's own OpenAPI document,
# every check on, examples, coverage, fuzzing and stateful phases, on SQLite
# and on PostgreSQL (the server at TEST_DATABASE_URL, as `make test` uses).
# Fails on any 5xx, schema violation, refused valid or accepted invalid
# request. The tool's false alarms are relaxed in api-fuzz/schemathesis.toml
# and api-fuzz/tessera_hooks.py, each with its reason.
#
# Environment: API_FUZZ_EXAMPLES (examples per operation and phase, default
# 40), TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
examples=${API_FUZZ_EXAMPLES:-40}
venv=target/schemathesis-venv
version=4.32.5

# schemathesis' coverage phase crashes on CPython 3.11 (an AST recursion bug
# hit from its worker threads): a 3.12 or newer interpreter is needed.
python=""
for candidate in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [[ -z $python ]]; then
    echo "api-fuzz.sh: Python 3.12 or newer is needed for schemathesis (e.g. apt-get install python3.12, or pyenv)" >&2
    exit 1
fi
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

cargo build -q -p tessera-server --bin tessera
binary=target/debug/tessera
work=$(mktemp -d)
# The full reports stay for reading after the run.
reports="$PWD/target/api-fuzz"
mkdir -p "$reports"
server=""
database=""
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    [[ -n $database ]] && psql -q "$TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# Starts the service on `$1` (a database URL); sets $server and $port.
start() {
    TESSERA__DATABASE__URL="$1" TESSERA__SERVER__PORT=0 NO_COLOR=1 RUST_LOG=warn,tessera=info \
        "$binary" --config scripts/api-fuzz/server.toml serve >"$work/serve.log" 2>&1 &
    server=$!
    port=""
    for _ in $(seq 1 100); do
        port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$work/serve.log" | grep -oE '[0-9]+$' || true)
        [[ -n $port ]] && break
        sleep 0.1
    done
    if [[ -z $port ]]; then
        cat "$work/serve.log" >&2
        echo "api-fuzz.sh: the service did not start" >&2
        exit 1
    fi
}

stop() {
    kill -TERM "$server"
    wait "$server" || true
    server=""
}

failed=0
for backend in ${API_FUZZ_BACKENDS:-sqlite postgres}; do
    if [[ $backend == sqlite ]]; then
        url="sqlite://$work/$backend.db"
    else
        database="tessera_api_fuzz_$$"
        psql -q "$TEST_DATABASE_URL" -c "CREATE DATABASE $database" >/dev/null
        url="${TEST_DATABASE_URL%/*}/$database"
    fi
    start "$url"
    export TESSERA_URL="http://127.0.0.1:$port"
    export TESSERA_SESSION
    TESSERA_SESSION=$(TESSERA__DATABASE__URL="$url" "$binary" session mint --user 1 --ttl 86400)
    export TESSERA_TOKEN
    TESSERA_TOKEN=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/users/1/api-tokens/create" \
        -H "Cookie: tessera_session=$TESSERA_SESSION" -H 'Content-Type: application/json' \
        -d '{"identifier": "api-fuzz", "permissions": ["submit_score"]}' |
        sed -E 's/.*"token":"([^"]+)".*/\1/')
    echo "== schemathesis on $backend (http://127.0.0.1:$port)"
    if ! (cd scripts/api-fuzz && PYTHONPATH=. "../../$venv/bin/schemathesis" --no-color run \
        "http://127.0.0.1:$port/api/v1/openapi.json" \
        --checks all --max-examples "$examples" --max-time 270 --workers 2 \
        --seed 20261130 >"$reports/$backend.log" 2>&1); then
        failed=1
    fi
    # The summary, and the name and kind of each failure (bodies can be
    # long: the whole report is in $reports/$backend.log).
    sed -n '/= SUMMARY =/,$p' "$reports/$backend.log"
    grep -E '^_{3,} .+ _{3,}$|^- [A-Z]' "$reports/$backend.log" | cut -c1-160 || true
    if ! grep -qE '^Test cases:' "$reports/$backend.log" ||
        grep -qE '^=+ .*(failure|error)' "$reports/$backend.log"; then
        failed=1
    fi
    stop
done
exit "$failed"

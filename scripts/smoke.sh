#!/usr/bin/env bash
# `make smoke`: the docker-compose deployment built and run for real, then
# tried as a user would, through its published ports (scripts/smoke/smoke.py).
#
#  1. a Docker engine: Debian's docker.io, docker-compose and debootstrap are
#     installed when missing; dockerd is started when none answers, and the one
#     started here is stopped at the end with the host's network settings put
#     back (scripts/lib/engine.sh);
#  2. the base images, built here only when no registry answers
#     (scripts/images.sh);
#  3. the project's image from its Dockerfile and HAProxy's from
#     deploy/haproxy, then the stack with the `replicas` profile: PostgreSQL,
#     two Tessera instances and the load balancer, on free host ports under
#     the compose project `tessera-smoke` (a stack of the user's own is left
#     alone);
#  4. smoke.py; then `down -v`, always, even on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ENGINE_LOG_PREFIX=smoke.sh
# The engine's functions (scripts/lib/engine.sh) come with it.
# shellcheck source=images.sh
. scripts/images.sh
log() { printf 'smoke.sh: %s\n' "$*" >&2; }

PROJECT=tessera-smoke
started_stack=

cleanup() {
    local status=$?
    if [ -n "$started_stack" ]; then
        if [ "$status" != 0 ]; then
            log "failed: the stack's last log lines"
            $COMPOSE -p "$PROJECT" --profile replicas logs --no-color --tail 30 >&2 || true
        fi
        log "docker-compose down -v"
        $COMPOSE -p "$PROJECT" --profile replicas down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    engine_release
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

total_started=$SECONDS
engine_ensure
ensure_base_images

# Fresh secrets for this stack only; nothing of the user's is read.
TESSERA_SESSION_SECRET=$(head -c 48 /dev/urandom | base64 -w0)
TESSERA_SECRET_KEY=$(head -c 32 /dev/urandom | base64 -w0)
TESSERA_PORT=$(free_port)
TESSERA_REPLICA_PORT=$(free_port)
TESSERA_BALANCER_PORT=$(free_port)
POSTGRES_PORT=$(free_port)
export TESSERA_SESSION_SECRET TESSERA_SECRET_KEY TESSERA_PORT TESSERA_REPLICA_PORT \
    TESSERA_BALANCER_PORT POSTGRES_PORT

log "building the images (Dockerfile, deploy/haproxy)"
build_started=$SECONDS
$COMPOSE -p "$PROJECT" --profile replicas build -q
log "images built in $((SECONDS - build_started)) s; sizes:"
image_sizes "${TESSERA_IMAGE:-tessera:latest}" "${BALANCER_IMAGE:-tessera-haproxy:latest}"

log "starting the stack (project $PROJECT): tessera on $TESSERA_PORT, tessera-2 on $TESSERA_REPLICA_PORT, HAProxy on $TESSERA_BALANCER_PORT"
started_stack=1
$COMPOSE -p "$PROJECT" --profile replicas up -d --no-build

python3 scripts/smoke/smoke.py \
    --compose "$COMPOSE -p $PROJECT --profile replicas" \
    --port "$TESSERA_PORT" --replica-port "$TESSERA_REPLICA_PORT" \
    --balancer-port "$TESSERA_BALANCER_PORT"
log "smoke test done in $((SECONDS - total_started)) s in all"

# Sourced by scripts/images.sh and scripts/smoke.sh: makes sure a Docker
# engine answers, and when this script had to start one, stops it again and
# puts the host's network settings back as they were (the daemon turns on IP
# forwarding, adds iptables chains and a docker0 bridge).
#
#   engine_ensure   install Debian's docker.io / docker-compose / debootstrap
#                   when missing (as root), start dockerd when none answers
#   engine_release  stop the dockerd that engine_ensure started, if any,
#                   and restore forwarding, iptables and links
#
# Sets COMPOSE to `docker compose` (v2) where it works, else `docker-compose`.
# shellcheck shell=bash

ENGINE_STARTED=
ENGINE_STATE_DIR=
COMPOSE=

engine_log() { printf '%s: %s\n' "${ENGINE_LOG_PREFIX:-engine}" "$*" >&2; }

# The host's network links, one name a line, sorted.
engine_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }

# Installs the Debian packages named, those not installed yet.
engine_install_missing() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    if [ "$(id -u)" != 0 ]; then
        engine_log "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
        return 1
    fi
    engine_log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

engine_ensure() {
    local wanted=()
    # The client alone (a `docker` without `dockerd`) is not an engine.
    command -v dockerd >/dev/null 2>&1 || docker info >/dev/null 2>&1 || wanted+=(docker.io)
    docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 ||
        wanted+=(docker-compose)
    command -v debootstrap >/dev/null 2>&1 || wanted+=(debootstrap)
    if command -v dpkg-query >/dev/null 2>&1; then
        engine_install_missing "${wanted[@]}"
    elif ((${#wanted[@]})); then
        engine_log "missing: ${wanted[*]} (install a Docker engine, docker-compose and debootstrap)"
        return 1
    fi

    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi

    if docker info >/dev/null 2>&1; then
        engine_log "using the Docker engine that runs already"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        engine_log "no Docker engine answers; start one (sudo dockerd) or run as root"
        return 1
    fi
    ENGINE_STATE_DIR=$(mktemp -d)
    sysctl -n net.ipv4.ip_forward >"$ENGINE_STATE_DIR/ip_forward"
    sysctl -n net.ipv6.conf.all.forwarding >"$ENGINE_STATE_DIR/ip6_forward" 2>/dev/null || true
    for tool in iptables ip6tables; do
        command -v "$tool-save" >/dev/null 2>&1 && "$tool-save" >"$ENGINE_STATE_DIR/$tool" 2>/dev/null || true
    done
    engine_links >"$ENGINE_STATE_DIR/links"
    if command -v nft >/dev/null 2>&1; then nft list tables | sort >"$ENGINE_STATE_DIR/nft-tables"; fi

    engine_log "starting dockerd (log: ${ENGINE_DOCKERD_LOG:=/tmp/tessera-dockerd.log})"
    dockerd --pidfile "$ENGINE_STATE_DIR/dockerd.pid" >"$ENGINE_DOCKERD_LOG" 2>&1 &
    echo $! >"$ENGINE_STATE_DIR/pid"
    ENGINE_STARTED=1
    local i
    for i in $(seq 1 60); do
        docker info >/dev/null 2>&1 && { engine_log "dockerd answers after ${i}s"; return 0; }
        kill -0 "$(cat "$ENGINE_STATE_DIR/pid")" 2>/dev/null || break
        sleep 1
    done
    engine_log "dockerd did not come up; its log ends with:"
    tail -n 20 "$ENGINE_DOCKERD_LOG" >&2 || true
    return 1
}

engine_release() {
    [ -n "$ENGINE_STARTED" ] || return 0
    ENGINE_STARTED=
    local pid
    pid=$(cat "$ENGINE_STATE_DIR/pid")
    engine_log "stopping the dockerd it started (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -9 "$pid" 2>/dev/null || true

    # Network settings as they were before dockerd ran.
    sysctl -qw "net.ipv4.ip_forward=$(cat "$ENGINE_STATE_DIR/ip_forward")" || true
    [ -s "$ENGINE_STATE_DIR/ip6_forward" ] &&
        sysctl -qw "net.ipv6.conf.all.forwarding=$(cat "$ENGINE_STATE_DIR/ip6_forward")" || true
    local tool table
    for tool in iptables ip6tables; do
        command -v "$tool" >/dev/null 2>&1 || continue
        for table in filter nat; do
            "$tool" -t "$table" -F 2>/dev/null || true
            "$tool" -t "$table" -X 2>/dev/null || true
        done
        "$tool" -P FORWARD ACCEPT 2>/dev/null || true
        [ -s "$ENGINE_STATE_DIR/$tool" ] && "$tool-restore" <"$ENGINE_STATE_DIR/$tool" || true
    done
    # iptables-nft leaves empty tables behind (accepting everything, as if
    # absent); nft, where installed, removes those that were not there.
    if [ -f "$ENGINE_STATE_DIR/nft-tables" ]; then
        nft list tables | sort | comm -13 "$ENGINE_STATE_DIR/nft-tables" - | while read -r _ family name; do
            nft delete table "$family" "$name" 2>/dev/null || true
        done
    fi
    engine_links | comm -13 "$ENGINE_STATE_DIR/links" - | while read -r link; do
        case $link in docker0 | br-* | veth*) ip link delete "$link" 2>/dev/null || true ;; esac
    done
    rm -rf "$ENGINE_STATE_DIR"
}

#!/usr/bin/env bash
# The base images Tessera's Dockerfile and docker-compose.yml start from —
# debian:bookworm-slim, postgres:15 and rust:1.95-bookworm — built on this
# machine when no image registry can be reached (an air-gapped host, a
# network without Docker Hub). Where the registry answers it does nothing:
# `docker build` and compose pull the official images themselves.
#
#   scripts/images.sh            build the missing ones (needs root for
#                                debootstrap, and Debian's archive)
#   scripts/images.sh --force    build all three even if the registry answers
#
# debian:bookworm-slim comes from Debian's archive with debootstrap (minbase,
# then trimmed like the official slim image: no documentation, manuals or
# translations); postgres:15 and rust:1.95-bookworm are built on it from
# deploy/images/. The host's extra CA certificates go into the rust image, so
# builds that download crates through a TLS-intercepting proxy work.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian),
# REGISTRY_URL (the registry probed, default https://registry-1.docker.io/v2/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ENGINE_LOG_PREFIX=${ENGINE_LOG_PREFIX:-images.sh}
# shellcheck source=lib/engine.sh
. scripts/lib/engine.sh
log() { printf '%s: %s\n' "$ENGINE_LOG_PREFIX" "$*" >&2; }

force=
[ "${1:-}" = --force ] && force=1
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
: "${REGISTRY_URL:=https://registry-1.docker.io/v2/}"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Prints "  name:tag  size" for each image named that exists.
image_sizes() {
    local name
    for name in "$@"; do
        docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' "$name" | sed 's/^/  /' >&2
    done
}

# Any HTTP answer (Docker Hub says 401 to an anonymous /v2/) means reachable.
registry_reachable() {
    local code
    code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$REGISTRY_URL" 2>/dev/null) || return 1
    [ "$code" != 000 ]
}

build_debian_slim() {
    local work rootfs
    work=$(mktemp -d)
    rootfs=$work/rootfs
    log "debian:bookworm-slim: debootstrap from $DEBIAN_MIRROR"
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        rm -rf "$work"
        return 1
    }
    # What the official slim image leaves out, for this and every later package.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/*
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-updates main
deb ${DEBIAN_MIRROR%/debian}/debian-security bookworm-security main
EOF
    rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*
    tar --numeric-owner -C "$rootfs" -c . |
        docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            - debian:bookworm-slim >/dev/null
    rm -rf "$work"
}

build_from() {
    local name=$1 dir=$2 context
    log "$name: building from $dir on debian:bookworm-slim"
    context=$(mktemp -d)
    cp -r "$dir"/. "$context"/
    mkdir -p "$context/ca-certificates"
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$context/ca-certificates/"
    fi
    # The legacy builder: a Docker client without buildx still has it.
    if ! DOCKER_BUILDKIT=0 docker build -q -t "$name" "$context" >"$context.log" 2>&1; then
        cat "$context.log" >&2
        rm -rf "$context" "$context.log"
        return 1
    fi
    rm -rf "$context" "$context.log"
}

# The engine must answer already (engine_ensure).
ensure_base_images() {
    if [ -z "$force" ] && registry_reachable; then
        log "the registry answers at $REGISTRY_URL: the official images are pulled when needed"
        return 0
    fi
    if [ -z "$force" ] && have_image debian:bookworm-slim && have_image postgres:15 &&
        have_image rust:1.95-bookworm; then
        log "no registry at $REGISTRY_URL; the base images are here already:"
        image_sizes debian:bookworm-slim postgres:15 rust:1.95-bookworm
        return 0
    fi
    [ -n "$force" ] || log "no registry at $REGISTRY_URL: building the missing base images here"
    local started=$SECONDS
    if [ -n "$force" ] || ! have_image debian:bookworm-slim; then build_debian_slim; fi
    if [ -n "$force" ] || ! have_image postgres:15; then build_from postgres:15 deploy/images/postgres; fi
    if [ -n "$force" ] || ! have_image rust:1.95-bookworm; then build_from rust:1.95-bookworm deploy/images/rust; fi
    log "base images ready in $((SECONDS - started)) s:"
    image_sizes debian:bookworm-slim postgres:15 rust:1.95-bookworm
}

# scripts/smoke.sh sources this file for ensure_base_images.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    engine_ensure
    trap engine_release EXIT
    ensure_base_images
fi

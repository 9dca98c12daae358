# Container image of the tessera binary (used by docker-compose.yml's
# `tessera` service): built with the full Rust image, run on a slim Debian as
# an unprivileged user. Configuration: config/ plus TESSERA__* variables; the
# production secrets must come from the environment (see docker-compose.yml).

# Build and run (where a Docker engine runs):
#   make docker                      # docker build -t tessera:latest .
#   docker run --rm -p 127.0.0.1:8080:8080 \
#     -e TESSERA__SESSION__SECRET="$(openssl rand -base64 48)" \
#     -e TESSERA__SECURITY__SECRET_KEY="$(openssl rand -base64 32)" \
#     -v tessera-data:/app/data tessera:latest

# Base images: the registry's, or local stand-ins where no registry answers
# (scripts/images.sh builds them under the same names).
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build ------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
# diesel's bundled libsqlite3-sys and pq-sys compile SQLite and libpq from C
# (gcc, make, perl); libpq links OpenSSL (libssl-dev, found with pkg-config).
# The rust image ships them already; listed so the need is explicit.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make perl pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in a layer of their own: it is rebuilt only when a
# manifest or the lock file changes, not when the code or a document does.
# The workspace's crates are empty stand-ins here.
COPY Cargo.toml Cargo.lock ./
COPY .cargo/ .cargo/
COPY crates/domain/Cargo.toml crates/domain/
COPY crates/persistence/Cargo.toml crates/persistence/build.rs crates/persistence/
COPY crates/oauth-clients/Cargo.toml crates/oauth-clients/
COPY crates/http-adapter/Cargo.toml crates/http-adapter/
COPY crates/server/Cargo.toml crates/server/
COPY crates/client/Cargo.toml crates/client/
COPY examples/relying-service/Cargo.toml examples/relying-service/
RUN for crate in crates/*/ examples/*/; do mkdir -p "$crate/src" && : > "$crate/src/lib.rs"; done \
 && echo 'fn main() {}' > crates/server/src/main.rs \
 && cargo build --release -p tessera-server --bin tessera --locked \
 && rm -rf crates/*/src examples/*/src
# Then the code. Copied files keep their old modification times, older than
# the stand-ins' build: touch them so Cargo rebuilds the workspace's crates.
COPY crates/ crates/
COPY examples/ examples/
COPY migrations/ migrations/
RUN find crates examples migrations -type f -exec touch {} + \
 && cargo build --release -p tessera-server --bin tessera --locked \
 && install -s -m 0755 target/release/tessera /usr/local/bin/tessera

# ---- runtime ----------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
# The binary links libssl.so.3/libcrypto.so.3 (bundled libpq, and HTTPS to
# webhook receivers); ca-certificates lets both verify certificates (a
# PostgreSQL server's with sslmode=verify-full, every HTTPS receiver's).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* \
 && groupadd --system --gid 10001 tessera \
 && useradd --system --uid 10001 --gid tessera --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin tessera
WORKDIR /app
COPY --from=build /usr/local/bin/tessera /usr/local/bin/tessera
COPY config/ /app/config/
# The default database (sqlite://data/tessera.db) lives here; mount a volume
# on /app/data to keep it, or set TESSERA__DATABASE__URL to a PostgreSQL.
# Everything else of the file system may be read-only (docker-compose.yml
# runs it so).
RUN mkdir -p /app/data && chown tessera:tessera /app/data
ENV TESSERA_ENV=production \
    TESSERA__SERVER__HOST=0.0.0.0
EXPOSE 8080
# The binary probes itself (GET /readyz on its own port): no HTTP client is
# installed for it. Readiness fails with 503 while the database is away.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["tessera", "healthcheck"]
USER tessera
ENTRYPOINT ["tessera"]
CMD ["serve"]

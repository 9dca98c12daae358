# Multi-stage image of the tessera binary: build with the full Rust image,
# run on a slim Debian as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The bundled SQLite and libpq are compiled from C; libpq links OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config perl make \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p tessera-server \
 && cp target/release/tessera /usr/local/bin/tessera

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tessera \
 && mkdir -p /app/data \
 && chown tessera /app/data
WORKDIR /app
COPY --from=build /usr/local/bin/tessera /usr/local/bin/tessera
COPY config ./config
ENV TESSERA_ENV=production \
    TESSERA__SERVER__HOST=0.0.0.0 \
    TESSERA__SERVER__PORT=8080
EXPOSE 8080
USER tessera
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["tessera"]
CMD ["serve"]

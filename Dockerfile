# syntax=docker/dockerfile:1
#
# Warden container image: the `warden` binary, unixODBC with the PostgreSQL and SQLite3 ODBC
# drivers, and the example plugins (sample, sql, orders).
#
#   docker build -t warden .
#   docker run --rm -p 8000:8000 -v warden-data:/var/lib/warden warden
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts. See deploy/README.md.
#
# ---------------------------------------------------------------------------------------------
# Environment the image understands
# ---------------------------------------------------------------------------------------------
# Set by this image (override with `docker run -e` or the pod spec):
#   WARDEN__SERVER__BIND=0.0.0.0:8000        public listener (MCP, OAuth metadata)
#   WARDEN__SERVER__ADMIN_BIND=0.0.0.0:9100  private plain-HTTP listener: /metrics /healthz /readyz
#                                            (the HEALTHCHECK below probes it: keep it on 9100)
#   WARDEN__SERVER__DATA_DIR=/var/lib/warden compiled-plugin cache, local issuer keys, demo DB
#   WARDEN__PLUGINS__DIR=/plugins            <name>.wasm + <name>.toml (+ .minisig) pairs
#   WARDEN__AUDIT__PATH=-                    audit log as JSON lines on stdout
#
# Read by warden itself:
#   WARDEN_CONFIG   path of a server.toml (same as --config); without it, embedded defaults + env
#   WARDEN_LOG      log filter (tracing EnvFilter), e.g. "info" or "warden=debug,info"; logs go to stderr
#
# Any setting as WARDEN__<SECTION>__<KEY> (value parsed as TOML when it parses, else a string;
# see server.toml.example for what each one means):
#   server:   BIND PUBLIC_URL ALLOWED_HOSTS ALLOWED_ORIGINS MAX_BODY_BYTES DATA_DIR ADMIN_BIND
#             MAX_HEADER_BYTES HEADER_READ_TIMEOUT_MS BODY_READ_TIMEOUT_MS HTTP2_KEEP_ALIVE_S
#             SHUTDOWN_GRACE_S
#             TLS (an inline table: WARDEN__SERVER__TLS='{cert="/tls/tls.crt", key="/tls/tls.key"}')
#   auth:     MODE ISSUER AUDIENCE DOMAIN CONFIG_URL JWKS_URI ALGORITHMS LEEWAY_S REQUIRED_SCOPES
#             PERMISSIONS_AS_SCOPES USERNAME_CLAIMS AUTHORIZATION_SERVERS JWKS_REFRESH_S
#             JWKS_MIN_REFETCH_S TOKEN_CACHE_ENTRIES TOKEN_CACHE_TTL_S MAX_TOKEN_BYTES
#             INTROSPECTION_URL INTROSPECTION_CLIENT_ID INTROSPECTION_CLIENT_SECRET
#   plugins:  DIR POLL_INTERVAL_MS PAGE_SIZE REQUIRE_SIGNATURES TRUSTED_KEYS
#   runtime:  MAX_INSTANCES QUEUE_TIMEOUT_MS DEFAULT_MEMORY_MB MAX_MEMORY_MB DEFAULT_TIMEOUT_MS
#             MAX_TIMEOUT_MS MAX_OUTPUT_KB FUEL_METERING
#   database: ENABLED CONNECTION_STRING PASSWORD DIALECT IMPERSONATION IMPERSONATE_STATEMENT
#             REVERT_STATEMENT CURRENT_USER_QUERY NAME_CASE POOL_SIZE ACQUIRE_TIMEOUT_MS
#             STATEMENT_TIMEOUT_MS MAX_ROWS MAX_BYTES HEALTH_CHECK_IDLE_MS
#   limits:   CALLER_CALLS_PER_S CALLER_BURST CALLER_CONCURRENCY PLUGIN_CALLS_PER_S PLUGIN_BURST
#             PLUGIN_CONCURRENCY MAX_TRACKED_KEYS
#   audit:    ENABLED PATH
#   store:    REDIS_URL (shared state for several replicas)
# [[teams]] cannot be set from the environment: put teams in the config file.
#
# Secret settings (database.connection_string, database.password, auth.introspection_client_secret,
# trusted_keys entries) may be references, "env:NAME" or "file:/run/secrets/name", so the secret
# itself can arrive in a variable of your choosing (e.g. WARDEN_DB_PASSWORD) or a mounted file.
# libpq (under psqlODBC) also reads its own PG* variables, e.g. PGSSLROOTCERT.
# ---------------------------------------------------------------------------------------------

# Must match rust-toolchain.toml (checked below).
ARG RUST_TOOLCHAIN=1.95.0

# ============================== builder ==============================
FROM rust:1.95-bookworm AS builder
ARG RUST_TOOLCHAIN
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# odbc-api links libodbc: unixODBC headers and library. Debian package versions are not pinned on
# purpose: bookworm's archive drops superseded (security-fixed) versions, so pins break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends unixodbc-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# The toolchain of rust-toolchain.toml (plus the components it lists, so rustup never goes
# looking for them mid-build) and the plugin target.
COPY rust-toolchain.toml ./
RUN grep -Eq "^channel = \"${RUST_TOOLCHAIN}\"" rust-toolchain.toml \
   || { echo "rust-toolchain.toml does not pin ${RUST_TOOLCHAIN}: update ARG RUST_TOOLCHAIN" >&2; exit 1; } \
 && rustup toolchain install "${RUST_TOOLCHAIN}" --profile minimal --component rustfmt,clippy \
 && rustup default "${RUST_TOOLCHAIN}" \
 && rustup target add --toolchain "${RUST_TOOLCHAIN}" wasm32-wasip2 \
 && rustc --version

COPY . .

# Host (native) and example plugins (wasm32-wasip2, via plugins/.cargo/config.toml), both with
# their workspace's release profile, into the shared target/ (a cache mount, so the artifacts
# are copied out to /out in the same step). The same commands as `make build`/`make plugins`.
ARG EXAMPLES="sample sql orders"
# (`cd plugins` is needed: cargo reads plugins/.cargo/config.toml from the working directory.)
# hadolint ignore=DL3003
RUN --mount=type=cache,id=warden-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=warden-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=warden-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p warden \
 && for p in ${EXAMPLES}; do (cd plugins && cargo build --release --locked -p "${p}") || exit 1; done \
 && install -d -m 0755 /out/examples \
 && install -m 0755 target/release/warden /out/warden \
 && for p in ${EXAMPLES}; do \
      install -m 0644 "target/wasm32-wasip2/release/${p}.wasm" "/out/examples/${p}.wasm" || exit 1; \
      install -m 0644 "plugins/${p}/plugin.toml" "/out/examples/${p}.toml" || exit 1; \
    done \
 && ls -l /out /out/examples

# ============================== runtime ==============================
FROM debian:bookworm-slim AS runtime
LABEL org.opencontainers.image.title="warden" \
      org.opencontainers.image.description="Hosts MCP tools as sandboxed WebAssembly components" \
      org.opencontainers.image.licenses="Apache-2.0"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# ca-certificates: JWKS/discovery/introspection over HTTPS (rustls reads the system roots) and
# PostgreSQL TLS (PGSSLROOTCERT=/etc/ssl/certs/ca-certificates.crt).
# unixodbc + drivers: their postinst scripts register "PostgreSQL Unicode" / "PostgreSQL ANSI"
# (psqlodbcw.so / psqlodbca.so) and "SQLite3" / "SQLite" in /etc/odbcinst.ini; Warden's embedded
# demo uses Driver=SQLite3, the documented PostgreSQL setup Driver={PostgreSQL Unicode}.
# Debian's psqlODBC template sets CommLog = 1, which makes every process write a communication
# log to /tmp/psqlodbc_*.log (with a read-only root filesystem it would fail; either way nobody
# reads it): switch it off. (Versions unpinned for the reason given in the builder stage.)
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates unixodbc odbc-postgresql libsqliteodbc \
 && rm -rf /var/lib/apt/lists/* \
 && sed -i -E 's/^(CommLog[[:space:]]*=[[:space:]]*)1/\10/' /etc/odbcinst.ini \
 && grep -qx '\[PostgreSQL Unicode\]' /etc/odbcinst.ini \
 && grep -qx '\[SQLite3\]' /etc/odbcinst.ini \
 && ! grep -Eq '^CommLog[[:space:]]*=[[:space:]]*1' /etc/odbcinst.ini

# A fixed non-root uid/gid, so volume ownership and runAsUser stay stable across rebuilds.
RUN groupadd --system --gid 10001 warden \
 && useradd --system --uid 10001 --gid warden --home-dir /var/lib/warden --no-create-home \
      --shell /usr/sbin/nologin warden \
 && install -d -o warden -g warden -m 0700 /var/lib/warden \
 && install -d -o root -g root -m 0755 /plugins /opt/warden/examples

COPY --from=builder /out/warden /usr/local/bin/warden
# The examples stay in /opt/warden/examples (an init container or a script can copy them from
# there) and are installed in /plugins, which a fresh volume is seeded from. /plugins belongs to
# root: Warden only reads plugins, so a compromised server cannot plant one. Mount your own
# directory (read-only is fine) over it.
COPY --from=builder /out/examples/ /opt/warden/examples/
COPY --from=builder /out/examples/ /plugins/

ENV WARDEN__SERVER__BIND=0.0.0.0:8000 \
    WARDEN__SERVER__ADMIN_BIND=0.0.0.0:9100 \
    WARDEN__SERVER__DATA_DIR=/var/lib/warden \
    WARDEN__PLUGINS__DIR=/plugins \
    WARDEN__AUDIT__PATH=-

USER 10001:10001
WORKDIR /var/lib/warden

# Smoke test at build time, as the runtime user, in a throw-away data dir (so no key or cache is
# baked into the image): the configuration validates, the SQLite3 ODBC driver opens the demo
# database, and every example plugin compiles and loads.
RUN WARDEN__SERVER__DATA_DIR=/tmp/warden-check WARDEN__AUDIT__ENABLED=false warden check \
 && rm -rf /tmp/warden-check

VOLUME ["/var/lib/warden", "/plugins"]
# 8000: MCP (HTTPS when server.tls is set). 9100: admin, never publish it outside the host/cluster.
EXPOSE 8000 9100

# `warden probe URL` exits 0 on a 2xx answer, so the image needs no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["warden", "probe", "http://127.0.0.1:9100/healthz"]

# SIGTERM: stop accepting, let in-flight calls finish for server.shutdown_grace_s (default 20 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["warden"]
CMD ["serve"]

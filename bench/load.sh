#!/usr/bin/env bash
# Load test: `tools/call sample.greet` over HTTP through Warden and, in the same run, two baselines
# driven the same way by wrk on loopback:
#   rmcp_native  - rmcp's Streamable HTTP server with a native tool returning a canned result
#                  (host/examples/rmcp_native.rs): the MCP layer without the sandbox;
#   bare         - a bare axum handler returning the canned JSON-RPC result
#                  (host/examples/bare_handler.rs): the HTTP stack alone.
# Requests use MCP protocol 2026-07-28 (stateless: every POST stands alone, as current clients send
# them). One shared legacy (2025-11-25) session would serialize the 16 connections.
#
#   bench/load.sh                      # 16 connections, 10 s each
#   CONNS=32 DURATION=20s bench/load.sh
#
# Warden runs three times: auth.mode = "none", "local" (ES256 bearer token, verified-token cache on)
# and "local" with token_cache_entries = 0.
# Prints requests/s for each and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
TARGET=${CARGO_TARGET_DIR:-target}

. bench/lib.sh

cargo build --release -q -p warden --bin warden --example bare_handler --example rmcp_native
(cd plugins && cargo build --release -q)

# --- Warden with the sample plugin: unauthenticated, authenticated, authenticated without cache ----
mkdir -p "$work/plugins"
cp "$TARGET/wasm32-wasip2/release/sample.wasm" "$work/plugins/sample.wasm"
cp plugins/sample/plugin.toml "$work/plugins/sample.toml"

call='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sample.greet","arguments":{"name":"Load"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
headers='wrk.headers["Mcp-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "sample.greet"'

# run_warden NAME AUTH_TOML: starts Warden, checks one call, loads it, stops it; echoes requests/s.
run_warden() {
  local name=$1 auth=$2 config="$work/$1.toml"
  # Limits stay on (their cost is part of every call) but high enough never to refuse the load;
  # the audit log is written to its default file, as in production.
  printf '[server]\nbind = "127.0.0.1:0"\ndata_dir = "%s"\n[plugins]\ndir = "%s"\n[limits]\ncaller_calls_per_s = 1000000000\ncaller_burst = 1000000000\ncaller_concurrency = 0\nplugin_calls_per_s = 1000000000\nplugin_burst = 1000000000\n%s\n' "$work/data" "$work/plugins" "$auth" >"$config"
  WARDEN_LOG=warn start "$name" "$TARGET/release/warden" serve --config "$config"
  local addr pid=${pids[-1]} extra="$headers" auth_header=()
  addr=$(address_of "$name")
  until curl -sf "http://$addr/readyz" >/dev/null; do sleep 0.05; done
  if [[ $auth == *local* ]]; then
    local token
    token=$(WARDEN__SERVER__PUBLIC_URL="\"http://$addr\"" "$TARGET/release/warden" token --config "$config" \
      --sub load --scope tool:greet --audience "http://$addr/mcp")
    extra="$headers
wrk.headers[\"Authorization\"] = \"Bearer $token\""
    auth_header=(-H "authorization: Bearer $token")
  fi
  local check
  check=$(curl -s -X POST "http://$addr/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H 'mcp-name: sample.greet' "${auth_header[@]}" -d "$call")
  echo "$check" | grep -q 'Hello, Load! You are' || { echo "$name: sanity call failed: $check" >&2; exit 1; }
  echo "== warden ($name): tools/call sample.greet, $CONNS connections, $DURATION" >&2
  run_wrk "http://$addr/mcp" "$call" "$extra"
  kill "$pid"
}

warden_rps=$(run_warden unauthenticated '[auth]
mode = "none"')
auth_rps=$(run_warden authenticated '[auth]
mode = "local"')
nocache_rps=$(run_warden authenticated-no-cache '[auth]
mode = "local"
token_cache_entries = 0')

# --- rmcp with a native tool ----------------------------------------------------------------------
start native "$TARGET/release/examples/rmcp_native" 127.0.0.1:0
native_addr=$(address_of native)
echo "== rmcp native tool: canned result, $CONNS connections, $DURATION" >&2
native_rps=$(run_wrk "http://$native_addr/mcp" "$call" "$headers")
kill "${pids[-1]}"

# --- Bare axum handler ----------------------------------------------------------------------------
start bare "$TARGET/release/examples/bare_handler" 127.0.0.1:0
bare_addr=$(address_of bare)
echo "== bare axum handler: canned result, $CONNS connections, $DURATION" >&2
bare_rps=$(run_wrk "http://$bare_addr/mcp" "$call" "")

awk -v w="$warden_rps" -v a="$auth_rps" -v x="$nocache_rps" -v n="$native_rps" -v b="$bare_rps" -v c="$CONNS" 'BEGIN {
  printf "connections=%s warden_rps=%.0f authenticated_rps=%.0f authenticated_no_cache_rps=%.0f rmcp_native_rps=%.0f bare_rps=%.0f\n", c, w, a, x, n, b
  printf "warden/bare=%.1f%% warden/rmcp_native=%.1f%% authenticated/unauthenticated=%.1f%% (no cache: %.1f%%)\n",
    100 * w / b, 100 * w / n, 100 * a / w, 100 * x / w }'

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
# Prints requests/s for each and Warden's share of each baseline's throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
TARGET=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk (make load does)" >&2; exit 1; }
cargo build --release -q -p warden --bin warden --example bare_handler --example rmcp_native
(cd plugins && cargo build --release -q)

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Starts "$@" in the background (log files named after $1), recording its pid.
start() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
}

# Echoes the address server $1 printed as "listening on http://ADDR", waiting up to 10 s.
address_of() {
  for _ in $(seq 1 200); do
    if grep -q '^listening on ' "$work/$1.out" 2>/dev/null; then sed -n 's/^listening on http:\/\///p' "$work/$1.out"; return; fi
    sleep 0.05
  done
  echo "$1 did not start: $(cat "$work/$1.err")" >&2; exit 1
}

# wrk's requests/s for a POST of $2 to $1 with extra header lines in $3.
run_wrk() {
  local url=$1 body=$2 headers=$3 script="$work/post.lua"
  {
    echo 'wrk.method = "POST"'
    printf 'wrk.body = [[%s]]\n' "$body"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo 'wrk.headers["Accept"] = "application/json, text/event-stream"'
    printf '%s\n' "$headers"
  } >"$script"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$script" "$url" >"$work/wrk.txt"
  if grep -q 'Non-2xx' "$work/wrk.txt"; then cat "$work/wrk.txt" >&2; echo "errors during the run" >&2; exit 1; fi
  cat "$work/wrk.txt" >&2
  awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt"
}

# --- Warden with the sample plugin ----------------------------------------------------------------
mkdir -p "$work/plugins"
cp "$TARGET/wasm32-wasip2/release/sample.wasm" "$work/plugins/sample.wasm"
cp plugins/sample/plugin.toml "$work/plugins/sample.toml"
cat >"$work/server.toml" <<TOML
[server]
bind = "127.0.0.1:0"
data_dir = "$work/data"
[plugins]
dir = "$work/plugins"
TOML
WARDEN_LOG=warn start warden "$TARGET/release/warden" serve --config "$work/server.toml"
warden_addr=$(address_of warden)
until curl -sf "http://$warden_addr/readyz" >/dev/null; do sleep 0.05; done

call='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sample.greet","arguments":{"name":"Load"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
headers='wrk.headers["Mcp-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "sample.greet"'
check=$(curl -s -X POST "http://$warden_addr/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H 'mcp-name: sample.greet' -d "$call")
echo "$check" | grep -q 'Hello, Load! You are anonymous.' || { echo "sanity call failed: $check" >&2; exit 1; }

echo "== warden: tools/call sample.greet, $CONNS connections, $DURATION" >&2
warden_rps=$(run_wrk "http://$warden_addr/mcp" "$call" "$headers")
kill "${pids[0]}"

# --- rmcp with a native tool ----------------------------------------------------------------------
start native "$TARGET/release/examples/rmcp_native" 127.0.0.1:0
native_addr=$(address_of native)
echo "== rmcp native tool: canned result, $CONNS connections, $DURATION" >&2
native_rps=$(run_wrk "http://$native_addr/mcp" "$call" "$headers")
kill "${pids[1]}"

# --- Bare axum handler ----------------------------------------------------------------------------
start bare "$TARGET/release/examples/bare_handler" 127.0.0.1:0
bare_addr=$(address_of bare)
echo "== bare axum handler: canned result, $CONNS connections, $DURATION" >&2
bare_rps=$(run_wrk "http://$bare_addr/mcp" "$call" "")

awk -v w="$warden_rps" -v n="$native_rps" -v b="$bare_rps" -v c="$CONNS" 'BEGIN {
  printf "connections=%s warden_rps=%.0f rmcp_native_rps=%.0f bare_rps=%.0f warden/bare=%.1f%% warden/rmcp_native=%.1f%%\n",
    c, w, n, b, 100 * w / b, 100 * w / n }'

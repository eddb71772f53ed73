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
#   WRK_SCHED=batch bench/load.sh      # wrk under SCHED_BATCH, so its wake-ups do not preempt
#                                      # the server (see bench/lib.sh): nearer a load generator
#                                      # on other cores
#   PROFILE=1 bench/load.sh            # also perf-record Warden during the authenticated run and
#                                      # print its top costs (needs Debian linux-perf);
#                                      # PERF_OPTS="-F 499 --call-graph dwarf" for call graphs,
#                                      # PERF_KEEP=FILE keeps the perf.data, PROFILE_RUN=python
#                                      # profiles the Python run instead
#
# Warden runs six times: auth.mode = "none", "local" (ES256 bearer token, verified-token cache on),
# the same "local" run with an `Origin` header (Warden's own origin, allowed), which sends the call
# through rmcp's server instead of Warden's own stateless path (the side-by-side cost of that
# layer), "local" with token_cache_entries = 0, and "none" calling the Python plugin
# (`py-sample.greet`, componentize-py; `make plugins` builds it), then the same Python call from
# one connection (its latency per call alone).
# Prints a table (requests/s, p50, p99, share of the bare handler, the server's CPU time per request:
# user + system over the run, divided by the requests served) and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
TARGET=${CARGO_TARGET_DIR:-target}
# WARDEN_BIN: another warden build to measure (e.g. an earlier commit), side by side.
WARDEN_BIN=${WARDEN_BIN:-$TARGET/release/warden}

. bench/lib.sh

cargo build --release -q -p warden --bin warden --example bare_handler --example rmcp_native
(cd plugins && cargo build --release -q)
[ -f "$TARGET/wasm32-wasip2/release/py_sample.wasm" ] || { echo "py_sample.wasm is missing: make plugins builds it" >&2; exit 1; }

# --- Warden: the Rust sample plugin (unauthenticated, authenticated, no cache) and the Python one ---
mkdir -p "$work/plugins"
for p in sample py-sample; do
  cp "$TARGET/wasm32-wasip2/release/$(echo $p | tr - _).wasm" "$work/plugins/$p.wasm"
  cp "plugins/$p/plugin.toml" "$work/plugins/$p.toml"
done

# call_of TOOL / headers_of TOOL: the request body and wrk header lines for tools/call TOOL.
call_of() {
  echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"'$1'","arguments":{"name":"Load"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
}
headers_of() {
  printf 'wrk.headers["Mcp-Protocol-Version"] = "2026-07-28"\nwrk.headers["Mcp-Method"] = "tools/call"\nwrk.headers["Mcp-Name"] = "%s"' "$1"
}
call=$(call_of sample.greet)
headers=$(headers_of sample.greet)

# run_warden NAME AUTH_TOML [TOOL]: starts Warden, checks one call of TOOL (default sample.greet),
# loads it, stops it; echoes requests/s and keeps wrk's report as $work/wrk-NAME.txt.
run_warden() {
  local name=$1 auth=$2 tool=${3:-sample.greet} config="$work/$1.toml"
  # Limits stay on (their cost is part of every call) but high enough never to refuse the load;
  # the audit log is written to its default file, as in production.
  printf '[server]\nbind = "127.0.0.1:0"\ndata_dir = "%s"\n[plugins]\ndir = "%s"\n[limits]\ncaller_calls_per_s = 1000000000\ncaller_burst = 1000000000\ncaller_concurrency = 0\nplugin_calls_per_s = 1000000000\nplugin_burst = 1000000000\n%s\n' "$work/data" "$work/plugins" "$auth" >"$config"
  WARDEN_LOG=warn start "$name" "$WARDEN_BIN" serve --config "$config"
  local addr pid=${pids[-1]} call extra auth_header=()
  call=$(call_of "$tool")
  extra=$(headers_of "$tool")
  addr=$(address_of "$name")
  until curl -sf "http://$addr/readyz" >/dev/null; do sleep 0.05; done
  if [[ $auth == *local* ]]; then
    local token
    token=$(WARDEN__SERVER__PUBLIC_URL="\"http://$addr\"" "$WARDEN_BIN" token --config "$config" \
      --sub load --scope tool:greet --audience "http://$addr/mcp")
    extra="$extra
wrk.headers[\"Authorization\"] = \"Bearer $token\""
    auth_header=(-H "authorization: Bearer $token")
  fi
  if [[ -n ${VIA_RMCP:-} ]]; then
    extra="$extra
wrk.headers[\"Origin\"] = \"http://$addr\""
  fi
  # The first start compiles the Python plugin in the background (later ones load it from the
  # compiled-code cache in the shared data_dir): wait until the tool answers.
  # Both plugins must answer before the load starts, so no compilation runs during it.
  local check t
  for t in py-sample.greet "$tool"; do
    for _ in $(seq 1 600); do
      check=$(curl -s -X POST "http://$addr/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
        -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H "mcp-name: $t" "${auth_header[@]}" -d "$(call_of "$t")")
      if echo "$check" | grep -q 'Hello, Load! You are'; then break; fi
      sleep 0.1
    done
    echo "$check" | grep -q 'Hello, Load! You are' || { echo "$name: sanity call of $t failed: $check" >&2; exit 1; }
  done
  echo "== warden ($name): tools/call $tool, $CONNS connections, $DURATION" >&2
  local perf_pid=
  if [[ -n ${PROFILE:-} && $name == "${PROFILE_RUN:-authenticated}" ]]; then
    perf record -q ${PERF_OPTS:--F 1999} -p "$pid" -o "$work/perf.data" 2>/dev/null &
    perf_pid=$!
  fi
  run_wrk "http://$addr/mcp" "$call" "$extra" "$pid"
  cp "$work/wrk.txt" "$work/wrk-$name.txt"
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    profile_report "$work/perf.data" >&2
    if [[ -n ${PERF_KEEP:-} ]]; then cp "$work/perf.data" "$PERF_KEEP"; fi
  fi
  kill "$pid"
}

warden_rps=$(run_warden unauthenticated '[auth]
mode = "none"')
auth_rps=$(run_warden authenticated '[auth]
mode = "local"')
via_rmcp_rps=$(VIA_RMCP=1 run_warden authenticated-via-rmcp '[auth]
mode = "local"')
nocache_rps=$(run_warden authenticated-no-cache '[auth]
mode = "local"
token_cache_entries = 0')
python_rps=$(run_warden python '[auth]
mode = "none"' py-sample.greet)
# The Python plugin's latency per call on its own: one connection, one request at a time.
python1_rps=$(CONNS=1 THREADS=1 run_warden python-one-connection '[auth]
mode = "none"' py-sample.greet)

# --- rmcp with a native tool ----------------------------------------------------------------------
start native "$TARGET/release/examples/rmcp_native" 127.0.0.1:0
native_addr=$(address_of native)
echo "== rmcp native tool: canned result, $CONNS connections, $DURATION" >&2
native_rps=$(run_wrk "http://$native_addr/mcp" "$call" "$headers" "${pids[-1]}")
cp "$work/wrk.txt" "$work/wrk-native.txt"
kill "${pids[-1]}"

# --- Bare axum handler ----------------------------------------------------------------------------
start bare "$TARGET/release/examples/bare_handler" 127.0.0.1:0
bare_addr=$(address_of bare)
echo "== bare axum handler: canned result, $CONNS connections, $DURATION" >&2
bare_rps=$(run_wrk "http://$bare_addr/mcp" "$call" "" "${pids[-1]}")
cp "$work/wrk.txt" "$work/wrk-bare.txt"

# --- The table --------------------------------------------------------------------------------------
# percentile FILE P: wrk's latency at percentile P (50 or 99) in ms.
percentile() {
  awk -v p="$2%" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' "$1"
}
echo "$(date -u +%Y-%m-%d): tools/call over HTTP, $CONNS connections, $DURATION each, $wrk_mode"
# cpu FILE: the server's CPU time per request in µs (see run_wrk).
cpu() { awk '/^Server CPU per request:/ { print $5 }' "$1"; }
printf '| %-44s | %10s | %8s | %8s | %7s | %12s |\n' "" "requests/s" "p50 ms" "p99 ms" "of bare" "CPU us/req"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "------------" "----------" "----------" "---------" "--------------"
row() {
  printf '| %-44s | %10.0f | %8s | %8s | %6.1f%% | %12s |\n' "$1" "$2" "$(percentile "$work/wrk-$3.txt" 50)" "$(percentile "$work/wrk-$3.txt" 99)" "$(awk -v a="$2" -v b="$bare_rps" 'BEGIN { print 100 * a / b }')" "$(cpu "$work/wrk-$3.txt")"
}
row "bare axum handler, canned answer" "$bare_rps" bare
row "rmcp Streamable HTTP, native tool" "$native_rps" native
row "Warden, auth.mode = none" "$warden_rps" unauthenticated
row "Warden, local token, cache on" "$auth_rps" authenticated
row "Warden, local token, cache on, via rmcp" "$via_rmcp_rps" authenticated-via-rmcp
row "Warden, local token, cache off" "$nocache_rps" authenticated-no-cache
row "Warden, auth.mode = none, Python plugin" "$python_rps" python
row "same, Python plugin, 1 connection" "$python1_rps" python-one-connection
awk -v r="$via_rmcp_rps" -v w="$warden_rps" -v a="$auth_rps" -v x="$nocache_rps" -v n="$native_rps" -v b="$bare_rps" -v c="$CONNS" -v py="$python_rps" -v py1="$python1_rps" 'BEGIN {
  printf "connections=%s warden_rps=%.0f authenticated_rps=%.0f authenticated_no_cache_rps=%.0f python_rps=%.0f python_one_connection_rps=%.0f rmcp_native_rps=%.0f bare_rps=%.0f\n", c, w, a, x, py, py1, n, b
  printf "warden/bare=%.1f%% authenticated/bare=%.1f%% warden/rmcp_native=%.1f%% authenticated/unauthenticated=%.1f%% (no cache: %.1f%%)\n",
    100 * w / b, 100 * a / b, 100 * w / n, 100 * a / w, 100 * x / w
  printf "own stateless path/through rmcp server (authenticated)=%.2fx\n", a / r }'

#!/usr/bin/env bash
# The same tool over HTTP, side by side in one run, driven by wrk as in bench/load.sh:
#   sample.greet     - Warden, the Rust plugin (plugins/sample)
#   py-sample.greet  - Warden, the Python plugin (plugins/py-sample, componentize-py)
#   ts-sample.greet  - Warden, the TypeScript plugin (plugins/ts-sample, componentize-js)
#   fastmcp greet    - the same tool in FastMCP (bench/fastmcp_greet.py), stateless HTTP, JSON
# Warden runs with auth.mode = "none" (FastMCP has no auth either) and 2026-07-28 requests;
# FastMCP gets 2025-06-18 requests (stateless: no session either). Needs `make plugins` first and
# installs fastmcp from PyPI into target/bench-py (for this benchmark only).
#
#   bench/languages.sh                 # 16 connections, 10 s each
#   CONNS=32 DURATION=20s bench/languages.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
TARGET=${CARGO_TARGET_DIR:-target}
VENV=$TARGET/bench-py

. bench/lib.sh

cargo build --release -q -p warden --bin warden
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import fastmcp' 2>/dev/null || "$VENV/bin/pip" install -q --disable-pip-version-check fastmcp

mkdir -p "$work/plugins"
for p in sample py-sample ts-sample; do
  cp "$TARGET/wasm32-wasip2/release/$(echo $p | tr - _).wasm" "$work/plugins/$p.wasm"
  cp "plugins/$p/plugin.toml" "$work/plugins/$p.toml"
done
printf '[server]\nbind = "127.0.0.1:0"\ndata_dir = "%s"\n[plugins]\ndir = "%s"\n[auth]\nmode = "none"\n[limits]\ncaller_calls_per_s = 1000000000\ncaller_burst = 1000000000\ncaller_concurrency = 0\nplugin_calls_per_s = 1000000000\nplugin_burst = 1000000000\n' \
  "$work/data" "$work/plugins" >"$work/warden.toml"
WARDEN_LOG=warn start warden "$TARGET/release/warden" serve --config "$work/warden.toml"
addr=$(address_of warden)
until curl -sf "http://$addr/readyz" >/dev/null; do sleep 0.05; done

# rps_warden TOOL: requests/s of tools/call TOOL through Warden.
rps_warden() {
  local tool=$1 call headers check
  call='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"'$tool'","arguments":{"name":"Load"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
  headers='wrk.headers["Mcp-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "'$tool'"'
  check=$(curl -s -X POST "http://$addr/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H "mcp-name: $tool" -d "$call")
  echo "$check" | grep -q 'Hello, Load! You are' || { echo "$tool: sanity call failed: $check" >&2; exit 1; }
  echo "== warden: tools/call $tool, $CONNS connections, $DURATION" >&2
  run_wrk "http://$addr/mcp" "$call" "$headers"
}

# Plugins compile in the background after start: measure only once all three answer.
for tool in sample.greet py-sample.greet ts-sample.greet; do
  for _ in $(seq 1 600); do
    curl -s -X POST "http://$addr/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H "mcp-name: $tool" \
      -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"'$tool'","arguments":{"name":"Load"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' \
      | grep -q 'Hello, Load!' && break
    sleep 0.1
  done
done

rust_rps=$(rps_warden sample.greet)
py_rps=$(rps_warden py-sample.greet)
ts_rps=$(rps_warden ts-sample.greet)
kill "${pids[-1]}"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start fastmcp "$VENV/bin/python" bench/fastmcp_greet.py "$port"
fm_call='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"greet","arguments":{"name":"Load"}}}'
for _ in $(seq 1 200); do
  curl -s -X POST "http://127.0.0.1:$port/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H 'mcp-protocol-version: 2025-06-18' -d "$fm_call" 2>/dev/null | grep -q 'Hello, Load!' && break
  sleep 0.1
done
echo "== fastmcp: tools/call greet, $CONNS connections, $DURATION" >&2
fm_rps=$(run_wrk "http://127.0.0.1:$port/mcp" "$fm_call" 'wrk.headers["Mcp-Protocol-Version"] = "2025-06-18"')

awk -v r="$rust_rps" -v p="$py_rps" -v t="$ts_rps" -v f="$fm_rps" -v c="$CONNS" 'BEGIN {
  printf "connections=%s rust_rps=%.0f python_rps=%.0f typescript_rps=%.0f fastmcp_rps=%.0f\n", c, r, p, t, f
  printf "python/fastmcp=%.2fx typescript/fastmcp=%.2fx python/rust=%.1f%% typescript/rust=%.1f%%\n",
    p / f, t / f, 100 * p / r, 100 * t / r }'

#!/usr/bin/env bash
# Resident memory of Warden with N calls in flight at once, per language: N concurrent calls of a
# tool that loops until its time limit (misbehaving.spin in Rust, py-errors.spin in Python,
# ts-errors.spin in TypeScript: each holds a fresh instance for the whole limit), sampling the
# server's VmRSS while they run. Prints the idle RSS (after one call of each plugin), the peak
# with N in flight, and the difference per call. Needs `make plugins` first.
#
#   bench/memory.sh           # N=16
#   N=32 bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-16}
TARGET=${CARGO_TARGET_DIR:-target}
CONNS=1 DURATION=1s THREADS=1
. bench/lib.sh

cargo build --release -q -p warden --bin warden

mkdir -p "$work/plugins"
install_plugin() { # NAME SOURCE_DIR
  cp "$TARGET/wasm32-wasip2/release/$(echo "$1" | tr - _).wasm" "$work/plugins/$1.wasm"
  cp "$2/plugin.toml" "$work/plugins/$1.toml"
}
install_plugin misbehaving tests/plugins/misbehaving
install_plugin py-errors tests/plugins/py-errors
install_plugin ts-errors tests/plugins/ts-errors
printf '[server]\nbind = "127.0.0.1:0"\ndata_dir = "%s"\n[plugins]\ndir = "%s"\n[auth]\nmode = "none"\n[runtime]\nmax_instances = %s\n[limits]\ncaller_calls_per_s = 1000000000\ncaller_burst = 1000000000\ncaller_concurrency = 0\nplugin_calls_per_s = 1000000000\nplugin_burst = 1000000000\n' \
  "$work/data" "$work/plugins" "$((N + 4))" >"$work/warden.toml"
WARDEN_LOG=warn start warden "$TARGET/release/warden" serve --config "$work/warden.toml"
pid=${pids[-1]}
addr=$(address_of warden)
until curl -sf "http://$addr/readyz" >/dev/null; do sleep 0.05; done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

# call TOOL: one tools/call; prints its answer.
call() {
  curl -s -X POST "http://$addr/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H "mcp-name: $1" \
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"'"$1"'","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' 
}

# Plugins compile in the background after start: wait until each has answered once.
for tool in misbehaving.spin py-errors.spin ts-errors.spin; do
  for _ in $(seq 1 600); do
    call "$tool" | grep -q 'time limit' && break
    sleep 0.1
  done
done
idle=$(rss_kib)
echo "idle (after one call of each): $((idle / 1024)) MiB"

for tool in misbehaving.spin py-errors.spin ts-errors.spin; do
  base=$(rss_kib)
  for _ in $(seq 1 "$N"); do call "$tool" >/dev/null & done
  peak=$base
  for _ in $(seq 1 40); do
    now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.025
  done
  wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
  awk -v t="$tool" -v n="$N" -v b="$base" -v p="$peak" 'BEGIN {
    printf "%-18s %d in flight: RSS %.0f -> %.0f MiB, +%.1f MiB per call\n", t, n, b / 1024, p / 1024, (p - b) / 1024 / n }'
done

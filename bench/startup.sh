#!/usr/bin/env bash
# Start-up with N plugins (issue 17): N copies of `sample` as distinct plugins (s1 ... sN), auth
# none. For each N: a cold start (empty compiled-code cache), then a warm restart (cache full),
# each timed from exec to /readyz answering 200, with resident memory once ready; then one hot
# reload of one plugin among the N, timed from the rename to the new version serving. Prints
# the plugin-count table. Needs `make plugins` first.
#
#   bench/startup.sh                 # N = 10, 100, 1000
#   COUNTS="100 1000" bench/startup.sh
#   WARDEN_BIN=target/debug/warden bench/startup.sh   # another build (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."

COUNTS=${COUNTS:-"10 100 1000"}
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${WARDEN_BIN:-}" ]; then
  cargo build --release -q -p warden --bin warden
  WARDEN_BIN=$TARGET/release/warden
fi
WASM=$TARGET/wasm32-wasip2/release/sample.wasm
[ -f "$WASM" ] || { echo "$WASM is missing: run make plugins" >&2; exit 1; }

work=$(mktemp -d)
pid=
# The server was normally stopped already: a failed kill must not end the trap (set -e) before
# the scratch directory is removed, nor turn a finished run's exit status into 1.
cleanup() {
  if [ -f "$work/pid" ]; then kill "$(cat "$work/pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# start N: runs warden on the directory for N plugins; echoes "ms_to_ready rss_mib", leaves $pid.
start() {
  local t0 addr
  t0=$(now_ms)
  WARDEN_LOG=info "$WARDEN_BIN" serve --config "$work/$1/warden.toml" >"$work/$1/out" 2>"$work/$1/err" &
  pid=$!
  echo "$pid" >"$work/pid"
  for _ in $(seq 1 6000); do
    addr=$(sed -n 's/^listening on http:\/\///p' "$work/$1/out" 2>/dev/null)
    if [ -n "$addr" ] && curl -sf "http://$addr/readyz" >/dev/null 2>&1; then
      echo "$(( $(now_ms) - t0 )) $(rss_mib "$pid") $addr"
      return
    fi
    sleep 0.01
  done
  echo "warden did not become ready with $1 plugins: $(tail -5 "$work/$1/err")" >&2
  exit 1
}
stop() {
  pid=$(cat "$work/pid")
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  pid=
}

printf '%-8s %14s %12s %14s %12s %16s\n' plugins "cold start ms" "cold MiB" "warm start ms" "warm MiB" "one reload ms"
for n in $COUNTS; do
  dir=$work/$n
  mkdir -p "$dir/plugins" "$dir/data"
  for i in $(seq 1 "$n"); do
    cp "$WASM" "$dir/plugins/s$i.wasm"
    sed "s/^name = \"sample\"/name = \"s$i\"/" plugins/sample/plugin.toml >"$dir/plugins/s$i.toml"
  done
  printf '[server]\nbind = "127.0.0.1:0"\ndata_dir = "%s"\n[plugins]\ndir = "%s"\npoll_interval_ms = 100\n[auth]\nmode = "none"\n' \
    "$dir/data" "$dir/plugins" >"$dir/warden.toml"
  read -r cold_ms cold_mib _ < <(start "$n")
  stop
  read -r warm_ms warm_mib addr < <(start "$n")
  # One hot reload among n: replace s1 (another build: a custom section appended changes nothing
  # the plugin does, only its bytes) and wait until the log says it loaded.
  loads_before=$(grep -c 'plugin loaded' "$dir/err" || true)
  t0=$(now_ms)
  { cat "$WASM"; printf '\x00\x08\x06reload\x00'; } >"$dir/plugins/.s1.tmp"
  mv "$dir/plugins/.s1.tmp" "$dir/plugins/s1.wasm"
  until [ "$(grep -c 'plugin loaded' "$dir/err" || true)" -gt "$loads_before" ]; do sleep 0.005; done
  reload_ms=$(( $(now_ms) - t0 ))
  stop
  printf '%-8s %14s %12s %14s %12s %16s\n' "$n" "$cold_ms" "$cold_mib" "$warm_ms" "$warm_mib" "$reload_ms"
done
echo "(one reload includes up to two poll intervals, 2 x 100 ms, of the directory watcher's debounce)"

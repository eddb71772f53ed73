# Shared by the load scripts (bench/load.sh, bench/languages.sh): a scratch directory, background
# servers stopped on exit, and wrk driven with a JSON-RPC POST. Source it after setting CONNS,
# DURATION and THREADS.
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk (make load does)" >&2; exit 1; }

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

# CPU time (user + system, all threads) process $1 has used so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# WRK_SCHED=batch runs wrk under SCHED_BATCH (`chrt --batch 0`): a batch task's wake-ups never
# preempt a running task, so the server is no longer switched out each time its answer wakes wrk
# (about one involuntary context switch per two requests otherwise). That is closer to a load
# generator on another machine; the default, plain wrk, is how the issue's figures were measured.
# wrk_mode: the heading's words for how wrk ran.
case ${WRK_SCHED:-} in
  "") wrk_launcher=() wrk_mode="wrk on the same machine" ;;
  batch) wrk_launcher=(chrt --batch 0) wrk_mode="wrk under SCHED_BATCH on the same machine" ;;
  *) echo "WRK_SCHED=$WRK_SCHED: use batch, or leave it unset for plain wrk" >&2; exit 1 ;;
esac

# wrk's requests/s for a POST of $2 to $1 with extra header lines in $3. With a server pid in $4,
# also appends the server's CPU time per request (user + system, in µs) to wrk's report as a line
# "Server CPU per request: N us": a steadier measure than requests/s on a shared machine, since
# wrk and the server share the cores.
run_wrk() {
  local url=$1 body=$2 headers=$3 server=${4:-} script="$work/post.lua" before=
  {
    echo 'wrk.method = "POST"'
    printf 'wrk.body = [[%s]]\n' "$body"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo 'wrk.headers["Accept"] = "application/json, text/event-stream"'
    printf '%s\n' "$headers"
  } >"$script"
  if [[ -n $server ]]; then before=$(cpu_ticks "$server"); fi
  "${wrk_launcher[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$script" "$url" >"$work/wrk.txt"
  if [[ -n $server ]]; then
    awk -v t="$(($(cpu_ticks "$server") - before))" -v hz="$(getconf CLK_TCK)" \
      '/ requests in / { printf "Server CPU per request: %.1f us\n", t * 1e6 / hz / $1 }' "$work/wrk.txt" >>"$work/wrk.txt"
  fi
  if grep -q 'Non-2xx' "$work/wrk.txt"; then cat "$work/wrk.txt" >&2; echo "errors during the run" >&2; exit 1; fi
  cat "$work/wrk.txt" >&2
  awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt"
}


# Prints the top costs in perf data file $1: by symbol (self time), then grouped by where the
# symbol comes from (kernel, wasm guest code, and the crate of a Rust symbol).
profile_report() {
  local data=$1
  echo "== profile: top symbols (self time, % of Warden's samples)"
  perf report -i "$data" --no-inline --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/[ -]+$//' | cut -c1-150 | head -40
  echo "== profile: by origin"
  perf report -i "$data" --no-inline --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | awk '
    { pct = $1; sub(/%/, "", pct); dso = $2; sym = $0; sub(/^ *[0-9.]+% +[^ ]+ +\[[^]]*\] +/, "", sym)
      if (dso ~ /kernel/) key = "kernel"
      else if (dso ~ /^libc/) key = "libc"
      else if (dso ~ /jitted|perf-|\[unknown\]|memfd/) key = "wasm guest / jitted"
      else if (match(sym, /^(<)?[a-z_0-9]+::/)) { key = substr(sym, RSTART, RLENGTH); sub(/^</, "", key); sub(/::$/, "", key) }
      else key = dso
      total[key] += pct }
    END { for (k in total) printf "%6.2f%%  %s\n", total[k], k }' | sort -rn | head -25
}

#!/usr/bin/env bash
# Two builds of vestibule, A and B, on the admitted path in alternating
# rounds of one run: the paired comparison the shared harness (one proxy
# per run) cannot give, for changes smaller than the noise between runs.
#
#   benches/harness/ab.sh A_BINARY B_BINARY [ROUNDS] [SECONDS]
#
# A_TOML and B_TOML, when set, are added to A's and B's configuration,
# in place of its tables of the same names (the same binary twice with
# two settings: B_TOML=$'[log]\naccess = "text"'). FILE in them is
# replaced by a scratch directory for files they write.
#
# Same layout as compare.sh: wrk (-t1 -c64) on CPU 0, backend and proxy on
# CPU 1, one worker. Each round starts both proxies afresh in turn, warms up
# 1 s, runs wrk, and reads the proxy's CPU time from /proc. Prints req/s,
# CPU µs per request and p99 (µs) for each round, then the medians and the
# median of the per-round B/A ratios. Needs wrk, taskset and the bench
# backend.
set -euo pipefail
a=$1 b=$2 rounds=${3:-8} secs=${4:-5}
here=$(cd "$(dirname "$0")" && pwd)
backend=${BACKEND_BIN:-/tmp/bench-backend/release/bench-backend}
tmp=$(mktemp -d)
taskset -c 1 "$backend" --port 18080 --threads 1 >/dev/null 2>&1 &
bpid=$!
trap 'kill $bpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
sed 's/18081/18082/' "$here/callgrind-admitted.toml" >"$tmp/ab.toml"
for side in a b; do
  extra=$([ $side = a ] && echo "${A_TOML:-}" || echo "${B_TOML:-}")
  tables=$(grep -o '^\[[^]]*\]' <<<"$extra" | tr '\n' ' ' || true)
  { awk -v t=" $tables" '/^\[/ { skip = index(t, " " $1 " ") > 0 } !skip' "$tmp/ab.toml"
    echo "${extra//FILE/$tmp}"; } >"$tmp/ab-$side.toml"
done
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
one() { # binary side -> "req/s cpu_us_per_req p99_us"
  TOKIO_WORKER_THREADS=1 RUST_LOG=warn taskset -c 1 "$1" --config "$tmp/ab-$2.toml" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:18082/ && break; sleep 0.1; done
  taskset -c 0 wrk -t1 -c64 -d1s -s "$here/session.lua" http://127.0.0.1:18082/ >/dev/null
  local c0; c0=$(cpu $pid)
  local out; out=$(taskset -c 0 wrk -t1 -c64 -d"${secs}s" --latency -s "$here/session.lua" http://127.0.0.1:18082/)
  local c1; c1=$(cpu $pid)
  kill $pid; wait $pid 2>/dev/null || true
  local n; n=$(echo "$out" | awk '/requests in/ {print $1}')
  # wrk --latency prints "99%  2.05ms" (us, ms or s).
  echo "$out" | awk -v n="$n" -v c="$(echo "$c1 - $c0" | bc -l)" '
    /^ +99%/ { v = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u)
               p99 = (u == "us") ? v : (u == "ms") ? v * 1e3 : v * 1e6 }
    /Requests\/sec/ { rps = $2 }
    END { printf "%.0f %.2f %.0f\n", rps, c * 1e6 / n, p99 }'
}
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then ra=$(one "$a" a); rb=$(one "$b" b); else rb=$(one "$b" b); ra=$(one "$a" a); fi
  echo "round $r: A $ra  B $rb"
done | tee "$tmp/rounds"
python3 - "$tmp/rounds" <<'PY'
import sys, statistics as st
A=[];B=[]
for l in open(sys.argv[1]):
    f=l.split(); A.append(tuple(map(float,f[3:6]))); B.append(tuple(map(float,f[7:10])))
med=st.median
for name, X in (("A", A), ("B", B)):
    print(f"{name}: {med(x[0] for x in X):,.0f} req/s, {med(x[1] for x in X):.2f} us/req, p99 {med(x[2] for x in X):,.0f} us")
r=lambda i: med(b[i]/a[i] for a,b in zip(A,B))
print(f"B/A per round, median: req/s {r(0):.3f}, CPU per request {r(1):.3f}, p99 {r(2):.3f}")
PY

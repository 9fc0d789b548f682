#!/usr/bin/env bash
# User and system CPU per request of a proxy on 127.0.0.1:18081, read
# from /proc/PID/stat around a 5-second wrk run (after a 1-second warm-up),
# in compare.sh's pinned layout: wrk on CPU 0, backend and proxy on CPU 1.
# Tells where a difference in CPU per request lies: callgrind sees only
# user space, and the harness reports only the sum.
#
#   benches/harness/usersys.sh NAME CMD...
#
# Examples (from the repository root, after cargo build --release):
#   benches/harness/usersys.sh vestibule target/release/vestibule --config benches/harness/callgrind-admitted.toml
#   benches/harness/usersys.sh nginx nginx -c "$PWD/benches/harness/callgrind-nginx.conf"
# Needs wrk; CMD must run in the foreground as the process that serves.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=$1
shift
mkdir -p /tmp/vestibule-callgrind/nginx
taskset -c 1 "${BACKEND_BIN:-/tmp/bench-backend/release/bench-backend}" --port 18080 --threads 1 >/dev/null 2>&1 &
bpid=$!
TOKIO_WORKER_THREADS=1 RUST_LOG=warn taskset -c 1 "$@" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid $bpid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  sleep 0.2
  curl -s -o /dev/null 127.0.0.1:18081/ && break
done
load() { taskset -c 0 wrk -t1 -c64 -d"$1" -s "$here/session.lua" http://127.0.0.1:18081/; }
load 1s >/dev/null
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
out=$(load 5s)
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
n=$(awk '/requests in/ {print $1}' <<<"$out")
tck=$(getconf CLK_TCK)
python3 -c "
u = ($u1 - $u0) / $tck; s = ($s1 - $s0) / $tck; n = $n
print(f'$name: {n / 5:.0f} req/s, user {u * 1e6 / n:.2f} us/request, system {s * 1e6 / n:.2f}, total {(u + s) * 1e6 / n:.2f}')"

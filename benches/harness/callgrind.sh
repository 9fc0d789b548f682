#!/usr/bin/env bash
# User-space instructions per request of a server, counted by callgrind:
# exact and repeatable, unlike timings on a shared machine, so it can tell
# a 3 % change apart. (It does not see the kernel, where a proxy spends
# about half its time; the timed harness, ../shared/bench/run.sh, does.)
#
#   benches/harness/callgrind.sh NAME REQUESTS CMD...
#
# CMD must listen on 127.0.0.1:18081; a backend (BACKEND_BIN, the shared
# harness's hello-world) is started on 127.0.0.1:18080. benches/harness/load.py
# sends 2,000 warm-up requests, the counters are zeroed, then REQUESTS more
# over 16 keep-alive connections, keeping a session cookie as a browser
# does. LOADPATH and LOADEXTRA (extra header lines, each ending in \r\n)
# change the request. Needs valgrind and python3.
#
# Examples (from the repository root, after cargo build --release):
#   benches/harness/callgrind.sh admitted 5000 target/release/vestibule --config benches/harness/callgrind-admitted.toml
#   LOADPATH='/_vestibule/status?room=bench' benches/harness/callgrind.sh status 5000 \
#       target/release/vestibule --config benches/harness/callgrind-lobby.toml
#   benches/harness/callgrind.sh nginx 5000 nginx -c "$PWD/benches/harness/callgrind-nginx.conf"
set -euo pipefail
name=$1 n=$2
shift 2
source "$(dirname "$0")/common.sh"
TOKIO_WORKER_THREADS=1 RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/$name.out" "$@" >"$out/$name.log" 2>&1 &
pid=$!
trap 'kill $pid $bpid 2>/dev/null || true' EXIT
wait_for_server
load 2000
rm -f "$out/$name.out"*
callgrind_control -z "$pid" >/dev/null 2>&1
load "$n"
callgrind_control -d "$pid" >/dev/null 2>&1
sleep 0.5
ir=$(awk '/^summary:/ {print $2; exit}' "$out/$name.out.1")
echo "$name: $((ir / n)) instructions per request (callgrind_annotate $out/$name.out.1)"

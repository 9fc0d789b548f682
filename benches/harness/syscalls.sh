#!/usr/bin/env bash
# System calls per request of a server, counted by strace: what the kernel
# side of a request costs, which callgrind (callgrind.sh) does not see.
#
#   benches/harness/syscalls.sh NAME REQUESTS CMD...
#
# Same set-up as callgrind.sh: CMD listens on 127.0.0.1:18081, the shared
# harness's backend runs on 127.0.0.1:18080, benches/harness/load.py sends
# 2,000 warm-up requests before strace attaches to every thread of CMD, then
# REQUESTS more over 16 keep-alive connections. Prints the calls per request
# of each system call made at least once per 100 requests. Needs strace and
# python3.
#
#   benches/harness/syscalls.sh admitted 20000 target/release/vestibule --config benches/harness/callgrind-admitted.toml
#   benches/harness/syscalls.sh nginx 20000 nginx -c "$PWD/benches/harness/callgrind-nginx.conf"
set -euo pipefail
name=$1 n=$2
shift 2
source "$(dirname "$0")/common.sh"
TOKIO_WORKER_THREADS=1 RUST_LOG=warn "$@" >"$out/$name.syscalls.log" 2>&1 &
pid=$!
spid=
trap 'kill $pid $bpid $spid 2>/dev/null || true' EXIT
wait_for_server
load 2000
strace -c -o "$out/$name.syscalls" -p "$(ls /proc/$pid/task | paste -sd,)" 2>/dev/null &
spid=$!
sleep 1
load "$n"
kill -INT $spid
wait $spid 2>/dev/null || true
echo "$name: system calls per request (strace -c, $out/$name.syscalls)"
# Rows are "% seconds usecs/call calls [errors] syscall": calls is field 4.
awk -v n="$n" '$4 ~ /^[0-9]+$/ && $NF != "total" && $4 / n >= 0.01 {
    printf "  %-14s %.2f\n", $NF, $4 / n
}' "$out/$name.syscalls"

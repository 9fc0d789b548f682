#!/usr/bin/env bash
# vestibule side by side with nginx, HAProxy and the direct backend, through
# the shared harness (../shared/bench/run.sh), in the pinned layout that was
# steadiest on the 2-core machine: wrk on CPU 0, backend and proxies on
# CPU 1, every proxy with one worker.
#
#   benches/harness/compare.sh WORKLOAD [ROUNDS]
#
# WORKLOAD is one of
#   admitted      a visitor with a valid session cookie, proxied
#   floor         examples/floor_proxy: hyper + vestibule's pool, no gate
#   lobby-status  a queued visitor polling /_vestibule/status
#   lobby-page    a queued visitor reloading the HTML waiting page
# Results go to bench-results/<WORKLOAD>-<time>/ (summary.txt, results.csv).
# Needs: cargo build --release --bins --examples, nginx, haproxy, wrk.
# VESTIBULE_BIN=path runs that binary instead of target/release/vestibule.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/benches/harness
shared=${SHARED_BENCH:-$root/../shared/bench}
workload=${1:?usage: compare.sh admitted|floor|lobby-status|lobby-page [ROUNDS]}
rounds=${2:-3}
# VESTIBULE_BIN: another build to measure (an older commit, for an A/B).
bin=${VESTIBULE_BIN:-$root/target/release/vestibule}
run=(env TOKIO_WORKER_THREADS=1 RUST_LOG=warn "$bin" --config "{CONFIG}")
case $workload in
  admitted) cfg=vestibule.toml script=session.lua ;;
  floor) cfg="" script="" ;;
  lobby-status) cfg=lobby.toml script=lobby-status.lua ;;
  lobby-page) cfg=lobby.toml script=lobby-page.lua ;;
  *) echo "unknown workload: $workload" >&2; exit 2 ;;
esac
export PIN=custom LOADGEN_CPUS=0 BACKEND_CPUS=1 PROXY_CPUS=1
export ROUNDS=$rounds WRK_DURATION=${WRK_DURATION:-5s} WARMUP=${WARMUP:-1s}
export RESULTS_DIR=${RESULTS_DIR:-$root/bench-results/$workload-$(date +%Y%m%d-%H%M%S)}
if [ -x /tmp/bench-backend/release/bench-backend ]; then
  export BACKEND_BIN=${BACKEND_BIN:-/tmp/bench-backend/release/bench-backend}
fi
if [ "$workload" = floor ]; then
  export PROXY_NAME=floor
  export PROXY_CMD="$root/target/release/examples/floor_proxy 127.0.0.1:{PORT} http://{BACKEND}"
else
  export PROXY_NAME=vestibule
  export PROXY_CONFIG_TEMPLATE=$here/$cfg WRK_SCRIPT=$here/$script
  export PROXY_CMD="${run[*]}"
fi
exec bash "$shared/run.sh"

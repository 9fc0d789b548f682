#!/usr/bin/env bash
# Memory and upstream connections held by HTTP/2 clients that never read
# (docs/BENCHMARKS.md, "Clients that never read"): N connections, each opening its windows
# wide and asking 200 times for a 0.5 MB ungated asset, never reading.
#
#   benches/harness/h2_stall.sh BINARY [CONNS] [SECONDS]
#
# BINARY is a vestibule to run (the build before a change and after, in
# turn). Prints a line a second and a RESULT line of peaks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: h2_stall.sh BINARY [CONNS] [SECONDS]}
conns=${2:-6}
seconds=${3:-75}
backend=${BACKEND_BIN:-/tmp/bench-backend/release/bench-backend}
if [ ! -x "$backend" ]; then
  (cd "$here/../../../shared/bench/backend" && CARGO_TARGET_DIR=/tmp/bench-backend cargo build --release -q)
fi
tmp=$(mktemp -d)
cat > "$tmp/vestibule.toml" <<TOML
[server]
listen = "127.0.0.1:18081"
admin_listen = "127.0.0.1:0"
upstream = "http://127.0.0.1:18080"

[[room]]
name = "registration"
paths = ["/register"]
capacity = 100
TOML
"$backend" --port 18080 --threads 1 --body-bytes 524288 >/dev/null 2>&1 &
bpid=$!
RUST_LOG=warn "$bin" --config "$tmp/vestibule.toml" >"$tmp/vestibule.log" 2>&1 &
vpid=$!
trap 'kill $vpid $bpid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  sleep 0.1
  curl -s -o /dev/null 127.0.0.1:18081/register && break
done
python3 "$here/h2_stall.py" 18081 "$vpid" 18080 "$conns" 200 "$seconds" /

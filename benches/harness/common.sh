# Sourced by callgrind.sh and syscalls.sh: the shared set-up. Starts the
# shared harness's hello-world backend (BACKEND_BIN) on 127.0.0.1:18080 and
# gives helpers to wait for the server under test on 127.0.0.1:18081 and to
# load it with benches/harness/load.py (LOADPATH, LOADEXTRA).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT_DIR:-/tmp/vestibule-callgrind}
mkdir -p "$out/nginx"
"${BACKEND_BIN:-/tmp/bench-backend/release/bench-backend}" --port 18080 --threads 1 >/dev/null 2>&1 &
bpid=$!

# Waits up to 20 s for the server under test to answer.
wait_for_server() {
  for _ in $(seq 100); do
    sleep 0.2
    curl -s -o /dev/null 127.0.0.1:18081/ && return
  done
}

# Sends N keep-alive GETs over 16 connections, keeping cookies.
load() {
  python3 "$here/load.py" 127.0.0.1 18081 "$1" 16 "${LOADPATH:-/}" "${LOADEXTRA:-}"
}

#!/usr/bin/env bash
# TLS at both ends, against nginx with the same certificate, in
# interleaved rounds of one run:
#
# 1. handshakes: `openssl s_time` against vestibule's TLS listener and
#    nginx's (`ssl_session_cache` and tickets on, as vestibule's), full
#    TLS 1.3 handshakes (-new) and resumed TLS 1.2 ones (-reuse):
#    handshakes a second and the server's CPU time per handshake (/proc);
# 2. keep-alive requests over TLS: wrk -t1 -c64 through each;
# 3. an https upstream: vestibule in front of nginx terminating TLS for
#    the backend, against the same over plain http (the pool pays the
#    handshake once per connection): req/s, CPU per request, and the
#    upstream connections opened.
#
#   benches/harness/tls.sh [ROUNDS] [SECONDS]
#
# Layout: clients on CPU 0, servers on CPU 1, one worker each. Needs
# openssl, nginx, wrk, taskset, the bench backend (BACKEND_BIN) and
# target/release/vestibule.
set -euo pipefail
rounds=${1:-3} secs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
vst=${VESTIBULE_BIN:-$root/target/release/vestibule}
backend=${BACKEND_BIN:-/tmp/bench-backend/release/bench-backend}
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

# One ECDSA P-256 certificate (what certbot issues by default) for both,
# signed by a CA of the run's own (rustls takes no CA's certificate as a
# server's).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=bench CA" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$tmp/key.pem" -out "$tmp/req.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tmp/ext.cnf"
openssl x509 -req -in "$tmp/req.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 30 -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" 2>/dev/null

taskset -c 1 "$backend" --port 18080 --threads 1 >/dev/null 2>&1 &
pids+=($!)

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 16384; use epoll; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/b; proxy_temp_path $tmp/nginx/p; fastcgi_temp_path $tmp/nginx/f; uwsgi_temp_path $tmp/nginx/u; scgi_temp_path $tmp/nginx/s;
  keepalive_requests 10000000;
  ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:tls:10m; ssl_session_tickets on;
  upstream bb { server 127.0.0.1:18080; keepalive 128; keepalive_requests 10000000; }
  # The edge: TLS for visitors, in front of the backend.
  server { listen 127.0.0.1:18443 ssl http2 backlog=4096;
    location / { proxy_pass http://bb; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  # The backend's TLS terminator, and the same backend in plain http.
  server { listen 127.0.0.1:18444 ssl backlog=4096;
    location / { proxy_pass http://bb; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:18445 backlog=4096;
    location / { proxy_pass http://bb; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
EOF
taskset -c 1 nginx -c "$tmp/nginx.conf" >/dev/null 2>&1 &
ngx=$!
pids+=($ngx)

vconf() { # listen-tls upstream extra -> config file text
  cat <<EOF
[server]
listen = "127.0.0.1:$1"
admin_listen = "127.0.0.1:0"
upstream = "$3"
$4
[server.tls]
listen = "127.0.0.1:$2"
cert_file = "$tmp/cert.pem"
key_file = "$tmp/key.pem"
[log]
access = "off"
EOF
}
vconf 18451 18453 http://127.0.0.1:18080 "" >"$tmp/edge.toml"
vconf 18461 18463 https://localhost:18444 "upstream_ca_file = \"$tmp/ca.pem\"" >"$tmp/up-https.toml"
vconf 18471 18473 http://127.0.0.1:18445 "" >"$tmp/up-http.toml"
for c in edge up-https up-http; do
  VESTIBULE_SECRET=bench-secret-0123456789abcdef0123456789 TOKIO_WORKER_THREADS=1 RUST_LOG=warn \
    taskset -c 1 "$vst" --config "$tmp/$c.toml" >"$tmp/$c.log" 2>&1 &
  pids+=($!)
  eval "pid_${c//-/_}=$!"
done
for p in 18080 18443 18453 18463 18473; do
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done

ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
# handshakes: port pid mode -> "handshakes/s cpu_us_per_handshake"
handshakes() {
  local c0 out c1 n
  c0=$(cpu "$2")
  # shellcheck disable=SC2086 # $3 is options
  out=$(taskset -c 0 openssl s_time -connect "127.0.0.1:$1" $3 -time "$secs" 2>&1)
  c1=$(cpu "$2")
  # "1234 connections in 5.01s; 246.3 connections/user sec, ..." then
  # "1234 connections in 6 real seconds, ..."
  n=$(echo "$out" | awk '/connections in [0-9]+ real seconds/ {print $1}' | tail -1)
  awk -v n="$n" -v s="$secs" -v c="$(echo "$c1 - $c0" | bc -l)" \
    'BEGIN { printf "%.0f %.0f\n", n / s, (n > 0 ? c * 1e6 / n : 0) }'
}
# requests: url pid -> "req/s cpu_us_per_req"
requests() {
  local c0 out c1
  taskset -c 0 wrk -t1 -c64 -d1s "$1" >/dev/null
  c0=$(cpu "$2")
  out=$(taskset -c 0 wrk -t1 -c64 -d"${secs}s" "$1")
  c1=$(cpu "$2")
  # Answers other than 2xx would be errors (a refused upstream): none allowed.
  if echo "$out" | grep -q "Non-2xx"; then echo "$1: $(echo "$out" | grep Non-2xx)" >&2; exit 1; fi
  echo "$out" | awk -v c="$(echo "$c1 - $c0" | bc -l)" '
    /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 }
    END { printf "%.0f %.1f\n", rps, c * 1e6 / n }'
}

printf '%-34s %s\n' "measure" "rounds (value cpu_us)"
declare -A results
for r in $(seq "$rounds"); do
  for mode in new reuse; do
    # Resumed handshakes in TLS 1.2: s_time closes a TLS 1.3 connection
    # before its session ticket arrives, so it never resumes one.
    opts=$([ $mode = new ] && echo "-new" || echo "-reuse -tls1_2")
    results["nginx $mode"]+="$(handshakes 18443 $ngx "$opts" | tr ' ' '/') "
    results["vestibule $mode"]+="$(handshakes 18453 $pid_edge "$opts" | tr ' ' '/') "
  done
  results["nginx https keep-alive"]+="$(requests https://127.0.0.1:18443/ $ngx | tr ' ' '/') "
  results["vestibule https keep-alive"]+="$(requests https://127.0.0.1:18453/ $pid_edge | tr ' ' '/') "
  results["vestibule -> http upstream"]+="$(requests http://127.0.0.1:18471/ $pid_up_http | tr ' ' '/') "
  results["vestibule -> https upstream"]+="$(requests http://127.0.0.1:18461/ $pid_up_https | tr ' ' '/') "
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for k in "nginx new" "vestibule new" "nginx reuse" "vestibule reuse" \
  "nginx https keep-alive" "vestibule https keep-alive" \
  "vestibule -> http upstream" "vestibule -> https upstream"; do
  v=${results[$k]}
  m1=$(echo "$v" | tr ' ' '\n' | cut -d/ -f1 | tr '\n' ' ' | median)
  m2=$(echo "$v" | tr ' ' '\n' | cut -d/ -f2 | tr '\n' ' ' | median)
  printf '%-34s %-40s median %s, cpu %s us\n' "$k" "$v" "$m1" "$m2"
done
# Upstream connections the https client opened: the handshakes it paid.
echo "nginx (TLS terminator) connections accepted from the https-upstream vestibule:" \
  "$(ss -Htn state established '( sport = :18444 )' | wc -l) open now"

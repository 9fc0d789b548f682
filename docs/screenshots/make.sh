#!/usr/bin/env bash
# Regenerates the screenshots in this directory: what visitors see in each
# state of the waiting room, at phone width (390 CSS pixels), taken from a
# real vestibule with headless chromium (driven by chromedriver, since
# `chromium --screenshot --window-size=390,...` lays the page out 500
# pixels wide and crops it). Run from anywhere: docs/screenshots/make.sh
#
# It builds vestibule, starts it on free loopback ports in front of a
# small site (python3's http.server), a site that never answers (504) and
# a closed port (502), fills some rooms so the places and estimates look
# like a real line, and has shoot.py take the pictures.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
. scripts/lib.sh
ensure_rust
apt_install chromium chromium-driver python3
cargo build --locked --bin vestibule
bin="${CARGO_TARGET_DIR:-target}/debug/vestibule"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
listen=$(port); admin=$(port); site=$(port); slow=$(port); dead=$(port)

# The site behind: any page will do.
mkdir -p "$work/site"
echo '<!doctype html><title>Registration</title><h1>Registration form</h1>' > "$work/site/index.html"
python3 -m http.server "$site" --bind 127.0.0.1 --directory "$work/site" >/dev/null 2>&1 &
pids+=($!)
# A site that takes connections and never answers: the 504 page.
python3 - "$slow" <<'PY' >/dev/null 2>&1 &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    held.append(s.accept()[0])
PY
pids+=($!)

# Times of an event whose doors open in an hour and a half, line open now.
start=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)
opens=$(date -u -d '+90 min' +%Y-%m-%dT%H:%M:%SZ)
line='capacity = 5
session_ttl = "1m"'
cat > "$work/vestibule.toml" <<TOML
[server]
listen = "127.0.0.1:$listen"
admin_listen = "127.0.0.1:$admin"
upstream = "http://127.0.0.1:$site"
response_timeout = "2s"

[page]
site_name = "Demo Conference"

[log]
access = "off"

[[room]]
name = "line"
title = "Registration"
paths = ["/line"]
$line

[[room]]
name = "notice"
title = "Registration"
paths = ["/notice"]
notice = "Payments are slow right now: we let fewer people in until it is fixed, around 10:15."
$line

[[room]]
name = "paused"
title = "Registration"
paths = ["/paused"]
$line

[[room]]
name = "closed"
title = "Registration"
paths = ["/closed"]
mode = "closed"
capacity = 100
notice = "Registration opens again on Monday at 9:00."

[[room]]
name = "countdown"
title = "Registration"
paths = ["/countdown"]
capacity = 100
[[room.event]]
name = "opening"
prequeue_from = "$start"
opens_at = "$opens"

[[room]]
name = "draw"
title = "Registration"
paths = ["/draw"]
capacity = 100
[[room.event]]
name = "opening"
prequeue_from = "$start"
opens_at = "$opens"
shuffle = true

[[room]]
name = "down"
title = "Registration"
paths = ["/down"]
capacity = 100
upstream = "http://127.0.0.1:$dead"

[[room]]
name = "slow"
title = "Registration"
paths = ["/slow"]
capacity = 100
upstream = "http://127.0.0.1:$slow"
TOML

VESTIBULE_SECRET="screenshots-only-$(date +%s%N)-0123456789abcdef" "$bin" --config "$work/vestibule.toml" >"$work/vestibule.log" 2>&1 &
pids+=($!)
ready() { python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$admin/readyz')" 2>/dev/null; }
for _ in $(seq 100); do ready && break; sleep 0.1; done
ready || { cat "$work/vestibule.log" >&2; exit 1; }

python3 "$here/shoot.py" "http://127.0.0.1:$listen" "http://127.0.0.1:$admin" "$here"

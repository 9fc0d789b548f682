"""HTTP/2 clients that never read, against a proxy on 127.0.0.1.

Each of CONNS connections opens its flow-control windows as wide as they
go, sends STREAMS GETs for PATH and never reads a byte. Every second for
SECONDS it prints the proxy's resident memory (VmRSS of PID) and the
proxy's open connections to the backend (ESTABLISHED TCP connections to
BACKEND_PORT, from /proc/net/tcp), then the peaks, and closes.

Usage: h2_stall.py PORT PID BACKEND_PORT CONNS STREAMS SECONDS [PATH]
"""
import socket
import struct
import sys
import time


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def client(port, streams, path):
    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    out += frame(0x4, 0, 0, struct.pack(">HI", 4, 0x7FFFFFFF))  # INITIAL_WINDOW_SIZE
    out += frame(0x8, 0, 0, struct.pack(">I", 0x7FFFFFFF - 65535))  # the connection's window
    p = path.encode()
    for i in range(streams):
        # :method GET, :scheme http (static table); :path, :authority literal.
        block = b"\x82\x86\x04" + bytes([len(p)]) + p + b"\x01\x01x"
        out += frame(0x1, 0x5, 2 * i + 1, block)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(out)
    return s


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def upstream_conns(backend_port):
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    remote, state = cols[2], cols[3]
                    if state == "01" and int(remote.split(":")[1], 16) == backend_port:
                        n += 1
        except FileNotFoundError:
            pass
    return n


def main():
    port, pid, backend_port, conns, streams, seconds = map(int, sys.argv[1:7])
    path = sys.argv[7] if len(sys.argv) > 7 else "/"
    base_rss = rss_kib(pid)
    socks = [client(port, streams, path) for _ in range(conns)]
    peak_rss, peak_up = base_rss, 0
    print(f"{'t_s':>4} {'rss_mib':>8} {'upstream_conns':>14}")
    for t in range(1, seconds + 1):
        time.sleep(1)
        rss, up = rss_kib(pid), upstream_conns(backend_port)
        peak_rss, peak_up = max(peak_rss, rss), max(peak_up, up)
        print(f"{t:>4} {rss / 1024:>8.1f} {up:>14}", flush=True)
    print(f"RESULT base_rss_mib={base_rss / 1024:.1f} peak_rss_mib={peak_rss / 1024:.1f} "
          f"peak_upstream_conns={peak_up} end_rss_mib={rss / 1024:.1f} end_upstream_conns={up}")
    for s in socks:
        s.close()


main()

#!/usr/bin/env python3
"""A soak of one egresslab lab under mixed load, with its memory and descriptors sampled.

Starts `egresslab up benches/soak/scenario.toml`, then for --seconds keeps five kinds of traffic
going at once, each from its own thread and each a real client of the lab:
  - tunnels: CONNECT through the plain proxy, a verified TLS handshake and an HTTP GET inside;
  - denied CONNECTs: the proxy's deny rule answers 403;
  - interception: CONNECT through the intercepting proxy to a fresh host name each time, so the
    proxy mints (and its bounded cache evicts) a leaf per name; the handshake and GET complete;
  - DNS: A queries to the lab's DNS server over UDP;
  - UDP: IKE_SA_INIT-shaped datagrams to the IKE responder.
Every 10 s it writes VmRSS, VmHWM, the open descriptor count and the operation counters of the
lab process to a CSV, and at the end an SVG plot of RSS and descriptors over time.

Usage: benches/soak/run.py --binary target/release/egresslab [--seconds 1800] [--out DIR]
Loopback only: every address comes from the lab's ready file, all 127.0.0.1.
"""

import argparse
import csv
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def loopback(addr: str) -> tuple:
    host, port = addr.rsplit(":", 1)
    if not host.startswith("127."):
        raise SystemExit(f"soak: {addr} is not a loopback address")
    return host, int(port)


def connect_through(proxy: tuple, authority: str) -> tuple:
    sock = socket.create_connection(proxy, timeout=10)
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return sock, status


def https_get(sock, host: str, context) -> bool:
    with context.wrap_socket(sock, server_hostname=host) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer.startswith(b"HTTP/1.1 200")


def dns_query(name: str, ident: int) -> bytes:
    header = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + labels + struct.pack(">HH", 1, 1)


def ike_sa_init(spi: int) -> bytes:
    # IKEv2 header: initiator SPI, responder SPI 0, next payload none, version 2.0, IKE_SA_INIT (34),
    # flags initiator, message id 0, length 28.
    return struct.pack(">QQBBBBII", spi, 0, 0, 0x20, 34, 0x08, 0, 28)


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def add(self, key: str):
        with self.lock:
            self.values[key] = self.values.get(key, 0) + 1

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.values)


def worker(kind: str, ready: dict, stop: threading.Event, counters: Counters):
    corp = loopback(ready["proxies"]["corp"]["address"])
    inspect = loopback(ready["proxies"]["inspect"]["address"])
    verified = ssl.create_default_context(cafile=ready["ca_bundle"])
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    dns = loopback(ready["dns"]) if ready.get("dns") else None
    ike = loopback(ready["udp"]["ike"]["address"])
    index = 0
    while not stop.is_set():
        index += 1
        try:
            if kind == "tunnel":
                sock, status = connect_through(corp, "app.soak.egresslab.test:443")
                ok = status == 200 and https_get(sock, "app.soak.egresslab.test", verified)
            elif kind == "denied":
                sock, status = connect_through(corp, "denied.soak.egresslab.test:443")
                sock.close()
                ok = status == 403
            elif kind == "intercept":
                host = f"h{index}.inspected.egresslab.test"
                sock, status = connect_through(inspect, f"{host}:443")
                ok = status == 200 and https_get(sock, host, unverified)
            elif kind == "dns":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.settimeout(2)
                    udp.sendto(dns_query("app.soak.egresslab.test", index & 0xFFFF), dns)
                    answer = udp.recv(512)
                    ok = answer[:2] == struct.pack(">H", index & 0xFFFF)
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.settimeout(2)
                    udp.sendto(ike_sa_init(index), ike)
                    ok = len(udp.recv(2048)) >= 28
        except (OSError, ssl.SSLError, ValueError, IndexError):
            ok = False
        counters.add(f"{kind}_{'ok' if ok else 'failed'}")


def sample(pid: int) -> dict:
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    return {
        "rss_kib": int(status["VmRSS"].split()[0]),
        "hwm_kib": int(status["VmHWM"].split()[0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def plot(rows: list, path: str):
    """An SVG of RSS (MiB, left axis) and open descriptors (right axis) over minutes."""
    width, height, pad = 720, 320, 50
    t_max = max(r["t_s"] for r in rows) or 1
    rss_max = max(r["rss_kib"] for r in rows) / 1024 * 1.2 or 1
    fd_max = max(r["fds"] for r in rows) * 1.2 or 1

    def line(key, scale, top):
        points = " ".join(
            f"{pad + (width - 2 * pad) * r['t_s'] / t_max:.1f},"
            f"{height - pad - (height - 2 * pad) * (r[key] / scale) / top:.1f}"
            for r in rows
        )
        return points

    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
        f'<line x1="{width - pad}" y1="{pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line("rss_kib", 1024, rss_max)}"/>',
        f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{line("fds", 1, fd_max)}"/>',
        f'<text x="{pad}" y="{pad - 10}" fill="#1f77b4">RSS, MiB (0 to {rss_max:.0f})</text>',
        f'<text x="{width - pad}" y="{pad - 10}" fill="#d62728" text-anchor="end">open descriptors (0 to {fd_max:.0f})</text>',
        f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">minutes (0 to {t_max / 60:.0f}), sampled every 10 s</text>',
        "</svg>",
    ]
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/egresslab")
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="egresslab-soak-")
    ready_path = os.path.join(work, "ready.json")
    lab = subprocess.Popen(
        [args.binary, "up", os.path.join(HERE, "scenario.toml"), "--ready-file", ready_path],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "lab.log"), "w"),
    )
    deadline = time.time() + 30
    while not os.path.exists(ready_path):
        if time.time() > deadline or lab.poll() is not None:
            print("soak: the lab did not become ready", file=sys.stderr)
            lab.kill()
            return 1
        time.sleep(0.1)
    time.sleep(0.2)
    with open(ready_path) as f:
        ready = json.load(f)
    stop = threading.Event()
    counters = Counters()
    kinds = ["tunnel", "tunnel", "denied", "intercept", "intercept", "dns", "udp"]
    threads = [threading.Thread(target=worker, args=(k, ready, stop, counters), daemon=True) for k in kinds]
    start = time.time()
    for t in threads:
        t.start()
    rows = []
    csv_path = os.path.join(args.out, "soak.csv")
    with open(csv_path, "w", newline="") as f:
        out = None
        while True:
            elapsed = time.time() - start
            row = {"t_s": round(elapsed, 1), **sample(lab.pid), **counters.snapshot()}
            rows.append(row)
            if out is None:
                fields = ["t_s", "rss_kib", "hwm_kib", "fds"] + [
                    f"{k}_{r}" for k in dict.fromkeys(kinds) for r in ("ok", "failed")
                ]
                out = csv.DictWriter(f, fieldnames=fields, restval=0)
                out.writeheader()
            out.writerow(row)
            f.flush()
            print(f"soak: {row}", flush=True)
            if elapsed >= args.seconds:
                break
            time.sleep(min(args.interval, max(0.0, args.seconds - elapsed)))
    stop.set()
    for t in threads:
        t.join(timeout=15)
    lab.terminate()
    lab.wait(timeout=15)
    plot(rows, os.path.join(args.out, "soak.svg"))
    first_full = rows[min(len(rows) - 1, 6)]  # one minute in: caches and the timeline ring filled
    last = rows[-1]
    print(
        f"soak: {args.seconds:.0f} s; RSS at 1 min {first_full['rss_kib']} KiB, at the end "
        f"{last['rss_kib']} KiB, peak {max(r['rss_kib'] for r in rows)} KiB; descriptors at 1 min "
        f"{first_full['fds']}, at the end {last['fds']}, peak {max(r['fds'] for r in rows)}; "
        f"operations {counters.snapshot()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

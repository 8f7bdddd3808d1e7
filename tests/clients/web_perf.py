"""Measure the web view with many timeline events (docs/performance.md; a measurement, not a test).

Usage: web_perf.py READY_JSON CONNECTIONS

Against `egresslab up proxy-auth-required --web 127.0.0.1:0 --ready-file READY_JSON`: opens
CONNECTIONS raw TCP connections to the proxy, each sending one CONNECT without credentials and
reading the 407 (each connection is 3 timeline events: accepted, answer, closed), then loads the
page in headless Chromium and prints the events recorded, the rows, how long after navigation the
table was first drawn (the page's `table-rendered` mark), how long a refetch of the summaries and
a redraw take, and how long a scroll to the end takes to draw the last row.
"""

import json
import socket
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from web_browser import browser, wait_for  # noqa: E402


def connect_407(host, port):
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(b"CONNECT connector-sample.msappproxy.net:443 HTTP/1.1\r\n"
                     b"Host: connector-sample.msappproxy.net:443\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
        if b" 407 " not in answer.split(b"\r\n", 1)[0]:
            raise SystemExit(f"expected 407, got {answer[:80]!r}")


def main():
    ready = json.load(open(sys.argv[1]))
    count = int(sys.argv[2])
    address = ready["proxies"]["corp"]["address"]
    host, port = address.rsplit(":", 1)
    started = time.monotonic()
    for _ in range(count):
        connect_407(host, int(port))
    print(f"{count} connections in {time.monotonic() - started:.1f} s", flush=True)
    url = ready["web"]
    deadline = time.monotonic() + 30
    while True:
        data = json.load(urllib.request.urlopen(url + "api/connections"))
        if len(data["connections"]) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(f"timeline: {data['recorded']} events recorded, {len(data['connections'])} connections", flush=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            driver.get(url)
            wait_for("rendered", lambda: driver.execute_script(
                "return performance.getEntriesByName('table-rendered').length"), 60)
            rendered = driver.execute_script(
                "return performance.getEntriesByName('table-rendered')[0].startTime")
            rows = driver.execute_script("return document.querySelectorAll('#rows .row').length")
            shown = driver.execute_script("return state.shown.length")
            print(f"table first drawn {rendered:.0f} ms after navigation start, "
                  f"{shown} connections, {rows} row elements in the page", flush=True)
            fetched = driver.execute_async_script(
                "const done = arguments[arguments.length - 1]; const t0 = performance.now();"
                "fetch('/api/connections').then(r => r.json()).then(d => { const t1 = performance.now();"
                "state.connections = d.connections; applyFilter(); done([t1 - t0, performance.now() - t1]); });")
            print(f"refetch: /api/connections answered and parsed in {fetched[0]:.0f} ms, "
                  f"table redrawn in {fetched[1]:.1f} ms", flush=True)
            took = driver.execute_script(
                "const v = document.getElementById('viewport'); const t0 = performance.now();"
                "v.scrollTop = v.scrollHeight; v.dispatchEvent(new Event('scroll'));"
                "const last = document.querySelector('#rows .row:last-child');"
                "return [performance.now() - t0, last ? last.dataset.conn : null]")
            print(f"scroll to the end: {took[0]:.1f} ms to draw, last row conn {took[1]}", flush=True)
        finally:
            driver.quit()


if __name__ == "__main__":
    main()

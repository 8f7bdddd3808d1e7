"""Drive egresslab's live web view in headless Chromium (Selenium with Debian's chromedriver).

Usage: web_browser.py READY_JSON ARTIFACT_DIR [AXE_JS]

Against a lab started by `egresslab up proxy-auth-required --web 127.0.0.1:0 --ready-file READY_JSON`
it checks, in one browser: the page loads with no console error; the topology has the client, the
proxy `corp` (with its auth schemes) and the endpoint `cloud`, the proxy marked as the expected
failure; a curl through the lab (407) is in the connections table within one second; clicking a
row shows its story; clicking "auth off" makes the next curl succeed; the status and element
filters narrow the table; a latency toxic is added and removed from the page; clicking "proxy
down" makes the next curl fail to connect (curl exit 7); axe-core finds no serious or critical violation
(when AXE_JS is given). It writes web.png into ARTIFACT_DIR. Prints one line per check; exits 1
with the reason on the first failure.
"""

import json
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1100",
]


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def browser(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS + [f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait_for(what, predicate, seconds):
    """Poll predicate until it is truthy (returned) or seconds pass (None)."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def curl(ready):
    """One curl through the lab's proxy, as the scenario's client: (exit code, http code, stderr)."""
    proxy = ready["proxies"]["corp"]["url"]
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-x", proxy,
         "--cacert", ready["ca_bundle"], "https://connector-sample.msappproxy.net/"],
        capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout, out.stderr


def rows(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#rows .row')].map(r => r.innerText)")


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def axe_check(driver, axe):
    """Run axe-core (the file AXE_JS) on the page; fail on a serious or critical violation."""
    driver.execute_script(open(axe).read())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, "
        "nodes: v.nodes.length}))), e => done([{id: 'axe failed: ' + e, impact: 'critical'}]));")
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    if serious:
        fail(f"axe-core: serious violations {serious}")
    print(f"axe-core: no serious or critical violation ({len(result)} minor: {result})", flush=True)


def click(driver, element_id):
    before = driver.find_element(By.ID, "control-status").text
    driver.find_element(By.ID, element_id).click()
    status = wait_for(f"{element_id} answered",
                      lambda: (t := driver.find_element(By.ID, "control-status").text) != before and t, 5)
    if not status or "done" not in status:
        fail(f"clicking {element_id}: {status!r}")
    print(f"clicked {element_id}: {status}", flush=True)


def click_first_row(driver):
    """Click the table's first row. The live table redraws its rows as events arrive (the close of
    the connection may land just then), so a row found a moment ago can be gone: find it again, a
    bounded number of times."""
    for _ in range(20):
        try:
            driver.find_element(By.CSS_SELECTOR, "#rows .row").click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    fail("the table's first row was redrawn 20 times in a row before it could be clicked")


def main():
    ready = json.load(open(sys.argv[1]))
    artifacts = sys.argv[2]
    axe = sys.argv[3] if len(sys.argv) > 3 else None
    url = ready["web"]
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            check(driver, ready, url, artifacts, axe)
        finally:
            driver.quit()


def check(driver, ready, url, artifacts, axe):
    driver.get(url)
    if not wait_for("topology", lambda: driver.find_elements(By.CSS_SELECTOR, "#topology svg g.node"), 10):
        fail("no topology drawn within 10 s")
    errors = console_errors(driver)
    if errors:
        fail(f"console errors on load: {errors}")
    print("page loaded, no console errors", flush=True)

    nodes = driver.execute_script(
        "return [...document.querySelectorAll('#topology g.node')].map(g => "
        "({kind: g.dataset.kind, name: g.dataset.name, cls: g.getAttribute('class'), text: g.textContent}))")
    kinds = sorted((n["kind"], n["name"]) for n in nodes)
    if kinds != [("client", "client"), ("endpoint", "cloud"), ("proxy", "corp")]:
        fail(f"topology nodes {kinds}")
    corp = next(n for n in nodes if n["name"] == "corp")
    if "basic" not in corp["text"] or "ntlm" not in corp["text"] or "expected" not in corp["cls"]:
        fail(f"proxy node {corp}")
    print(f"topology nodes {kinds}; proxy corp: {corp['text']!r} ({corp['cls']})", flush=True)

    code, status, err = curl(ready)
    done = time.monotonic()
    if code != 56 or "407" not in err:
        fail(f"first curl: exit {code}, {status}, {err}")
    row = wait_for("row", lambda: [r for r in rows(driver) if "407" in r], 1.0)
    if not row:
        fail(f"the 407 curl is not in the table within 1 s: {rows(driver)}")
    print(f"curl exit 56 (407) in the table after {time.monotonic() - done:.3f} s: {row[0]!r}", flush=True)

    click_first_row(driver)
    story = wait_for("story", lambda: "accepted" in (t := driver.find_element(By.ID, "story").text) and t, 5)
    if not story or "407" not in story:
        fail(f"story of the row: {story!r}")
    print(f"story of the row: {len(story.splitlines())} events", flush=True)

    click(driver, "fault-proxy-corp-auth-off")
    code, status, err = curl(ready)
    if code != 0 or status != "200":
        fail(f"after auth off: exit {code}, {status}, {err}")
    print("auth off: next curl 200", flush=True)
    if not wait_for("200 row", lambda: [r for r in rows(driver) if "200" in r], 2):
        fail(f"the 200 curl is not in the table: {rows(driver)}")

    Select(driver.find_element(By.ID, "status-filter")).select_by_value("failed")
    failed = rows(driver)
    if len(failed) != 1 or "407" not in failed[0]:
        fail(f"the failed filter shows {failed}")
    Select(driver.find_element(By.ID, "status-filter")).select_by_value("")
    Select(driver.find_element(By.ID, "element-filter")).select_by_value("endpoint:cloud")
    through = rows(driver)
    if len(through) != 1 or "200" not in through[0]:
        fail(f"the endpoint:cloud filter shows {through}")
    Select(driver.find_element(By.ID, "element-filter")).select_by_value("")
    print("filters: failed shows the 407 only, endpoint:cloud the tunnel only", flush=True)

    click(driver, "fault-proxy-corp-latency")
    if not wait_for("toxic drawn", lambda: driver.find_elements(By.ID, "fault-proxy-corp-latency-off"), 3):
        fail("no latency-off toggle after adding the latency toxic")
    click(driver, "fault-proxy-corp-latency-off")

    click(driver, "fault-proxy-corp-down")
    code, status, err = curl(ready)
    if code != 7:
        fail(f"after proxy down: expected curl exit 7 (cannot connect), got {code}, {status}, {err}")
    print(f"proxy down: next curl exit 7: {err.strip()}", flush=True)
    if not wait_for("down drawn", lambda: driver.find_elements(By.CSS_SELECTOR, "g.node.down[data-name=corp]"), 3):
        fail("the proxy is not drawn down after the toggle")

    if axe:
        axe_check(driver, axe)

    driver.save_screenshot(f"{artifacts}/web.png")
    errors = console_errors(driver)
    if errors:
        fail(f"console errors: {errors}")
    print(f"screenshot {artifacts}/web.png", flush=True)


if __name__ == "__main__":
    main()

"""Open an `egresslab run --report` file in headless Chromium from a file:// URL.

Usage: web_report.py REPORT_HTML EXPECTED_ROWS ARTIFACT_DIR AXE_JS [run|score]

Checks: the page loads with no console error; a `run` report has EXPECTED_ROWS scenario rows, each
PASS or FAIL, and an SVG topology per scenario; a `score` report has EXPECTED_ROWS filled cells in
its confusion heat map; the browser's network log (DevTools performance log) has
no request other than the file itself; axe-core finds no serious or critical violation. Writes
report.png into ARTIFACT_DIR. Prints one line per check; exits 1 with the reason on a failure.
"""

import json
import pathlib
import sys
import tempfile

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from web_browser import axe_check, browser, console_errors, fail  # noqa: E402


def run_rows(driver, expected):
    """The run report's rows and pictures: EXPECTED of each."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('tr.scenario')].map(r => r.lastElementChild.textContent)")
    if len(rows) != expected or any(r not in ("PASS", "FAIL") for r in rows):
        fail(f"{len(rows)} scenario rows (expected {expected}): {rows}")
    pictures = driver.execute_script("return document.querySelectorAll('details svg g.node').length")
    details = driver.execute_script("return document.querySelectorAll('details svg').length")
    if details != expected:
        fail(f"{details} topology pictures, expected {expected}")
    print(f"{len(rows)} rows ({rows.count('PASS')} PASS), {details} pictures with {pictures} nodes", flush=True)

def main():
    report, expected, artifacts, axe = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    kind = sys.argv[5] if len(sys.argv) > 5 else "run"
    url = pathlib.Path(report).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            driver.get(url)
            errors = console_errors(driver)
            if errors:
                fail(f"console errors: {errors}")
            if kind == "run":
                run_rows(driver, expected)
            else:
                cells = driver.execute_script("return document.querySelectorAll('table.heat td.cell').length")
                if cells != expected:
                    fail(f"{cells} filled cells in the heat map, expected {expected}")
                print(f"{cells} cells in the heat map", flush=True)
            requests = []
            for entry in driver.get_log("performance"):
                message = json.loads(entry["message"])["message"]
                if message["method"] == "Network.requestWillBeSent":
                    requests.append(message["params"]["request"]["url"])
            if url not in requests:
                fail(f"the file's own request is not in the network log: {requests}")
            # What the browser loaded before the navigation (its new-tab page) is not the report's.
            others = [r for r in requests[requests.index(url):] if r != url]
            if others:
                fail(f"network requests other than the file: {others}")
            print(f"network log after navigation: 1 request, the file itself ({url})", flush=True)
            scripts = driver.execute_script("return document.scripts.length")
            if scripts:
                fail(f"the report has {scripts} scripts; it must read without any")
            axe_check(driver, axe)
            driver.save_screenshot(f"{artifacts}/{kind}-report.png")
            print(f"screenshot {artifacts}/{kind}-report.png", flush=True)
        finally:
            driver.quit()


if __name__ == "__main__":
    main()

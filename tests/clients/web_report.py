"""Open an `egresslab run --report` file in headless Chromium from a file:// URL.

Usage: web_report.py REPORT_HTML EXPECTED_ROWS ARTIFACT_DIR AXE_JS

Checks: the page loads with no console error; it has EXPECTED_ROWS scenario rows, each PASS or
FAIL, and an SVG topology per scenario; the browser's network log (DevTools performance log) has
no request other than the file itself; axe-core finds no serious or critical violation. Writes
report.png into ARTIFACT_DIR. Prints one line per check; exits 1 with the reason on a failure.
"""

import json
import pathlib
import sys
import tempfile

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from web_browser import axe_check, browser, console_errors, fail  # noqa: E402


def main():
    report, expected, artifacts, axe = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    url = pathlib.Path(report).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            driver.get(url)
            errors = console_errors(driver)
            if errors:
                fail(f"console errors: {errors}")
            rows = driver.execute_script(
                "return [...document.querySelectorAll('tr.scenario')].map(r => r.lastElementChild.textContent)")
            if len(rows) != expected or any(r not in ("PASS", "FAIL") for r in rows):
                fail(f"{len(rows)} scenario rows (expected {expected}): {rows}")
            pictures = driver.execute_script("return document.querySelectorAll('details svg g.node').length")
            details = driver.execute_script("return document.querySelectorAll('details svg').length")
            if details != expected:
                fail(f"{details} topology pictures, expected {expected}")
            print(f"{len(rows)} rows ({rows.count('PASS')} PASS), {details} pictures with {pictures} nodes", flush=True)
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
            driver.save_screenshot(f"{artifacts}/report.png")
            print(f"screenshot {artifacts}/report.png", flush=True)
        finally:
            driver.quit()


if __name__ == "__main__":
    main()

"""Reads a HAR file with haralyzer, a devtools-style HAR library from PyPI, and prints what it
found as JSON: the archive's version and creator, and per entry method, URL, status, time and wait."""
import json
import sys

from haralyzer import HarEntry, HarParser

with open(sys.argv[1], encoding="utf-8") as f:
    data = json.load(f)
parser = HarParser(data)
entries = []
for raw in data["log"]["entries"]:
    entry = HarEntry(raw)
    entries.append({
        "method": entry.request.method,
        "url": entry.url,
        "status": entry.status,
        "time": entry.time,
        "wait": entry.timings["wait"],
        "comment": raw.get("comment", ""),
    })
print(json.dumps({"version": parser.version, "creator": parser.creator["name"], "entries": entries}))

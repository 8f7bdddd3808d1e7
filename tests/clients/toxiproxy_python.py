"""Drive egresslab's control API with the unmodified toxiproxy-python client (PyPI).

Usage: toxiproxy_python.py HOST PORT UPSTREAM
Prints one line per step; exits non-zero on the first step that does not behave as Toxiproxy does.
"""
import sys
import urllib.request

import requests

from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import NotFound, ProxyExists

host, port, upstream = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = Toxiproxy()
server.update_api_consumer(host, port)
assert server.running(), "the API port accepts"
print("version", server.version())

proxy = server.create(upstream=upstream, name="site-slow", listen="127.0.0.1:0")
assert proxy.listen != "127.0.0.1:0", proxy.listen
print("created", proxy.name, proxy.listen, proxy.upstream)
try:
    server.create(upstream=upstream, name="site-slow")
    raise SystemExit("a duplicate was accepted")
except ProxyExists:
    print("duplicate refused")

assert "site-slow" in server.proxies()
proxy.add_toxic(type="latency", attributes={"latency": 100, "jitter": 5})
proxy.add_toxic(name="cut", type="limit_data", stream="upstream", toxicity=0.5, attributes={"bytes": 10})
toxics = proxy.toxics()
assert set(toxics) == {"latency_downstream", "cut"}, toxics
assert toxics["latency_downstream"].attributes == {"latency": 100, "jitter": 5}
assert toxics["cut"].stream == "upstream" and toxics["cut"].toxicity == 0.5
print("toxics", sorted(toxics))

# An update through the client's own consumer: POST, as toxiproxy-python sends it.
APIConsumer.post("/proxies/site-slow/toxics/latency_downstream", json={"attributes": {"latency": 200}})
assert proxy.get_toxic("latency_downstream").attributes["latency"] == 200
print("toxic updated by POST")
# toxiproxy-python has no PATCH; send one with requests (its own HTTP library), read back by the client.
patched = requests.patch(
    "http://%s:%s/proxies/site-slow/toxics/latency_downstream" % (host, port),
    json={"attributes": {"jitter": 40}},
    timeout=5,
)
assert patched.status_code == 200, patched.text
assert proxy.get_toxic("latency_downstream").attributes == {"latency": 200, "jitter": 40}
print("toxic updated by PATCH")

proxy.disable()
assert server.get_proxy("site-slow").enabled is False
try:
    urllib.request.urlopen("http://%s/" % proxy.listen, timeout=2)
    raise SystemExit("a disabled link answered")
except OSError:
    print("disabled link refuses")
proxy.enable()
assert server.get_proxy("site-slow").enabled is True
print("enabled again")
# And the link by PATCH (requests again), read back by the client.
patched = requests.patch(
    "http://%s:%s/proxies/site-slow" % (host, port), json={"enabled": False}, timeout=5
)
assert patched.status_code == 200 and patched.json()["enabled"] is False, patched.text
assert server.get_proxy("site-slow").enabled is False
proxy.enable()
print("link updated by PATCH")

proxy.destroy_toxic("cut")
assert set(proxy.toxics()) == {"latency_downstream"}
populated = server.populate([{"name": "site-two", "upstream": upstream, "listen": "127.0.0.1:0"}])
assert [p.name for p in populated] == ["site-two"], populated
print("populated", [p.name for p in populated])

assert server.reset()
assert proxy.toxics() == {}, "reset removed every toxic"
print("reset")
server.destroy_all()
# What is left are the lab's own listeners, which cannot be deleted (docs/control.md).
left = server.proxies()
assert left and all(
    p.upstream.split(" ")[0] in ("endpoint", "proxy", "route", "udp") for p in left.values()
), {name: p.upstream for name, p in left.items()}
print("only lab listeners left", sorted(left))
try:
    APIConsumer.get("/proxies/site-slow")
    raise SystemExit("a deleted link was found")
except NotFound:
    print("deleted")
print("ok")

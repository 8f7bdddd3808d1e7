// Drive egresslab's control API with the unmodified toxiproxy-node-client package (npm).
//
// Usage: node toxiproxy_node.js CONTROL_URL UPSTREAM
// Prints one JSON object a line, each with a "step" key, for tests/real_control_clients.rs to check
// field by field; a step that throws ends the run with exit 1 and an {"step": "failed"} line.
//
// The client sends every update (link or toxic) as POST and has no call that lists a link's toxics
// or reads an error body. Those are done here with the client's own HttpClient where it can, and
// with Node's fetch for PATCH and for the JSON of an error answer.
"use strict";

const net = require("node:net");
const { Toxiproxy } = require("toxiproxy-node-client");

const [url, upstream] = process.argv.slice(2);
const toxiproxy = new Toxiproxy(url);
const api = toxiproxy.getApi();

function emit(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

// What a TCP connect to `listen` ("host:port") meets: "connected" or the error code.
function connectTo(listen) {
  const cut = listen.lastIndexOf(":");
  const host = listen.slice(0, cut);
  const port = Number(listen.slice(cut + 1));
  return new Promise((resolve) => {
    const socket = net.createConnection({ host, port });
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve("timeout");
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error) => resolve(error.code));
  });
}

// The message of the client's error, or null when the call succeeded.
async function failure(call) {
  try {
    await call();
    return null;
  } catch (error) {
    return error.message;
  }
}

// A plain fetch: the status and the parsed JSON body (null for an empty one).
async function plain(method, path, body) {
  const init = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url + path, init);
  const text = await response.text();
  return { status: response.status, json: text.length ? JSON.parse(text) : null };
}

async function main() {
  emit("version", { text: await toxiproxy.getVersion() });

  const created = await toxiproxy.createProxy({ name: "site-node", listen: "127.0.0.1:0", upstream });
  emit("created", created.toJson());
  emit("duplicate", {
    error: await failure(() => toxiproxy.createProxy({ name: "site-node", listen: "127.0.0.1:0", upstream })),
  });
  emit("outside", {
    error: await failure(() =>
      toxiproxy.createProxy({ name: "site-far", listen: "127.0.0.1:0", upstream: "example.com:443" })),
  });

  const all = await toxiproxy.getAll();
  emit("listed", {
    names: Object.keys(all).sort(),
    listen: all["site-node"].listen,
    enabled: all["site-node"].enabled,
  });

  // Proxy.update is the client's only way to change a link, and it sends POST.
  const disabled = await created.update({ enabled: false, listen: created.listen, upstream });
  emit("updated_post", { ...disabled.toJson(), connect: await connectTo(created.listen) });

  // PATCH, which the client does not send, by plain fetch.
  const patched = await plain("PATCH", "/proxies/site-node", { enabled: true });
  const fetched = await toxiproxy.get("site-node");
  emit("updated_patch", {
    status: patched.status,
    enabled: patched.json.enabled,
    fetched_enabled: fetched.enabled,
    connect: await connectTo(fetched.listen),
  });

  const slow = await fetched.addToxic({
    name: "slow",
    type: "latency",
    stream: "downstream",
    toxicity: 1,
    attributes: { latency: 100, jitter: 5 },
  });
  emit("toxic_added", slow.toJson());
  // No name and no stream: the server's defaults (TYPE_STREAM, downstream) come back.
  const paced = await fetched.addToxic({ type: "bandwidth", attributes: { rate: 1000 } });
  emit("toxic_defaulted", paced.toJson());

  // Toxic.update sends POST; the attributes given replace those named, the rest stay.
  const updated = await slow.update({ ...slow.toJson(), toxicity: 0.5, attributes: { latency: 250 } });
  emit("toxic_updated", updated.toJson());
  const toxicPatched = await plain("PATCH", "/proxies/site-node/toxics/slow", { attributes: { jitter: 20 } });
  emit("toxic_patched", { status: toxicPatched.status, ...toxicPatched.json });
  emit("toxic_got", (await fetched.getToxic("slow")).toJson());

  // The client has no call for the list, so its HttpClient asks for it.
  const listed = (await api.get(`${fetched.getPath()}/toxics`)).data;
  emit("toxics_listed", { names: listed.map((t) => t.name).sort() });

  await updated.remove();
  const remaining = (await api.get(`${fetched.getPath()}/toxics`)).data;
  emit("toxic_removed", {
    names: remaining.map((t) => t.name),
    get_error: await failure(() => fetched.getToxic("slow")),
    body: (await plain("GET", "/proxies/site-node/toxics/slow")).json,
  });

  await fetched.remove();
  emit("deleted", {
    get_error: await failure(() => toxiproxy.get("site-node")),
    body: (await plain("GET", "/proxies/site-node")).json,
    names: Object.keys(await toxiproxy.getAll()),
    connect: await connectTo(fetched.listen),
  });
  emit("done", {});
}

main().catch((error) => {
  emit("failed", { error: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});

// egresslab's live view: the topology as SVG, the connections table (only visible rows are in the
// page), a connection's story, and fault toggles that call the control API on the same origin.
"use strict";

const ROW = 20;
const state = { topology: null, connections: [], shown: [], selected: null, refresh: null, pending: false, recorded: 0 };
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// Which kind of element the expected diagnosis points at.
function expectedKinds(topology) {
  const kinds = new Set();
  for (const code of topology.expected.diagnoses) {
    const area = code.split(".")[0];
    if (area === "proxy" || area === "pac") kinds.add("proxy");
    else if (area === "tls" || area === "cert" || area === "http") kinds.add("endpoint");
    else if (area === "firewall" || area === "net" || area === "tcp") kinds.add("firewall");
    else if (area === "dns") kinds.add("dns");
    else if (area === "udp" || area === "vpn" || area === "ike") kinds.add("udp");
    else kinds.add("endpoint");
  }
  return kinds;
}

function node(svg, x, y, kind, name, lines, status, expected) {
  const group = el("g", { class: `node ${status}${expected ? " expected" : ""}`, "data-kind": kind, "data-name": name });
  const height = 24 + 14 * lines.length;
  group.appendChild(el("rect", { x, y, width: 190, height, rx: 6 }));
  group.appendChild(el("title", {}, `${kind} ${name}: ${status}`));
  group.appendChild(el("text", { x: x + 8, y: y + 16, "font-weight": "bold" }, kind === name ? kind : `${kind} ${name}`));
  lines.forEach((line, i) => group.appendChild(el("text", { x: x + 8, y: y + 30 + 14 * i }, line)));
  svg.appendChild(group);
  return { x, y, height, right: x + 190, mid: y + height / 2 };
}

function edge(svg, from, to) {
  svg.insertBefore(el("line", { class: "edge", x1: from.right, y1: from.mid, x2: to.x, y2: to.mid }), svg.firstChild);
}

function drawTopology(topology) {
  const extra = topology.names.dns || topology.udp.length ? 80 : 0;
  const height = Math.max(topology.proxies.length * 110, topology.endpoints.length * 95, 110) + extra + 20;
  const svg = el("svg", { viewBox: `0 0 1000 ${height}`, width: 1000, height, "aria-hidden": "true" });
  const marks = expectedKinds(topology);
  const mode = topology.client.mode;
  const client = node(svg, 10, 20, "client", "client", [mode === "proxy" ? `via ${topology.client.proxy}` : mode], "ok", false);
  const proxies = {};
  topology.proxies.forEach((proxy, i) => {
    const live = proxy.state || {};
    const up = live.up !== undefined ? live.up : !proxy.down;
    const auth = live.auth !== undefined ? live.auth : proxy.auth;
    const intercepting = live.interception !== undefined ? live.interception : proxy.interception;
    const schemes = Array.isArray(auth) ? auth : proxy.auth || ["basic"];
    const lines = [`${proxy.personality}, ${up ? "up" : "down"}`, `auth: ${auth ? schemes.join(", ") : "none"}`,
      `interception: ${intercepting && intercepting !== false ? "on" : "off"}`];
    if (proxy.parent) lines.push(`parent: ${proxy.parent}`);
    if (proxy.fault) lines.push(`fault: ${proxy.fault}`);
    const status = !up ? "down" : (auth || proxy.fault) ? "warn" : "ok";
    proxies[proxy.name] = node(svg, 250, 20 + i * 110, "proxy", proxy.name, lines, status, marks.has("proxy"));
  });
  const vantages = {};
  topology.firewall.forEach((rule) => { (vantages[rule.from] = vantages[rule.from] || []).push(rule); });
  const walls = Object.entries(vantages).map(([from, rules], i) =>
    node(svg, 490, 20 + i * 110, "firewall", from, rules.slice(0, 4).map((r) => `${r.action} ${r.hosts}${r.port ? ":" + r.port : ""}`),
      rules.some((r) => r.action !== "allow") ? "warn" : "ok", marks.has("firewall")));
  const endpoints = topology.endpoints.map((endpoint, i) => {
    const tls = endpoint.tls;
    const lines = [`${endpoint.hosts.join(", ").slice(0, 26)}:${endpoint.port}`,
      tls ? `TLS ${tls.profile} ${tls.versions}` : endpoint.kind];
    if (tls && tls.profile !== "valid") lines.push(tls.defect.slice(0, 28));
    if (tls && tls.client_auth) lines.push(`client cert from ${tls.client_auth}`);
    const status = endpoint.enabled === false ? "down" : tls && tls.profile !== "valid" ? "warn" : "ok";
    return node(svg, 760, 20 + i * 95, "endpoint", endpoint.name, lines, status, marks.has("endpoint"));
  });
  const bottom = height - extra;
  const names = topology.names;
  if (names.dns) node(svg, 10, bottom, "dns", "names", [`NXDOMAIN: ${names.nxdomain.length}`], "ok", marks.has("dns"));
  topology.udp.forEach((udp, i) => node(svg, 250 + i * 240, bottom, "udp", udp.name,
    [`${udp.host}:${udp.port} ${udp.behaviour}`], udp.enabled === false || udp.behaviour === "silent" ? "down" : "ok", marks.has("udp")));
  const first = mode === "proxy" && proxies[topology.client.proxy];
  const targets = walls.length ? walls : endpoints;
  if (first) edge(svg, client, first);
  else if (mode === "pac") {
    // The client fetches the PAC file, then goes where it says: each proxy.
    topology.endpoints.forEach((e, i) => { if (e.kind === "pac") edge(svg, client, endpoints[i]); });
    Object.values(proxies).forEach((p) => edge(svg, client, p));
  } else targets.forEach((t) => edge(svg, client, t));
  topology.proxies.forEach((proxy) => {
    if (proxy.parent && proxies[proxy.parent]) edge(svg, proxies[proxy.name], proxies[proxy.parent]);
    else targets.forEach((t) => edge(svg, proxies[proxy.name], t));
  });
  walls.forEach((wall) => endpoints.forEach((t) => edge(svg, wall, t)));
  $("topology").replaceChildren(svg);
}

function button(id, label, method, path, body) {
  const b = document.createElement("button");
  b.id = id;
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", async () => {
    const response = await fetch(`/api/control${path}`, {
      method, headers: { "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined,
    });
    $("control-status").textContent = `${label}: ${response.status} ${response.ok ? "done" : await response.text()}`;
    await loadTopology();
  });
  return b;
}

function drawControls(topology) {
  const box = $("controls");
  box.replaceChildren();
  for (const proxy of topology.proxies) {
    const live = proxy.state || {};
    const up = live.up !== undefined ? live.up : !proxy.down;
    box.appendChild(up ? button(`fault-proxy-${proxy.name}-down`, `proxy ${proxy.name} down`, "POST", `/egresslab/proxies/${proxy.name}/down`)
      : button(`fault-proxy-${proxy.name}-up`, `proxy ${proxy.name} up`, "POST", `/egresslab/proxies/${proxy.name}/up`));
    const auth = live.auth !== undefined ? live.auth : proxy.auth;
    if (proxy.auth) {
      box.appendChild(auth ? button(`fault-proxy-${proxy.name}-auth-off`, `proxy ${proxy.name} auth off`, "POST", `/egresslab/proxies/${proxy.name}/auth`, { enabled: false })
        : button(`fault-proxy-${proxy.name}-auth-on`, `proxy ${proxy.name} auth on`, "POST", `/egresslab/proxies/${proxy.name}/auth`, { enabled: true }));
    }
    const intercepting = live.interception !== undefined ? live.interception : proxy.interception;
    box.appendChild(intercepting ? button(`fault-proxy-${proxy.name}-intercept-off`, `proxy ${proxy.name} interception off`, "POST", `/egresslab/proxies/${proxy.name}/interception`, { enabled: false })
      : button(`fault-proxy-${proxy.name}-intercept-on`, `proxy ${proxy.name} interception on`, "POST", `/egresslab/proxies/${proxy.name}/interception`, { enabled: true }));
  }
  for (const proxy of topology.proxies) {
    const slowed = (proxy.toxics || []).some((t) => t.name === "web_latency");
    box.appendChild(slowed
      ? button(`fault-proxy-${proxy.name}-latency-off`, `proxy ${proxy.name} latency off`, "DELETE", `/proxies/${proxy.name}/toxics/web_latency`)
      : button(`fault-proxy-${proxy.name}-latency`, `proxy ${proxy.name} +800 ms latency`, "POST", `/proxies/${proxy.name}/toxics`,
        { name: "web_latency", type: "latency", attributes: { latency: 800 } }));
  }
  for (const endpoint of topology.endpoints) {
    if (topology.proxies.length) {
      box.appendChild(button(`fault-firewall-${endpoint.name}-drop`, `firewall drops proxies → ${endpoint.name}`, "POST", "/egresslab/firewall",
        { from: "any-proxy", hosts: endpoint.hosts[0], port: endpoint.port, action: "drop" }));
    }
    if (endpoint.tls) {
      box.appendChild(button(`fault-endpoint-${endpoint.name}-expired`, `endpoint ${endpoint.name} certificate expired`, "POST",
        `/egresslab/endpoints/${endpoint.name}/certificate`, { profile: "expired" }));
    }
    box.appendChild(button(`fault-endpoint-${endpoint.name}-off`, `endpoint ${endpoint.name} off`, "POST", `/proxies/${endpoint.name}`, { enabled: false }));
  }
  box.appendChild(button("fault-reset", "reset everything", "POST", "/reset"));
}

async function loadTopology() {
  const topology = await getJson("/api/topology");
  state.topology = topology;
  $("scenario-id").textContent = topology.scenario.id;
  $("scenario-summary").textContent = topology.scenario.summary;
  $("expected").textContent = topology.expected.diagnoses.length
    ? `Expected: ${topology.expected.diagnoses.join(", ")}` : "Expected: healthy";
  drawTopology(topology);
  drawControls(topology);
  const select = $("element-filter");
  if (select.options.length === 1) {
    for (const name of [...topology.proxies.map((p) => `proxy:${p.name}`), ...topology.endpoints.map((e) => `endpoint:${e.name}`)]) {
      select.appendChild(new Option(name, name));
    }
  }
}

const FAILED = /^(4|5|drop|reject|hang|TLS failed|no leg)/;

function applyFilter() {
  const words = $("filter").value.trim().toLowerCase();
  const status = $("status-filter").value;
  const element = $("element-filter").value;
  state.shown = state.connections.filter((c) =>
    (!words || `${c.client} ${c.path} ${c.verdict} ${c.close}`.toLowerCase().includes(words))
    && (status === "" || (status === "failed") === FAILED.test(c.verdict))
    && (element === "" || c.path.split(" → ").includes(element)));
  $("count").textContent = `(${state.shown.length} of ${state.connections.length})`;
  $("spacer").style.height = `${state.shown.length * ROW}px`;
  renderRows();
}

function renderRows() {
  const viewport = $("viewport");
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - 5);
  const last = Math.min(state.shown.length, first + Math.ceil(viewport.clientHeight / ROW) + 10);
  const rows = $("rows");
  rows.style.top = `${(first + 1) * ROW}px`;
  const fragment = document.createDocumentFragment();
  for (let i = first; i < last; i++) {
    const c = state.shown[i];
    const row = document.createElement("div");
    const failed = FAILED.test(c.verdict);
    row.className = `row${c.id === state.selected ? " selected" : ""}${failed ? " fail" : ""}`;
    row.setAttribute("role", "row");
    row.dataset.conn = c.id;
    for (const value of [c.id, c.time.slice(11, 23), c.client, c.path, c.verdict, `${c.bytes_up}/${c.bytes_down}`,
      c.duration_ms.toFixed(1), c.close]) {
      const cell = document.createElement("span");
      cell.setAttribute("role", "gridcell");
      cell.textContent = value;
      row.appendChild(cell);
    }
    fragment.appendChild(row);
  }
  rows.replaceChildren(fragment);
}

async function showStory(id) {
  state.selected = id;
  renderRows();
  const story = await getJson(`/api/connections/${id}`);
  $("story").textContent = story.events.map((e) =>
    `${e.time}  ${e.source}  #${e.conn}  ${e.event}  ${JSON.stringify(Object.fromEntries(Object.entries(e)
      .filter(([k]) => !["v", "seq", "at_ms", "time", "source", "conn", "event"].includes(k))))}`).join("\n");
}

async function loadConnections() {
  const data = await getJson("/api/connections");
  state.recorded = data.recorded;
  state.connections = data.connections;
  applyFilter();
  // For measurements (docs/performance.md): when the table was first drawn with what was there.
  if (!performance.getEntriesByName("table-rendered").length) performance.mark("table-rendered");
}

function scheduleRefresh(delay) {
  // One refresh at a time: events that arrive while one is under way are in the next.
  if (state.refresh === null) {
    state.refresh = setTimeout(() => loadConnections().catch(report).finally(() => {
      state.refresh = null;
      if (state.pending) { state.pending = false; scheduleRefresh(delay); }
    }), delay);
  } else {
    state.pending = true;
  }
}

function report(error) {
  $("control-status").textContent = `error: ${error.message}`;
}

function listen() {
  // From the first event the summaries do not hold yet.
  const events = new EventSource(`/api/events?from=${state.recorded || 0}`);
  events.onmessage = (message) => {
    scheduleRefresh(150);
    if (message.data.includes('"source":"control"')) loadTopology().catch(report);
  };
}

function keyboard(event) {
  const index = state.shown.findIndex((c) => c.id === state.selected);
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    const next = Math.max(0, Math.min(state.shown.length - 1, index + (event.key === "ArrowDown" ? 1 : -1)));
    if (state.shown[next]) {
      state.selected = state.shown[next].id;
      const viewport = $("viewport");
      const top = next * ROW;
      if (top < viewport.scrollTop || top > viewport.scrollTop + viewport.clientHeight - ROW) viewport.scrollTop = top;
      renderRows();
    }
  } else if (event.key === "Enter" && index >= 0) {
    showStory(state.selected).catch(report);
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("viewport").addEventListener("scroll", renderRows);
  $("filter").addEventListener("input", applyFilter);
  $("status-filter").addEventListener("change", applyFilter);
  $("element-filter").addEventListener("change", applyFilter);
  $("rows").addEventListener("click", (event) => {
    const row = event.target.closest(".row");
    if (row) showStory(Number(row.dataset.conn)).catch(report);
  });
  $("viewport").addEventListener("keydown", keyboard);
  loadTopology().then(loadConnections).then(listen).catch(report);
});

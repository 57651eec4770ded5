// Haven's live dashboard. Every second it reads GET /v1/status from this
// page's node and from every member that node names (havend answers with
// Access-Control-Allow-Origin: *), and measures request latency over the
// WebSocket API, which also drives the list browser. History is kept for
// ten minutes and the charts show the last five, so the page can stay open
// for days in bounded memory.

import { connect } from "/client.js";
import { drawChart, palette } from "/chart.js";

const SAMPLE_MS = 1000;
const KEEP_MS = 10 * 60 * 1000;
const WINDOW_MS = 5 * 60 * 1000;

const $ = (sel) => document.querySelector(sel);
const own = location.origin;

// nodes: HTTP base URL → {name, status, reachable, commits: [[t, commit]], rates: [[t, perSec]]}
const nodes = new Map();
const leadership = []; // [t, leader name or "", term]
const latency = { ping: [], get: [], status: [] };
let members = [];
let membersFrom = "";

function trim(points, now) {
  while (points.length && points[0][0] < now - KEEP_MS) points.shift();
}

function nodeColor(name) {
  const n = parseInt(String(name).replace(/\D/g, ""), 10);
  return palette[(isNaN(n) ? 0 : n - 1) % palette.length];
}

async function fetchStatus(base) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 900);
  const t0 = performance.now();
  try {
    const r = await fetch(base + "/v1/status", { signal: ctl.signal, cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return { status: await r.json(), ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

function baseOf(httpAddress) {
  return httpAddress ? `${location.protocol}//${httpAddress}` : null;
}

async function poll() {
  const now = Date.now();
  const targets = new Set([own, ...nodes.keys()]);
  for (const m of members) if (m.http_address) targets.add(baseOf(m.http_address));
  const results = await Promise.all([...targets].map(async (base) => {
    try { return { base, ...(await fetchStatus(base)) }; } catch { return { base, error: true }; }
  }));
  for (const r of results) {
    let n = nodes.get(r.base);
    if (!n) { n = { name: "", status: null, reachable: false, commits: [], rates: [] }; nodes.set(r.base, n); }
    n.reachable = !r.error;
    if (r.error) { n.rates.push([now, null]); continue; }
    n.status = r.status;
    n.name = r.status.node;
    const last = n.commits[n.commits.length - 1];
    n.commits.push([now, r.status.commit]);
    if (last) n.rates.push([now, Math.max(0, (r.status.commit - last[1]) / ((now - last[0]) / 1000))]);
    if (r.base === own) latency.status.push([now, r.ms]);
    trim(n.commits, now); trim(n.rates, now);
  }
  // A node listed under two URLs (its own origin and its member address)
  // is shown once.
  const byName = new Map();
  for (const [base, n] of nodes) {
    if (!n.name) continue;
    const seen = byName.get(n.name);
    if (!seen || (!seen.n.reachable && n.reachable) || base === own) byName.set(n.name, { base, n });
  }
  // The membership as the leader (else this page's node, else anyone) says.
  const reachable = [...byName.values()].filter((x) => x.n.reachable);
  const leaders = reachable.filter((x) => x.n.status.role === "leader");
  leaders.sort((a, b) => b.n.status.term - a.n.status.term);
  const source = leaders[0] || reachable.find((x) => x.base === own) || reachable[0];
  if (source) {
    members = source.n.status.members || [];
    membersFrom = source.n.name;
  }
  const leader = leaders[0] ? leaders[0].n.name : "";
  const term = Math.max(0, ...reachable.map((x) => x.n.status.term));
  leadership.push([now, leader, term]);
  trim(leadership, now);
  render([...byName.values()].sort((a, b) => a.n.name.localeCompare(b.n.name, undefined, { numeric: true })), leader, term);
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "–" : String(text);
  return td;
}

function render(list, leader, term) {
  $("#leader").textContent = leader || "none";
  $("#term").textContent = term || "–";
  const leaderNode = list.find((x) => x.n.name === leader);
  $("#commit").textContent = leaderNode ? leaderNode.n.status.commit : "–";

  const tbody = $("#nodes tbody");
  tbody.replaceChildren(...list.map(({ base, n }) => {
    const s = n.status;
    const tr = document.createElement("tr");
    tr.dataset.node = n.name;
    tr.dataset.role = n.reachable ? s.role : "unreachable";
    tr.append(cell(n.name), cell(n.reachable ? s.role : "unreachable"), cell(s.term), cell(s.commit), cell(s.applied),
      cell(s.sessions), cell(s.watches), cell(s.leader || "none"), cell(s.http_address || base.replace(/^https?:\/\//, "")),
      cell(s.haven_address));
    return tr;
  }));

  $("#members-from").textContent = membersFrom ? `as ${membersFrom} sees it` : "";
  $("#members tbody").replaceChildren(...members.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.member = m.id;
    tr.append(cell(m.id), cell(m.role), cell(m.address), cell(m.match));
    return tr;
  }));

  const now = Date.now();
  drawChart($("#chart-commit"), {
    now, windowMs: WINDOW_MS,
    series: list.map(({ n }) => ({ name: n.name, color: nodeColor(n.name), points: n.rates })),
  });

  const bands = [];
  for (const [t, who] of leadership) {
    const last = bands[bands.length - 1];
    if (last && last.who === who && t - last.to <= 3 * SAMPLE_MS) last.to = t;
    else bands.push({ who, from: t, to: t + SAMPLE_MS, color: who ? nodeColor(who) : "#f00" });
  }
  drawChart($("#chart-term"), {
    now, windowMs: WINDOW_MS, bands,
    series: [{ name: "term", color: "#222", step: true, points: leadership.map(([t, , term]) => [t, term]) }],
  });
  const names = [...new Set(leadership.map(([, who]) => who))];
  $("#term-legend").replaceChildren(...names.map((who) => {
    const span = document.createElement("span");
    span.style.setProperty("--c", who ? nodeColor(who) : "#f00");
    span.textContent = who ? `${who} leads` : "no leader";
    return span;
  }), Object.assign(document.createElement("span"), { textContent: "line: term" }));

  drawChart($("#chart-latency"), {
    now, windowMs: WINDOW_MS,
    series: [
      { name: "ping", color: "#2a7", points: latency.ping },
      { name: "get", color: "#36c", points: latency.get },
      { name: "status", color: "#c63", points: latency.status },
    ],
  });
}

// The WebSocket API: latency probes and the list browser.
const haven = connect();
haven.on("connected", (h) => {
  const c = $("#conn");
  c.textContent = `connected to ${h.node} · session ${h.session}${h.resumed ? " (resumed)" : ""}`;
  c.className = "ok";
});
haven.on("disconnected", (why) => {
  const c = $("#conn");
  c.textContent = `disconnected (${why.code}${why.reason ? ": " + why.reason : ""}); reconnecting…`;
  c.className = "bad";
});

async function probe() {
  const now = Date.now();
  if (!haven.connected) return;
  let t0 = performance.now();
  try { await haven.ping(); latency.ping.push([now, performance.now() - t0]); } catch { latency.ping.push([now, null]); }
  t0 = performance.now();
  try { await haven.get("/data/haven/dashboard"); latency.get.push([now, performance.now() - t0]); } catch { latency.get.push([now, null]); }
  for (const s of Object.values(latency)) trim(s, now);
}

let watch = null;
function browse(path) {
  if (watch) watch.close();
  $("#items").replaceChildren();
  $("#events").replaceChildren();
  $("#list-version").textContent = "";
  history.replaceState(null, "", `?path=${encodeURIComponent(path)}`);
  watch = haven.watch(path);
  const w = watch;
  w.on("change", (items) => {
    if (w !== watch) return;
    $("#list-version").textContent = `version ${w.version} · ${items.length} item${items.length === 1 ? "" : "s"}`;
    $("#items").replaceChildren(...items.map((it) => {
      const li = document.createElement("li");
      li.dataset.version = it.version;
      li.textContent = `#${it.version} (modified ${it.modified}) by ${it.owner}: ${JSON.stringify(it.data)}`;
      return li;
    }));
  });
  w.on("event", (ev) => {
    if (w !== watch) return;
    const li = document.createElement("li");
    li.className = ev.kind;
    li.textContent = ev.kind === "state"
      ? `${new Date().toLocaleTimeString()} watching at version ${ev.version}${ev.reset ? " (reset)" : ""}`
      : `${new Date().toLocaleTimeString()} ${ev.kind} #${ev.item.version} at ${ev.version}: ${JSON.stringify(ev.item.data)}`;
    const log = $("#events");
    log.prepend(li);
    while (log.children.length > 200) log.lastChild.remove();
  });
  w.on("error", (e) => { $("#list-version").textContent = e.message; });
}

$("#browse").addEventListener("submit", (e) => {
  e.preventDefault();
  browse($("#path").value.trim());
});
const initial = new URLSearchParams(location.search).get("path");
if (initial) $("#path").value = initial;
browse($("#path").value.trim());

async function loop() {
  for (;;) {
    const started = Date.now();
    await Promise.all([poll().catch(console.error), probe().catch(console.error)]);
    await new Promise((r) => setTimeout(r, Math.max(100, SAMPLE_MS - (Date.now() - started))));
  }
}
loop();

#include "agent/ui.h"

namespace kw {
namespace {

// Kept in one raw string so the binary carries the whole page; the markup is small
// enough that a template engine would only add a dependency.  Data attributes
// (data-check, data-state) are part of the page's contract with its test.
constexpr std::string_view kPage = R"KWHTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keepwatch</title>
<style>
:root { --bg:#f5f6f8; --card:#fff; --fg:#1d2330; --muted:#6b7385; --line:#e3e6ec;
        --up:#1f8a4c; --up-bg:#e3f4ea; --down:#c0392b; --down-bg:#fbe7e5;
        --unk:#7a8194; --unk-bg:#eceef2; --warn:#9a6700; --warn-bg:#fff4d6; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#14171d; --card:#1c2029; --fg:#e6e8ee; --muted:#9aa2b4; --line:#2c3240;
          --up:#4cc47f; --up-bg:#173526; --down:#ff6b5b; --down-bg:#3d1d1a;
          --unk:#a3aabb; --unk-bg:#2a2f3b; --warn:#f0c050; --warn-bg:#3a3116; }
}
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { display:flex; align-items:baseline; gap:16px; flex-wrap:wrap;
         padding:14px 24px; background:var(--card); border-bottom:1px solid var(--line); }
header h1 { margin:0; font-size:20px; letter-spacing:.2px; }
header .meta { color:var(--muted); }
header .right { margin-left:auto; color:var(--muted); font-size:13px; }
main { padding:18px 24px; display:grid; gap:18px; max-width:1400px; }
.summary { display:grid; grid-template-columns:repeat(auto-fit, minmax(140px, 1fr)); gap:12px; }
.tile { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.tile .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.5px; }
.tile .v { font-size:20px; font-weight:600; margin-top:2px; overflow-wrap:anywhere; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; overflow:hidden; }
section h2 { margin:0; padding:10px 14px; font-size:15px; border-bottom:1px solid var(--line); }
section h2 .count { color:var(--muted); font-weight:400; margin-left:6px; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:8px 14px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:500; font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
tr:last-child td { border-bottom:0; }
td.detail { color:var(--muted); max-width:460px; overflow-wrap:anywhere; }
td.num { font-variant-numeric:tabular-nums; white-space:nowrap; }
.badge { display:inline-block; min-width:64px; text-align:center; padding:1px 10px; border-radius:999px;
         font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
.up { color:var(--up); background:var(--up-bg); }
.down { color:var(--down); background:var(--down-bg); }
.unknown { color:var(--unk); background:var(--unk-bg); }
.suspect { color:var(--warn); background:var(--warn-bg); }
.empty { padding:12px 14px; color:var(--muted); }
.tile .v.good { color:var(--up); }
.tile .v.bad { color:var(--down); }
tr[data-state="down"] td:first-child { box-shadow:inset 3px 0 0 var(--down); }
#banner { display:none; padding:10px 14px; border-radius:8px; background:var(--warn-bg); color:var(--warn);
          border:1px solid var(--line); font-weight:500; }
#banner.show { display:block; }
</style>
</head>
<body>
<header>
  <h1>keepwatch</h1>
  <span class="meta">node <b id="node">—</b></span>
  <span class="meta">version <span id="version">—</span></span>
  <span class="meta">up <span id="uptime">—</span></span>
  <span class="right">updated <span id="updated" data-refreshes="0">never</span> · every 2 s</span>
</header>
<main>
  <div id="banner" role="alert"></div>
  <div class="summary">
    <div class="tile"><div class="k">Checks passing</div><div class="v" id="passing">—</div></div>
    <div class="tile"><div class="k">Role</div><div class="v" id="role">—</div></div>
    <div class="tile"><div class="k">Replication lag</div><div class="v" id="lag">—</div></div>
    <div class="tile"><div class="k">Term</div><div class="v" id="term">—</div></div>
    <div class="tile"><div class="k">Leader</div><div class="v" id="leader">—</div></div>
    <div class="tile"><div class="k">Members alive</div><div class="v" id="alive">—</div></div>
    <div class="tile"><div class="k">Failover</div><div class="v" id="failover">—</div></div>
  </div>
  <section>
    <h2>Checks<span class="count" id="checks-count"></span></h2>
    <table>
      <thead><tr><th>Check</th><th>Type</th><th>State</th><th>Last probe</th><th>Since</th><th>Detail</th></tr></thead>
      <tbody id="checks"></tbody>
    </table>
  </section>
  <section>
    <h2>Members<span class="count" id="members-count"></span></h2>
    <table>
      <thead><tr><th>Member</th><th>Gossip</th><th>Role</th><th>Timeline</th><th>WAL position</th><th>Checks</th></tr></thead>
      <tbody id="members"></tbody>
    </table>
  </section>
</main>
<script>
"use strict";
const DASH = "\u2014";
const $ = (id) => document.getElementById(id);
const has = (v) => v !== undefined && v !== null && v !== "";
const text = (v) => (has(v) ? String(v) : DASH);

function setText(id, v) { $(id).textContent = text(v); }

function duration(s) {
  if (typeof s !== "number" || !isFinite(s)) return DASH;
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + (s % 60) + "s";
  return s + "s";
}

function bytes(n) {
  if (typeof n !== "number" || !isFinite(n)) return DASH;
  const u = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(Math.round(n))) + " " + u[i];
}

function lagText(bytesVal, secondsVal) {
  const parts = [];
  if (typeof bytesVal === "number") parts.push(bytes(bytesVal));
  if (typeof secondsVal === "number") parts.push(secondsVal.toFixed(1) + " s");
  return parts.length ? parts.join(" · ") : DASH;
}

function cell(row, value, cls) {
  const td = document.createElement("td");
  td.textContent = text(value);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function badge(row, state) {
  const td = document.createElement("td");
  const b = document.createElement("span");
  const s = state === "up" || state === "alive" ? "up"
          : state === "down" || state === "dead" || state === "failed" ? "down"
          : state === "suspect" ? "suspect" : "unknown";
  b.className = "badge " + s;
  b.textContent = has(state) ? state : "unknown";
  td.appendChild(b);
  row.appendChild(td);
}

function emptyRow(body, cols, message) {
  const tr = document.createElement("tr");
  const td = document.createElement("td");
  td.colSpan = cols; td.className = "empty"; td.textContent = message;
  tr.appendChild(td); body.replaceChildren(tr);
}

// The PostgreSQL check, if any: the source of role and lag on this node.
function pgCheck(checks) { return checks.find((c) => c.type === "postgres"); }

function renderStatus(st) {
  setText("node", st.node);
  setText("version", st.version);
  $("uptime").textContent = duration(st.uptime_seconds);
  const checks = Array.isArray(st.checks) ? st.checks : [];
  $("passing").textContent = has(st.checks_total) ? text(st.checks_passing) + " / " + st.checks_total : DASH;
  $("passing").className = "v" + (!has(st.checks_total) ? ""
                                  : st.checks_passing === st.checks_total ? " good" : " bad");
  const pg = pgCheck(checks);
  const labels = (pg && pg.labels) || {}, values = (pg && pg.values) || {};
  setText("role", st.role || labels.role);
  $("lag").textContent = lagText(values.lag_bytes, values.lag_seconds);
  $("checks-count").textContent = "(" + checks.length + ")";
  const body = $("checks");
  if (!checks.length) { emptyRow(body, 6, "no checks configured"); return; }
  const rows = checks.map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.check = text(c.name);
    tr.dataset.state = has(c.state) ? c.state : "unknown";
    cell(tr, c.name);
    cell(tr, c.type);
    badge(tr, c.state);
    cell(tr, has(c.outcome) ? c.outcome + (c.stuck ? " (stuck)" : "") : undefined);
    cell(tr, has(c.since_seconds) ? duration(c.since_seconds) + " ago" : DASH, "num")
      .title = text(c.since);
    cell(tr, c.detail, "detail");
    return tr;
  });
  body.replaceChildren(...rows);
}

// /cluster as the gossip layer publishes it: members with a gossip `status`
// (alive/suspect/dead) and the node `state` they gossip (role, timeline, LSNs, checks).
function memberStatus(m) { return has(m.status) ? m.status : typeof m.state === "string" ? m.state : undefined; }
function memberInfo(m) { return m.state && typeof m.state === "object" ? m.state : m; }

function renderCluster(cl) {
  setText("term", cl.term);
  setText("leader", cl.leader);
  const members = Array.isArray(cl.members) ? cl.members : [];
  const alive = typeof cl.alive === "number" ? cl.alive
              : members.filter((m) => memberStatus(m) === "alive").length;
  $("alive").textContent = members.length ? alive + " / " + members.length : DASH;
  $("members-count").textContent = "(" + members.length + ")";
  const body = $("members");
  if (!members.length) {
    emptyRow(body, 6, has(cl.reason) ? cl.reason : "no members known");
    return;
  }
  const rows = members.map((m) => {
    const info = memberInfo(m);
    const tr = document.createElement("tr");
    tr.dataset.member = text(m.name);
    tr.dataset.state = has(memberStatus(m)) ? memberStatus(m) : "unknown";
    cell(tr, text(m.name) + (m.self ? " (this node)" : "") + (has(cl.leader) && m.name === cl.leader ? " \u2605 leader" : ""));
    badge(tr, memberStatus(m));
    cell(tr, info.role);
    cell(tr, info.timeline, "num");
    cell(tr, has(info.current_lsn) && info.current_lsn !== "0/0" ? info.current_lsn : info.replayed_lsn, "num");
    const checks = typeof info.checks_passing === "number"
      ? info.checks_passing + " passing" + (info.checks_failing ? ", " + info.checks_failing + " failing" +
          (Array.isArray(info.failing) && info.failing.length ? " (" + info.failing.join(", ") + ")" : "") : "")
      : undefined;
    cell(tr, checks, "detail");
    return tr;
  });
  body.replaceChildren(...rows);
}

// /status's failover object (this node's own durable view): it says the term and leader
// more precisely than the gossip maximum, and whether this node is fenced.
function renderFailover(fo) {
  if (!fo || typeof fo !== "object") { setText("failover", undefined); return; }
  if (has(fo.term)) setText("term", fo.term);
  if (has(fo.leader)) setText("leader", fo.leader);
  const flags = [];
  if (fo.lease === true) flags.push("lease");
  if (fo.fenced === true) flags.push("fenced");
  if (fo.needs_rejoin === true) flags.push("needs rejoin");
  $("failover").textContent = text(fo.role) + (flags.length ? " (" + flags.join(", ") + ")" : "");
  $("failover").className = "v" + (fo.fenced === true || fo.needs_rejoin === true ? " bad" : "");
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

let refreshes = 0;
async function refresh() {
  const [st, cl] = await Promise.allSettled([getJson("/status"), getJson("/cluster")]);
  const problems = [];
  if (st.status === "fulfilled") renderStatus(st.value); else problems.push(String(st.reason));
  if (cl.status === "fulfilled") renderCluster(cl.value); else problems.push(String(cl.reason));
  if (st.status === "fulfilled") renderFailover(st.value.failover);
  const banner = $("banner");
  banner.textContent = problems.length ? "agent unreachable: " + problems.join("; ") + " (showing the last answer)" : "";
  banner.classList.toggle("show", problems.length > 0);
  if (st.status === "fulfilled") {
    refreshes++;
    $("updated").textContent = new Date().toLocaleTimeString();
    $("updated").dataset.refreshes = String(refreshes);
  }
}

refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)KWHTML";

}  // namespace

std::string_view StatusPageHtml() { return kPage; }

}  // namespace kw

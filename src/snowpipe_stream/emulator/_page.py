"""The emulator's live page (``GET /``): plain HTML and a little JavaScript, no build step.

It polls ``GET /emulator/v1/overview`` every second and shows the channels (committed token,
rows, error rows, last error), the latest requests (status, latency, the fault that fired),
the fault rules armed, and the registered users by key fingerprint (never a key or a token).
Clicking a channel shows its committed rows (``GET /emulator/v1/rows``). Every value is put in
the page as text (``textContent``), never as HTML: channel names and rows come from clients.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>snowpipe-stream emulator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2433; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
  .sub { color: #5b6578; margin-bottom: 1rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #e3e7ee; }
  th { background: #f4f6fa; font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr.ch { cursor: pointer; }
  tr.ch:hover, tr.selected { background: #eef4ff; }
  .bad { color: #b42318; }
  .ok { color: #067647; }
  .fault { color: #b54708; }
  pre { background: #f4f6fa; padding: .6rem; max-height: 20rem; overflow: auto; }
  .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5rem; }
  .empty { color: #8a93a6; }
</style>
</head>
<body>
<h1>snowpipe-stream emulator</h1>
<div class="sub">Refreshes every second. <span id="updated"></span></div>

<h2>Channels</h2>
<table id="channels">
  <thead><tr><th>pipe</th><th>channel</th><th>status</th><th>committed offset token</th>
  <th>rows</th><th>error rows</th><th>last error</th></tr></thead>
  <tbody></tbody>
</table>
<div id="rows-box" hidden>
  <h2>Committed rows of <span id="rows-of"></span> <span class="sub" id="rows-count"></span></h2>
  <pre id="rows"></pre>
</div>

<h2>Latest requests</h2>
<table id="requests">
  <thead><tr><th>time</th><th>request</th><th>status</th><th>ms</th><th>fault</th></tr></thead>
  <tbody></tbody>
</table>

<div class="grid">
  <div>
    <h2>Faults <span class="sub" id="fired"></span></h2>
    <table id="faults">
      <thead><tr><th>rule</th><th>answer</th><th>left</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <div>
    <h2>Users</h2>
    <table id="users">
      <thead><tr><th>account</th><th>user</th><th>key fingerprints</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
</div>

<script>
"use strict";
let selected = null;

function cell(tr, value, cls) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "-" : String(value);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fill(id, items, render, emptyText) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  if (!items.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, emptyText, "empty");
    td.colSpan = document.querySelectorAll("#" + id + " th").length;
    body.appendChild(tr);
    return;
  }
  for (const item of items) {
    const tr = document.createElement("tr");
    render(tr, item);
    body.appendChild(tr);
  }
}

function key(c) { return [c.database, c.schema, c.pipe, c.channel].join("/"); }

async function showRows(c) {
  selected = key(c);
  const q = new URLSearchParams({database: c.database, schema: c.schema, pipe: c.pipe,
                                 channel: c.channel});
  const text = await (await fetch("/emulator/v1/rows?" + q)).text();
  const lines = text.split("\\n").filter(line => line);
  document.getElementById("rows-of").textContent = c.pipe + " / " + c.channel;
  document.getElementById("rows-count").textContent =
    lines.length + " rows" + (lines.length > 200 ? ", the first 200 shown" : "");
  document.getElementById("rows").textContent = lines.slice(0, 200).join("\\n");
  document.getElementById("rows-box").hidden = false;
  refresh();
}

async function refresh() {
  let doc;
  try {
    doc = await (await fetch("/emulator/v1/overview")).json();
  } catch (err) {
    document.getElementById("updated").textContent = "(not reachable: " + err + ")";
    return;
  }
  fill("channels", doc.channels, (tr, c) => {
    tr.className = "ch" + (key(c) === selected ? " selected" : "");
    tr.dataset.channel = c.channel;
    tr.onclick = () => showRows(c);
    cell(tr, c.database + "." + c.schema + "." + c.pipe);
    cell(tr, c.channel);
    cell(tr, c.status, c.status === "SUCCESS" ? "ok" : "bad");
    cell(tr, c.committed_offset_token);
    cell(tr, c.rows_inserted, "num");
    cell(tr, c.rows_error_count, "num" + (c.rows_error_count ? " bad" : ""));
    cell(tr, c.last_error_message);
  }, "no channel opened yet");
  fill("requests", doc.requests.slice(0, 50), (tr, r) => {
    cell(tr, new Date(r.time_ms).toLocaleTimeString());
    cell(tr, r.method + " " + r.path);
    cell(tr, r.status === 0 ? "cut" : r.status, r.status >= 200 && r.status < 300 ? "ok" : "bad");
    cell(tr, r.ms, "num");
    cell(tr, r.fault, "fault");
  }, "no request yet");
  fill("faults", doc.faults.armed, (tr, f) => {
    cell(tr, (f.method ? f.method + " " : "") + f.path);
    cell(tr, f.code || (f.action !== "respond" ? f.action : f.status || 500));
    cell(tr, f.rate !== null ? "rate " + f.rate : f.count, "num");
  }, "no fault armed");
  document.getElementById("fired").textContent = "(" + doc.faults.fired + " fired)";
  fill("users", doc.users, (tr, u) => {
    cell(tr, u.account);
    cell(tr, u.user);
    cell(tr, u.fingerprints.join(", "));
  }, "no user registered: POST /emulator/v1/users");
  document.getElementById("updated").textContent =
    "Updated " + new Date().toLocaleTimeString() + "; " + doc.stats.rows_committed +
    " rows committed in all.";
}

refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
"""

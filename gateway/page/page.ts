/**
 * GET / — the status page: plain HTML + JS, no build step. Enter a GitHub
 * username, start a refresh, watch the progress bar fill from the job's
 * event stream ("Refreshing 7 of 10 repos"), then ask a question through
 * /api/ai. An optional API key (kept in sessionStorage) is sent as a bearer
 * token when the gateway has API_KEYS configured.
 */
import type { AppContext, RouteApp } from "../context.ts";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>foliosync</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  p.sub { margin-top: 0; color: #5b6475; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 1rem 1.2rem; margin: 1rem 0; }
  label { display: block; font-size: .85rem; color: #5b6475; margin-bottom: .25rem; }
  input[type=text], input[type=password] { padding: .45rem .6rem; border: 1px solid #c5cbd6; border-radius: 5px; font-size: 1rem; width: 16rem; }
  button { padding: .45rem .9rem; border: 0; border-radius: 5px; background: #2f6feb; color: #fff; font-size: 1rem; cursor: pointer; }
  button:disabled { background: #9db5e8; cursor: default; }
  .row { display: flex; gap: .6rem; align-items: end; flex-wrap: wrap; }
  .bar { height: 14px; background: #e6e9ef; border-radius: 7px; overflow: hidden; margin: .8rem 0 .4rem; }
  .bar > div { height: 100%; width: 0; background: #2f9e44; transition: width .25s; }
  #state { font-size: .95rem; }
  .err { color: #c92a2a; }
  ol#results li { margin: .4rem 0; }
  .score { color: #5b6475; font-size: .85rem; }
  details { font-size: .85rem; color: #5b6475; }
</style>
</head>
<body>
<h1>foliosync</h1>
<p class="sub">Keep a GitHub portfolio synced, then ask it questions.</p>

<section>
  <div class="row">
    <div><label for="user">GitHub username</label><input id="user" type="text" autocomplete="off" placeholder="octocat"></div>
    <label><input id="force" type="checkbox"> force</label>
    <button id="refresh">Refresh</button>
  </div>
  <div class="bar"><div id="fill"></div></div>
  <div id="state">Idle.</div>
  <details><summary>API key</summary>
    <input id="key" type="password" placeholder="only if the server requires one" autocomplete="off">
  </details>
</section>

<section>
  <div class="row">
    <div style="flex:1"><label for="q">Question</label><input id="q" type="text" style="width:100%" placeholder="which projects use Flask?"></div>
    <button id="ask">Ask</button>
  </div>
  <p id="answer"></p>
  <ol id="results"></ol>
</section>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
const USER_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
let source = null;
$("key").value = sessionStorage.getItem("foliosync-key") || "";
$("key").addEventListener("change", () => sessionStorage.setItem("foliosync-key", $("key").value));
$("user").value = localStorage.getItem("foliosync-user") || "";

function headers(json) {
  const h = {};
  if (json) h["content-type"] = "application/json";
  const k = $("key").value.trim();
  if (k) h["authorization"] = "Bearer " + k;
  return h;
}
function setState(text, isError) {
  $("state").textContent = text;
  $("state").className = isError ? "err" : "";
}
function describe(job) {
  const p = job.progress || {};
  const done = (p.completed || 0) + (p.failed || 0);
  switch (job.state) {
    case "queued": return "Queued…";
    case "planning": return "Listing repositories…";
    case "syncing": return "Refreshing " + done + " of " + p.total + " repos" + (p.failed ? " (" + p.failed + " failed)" : "");
    case "merging": return "Merging " + p.total + " repos into the bundle…";
    case "completed": return "Bundle ready (" + p.completed + " of " + p.total + " repos refreshed). Training follows.";
    case "training": return "Bundle ready; training the model…";
    case "trained": return "Bundle ready; model trained.";
    case "training_skipped": return "Bundle ready" + (job.message ? " (" + job.message + ")" : ".");
    case "training_failed": return "Bundle ready; training failed" + (job.error ? ": " + job.error : ".");
    case "fresh": return "Already fresh: nothing changed on GitHub.";
    case "failed": return "Failed" + (job.error ? ": " + job.error : ".");
    default: return job.state;
  }
}
function show(job) {
  const p = job.progress || {};
  let pct = p.percentage || 0;
  if (["completed", "training", "trained", "training_skipped", "training_failed", "fresh"].includes(job.state)) pct = 100;
  $("fill").style.width = pct + "%";
  $("fill").style.background = job.state === "failed" ? "#c92a2a" : "#2f9e44";
  setState(describe(job), job.state === "failed");
}
const TERMINAL = ["trained", "training_skipped", "training_failed", "fresh", "failed"];

async function refresh() {
  const user = $("user").value.trim();
  if (!USER_RE.test(user)) return setState("That is not a GitHub username.", true);
  localStorage.setItem("foliosync-user", user);
  if (source) source.close();
  $("refresh").disabled = true;
  $("fill").style.width = "0";
  setState("Starting…");
  try {
    const res = await fetch("/api/bundles/" + encodeURIComponent(user) + "/refresh", {
      method: "POST", headers: headers(true), body: JSON.stringify({ force_refresh: $("force").checked }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.status !== 202) {
      $("refresh").disabled = false;
      return setState((body.error && body.error.message) || ("HTTP " + res.status), true);
    }
    // until=terminal: follow training too; close on a terminal state (else EventSource reconnects).
    source = new EventSource(body.events_url + "&until=terminal");
    source.onmessage = (ev) => {
      const job = JSON.parse(ev.data);
      show(job);
      if (job.state === "completed" || TERMINAL.includes(job.state)) $("refresh").disabled = false;
      if (TERMINAL.includes(job.state)) { source.close(); source = null; }
    };
    source.onerror = () => {
      if (source && source.readyState === EventSource.CLOSED) { $("refresh").disabled = false; source = null; }
    };
  } catch (e) {
    $("refresh").disabled = false;
    setState("Network error: " + e.message, true);
  }
}

async function ask() {
  const user = $("user").value.trim();
  const query = $("q").value.trim();
  $("results").textContent = "";
  if (!USER_RE.test(user)) { $("answer").textContent = "Enter a GitHub username first."; return; }
  if (!query) { $("answer").textContent = "Type a question."; return; }
  $("ask").disabled = true;
  $("answer").textContent = "Thinking…";
  try {
    const res = await fetch("/api/ai", { method: "POST", headers: headers(true), body: JSON.stringify({ query, username: user }) });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) { $("answer").textContent = (body.error && body.error.message) || ("HTTP " + res.status); return; }
    $("answer").textContent = body.response + " (" + body.total_repositories + " repos, " + body.model + ")";
    for (const r of body.repositories_used) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/api/bundles/" + encodeURIComponent(user) + "/repos/" + encodeURIComponent(r.name);
      a.textContent = r.name;
      const s = document.createElement("span");
      s.className = "score";
      s.textContent = " " + Number(r.relevance_score).toFixed(3);
      li.append(a, s);
      $("results").append(li);
    }
  } catch (e) {
    $("answer").textContent = "Network error: " + e.message;
  } finally {
    $("ask").disabled = false;
  }
}
$("refresh").addEventListener("click", refresh);
$("ask").addEventListener("click", ask);
$("user").addEventListener("keydown", (e) => { if (e.key === "Enter") refresh(); });
$("q").addEventListener("keydown", (e) => { if (e.key === "Enter") ask(); });
</script>
</body>
</html>
`;

export function pageRoutes(app: RouteApp, _ctx: AppContext) {
  const headers = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-cache",
    "content-security-policy":
      "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
    "x-content-type-options": "nosniff",
  };
  app.get("/", (c) => c.body(PAGE_HTML, 200, headers));
}

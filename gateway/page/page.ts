/**
 * GET / — the status page: plain HTML + JS, no build step, no external
 * resources (the CSP allows only this origin; the icon is an inline data URL,
 * so a browser asks for no /favicon.ico). Enter a GitHub username, start a
 * refresh, watch an accessible <progress> fill from the job's event stream
 * ("Refreshing 7 of 10 repos"), follow training to its outcome, read the
 * bundle's repositories (name, language, documented, description) and the
 * promoted model, then ask a question through /api/ai.
 * An optional API key (kept in sessionStorage) is sent as a bearer token.
 * Everything from the server is put into the page as text, never as HTML.
 *
 * GET /page/model/{u} — what the page shows of the user's promoted model:
 * {username, model: {version, backend, trained_at} | null}; a read, so
 * behind an API key when READ_ACCESS=key.
 */
import type { AppContext, RouteApp } from "../context.ts";
import { readModelPointer } from "../../shared/ranking/model-store.ts";
import { requireUsername } from "../http.ts";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>foliosync</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
  p.sub { margin-top: 0; color: #5b6475; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 1rem 1.2rem; margin: 1rem 0; }
  label { display: block; font-size: .85rem; color: #5b6475; margin-bottom: .25rem; }
  label.inline { display: inline; }
  input[type=text], input[type=password] { padding: .45rem .6rem; border: 1px solid #c5cbd6; border-radius: 5px; font-size: 1rem; width: 16rem; }
  button { padding: .45rem .9rem; border: 0; border-radius: 5px; background: #2f6feb; color: #fff; font-size: 1rem; cursor: pointer; }
  button:disabled { background: #9db5e8; cursor: default; }
  .row { display: flex; gap: .6rem; align-items: end; flex-wrap: wrap; }
  progress { width: 100%; height: 14px; margin: .8rem 0 .4rem; accent-color: #2f9e44; }
  #state { font-size: .95rem; }
  .err { color: #c92a2a; }
  .muted { color: #5b6475; font-size: .85rem; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; }
  th, td { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid #eef0f4; vertical-align: top; }
  th { color: #5b6475; font-weight: 600; }
  td.doc-yes { color: #2f9e44; }
  td.doc-no { color: #8a93a3; }
  ol#results li { margin: .4rem 0; }
  .score { color: #5b6475; font-size: .85rem; }
  details { font-size: .85rem; color: #5b6475; }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style>
</head>
<body>
<h1>foliosync</h1>
<p class="sub">Keep a GitHub portfolio synced, then ask it questions.</p>

<section aria-labelledby="h-refresh">
  <h2 id="h-refresh" class="visually-hidden">Refresh</h2>
  <div class="row">
    <div><label for="user">GitHub username</label><input id="user" type="text" autocomplete="off" placeholder="octocat"></div>
    <label class="inline"><input id="force" type="checkbox"> force</label>
    <button id="refresh" type="button">Refresh</button>
  </div>
  <progress id="progress" max="1" value="0" aria-label="Refresh progress" aria-describedby="state"></progress>
  <div id="state" role="status" aria-live="polite">Idle.</div>
  <details><summary>API key</summary>
    <input id="key" type="password" placeholder="only if the server requires one" autocomplete="off" aria-label="API key">
  </details>
</section>

<section aria-labelledby="h-model">
  <h2 id="h-model">Training and model</h2>
  <p id="training" aria-live="polite">No training yet.</p>
  <p id="model" class="muted">Model: none yet (answers rank with BM25).</p>
</section>

<section aria-labelledby="h-repos">
  <h2 id="h-repos">Repositories</h2>
  <p id="repos-summary" class="muted">Refresh a user to see their repositories.</p>
  <table id="repos" hidden>
    <thead><tr><th scope="col">Name</th><th scope="col">Language</th><th scope="col">Documented</th><th scope="col">Description</th></tr></thead>
    <tbody></tbody>
  </table>
</section>

<section aria-labelledby="h-ask">
  <h2 id="h-ask" class="visually-hidden">Ask</h2>
  <div class="row">
    <div style="flex:1"><label for="q">Question</label><input id="q" type="text" style="width:100%" placeholder="which projects use Flask?"></div>
    <button id="ask" type="button">Ask</button>
  </div>
  <p id="answer" aria-live="polite"></p>
  <ol id="results" aria-label="Ranked repositories"></ol>
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
function describeTraining(job) {
  switch (job.state) {
    case "completed": return "Training queued…";
    case "training": return "Training the model…";
    case "trained": return "Trained. " + (job.message || "");
    case "training_skipped": return "Training skipped: " + (job.message || "no change needed") + ".";
    case "training_failed": return "Training failed: " + (job.error || "unknown error") + ".";
    case "fresh": return "Nothing changed, so the current model stays.";
    default: return null;
  }
}
const BAR_DONE = ["merging", "completed", "training", "trained", "training_skipped", "training_failed", "fresh"];
function show(job) {
  const p = job.progress || {};
  const bar = $("progress");
  const total = p.total || 0;
  const done = (p.completed || 0) + (p.failed || 0);
  if (total > 0) {
    bar.max = total;
    bar.value = BAR_DONE.includes(job.state) ? total : Math.min(done, total);
  } else if (BAR_DONE.includes(job.state)) {
    bar.max = 1;
    bar.value = 1;
  } else if (job.state === "queued" || job.state === "planning") {
    bar.removeAttribute("value"); // indeterminate until the total is known
  }
  bar.setAttribute("aria-valuetext", describe(job));
  setState(describe(job), job.state === "failed");
  const t = describeTraining(job);
  if (t) $("training").textContent = t;
}
const TERMINAL = ["trained", "training_skipped", "training_failed", "fresh", "failed"];

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.append(td);
}
async function loadRepos(user) {
  try {
    const res = await fetch("/api/bundles/" + encodeURIComponent(user), { headers: headers(false) });
    if (res.status === 404) {
      $("repos").hidden = true;
      $("repos-summary").textContent = "No bundle for " + user + " yet.";
      return;
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    const b = await res.json();
    const rows = Array.isArray(b.data) ? b.data : [];
    const tbody = $("repos").querySelector("tbody");
    tbody.textContent = "";
    let documented = 0;
    for (const r of rows) {
      const tr = document.createElement("tr");
      const m = r.metadata || {};
      const th = document.createElement("th");
      th.scope = "row";
      const a = document.createElement("a");
      a.href = "/api/bundles/" + encodeURIComponent(user) + "/repos/" + encodeURIComponent(r.name);
      a.textContent = r.name;
      th.append(a);
      tr.append(th);
      cell(tr, m.language || "—");
      if (r.has_documentation) documented++;
      cell(tr, r.has_documentation ? "yes" : "no", r.has_documentation ? "doc-yes" : "doc-no");
      cell(tr, m.description || "");
      tbody.append(tr);
    }
    $("repos").hidden = rows.length === 0;
    $("repos-summary").textContent = rows.length + " repositories, " + documented + " documented (bundle of " + b.last_modified + ").";
  } catch (e) {
    $("repos-summary").textContent = "Could not load the repositories: " + e.message;
  }
}
async function loadModel(user) {
  try {
    const res = await fetch("/page/model/" + encodeURIComponent(user), { headers: headers(false) });
    if (!res.ok) return;
    const m = (await res.json()).model;
    $("model").textContent = m
      ? "Model: " + m.version.slice(0, 12) + " trained on " + m.backend + " at " + m.trained_at + "."
      : "Model: none yet (answers rank with BM25).";
  } catch (e) { /* the model line is informative only */ }
}

async function refresh() {
  const user = $("user").value.trim();
  if (!USER_RE.test(user)) return setState("That is not a GitHub username.", true);
  localStorage.setItem("foliosync-user", user);
  if (source) source.close();
  $("refresh").disabled = true;
  $("progress").max = 1;
  $("progress").value = 0;
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
      if (job.state === "completed" || job.state === "fresh") loadRepos(user);
      if (job.state === "completed" || TERMINAL.includes(job.state)) $("refresh").disabled = false;
      if (TERMINAL.includes(job.state)) {
        source.close();
        source = null;
        loadModel(user);
      }
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
    $("answer").textContent = body.response + " (" + body.total_repositories + " repos searched; model " + body.model + ")";
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
if (USER_RE.test($("user").value)) { loadRepos($("user").value); loadModel($("user").value); }
</script>
</body>
</html>
`;

export function pageRoutes(app: RouteApp, ctx: AppContext) {
  const headers = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-cache",
    "content-security-policy":
      "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
    "x-content-type-options": "nosniff",
  };
  app.handle("page", (c) => c.body(PAGE_HTML, 200, headers));

  // A read like GET /api/bundles/{u} (operations.ts): behind a key when READ_ACCESS=key.
  app.handle("pageModel", async (c) => {
    const username = requireUsername(c.req.param("username"));
    ctx.auth.client(c, username);
    const cur = await readModelPointer(ctx.store, username).catch(() => null);
    const p = cur?.pointer;
    const model = p
      ? { version: String(p.content_fingerprint), backend: String(p.backend), trained_at: String(p.trained_at) }
      : null;
    return c.json({ username, model }, 200, { "cache-control": "no-store" });
  });
}

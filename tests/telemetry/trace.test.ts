/**
 * One refresh is one trace across processes: the gateway (Deno), a Bun
 * worker process and the Deno training worker export spans over OTLP/HTTP
 * (configured only by OTEL_* variables) to a collector held in memory here;
 * the spans of gateway → plan → every sync (with GitHub and storage calls) →
 * merge → train share one trace id and chain by parent ids. Log lines carry
 * the trace and job ids. With OTEL_* unset nothing is traced. With a
 * GITHUB_TOKEN (the GraphQL path) the same stack traces a small refresh
 * without training: its `POST /graphql` calls are CLIENT spans under plan.
 */
import { afterAll, expect, test } from "bun:test";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { beeJobData } from "../../shared/jobs/queue-names.ts";
import { initTelemetry, telemetryEnabled, tracedStore, withTrace } from "../../shared/telemetry.ts";
import type { BlobStore } from "../../shared/storage/types.ts";
import { type OpsStack, runCli, startOpsStack } from "../support/ops-stack.ts";
import { denoBin, repoRoot } from "../support/paths.ts";
import { type Managed, startProcess, waitForOutput } from "../support/process.ts";

interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const hex = (v: unknown) => {
  const s = String(v ?? "");
  return /^[0-9a-f]*$/.test(s) ? s : Buffer.from(s, "base64").toString("hex");
};

/** An OTLP/HTTP JSON receiver: every span any process exports lands in `spans`. */
function startCollector(): Promise<{ url: string; spans: CollectedSpan[]; server: Server }> {
  const spans: CollectedSpan[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      try {
        const doc = JSON.parse(body);
        for (const rs of doc.resourceSpans ?? []) {
          const attr = (list: { key: string; value: Record<string, unknown> }[] = []) =>
            Object.fromEntries(list.map((a) => [a.key, Object.values(a.value ?? {})[0]]));
          const service = String(attr(rs.resource?.attributes)["service.name"]);
          for (const ss of rs.scopeSpans ?? []) {
            for (const sp of ss.spans ?? []) {
              spans.push({
                service,
                traceId: hex(sp.traceId),
                spanId: hex(sp.spanId),
                parentSpanId: hex(sp.parentSpanId),
                name: sp.name,
                kind: sp.kind,
                attributes: attr(sp.attributes),
              });
            }
          }
        }
      } catch { /* not JSON: ignored */ }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      resolve({ url: `http://127.0.0.1:${port}`, spans, server });
    })
  );
}

let s: OpsStack | undefined;
let trainer: Managed | undefined;
let hookServer: Server | undefined;
let collector: Awaited<ReturnType<typeof startCollector>> | undefined;
afterAll(async () => {
  await trainer?.stop(5000);
  await s?.stop();
  collector?.server.close();
  hookServer?.close();
}, 60_000);

test("tracing off (no OTEL_* set): no spans, no trace field in messages, stores unwrapped", () => {
  initTelemetry("test", { env: {} });
  expect(telemetryEnabled()).toBe(false);
  const msg = { job_id: "j" };
  expect(withTrace(msg)).toBe(msg);
  expect(JSON.parse(beeJobData(msg)).data).toEqual({ job_id: "j" });
  const store = { backend: "local" } as BlobStore;
  expect(tracedStore(store)).toBe(store);
});

let hooks = 0;

/** The collector, a status-webhook receiver and the stack (gateway, fixture server, Redis), started once for the file. */
async function ensureStack(): Promise<{ s: OpsStack; collector: NonNullable<typeof collector>; hookPort: number }> {
  collector ??= await startCollector();
  // A status-webhook receiver, so the trace includes notify deliveries.
  if (!hookServer) {
    hookServer = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        hooks++;
        res.writeHead(204);
        res.end();
      });
    });
    await new Promise<void>((r) => hookServer!.listen(0, "127.0.0.1", () => r()));
  }
  const hookPort = (hookServer.address() as { port: number }).port;
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_BSP_SCHEDULE_DELAY: "200",
    LOG_LEVEL: "info",
    WEBHOOK_SIGNING_SECRET: "trace-test-signing-secret-0123",
    CALLBACK_ALLOW_HOSTS: `127.0.0.1:${hookPort}`,
  };
  // No worker yet: each test starts the workers it needs.
  s ??= await startOpsStack({ env: otel, worker: false });
  return { s, collector, hookPort };
}

/** The gateway span of the request that created `jobId` (a parent of its plan span), once exported. */
function rootOf(spans: CollectedSpan[], jobId: string): CollectedSpan | undefined {
  return spans.find((x) =>
    x.service === "foliosync-gateway" && x.attributes["foliosync.job_id"] === jobId &&
    spans.some((p) => p.name === "plan" && p.parentSpanId === x.spanId)
  );
}

test("one trace spans a whole refresh across gateway, worker and training processes", async () => {
  const { s, collector, hookPort } = await ensureStack();
  trainer = startProcess(denoBin, ["run", "-A", join(repoRoot, "workers", "train", "main.ts")], {
    cwd: repoRoot,
    env: { ...process.env, ...s.env, XDG_RUNTIME_DIR: "/tmp/foliosync-xdg", TFJS_BACKEND: "wasm" },
  });
  await waitForOutput(trainer, /train worker ready/, 90_000);

  const started = await fetch(`${s.gateway.url}/api/bundles/yungryce/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ callback_url: `http://127.0.0.1:${hookPort}/hook` }),
  });
  expect(started.status).toBe(202);
  // The CLI joins the refresh in flight and follows it to the end of training; workers start once the
  // refresh is queued, so the CLI joins that very job.
  const following = runCli(["refresh", "yungryce", "--wait", "--train", "--json", "--timeout", "400"], s.env, 420_000);
  await new Promise((res) => setTimeout(res, 1500));
  await s.startWorker();
  const r = await following;
  if (r.code !== 0) throw new Error(`${r.stdout}\n${r.stderr}\n${trainer.output().slice(-3000)}`);
  const job = JSON.parse(r.stdout);
  expect(["trained", "training_skipped"]).toContain(job.state);

  const spans = collector.spans;
  // The request that created the job (the CLI's joining request is a trace of its own).
  const root = () => rootOf(spans, job.job_id);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const g = root();
    const t = g && spans.filter((x) => x.traceId === g.traceId);
    const complete = t && t.some((x) => x.name === "train") && t.some((x) => x.name === "notify") &&
      t.filter((x) => x.name === "sync").length === 48;
    if (complete) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  const gw = root()!;
  expect(gw).toBeDefined();
  expect(gw.parentSpanId).toBe("");
  const mine = spans.filter((x) => x.traceId === gw.traceId);
  const byId = new Map(mine.map((x) => [x.spanId, x]));
  const named = (n: string) => mine.filter((x) => x.name === n);

  expect(new Set(mine.map((x) => x.service))).toEqual(
    new Set(["foliosync-gateway", "foliosync-worker", "foliosync-train"]),
  );
  const [plan] = named("plan");
  expect(plan.parentSpanId).toBe(gw.spanId);
  const syncs = named("sync");
  expect(syncs.length).toBe(48);
  for (const sy of syncs) expect(sy.parentSpanId).toBe(plan.spanId);
  const [merge] = named("merge");
  expect(syncs.map((x) => x.spanId)).toContain(merge.parentSpanId);
  const [train] = named("train");
  expect(train.service).toBe("foliosync-train");
  expect(byId.get(train.parentSpanId)?.name).toBe("merge");
  for (const x of [plan, merge, train, ...syncs]) expect(x.attributes["foliosync.job_id"]).toBe(job.job_id);

  // GitHub calls: CLIENT spans under plan and the syncs, named by route template (no user data in names).
  const github = mine.filter((x) => x.name.startsWith("GitHub "));
  expect(github.length).toBeGreaterThanOrEqual(48);
  expect(github.some((x) => x.name === "GET /repos/{owner}/{repo}/readme".replace(/^/, "GitHub "))).toBe(true);
  for (const x of github) expect(["plan", "sync"]).toContain(byId.get(x.parentSpanId)?.name ?? "");
  // Storage calls: each sync writes its record; merge and train read and write.
  const puts = mine.filter((x) => x.name === "storage put");
  expect(puts.filter((x) => byId.get(x.parentSpanId)?.name === "sync").length).toBe(48);
  expect(mine.some((x) => x.name.startsWith("storage ") && byId.get(x.parentSpanId)?.name === "merge")).toBe(true);
  expect(mine.some((x) => x.name.startsWith("storage ") && x.service === "foliosync-train")).toBe(true);

  // Status webhooks: each delivery is a notify span under the request that registered the callback.
  const notifies = named("notify");
  expect(notifies.length).toBeGreaterThan(0);
  for (const n of notifies) expect(n.parentSpanId).toBe(gw.spanId);
  expect(hooks).toBeGreaterThan(0);

  // Log lines carry the job id and the trace id.
  const lines = trainer.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  const jobLines = lines.filter((l) => l.job_id === job.job_id);
  expect(jobLines.length).toBeGreaterThan(0);
  for (const l of jobLines) expect(l.trace_id).toBe(gw.traceId);
}, 600_000);

test(
  "with a token the GraphQL path is traced: POST /graphql CLIENT spans under plan, then merge and storage, one trace",
  async () => {
    // The same stack and collector; no training here (the trainer is stopped), one small generated user.
    const { s, collector } = await ensureStack();
    await trainer?.stop(5000);
    trainer = undefined;
    await s.stopWorker();
    await s.startWorker("plan,sync,merge,notify", { GITHUB_TOKEN: "fixture-token-1" });
    const user = "gen-6-trace";
    const started = await fetch(`${s.gateway.url}/api/bundles/${user}/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(started.status).toBe(202);
    const jobId: string = (await started.json()).job_id;
    let job: { state?: string } = {};
    for (let i = 0; i < 1200 && !["completed", "fresh", "failed"].includes(job.state ?? ""); i++) {
      await new Promise((res) => setTimeout(res, 100));
      job = await (await fetch(`${s.gateway.url}/api/bundles/${user}/status?job_id=${jobId}`)).json();
    }
    expect(job.state).toBe("completed");

    const spans = collector.spans;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const g = rootOf(spans, jobId);
      const t = g && spans.filter((x) => x.traceId === g.traceId);
      if (t && t.some((x) => x.name === "merge") && t.filter((x) => x.name === "sync").length === 6) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    const gw = rootOf(spans, jobId)!;
    expect(gw).toBeDefined();
    expect(gw.parentSpanId).toBe("");
    // One trace: every worker span that names the job is in it.
    for (
      const x of spans.filter((x) => x.service === "foliosync-worker" && x.attributes["foliosync.job_id"] === jobId)
    ) {
      expect({ name: x.name, trace: x.traceId }).toEqual({ name: x.name, trace: gw.traceId });
    }
    const mine = spans.filter((x) => x.traceId === gw.traceId);
    const byId = new Map(mine.map((x) => [x.spanId, x]));
    const named = (n: string) => mine.filter((x) => x.name === n);
    const [plan] = named("plan");
    expect(plan.parentSpanId).toBe(gw.spanId);
    // Plan syncs the 6 repos itself (their files in hand): a sync span each under plan, and plan's commit
    // queues the merge, which continues plan's span.
    const syncs = named("sync");
    expect(syncs.length).toBe(6);
    for (const sy of syncs) expect(sy.parentSpanId).toBe(plan.spanId);
    const [merge] = named("merge");
    expect(merge.parentSpanId).toBe(plan.spanId);

    // GitHub calls: GraphQL requests are CLIENT spans under plan (and under a sync, where one sends any).
    const github = mine.filter((x) => x.name.startsWith("GitHub "));
    const graphql = github.filter((x) => x.name === "GitHub POST /graphql");
    expect(graphql.length).toBeGreaterThan(0);
    for (const x of graphql) expect(x.kind).toBe(3); // SpanKind.CLIENT in OTLP
    expect(graphql.some((x) => byId.get(x.parentSpanId)?.name === "plan")).toBe(true);
    for (const x of github) expect(["plan", "sync"]).toContain(byId.get(x.parentSpanId)?.name ?? "");
    // A cold refresh with a token lists and reads through GraphQL alone (tests/github/graphql.test.ts): no REST span.
    expect([...new Set(github.map((x) => x.name))]).toEqual(["GitHub POST /graphql"]);
    // Storage calls: each sync writes its record; merge reads and writes.
    const puts = mine.filter((x) => x.name === "storage put");
    expect(puts.filter((x) => byId.get(x.parentSpanId)?.name === "sync").length).toBe(6);
    expect(mine.some((x) => x.name.startsWith("storage ") && byId.get(x.parentSpanId)?.name === "merge")).toBe(true);
  },
  300_000,
);

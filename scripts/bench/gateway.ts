/**
 * Gateway benchmark: `npm run bench:gateway [-- --json] [--requests N] [--concurrency C]`
 * (bun scripts/bench/gateway.ts).
 *
 * Starts a private redis-server and the real gateway (deno, gateway/main.ts,
 * local storage with published bundles), then drives C concurrent keep-alive
 * clients (Bun fetch loops, default 100) through N requests (default 20,000)
 * of a mix:
 *   25% POST /api/bundles/{u}/refresh      (1,000 users; the second request for a
 *                                            user in flight joins its job)
 *   35% GET  /api/bundles/{u}/status?job_id  (jobs seen so far)
 *   20% GET  /api/bundles/{u}                (200 with the bundle)
 *   20% GET  /api/bundles/{u} If-None-Match  (304)
 * then the floor — a bare Deno.serve doing one Redis LPUSH per request
 * (scripts/bench/floor-server.ts) — under the same load. The load generator
 * runs on the same machine as the servers (here: 2 cores shared by all): a
 * small keep-alive HTTP/1.1 client over node:net, one connection per client.
 * Prints p50/p99/rps of both; with --json the last line is
 * {"gateway":{"p50_ms","p99_ms","rps"},"floor":{"p50_ms","p99_ms","rps"}}.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publishBundle } from "../../shared/bundle-store.ts";
import type { Bundle } from "../../shared/schemas/bundle.ts";
import type { RepoRecord } from "../../shared/schemas/repo.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { startGateway } from "../../tests/support/gateway.ts";
import { denoBin, repoRoot } from "../../tests/support/paths.ts";
import { startProcess, waitForOutput } from "../../tests/support/process.ts";
import { startRedis } from "../../tests/support/redis.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : def;
};
const asJson = flag("--json");
const REQUESTS = opt("--requests", 20_000);
const CONCURRENCY = opt("--concurrency", 100);
const WARMUP = opt("--warmup", 2_000);
const USERS = 1_000;
/** Diagnosis: only one kind of request (refresh | status | bundle | etag | health). */
const ONLY = (() => {
  const i = args.indexOf("--only");
  return i >= 0 ? args[i + 1] : "";
})();
const BUNDLE_USERS = 50;
const log = (...a: unknown[]) => console.log(...a);

interface Result {
  p50_ms: number;
  p99_ms: number;
  rps: number;
  errors: number;
  statuses: Record<string, number>;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

interface Req {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  onBody?: (status: number, text: string) => void;
}

/**
 * One keep-alive HTTP/1.1 connection (node:net): one request at a time,
 * answers framed by Content-Length (or chunked). Far cheaper per request
 * than fetch(), so that the load generator does not become the bottleneck
 * on a machine it shares with the servers.
 */
class Conn {
  private sock!: Socket;
  private buf = Buffer.alloc(0);
  private waiting: ((r: { status: number; body: string }) => void) | null = null;
  private failed: ((e: Error) => void) | null = null;
  constructor(private host: string, private port: number) {}
  open(): Promise<void> {
    return new Promise((res, rej) => {
      this.sock = connect(this.port, this.host, () => res());
      this.sock.setNoDelay(true);
      this.sock.on("data", (d: Buffer) => {
        this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
        this.parse();
      });
      this.sock.on("error", (e) => {
        rej(e);
        this.failed?.(e);
      });
      this.sock.on("close", () => this.failed?.(new Error("connection closed")));
    });
  }
  private parse() {
    if (!this.waiting) return;
    const end = this.buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString("latin1");
    const status = Number(head.slice(9, 12));
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let body: string;
    let used: number;
    if (cl) {
      const n = Number(cl[1]);
      if (this.buf.length < end + 4 + n) return;
      body = this.buf.subarray(end + 4, end + 4 + n).toString("utf8");
      used = end + 4 + n;
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      let off = end + 4;
      const parts: Buffer[] = [];
      for (;;) {
        const nl = this.buf.indexOf("\r\n", off);
        if (nl < 0) return;
        const size = parseInt(this.buf.subarray(off, nl).toString("latin1"), 16);
        if (this.buf.length < nl + 2 + size + 2) return;
        if (size === 0) {
          used = nl + 4;
          break;
        }
        parts.push(this.buf.subarray(nl + 2, nl + 2 + size));
        off = nl + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString("utf8");
    } else {
      body = "";
      used = end + 4;
    }
    this.buf = this.buf.subarray(used);
    const w = this.waiting;
    this.waiting = null;
    w({ status, body });
  }
  request(r: Req): Promise<{ status: number; body: string }> {
    return new Promise((res, rej) => {
      this.waiting = res;
      this.failed = rej;
      const body = r.body ?? "";
      let head = `${r.method ?? "GET"} ${r.path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n`;
      for (const [k, v] of Object.entries(r.headers ?? {})) head += `${k}: ${v}\r\n`;
      if (body || r.method === "POST") head += `content-length: ${Buffer.byteLength(body)}\r\n`;
      this.sock.write(head + "\r\n" + body);
    });
  }
  close() {
    this.sock.destroy();
  }
}

/** C connections share one counter of N requests; each awaits its answer before sending the next. */
async function drive(base: string, total: number, concurrency: number, makeRequest: (i: number) => Req): Promise<Result> {
  const { hostname, port } = new URL(base);
  const conns = await Promise.all(Array.from({ length: concurrency }, async () => {
    const c = new Conn(hostname, Number(port));
    await c.open();
    return c;
  }));
  const lat = new Float64Array(total);
  const statuses: Record<string, number> = {};
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const loop = async (conn: Conn) => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const req = makeRequest(i);
      const s = performance.now();
      try {
        const res = await conn.request(req);
        lat[i] = performance.now() - s;
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status >= 500) errors++;
        req.onBody?.(res.status, res.body);
      } catch {
        lat[i] = performance.now() - s;
        errors++;
        statuses.error = (statuses.error ?? 0) + 1;
        return;
      }
    }
  };
  await Promise.all(conns.map(loop));
  const wall = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  const sorted = lat.slice().sort();
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    p50_ms: r2(quantile(sorted, 0.5)),
    p99_ms: r2(quantile(sorted, 0.99)),
    rps: Math.round(total / wall),
    errors,
    statuses,
  };
}

function record(user: string, name: string, i: number): RepoRecord {
  return {
    name,
    full_name: `${user}/${name}`,
    metadata: {
      description: `Project ${name} of ${user}`,
      topics: ["bench", "demo"],
      language: i % 2 ? "Python" : "TypeScript",
      html_url: `https://github.com/${user}/${name}`,
      homepage: null,
      stargazers_count: i,
      forks_count: 0,
      fork: false,
      archived: false,
      created_at: "2024-01-01T00:00:00Z",
      updated_at: "2024-06-01T00:00:00Z",
      pushed_at: "2024-06-01T00:00:00Z",
      default_branch: "main",
      size: 100 + i,
      license: "MIT",
    },
    languages: { TypeScript: 1000 * i, Python: 10 },
    repoContext: { project_identity: { name, summary: `The ${name} project` }, tech_stack: { primary: ["Deno"] } },
    readme: `# ${name}\n\n` + "A realistic README paragraph about what this project does and how to run it. ".repeat(8),
    skills_index: "",
    architecture: "",
    has_documentation: true,
    fingerprint: (i + 1).toString(16).padStart(16, "0"),
    synced_at: "2024-06-02T00:00:00Z",
  };
}

async function main() {
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), "foliosync-bench-gw-"));
  const cleanup: (() => Promise<void>)[] = [async () => redis.stop(), async () => rmSync(dir, { recursive: true, force: true })];
  try {
    // bundles for the GET part of the mix: 10 repos each
    const store = await LocalStore.open(dir);
    for (let u = 0; u < BUNDLE_USERS; u++) {
      const user = `bundle-user-${u}`;
      const bundle: Bundle = {
        username: user,
        fingerprint: (0xb000 + u).toString(16).padStart(16, "0"),
        content_fingerprint: (0xc000 + u).toString(16).padStart(16, "0"),
        generated_at: new Date(Date.UTC(2025, 0, 1, 0, u)).toISOString(),
        repos: Array.from({ length: 10 }, (_, i) => record(user, `repo-${i}`, i)),
      };
      await publishBundle(store, bundle);
    }

    const gw = await startGateway({
      env: { REDIS_URL: redis.url, STORAGE_DIR: dir, QUEUE_PREFIX: "bench", RATE_LIMIT_PER_MIN: "100000000", LOG_LEVEL: "warn" },
    });
    cleanup.unshift(() => gw.stop());
    const etags = new Map<string, string>();
    for (let u = 0; u < BUNDLE_USERS; u++) {
      const res = await fetch(`${gw.url}/api/bundles/bundle-user-${u}`);
      etags.set(`bundle-user-${u}`, res.headers.get("etag") ?? "");
      await res.text();
    }
    const jobs: { user: string; id: string }[] = [];
    let rnd = 12345;
    const rand = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
      return rnd % n;
    };
    const JSON_POST = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };
    const mixed = (_i: number): Req => {
      let k = rand(100);
      if (ONLY) k = ({ refresh: 0, status: 30, bundle: 70, etag: 90 } as Record<string, number>)[ONLY] ?? -1;
      if (k < 0) return { path: "/api/health" };
      if (k < 25 || jobs.length === 0) {
        const user = `user-${rand(USERS)}`;
        return {
          path: `/api/bundles/${user}/refresh`,
          ...JSON_POST,
          onBody: (status: number, text: string) => {
            if (status === 202 && jobs.length < 5000) jobs.push({ user, id: JSON.parse(text).job_id });
          },
        };
      }
      if (k < 60) {
        const j = jobs[rand(jobs.length)];
        return { path: `/api/bundles/${j.user}/status?job_id=${j.id}` };
      }
      const user = `bundle-user-${rand(BUNDLE_USERS)}`;
      if (k < 80) return { path: `/api/bundles/${user}` };
      return { path: `/api/bundles/${user}`, headers: { "if-none-match": etags.get(user)! } };
    };

    log(`gateway: warm-up ${WARMUP} requests…`);
    await drive(gw.url, WARMUP, CONCURRENCY, mixed);
    log(`gateway: ${REQUESTS} mixed requests, ${CONCURRENCY} concurrent clients…`);
    const gateway = await drive(gw.url, REQUESTS, CONCURRENCY, mixed);
    log(`gateway: p50 ${gateway.p50_ms} ms  p99 ${gateway.p99_ms} ms  ${gateway.rps} req/s  statuses ${JSON.stringify(gateway.statuses)}`);
    await gw.stop();
    cleanup.shift();

    const floorProc = startProcess(denoBin, ["run", "-A", join(repoRoot, "scripts", "bench", "floor-server.ts")], {
      cwd: repoRoot,
      env: { ...process.env, PORT: "0", REDIS_URL: redis.url, NO_COLOR: "1" },
    });
    cleanup.unshift(() => floorProc.stop(2000));
    const floorUrl = (await waitForOutput(floorProc, /floor listening on (http:\/\/\S+)/, 30_000))[1];
    const floorReq = (): Req => ({ path: "/", ...JSON_POST });
    log(`floor: warm-up ${WARMUP} requests…`);
    await drive(floorUrl, WARMUP, CONCURRENCY, floorReq);
    log(`floor: ${REQUESTS} requests (one LPUSH each), ${CONCURRENCY} concurrent clients…`);
    const floor = await drive(floorUrl, REQUESTS, CONCURRENCY, floorReq);
    log(`floor: p50 ${floor.p50_ms} ms  p99 ${floor.p99_ms} ms  ${floor.rps} req/s  statuses ${JSON.stringify(floor.statuses)}`);
    log(
      `gateway/floor throughput ${(gateway.rps / floor.rps).toFixed(2)}× (target ≥ 0.5×); gateway p99 ${gateway.p99_ms} ms (target < 25 ms)`,
    );
    log("note: load generator, Redis and the server share this machine's cores");
    const pick = (r: Result) => ({ p50_ms: r.p50_ms, p99_ms: r.p99_ms, rps: r.rps });
    if (asJson) console.log(JSON.stringify({ gateway: pick(gateway), floor: pick(floor) }));
    if (gateway.errors || floor.errors) process.exitCode = 1;
  } finally {
    for (const c of cleanup) await c().catch(() => {});
  }
}

await main();

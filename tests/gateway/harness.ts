/**
 * Test harness for the gateway (Deno tests): a real redis-server, a real
 * local blob store in a temp dir, the real JobStore, and the app built by
 * createApp. `serve()` puts the app behind a real Deno.serve on port 0.
 * The AI service is a stand-in that answers from the stored bundle (the
 * gateway's contract is: body validated, null → 404, answer passed through).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { type AiService, createApp, type GatewayApp, type GatewayDeps } from "../../gateway/app.ts";
import { JobEventsHub } from "../../gateway/job-events-hub.ts";
import { loadConfig } from "../../shared/config.ts";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";
import type { Bundle } from "../../shared/schemas/bundle.ts";
import type { RepoRecord } from "../../shared/schemas/repo.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

export interface TestGateway {
  app: GatewayApp;
  redis: Redis;
  server: RedisServer;
  jobs: JobStore;
  store: LocalStore;
  dir: string;
  /** Request against the app without a socket. */
  req(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export const stubAi: (store: LocalStore) => AiService = (store) => ({
  async answer(body) {
    const cur = await readCurrentBundle(store, body.username);
    if (!cur) return null;
    const repos = cur.bundle.repos.slice(0, body.limit).map((r, i) => ({ name: r.name, relevance_score: 1 / (i + 1) }));
    return {
      response: `${repos.length} repositories`,
      repositories_used: repos,
      total_repositories: cur.bundle.repos.length,
      query: body.query,
      model: "stub",
    };
  },
});

export async function startTestGateway(
  env: Record<string, string> = {},
  extra: Partial<GatewayDeps> & { hub?: boolean } = {},
): Promise<TestGateway> {
  const server = await startRedis();
  const redis = server.client();
  const dir = mkdtempSync(join(tmpdir(), "foliosync-gw-"));
  const config = loadConfig({ REDIS_URL: server.url, STORAGE_DIR: dir, QUEUE_PREFIX: "gt", ...env });
  const jobs = new JobStore(redis, { prefix: config.QUEUE_PREFIX, lockTtlMs: config.LOCK_TTL_MS });
  const store = await LocalStore.open(dir);
  // pointerCacheMs 0: tests that publish then read at once see the new bundle (the cache has its own tests).
  // hub: event streams share one subscriber connection (as in production) instead of one each.
  const { hub: useHub, ...rest } = extra;
  const hub = useHub ? new JobEventsHub(redis, jobs) : null;
  const app = createApp({
    config,
    redis,
    jobs,
    store,
    ai: stubAi(store),
    logError: () => {},
    pointerCacheMs: 0,
    ...(hub ? { subscribe: hub.subscribe } : {}),
    ...rest,
  });
  return {
    app,
    redis,
    server,
    jobs,
    store,
    dir,
    req: (path, init) => Promise.resolve(app.request(path, init)),
    async close() {
      hub?.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The app behind a real HTTP server on a free port. */
export function serve(app: GatewayApp): { url: string; stop(): Promise<void> } {
  const srv = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr as Deno.NetAddr }),
  );
  return { url: `http://127.0.0.1:${srv.addr.port}`, stop: () => srv.shutdown() };
}

export function repoRecord(name: string, extra: Partial<RepoRecord> = {}): RepoRecord {
  return {
    name,
    full_name: `octo/${name}`,
    metadata: {
      description: `${name} description`,
      topics: [],
      language: "TypeScript",
      html_url: `https://github.com/octo/${name}`,
      homepage: null,
      stargazers_count: 1,
      forks_count: 0,
      fork: false,
      archived: false,
      created_at: "2024-01-01T00:00:00Z",
      updated_at: "2024-01-02T00:00:00Z",
      pushed_at: "2024-01-02T00:00:00Z",
      default_branch: "main",
      size: 10,
      license: null,
    },
    languages: { TypeScript: 100 },
    repoContext: {},
    readme: `# ${name}`,
    skills_index: "",
    architecture: "",
    has_documentation: false,
    fingerprint: "f".repeat(16),
    synced_at: "2024-01-03T00:00:00Z",
    ...extra,
  };
}

export function bundleOf(username: string, fingerprint: string, names: string[], generatedAt: string): Bundle {
  return {
    username,
    fingerprint,
    content_fingerprint: fingerprint,
    generated_at: generatedAt,
    repos: names.map((n) => repoRecord(n)),
  };
}

// deno-lint-ignore no-explicit-any -- tests read arbitrary response bodies field by field; each assertion checks what it reads
export async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
}

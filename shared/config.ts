import { z } from "zod";
import { parseApiKeys } from "./auth/api-keys.ts";
import { ConfigError } from "./errors.ts";
import { parseAllowHosts } from "./net/address-policy.ts";

const bool = z
  .enum(["1", "0", "true", "false", "yes", "no", ""])
  .transform((v) => v === "1" || v === "true" || v === "yes");
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

/** Every environment variable foliosync reads, in one place. */
export const ConfigSchema = z.object({
  REDIS_URL: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL").default("redis://127.0.0.1:6379"),
  PORT: int(8787, 0, 65535),
  /** Worker processes: /health, /ready and Prometheus /metrics on this port (0: not served). */
  WORKER_METRICS_PORT: int(9464, 0, 65535),
  GITHUB_API_URL: z.string().url().default("https://api.github.com"),
  GITHUB_TOKEN: z.string().optional(),
  /** Comma list of GitHub tokens: a pool (each request goes to the token with the most quota left). */
  GITHUB_TOKENS: z.string().optional(),
  /** "auto": GraphQL when a token is configured, REST otherwise; "rest": REST always. */
  GITHUB_API: z.enum(["auto", "rest"]).default("auto"),
  STORAGE_BACKEND: z.enum(["local", "gcs", "azure"]).default("local"),
  STORAGE_DIR: z.string().min(1).default("./data"),
  /** Local backend: fsync every write ("always") or only conditional writes (bundles, pointer). */
  STORAGE_FSYNC: z.enum(["conditional", "always"]).default("conditional"),
  GCS_BUCKET: z.string().optional(),
  /** Only for tests and private deployments: the JSON API endpoint of a GCS-compatible server. */
  GCS_API_ENDPOINT: z.string().url().optional(),
  AZURE_STORAGE_CONNECTION_STRING: z.string().optional(),
  AZURE_CONTAINER: z.string().optional(),
  SYNC_CONCURRENCY: int(32, 1, 1000),
  /**
   * Most repositories of a refresh whose records plan stores itself when it already holds their files (GraphQL
   * path: their queue hop costs more than the work); the others go to the sync workers. 0: every repository does.
   */
  SYNC_IN_PLAN_MAX: int(128, 0, 100_000),
  PLAN_CONCURRENCY: int(4, 1, 1000),
  MERGE_CONCURRENCY: int(4, 1, 1000),
  NOTIFY_CONCURRENCY: int(8, 1, 1000),
  /** Most GitHub requests in flight per worker process (GitHub documents 100 concurrent requests). */
  GITHUB_MAX_INFLIGHT: int(100, 1, 100),
  /** Most repositories of one account a refresh lists and bundles (the first ones by name); the rest are left out with a reason. */
  MAX_REPOS_PER_USER: int(5000, 1, 100_000),
  /** Largest file (README, context files) kept whole; larger ones are cut to this size and flagged in the record. */
  MAX_FILE_BYTES: int(1_048_576, 1024, 100 * 1_048_576),
  /** Most GitHub requests (REST and GraphQL) one refresh may spend, so one user cannot spend every tenant's quota. */
  GITHUB_REQUEST_BUDGET: int(2500, 10, 1_000_000),
  /** Least wait after a GitHub secondary rate limit without `retry-after` (GitHub asks for at least a minute). */
  GITHUB_SECONDARY_WAIT_MS: int(60_000, 1, 3_600_000),
  /** Longest one GitHub request (REST or GraphQL) may take, answer body included; then it is abandoned as a timeout (retried). */
  GITHUB_REQUEST_TIMEOUT_MS: int(30_000, 100, 600_000),
  /**
   * Comma list of `KEY:SCOPE`, SCOPE `*` or usernames joined by `|` (shared/auth/api-keys.ts).
   * When any key exists (here or created at run time), a refresh needs an in-scope `Authorization: Bearer <key>`.
   */
  API_KEYS: z.string().optional(),
  /** `public` (default): reads need no key; `key`: reads need an in-scope key too. */
  READ_ACCESS: z.enum(["public", "key"]).default("public"),
  /** /api/ai requests per client per minute. */
  AI_RATE_LIMIT_PER_MIN: int(120, 1),
  /** Event streams open at once per client (per gateway instance). */
  MAX_STREAMS_PER_CLIENT: int(32, 1, 10_000),
  /** Refresh requests per client per minute. */
  RATE_LIMIT_PER_MIN: int(60, 1),
  /** Gateway: longest a job's status is answered from memory between its changes (0 = always read Redis). */
  JOB_CACHE_MS: int(5000, 0, 60_000),
  /** Verifies GitHub push webhooks (X-Hub-Signature-256). Unset: the webhook route answers 404. */
  GITHUB_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  /** Signs status webhooks. Unset: a refresh with a callback_url is refused (nothing unsigned leaves). */
  WEBHOOK_SIGNING_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  /** Comma list of `host:port` that callbacks may reach even when they resolve to internal addresses. */
  CALLBACK_ALLOW_HOSTS: z.string().optional(),
  /** Attempts after the first for one status webhook delivery, before the DLQ. */
  NOTIFY_RETRIES: int(6, 0, 20),
  /** Base delay of the jittered exponential backoff between delivery attempts (ms). */
  NOTIFY_BACKOFF_MS: int(1000, 1, 600_000),
  /** Longest one delivery attempt may take, connect to answer (ms). */
  NOTIFY_TIMEOUT_MS: int(5000, 100, 60_000),
  /** Deliveries in flight at once per receiver host, per notify worker process. */
  NOTIFY_HOST_CONCURRENCY: int(4, 1, 1000),
  TFJS_BACKEND: z.enum(["webgpu", "wasm", "cpu", ""]).default(""),
  QUEUE_PREFIX: z.string().regex(/^[a-z0-9:_-]+$/i).default("fs"),
  /** How long a user's refresh lock lives without a heartbeat. */
  LOCK_TTL_MS: int(120_000, 1000),
  /** Bounded retries for transient faults before the dead-letter queue. */
  JOB_RETRIES: int(5, 0, 50),
  /** A job in flight with no sign of life (state change, repo counted, worker heartbeat) for this long is failed. */
  JOB_STUCK_MS: int(30 * 60_000, 1000),
  /** A queue job whose worker died or hung holding it this many times is dead-lettered as "stalled". */
  MAX_STALLS: int(3, 1, 100),
  /** Largest bundle (bytes of its JSON) a merge publishes; a larger one fails the job with the reason. */
  MAX_BUNDLE_BYTES: int(64 * 1024 * 1024, 1024),
  LLM_API_URL: z.string().url().optional(),
  LLM_API_KEY: z.string().optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  DEMO_VERBOSE: bool.optional(),
});
export type Config = z.infer<typeof ConfigSchema>;

/**
 * Environment → validated config. Throws ConfigError naming each bad
 * variable, and the variables a chosen storage backend needs.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== "") cleaned[key] = v;
  }
  if (env.WEBHOOK_SECRET !== undefined && env.WEBHOOK_SECRET !== "") {
    throw new ConfigError(
      "invalid configuration: WEBHOOK_SECRET is no longer read: set GITHUB_WEBHOOK_SECRET (GitHub pushes) and " +
        "WEBHOOK_SIGNING_SECRET (status webhooks), two different values",
    );
  }
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    // Names the variable and the rule, never the value: values may be secrets (a password in REDIS_URL, a key).
    const msg = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${msg}`);
  }
  const cfg = parsed.data;
  if (
    cfg.GITHUB_WEBHOOK_SECRET !== undefined && cfg.WEBHOOK_SIGNING_SECRET !== undefined &&
    cfg.GITHUB_WEBHOOK_SECRET === cfg.WEBHOOK_SIGNING_SECRET
  ) {
    // One secret for both would let a status webhook (whose receiver the caller chooses) pass as a GitHub push.
    throw new ConfigError("invalid configuration: GITHUB_WEBHOOK_SECRET must differ from WEBHOOK_SIGNING_SECRET");
  }
  // Their parsers' messages never quote the value (API_KEYS holds keys).
  for (const [name, parse] of [["API_KEYS", parseApiKeys], ["CALLBACK_ALLOW_HOSTS", parseAllowHosts]] as const) {
    try {
      parse(cfg[name]);
    } catch (err) {
      throw new ConfigError(`invalid configuration: ${name}: ${(err as Error).message}`);
    }
  }
  if (cfg.STORAGE_BACKEND === "gcs" && !cfg.GCS_BUCKET) {
    throw new ConfigError("invalid configuration: STORAGE_BACKEND=gcs needs GCS_BUCKET");
  }
  if (cfg.STORAGE_BACKEND === "azure") {
    if (!cfg.AZURE_STORAGE_CONNECTION_STRING) {
      throw new ConfigError("invalid configuration: STORAGE_BACKEND=azure needs AZURE_STORAGE_CONNECTION_STRING");
    }
    if (!cfg.AZURE_CONTAINER) {
      throw new ConfigError("invalid configuration: STORAGE_BACKEND=azure needs AZURE_CONTAINER");
    }
  }
  return cfg;
}

/** Reads the process environment in either runtime. */
export function processEnv(): Record<string, string | undefined> {
  // deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
  const g = globalThis as any;
  if (g.Deno?.env?.toObject) return g.Deno.env.toObject();
  return g.process?.env ?? {};
}

/** GITHUB_TOKENS and GITHUB_TOKEN together: the token pool (GITHUB_TOKEN alone is a pool of one). */
export function githubTokens(cfg: Config): string[] {
  const all = [...(cfg.GITHUB_TOKENS ?? "").split(","), cfg.GITHUB_TOKEN ?? ""].map((s) => s.trim()).filter(Boolean);
  return [...new Set(all)];
}

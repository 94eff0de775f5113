// The secrets grep: a refresh run through the real gateway and real worker
// processes with every secret configured (GitHub token, API keys, both webhook
// secrets, a Redis URL with a password, an Azure connection string, an LLM key)
// and a storage backend that fails (Azurite stopped after start). Every
// response body, log line, metric, DLQ entry and stored job record is searched
// for each secret value: none may appear.
import { afterAll, expect, test } from "bun:test";
import { Redis } from "ioredis";
import { AZURITE_KEY, type AzuriteServer, startAzurite } from "../support/azurite.ts";
import { type FixtureServer, startFixtureServer } from "../support/fixture-server.ts";
import { type StartedGateway, startGateway } from "../support/gateway.ts";
import { bunBin, repoRoot } from "../support/paths.ts";
import { type Managed, startProcess, waitForOutput } from "../support/process.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

const SECRETS = {
  GITHUB_TOKEN: "ghp_secretGithubToken0123456789abcdef",
  API_KEY: "apikey-secret-0123456789",
  GITHUB_WEBHOOK_SECRET: "gh-webhook-secret-0123456789",
  WEBHOOK_SIGNING_SECRET: "signing-secret-0123456789",
  REDIS_PASSWORD: "redis-pass-0123456789",
  AZURE_KEY: AZURITE_KEY,
  LLM_API_KEY: "sk-llm-secret-0123456789",
  CALLBACK_TOKEN: "cb-token-in-url-0123456789",
};

let redis: RedisServer | undefined;
let azurite: AzuriteServer | undefined;
let github: FixtureServer | undefined;
let gw: StartedGateway | undefined;
let workers: Managed | undefined;
let client: Redis | undefined;
const received: string[] = [];
const receiver = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    received.push(JSON.stringify([...req.headers]) + (await req.text()));
    return new Response("ok");
  },
});

afterAll(async () => {
  await workers?.stop(3000);
  await gw?.stop();
  client?.disconnect();
  await github?.stop();
  await azurite?.dispose();
  await redis?.stop();
  receiver.stop(true);
});

test("no secret appears in any response, log line, metric, DLQ entry or job record", async () => {
  redis = await startRedis();
  await redis.client().config("SET", "requirepass", SECRETS.REDIS_PASSWORD);
  const redisUrl = `redis://:${SECRETS.REDIS_PASSWORD}@127.0.0.1:${redis.port}`;
  azurite = await startAzurite();
  github = await startFixtureServer();
  const env: Record<string, string> = {
    REDIS_URL: redisUrl,
    GITHUB_API_URL: github.url,
    GITHUB_TOKEN: SECRETS.GITHUB_TOKEN,
    API_KEYS: `${SECRETS.API_KEY}:*`,
    GITHUB_WEBHOOK_SECRET: SECRETS.GITHUB_WEBHOOK_SECRET,
    WEBHOOK_SIGNING_SECRET: SECRETS.WEBHOOK_SIGNING_SECRET,
    STORAGE_BACKEND: "azure",
    AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
    AZURE_CONTAINER: "secrets-test",
    LLM_API_URL: "http://127.0.0.1:9/v1",
    LLM_API_KEY: SECRETS.LLM_API_KEY,
    CALLBACK_ALLOW_HOSTS: `127.0.0.1:${receiver.port}`,
    JOB_RETRIES: "0",
    NOTIFY_RETRIES: "0",
    LOG_LEVEL: "debug",
    WORKER_METRICS_PORT: "0",
  };
  expect(azurite.connectionString).toContain(SECRETS.AZURE_KEY);
  gw = await startGateway({ env });
  workers = startProcess(bunBin, ["workers/main.ts", "--role", "plan,sync,merge,notify"], { cwd: repoRoot, env });
  await waitForOutput(workers, /worker ready/, 30_000);
  await azurite.stop(); // storage fails from here on

  const bodies: string[] = [];
  const call = async (path: string, init?: RequestInit) => {
    const res = await fetch(gw!.url + path, init);
    const text = await res.text();
    bodies.push(`${res.status} ${JSON.stringify([...res.headers])} ${text}`);
    return { status: res.status, text };
  };
  const auth = { authorization: `Bearer ${SECRETS.API_KEY}`, "content-type": "application/json" };
  const callback = `http://127.0.0.1:${receiver.port}/hook?token=${SECRETS.CALLBACK_TOKEN}`;
  const r = await call("/api/bundles/yungryce/refresh", {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ callback_url: callback }),
  });
  expect(r.status).toBe(202);
  const jobId = JSON.parse(r.text).job_id;
  // Wrong keys, a forged webhook, a bad callback: error answers too.
  await call("/api/bundles/yungryce/refresh", { method: "POST", headers: { authorization: "Bearer nope-nope-nope" } });
  await call("/api/webhooks/github", {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": "sha256=00", "x-github-event": "push" },
    body: "{}",
  });
  await call("/api/bundles/yungryce/refresh", {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ callback_url: `http://user:${SECRETS.CALLBACK_TOKEN}@127.0.0.1:1/x` }),
  });

  let state = "";
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    state = JSON.parse((await call(`/api/bundles/yungryce/status?job_id=${jobId}`)).text).state;
    if (["failed", "completed", "fresh"].includes(state)) break;
    await Bun.sleep(200);
  }
  expect(state).toBe("failed");
  await call("/api/bundles/yungryce");
  await call("/api/ai", { method: "POST", headers: auth, body: JSON.stringify({ query: "x", username: "yungryce" }) });
  await call("/api/ready");
  await call("/api/metrics");
  // The receiver heard the failure (deliveries work while storage is down).
  const until = Date.now() + 20_000;
  while (!received.some((t) => t.includes('"failed"')) && Date.now() < until) await Bun.sleep(100);
  expect(received.some((t) => t.includes('"failed"'))).toBe(true);

  client = new Redis(redisUrl);
  const dlq = await client.lrange("fs:dlq", 0, -1);
  const jobRecord = JSON.stringify(await client.hgetall(`fs:job:${jobId}`));
  const logs = gw.process.output() + workers.output();
  // The run produced what the grep is about: failures logged, dead-lettered, recorded on the job.
  expect(logs).toMatch(/failed/);
  expect(dlq.length).toBeGreaterThan(0);
  const stored = JSON.parse(JSON.parse(jobRecord).json);
  expect(stored.error).toBeTruthy();
  // The storage failure is named by its code; the message is the safe one.
  expect(stored.error_code).toBe("storage_unavailable");

  const places: Record<string, string> = {
    responses: bodies.join("\n"),
    "gateway and worker logs": logs,
    "DLQ entries": dlq.join("\n"),
    "job record": jobRecord,
    "webhook deliveries (body and headers)": received.join("\n"),
  };
  for (const [name, secret] of Object.entries(SECRETS)) {
    for (const [where, text] of Object.entries(places)) {
      // The receiver's own URL token reaches the receiver: that is where it is sent, not a leak.
      if (name === "CALLBACK_TOKEN" && where.startsWith("webhook")) continue;
      expect({ secret: name, where, found: text.includes(secret) }).toEqual({ secret: name, where, found: false });
    }
  }
}, 180_000);

// Callbacks cannot reach inside: a real gateway (child process), real workers
// (in process), real Redis, an allowed receiver (CALLBACK_ALLOW_HOSTS) and a
// second listener standing for an internal service that must never receive
// anything. Refused at refresh (400), or refused/failed at delivery (DLQ).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { lookup } from "node:dns/promises";
import { addressRefusal } from "../../shared/net/address-policy.ts";
import { DeliveryRefused, pinnedPost } from "../../shared/net/pinned-post.ts";
import { type StartedGateway, startGateway } from "../support/gateway.ts";
import { type Stack, startStack } from "../support/pipeline.ts";

const SIGNING = "status-signing-secret-ssrf";
let internalHits = 0;
const internal = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch() {
    internalHits++;
    return new Response("internal");
  },
});
const I = internal.port;
/** A second internal service, on loopback too: the gateway (only) allow-lists `localhost:<its port>`. */
const internal2 = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch() {
    internalHits++;
    return new Response("internal");
  },
});
const I2 = internal2.port;
/** The allowed receiver: answers a redirect to the internal listener for paths under /redirect. */
const allowedGot: string[] = [];
const allowed = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    const path = new URL(req.url).pathname;
    await req.text();
    if (path.startsWith("/redirect-302")) return Response.redirect(`http://127.0.0.1:${I}/stolen`, 302);
    if (path.startsWith("/redirect-307")) return Response.redirect(`http://127.0.0.1:${I}/stolen`, 307);
    allowedGot.push(path);
    return new Response("ok");
  },
});

/** A second allowed receiver (its own host:port, so its own breaker) for the 307 case. */
const allowed2 = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    await req.text();
    return Response.redirect(`http://127.0.0.1:${I}/stolen`, 307);
  },
});
const receiverFor = { 302: allowed, 307: allowed2 } as const;

let stack: Stack;
let gw: StartedGateway;
beforeAll(async () => {
  stack = await startStack({
    env: {
      WEBHOOK_SIGNING_SECRET: SIGNING,
      CALLBACK_ALLOW_HOSTS: `127.0.0.1:${allowed.port},127.0.0.1:${allowed2.port}`,
      NOTIFY_RETRIES: "0",
      RATE_LIMIT_PER_MIN: "1000",
    },
  });
  await stack.startWorkers();
  // The gateway's allow-list also has `localhost:I2` (a refresh naming it passes); the workers' does not.
  gw = await startGateway({
    env: { ...stack.env, CALLBACK_ALLOW_HOSTS: `${stack.env.CALLBACK_ALLOW_HOSTS},localhost:${I2}` },
  });
});
afterAll(async () => {
  await gw?.stop();
  await stack?.stop();
  internal.stop(true);
  internal2.stop(true);
  allowed.stop(true);
  allowed2.stop(true);
});

const refresh = (user: string, callback_url: string) =>
  fetch(`${gw.url}/api/bundles/${user}/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ callback_url }),
  });

const internalSpellings: [string, string][] = [
  ["dotted loopback", `http://127.0.0.1:${I}/`],
  ["decimal", `http://2130706433:${I}/`],
  ["hex", `http://0x7f000001:${I}/`],
  ["octal", `http://0177.0.0.1:${I}/`],
  ["short form", `http://127.1:${I}/`],
  ["mixed hex dotted", `http://0x7f.0.0.1:${I}/`],
  ["IPv4-mapped IPv6", `http://[::ffff:127.0.0.1]:${I}/`],
  ["IPv4-mapped IPv6, hex", `http://[::ffff:7f00:1]:${I}/`],
  ["IPv4-compatible IPv6", `http://[::127.0.0.1]:${I}/`],
  ["IPv6 loopback", `http://[::1]:${I}/`],
  ["unspecified", `http://0.0.0.0:${I}/`],
  ["unspecified, short", `http://0:${I}/`],
  ["localhost", `http://localhost:${I}/`],
  ["a .localhost name", `http://api.localhost:${I}/`],
  ["a single-label name (from /etc/hosts)", `http://vm:${I}/`],
  ["cloud metadata", "http://169.254.169.254/latest/meta-data/"],
  ["RFC 1918 10/8", "http://10.0.0.1/hook"],
  ["RFC 1918 172.16/12", "http://172.16.5.4/hook"],
  ["RFC 1918 192.168/16", "http://192.168.1.1/hook"],
  ["CGNAT", "http://100.64.0.1/hook"],
  ["multicast", "http://224.0.0.1/hook"],
  ["IPv6 ULA", "http://[fd00::1]/hook"],
  ["IPv6 link-local", "http://[fe80::1]/hook"],
  ["NAT64 of loopback", "http://[64:ff9b::7f00:1]/hook"],
  ["userinfo", `https://user:pw@example.com/hook`],
  ["allowed host with userinfo", `http://u:p@127.0.0.1:${allowed.port}/hook`],
];

for (const [name, url] of internalSpellings) {
  test(`refused at refresh: ${name}`, async () => {
    const res = await refresh("yungryce", url);
    const body = await res.json();
    expect(res.status).toBe(400);
    expect(body.error.code).toBe("invalid_callback_url");
    expect(body.error.message).toMatch(/callback_url/);
  });
}

test("refused at refresh: a scheme other than http(s)", async () => {
  for (const url of ["ftp://example.com/x", "file:///etc/passwd", "gopher://127.0.0.1:70/"]) {
    const res = await refresh("yungryce", url);
    expect(res.status).toBe(400);
    await res.body?.cancel();
  }
});

test("a hostname that resolves to loopback is refused at delivery, before any connection", async () => {
  // Name resolution is the one part supplied here (no DNS beyond this machine in tests): the name passes the
  // refresh check (a public-looking name), and the delivery check refuses what it resolves to.
  for (const answer of [["127.0.0.1"], ["::1"], ["93.184.216.34", "10.1.2.3"], ["::ffff:127.0.0.1"]]) {
    const err = await pinnedPost(`http://rebind.example.com:${I}/hook`, {
      allowHosts: new Set(),
      headers: {},
      body: "{}",
      timeoutMs: 1000,
      resolve: () => Promise.resolve(answer),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(DeliveryRefused);
    expect(String(err.message)).not.toContain("/hook");
  }
});

test("the checked address is the one connected to (no second lookup)", async () => {
  let lookups = 0;
  const res = await pinnedPost(`http://receiver.example.com:${allowed.port}/pinned`, {
    allowHosts: new Set([`receiver.example.com:${allowed.port}`]),
    headers: {},
    body: "{}",
    timeoutMs: 2000,
    resolve: () => {
      lookups++;
      return Promise.resolve(lookups === 1 ? ["127.0.0.1"] : ["10.9.9.9"]);
    },
  });
  expect(res).toEqual({ status: 200, address: "127.0.0.1" });
  expect(lookups).toBe(1);
  expect(allowedGot).toContain("/pinned");
});

for (const code of [302, 307] as const) {
  test(`a ${code} from the allowed receiver to the internal one is a failed delivery, never followed`, async () => {
    const port = receiverFor[code].port;
    const res = await refresh("yungryce", `http://127.0.0.1:${port}/redirect-${code}?token=secret-in-url`);
    expect(res.status).toBe(202);
    const { job_id } = await res.json();
    await stack.waitFor(job_id, ["completed", "fresh", "failed"], 90_000);
    const deadline = Date.now() + 30_000;
    let entries: { error: string; queue: string }[] = [];
    while (Date.now() < deadline) {
      entries = (await stack.jobs.dlqList(500)).filter((e) => e.queue === "notify" && e.error.includes(job_id));
      if (entries.some((e) => /answered 30[27]/.test(e.error))) break;
      await Bun.sleep(50);
    }
    expect(entries.some((e) => e.error.includes(`answered ${code}`))).toBe(true);
    for (const e of entries) expect(JSON.stringify(e)).not.toContain("secret-in-url");
  }, 120_000);
}

test(
  "a callback the gateway let through (CALLBACK_ALLOW_HOSTS) is refused at delivery by workers that do not allow it",
  async () => {
    // `localhost` passes the gateway's check (allow-listed there) and reaches a worker that does not allow-list it.
    // The worker's delivery check refuses it by its local-name rule, before resolving; what the system resolver
    // answers for it (/etc/hosts: loopback) is an address that check refuses too. Nothing is ever connected to.
    // A name that passes the name rule and resolves to loopback needs a resolver answer this machine cannot give
    // without DNS (its /etc/hosts names are single-label, i.e. local names): the test above supplies one.
    expect((await lookup("localhost", { all: true })).map((a) => a.address)).toContain("127.0.0.1");
    expect(addressRefusal("127.0.0.1")).toBeTruthy();
    const res = await refresh("yungryce", `http://localhost:${I2}/hook?token=secret-in-url`);
    expect(res.status).toBe(202);
    const { job_id } = await res.json();
    await stack.waitFor(job_id, ["completed", "fresh", "failed"], 90_000);
    let entries: { error: string; queue: string }[] = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      entries = (await stack.jobs.dlqList(500)).filter((e) => e.queue === "notify" && e.error.includes(job_id));
      if (entries.length > 0) break;
      await Bun.sleep(50);
    }
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      expect(e.error).toMatch(/refused: /);
      expect(JSON.stringify(e)).not.toContain("secret-in-url");
    }
    // The same URL through the delivery check with the system resolver: refused, never connected.
    const err = await pinnedPost(`http://localhost:${I2}/hook`, {
      allowHosts: new Set(),
      headers: {},
      body: "{}",
      timeoutMs: 1000,
    })
      .catch((e) => e);
    expect(err).toBeInstanceOf(DeliveryRefused);
  },
  120_000,
);

test("the internal listeners never received anything", () => {
  expect(internalHits).toBe(0);
});

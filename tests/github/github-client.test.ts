import { describe, expect, test } from "bun:test";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { decideAfterFailure, NonRetriableError, RequestTimeoutError, RetryAfterError } from "../../shared/errors.ts";
import { jsonDepth, MAX_CONTEXT_DEPTH, parseRepoContext } from "../../shared/repo-record.ts";
import type { GithubRepo } from "../../shared/schemas/repo.ts";
import { fileText, GithubClient, type Listing } from "../../workers/github/github-client.ts";
import { waitingOutRateLimits } from "../../workers/github/rate-wait.ts";
import { startFixtureServer } from "../support/fixture-server.ts";

/** A port nothing listens on: bound once, then closed. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("GitHub client errors", () => {
  test("no answer at all (connection refused) says GitHub is unreachable and why, not '500'", async () => {
    const gh = new GithubClient({ baseUrl: `http://127.0.0.1:${await deadPort()}`, transientRetries: 0 });
    const err = await gh.request("GET /users/{username}/repos", { username: "octocat" }, {
      what: "the repositories of octocat",
    })
      .then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toStartWith("GitHub unreachable for the repositories of octocat: ");
    expect(err!.message).not.toContain("GitHub 500");
    expect(err!.message).toMatch(/ECONNREFUSED|refused|fetch failed|Unable to connect/i);
  });

  test("a real 5xx answer is still reported with its status", async () => {
    const fx = await startFixtureServer({ failRate: 1 });
    try {
      const gh = new GithubClient({ baseUrl: fx.url, transientRetries: 0 });
      const err = await gh.request("GET /users/{username}/repos", { username: "yungryce" }, { what: "the list" })
        .then(() => null, (e: Error) => e);
      expect(err!.message).toMatch(/^GitHub 5\d\d for the list$/);
    } finally {
      await fx.stop();
    }
  });
});

describe("GitHub client: a request that never answers", () => {
  test("REST and GraphQL requests time out as RequestTimeoutError, which the one error policy retries", async () => {
    const fx = await startFixtureServer({ hangRate: 1 }); // every request held until the client hangs up
    try {
      const gh = new GithubClient({ baseUrl: fx.url, token: "t", transientRetries: 0, requestTimeoutMs: 300 });
      const rest = await gh.request("GET /users/{username}/repos", { username: "yungryce" }, { what: "the list" })
        .then(() => null, (e: Error) => e);
      expect(rest).toBeInstanceOf(RequestTimeoutError);
      expect(rest!.message).toBe("GitHub did not answer within 300 ms for the list");
      const gql = await gh.graphql("query { viewer { login } }", {}, { what: "the viewer" })
        .then(() => null, (e: Error) => e);
      expect(gql).toBeInstanceOf(RequestTimeoutError);
      expect(decideAfterFailure(gql, { retriesLeft: 1, waitsLeft: 0 }).action).toBe("retry");
      expect(decideAfterFailure(gql, { retriesLeft: 0, waitsLeft: 0 })).toEqual({
        action: "dead-letter",
        reason: "GitHub did not answer within 300 ms for the viewer",
      });
      const st = await fx.stats();
      expect(st.hung).toBe(2);
      // The client hung up: the server holds nothing any more.
      for (let i = 0; i < 50 && (await fx.stats()).in_flight > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await fx.stats()).in_flight).toBe(0);
    } finally {
      await fx.stop();
    }
  });

  test("a slow answer within the deadline is an answer; quick retries carry a request past a hang", async () => {
    const fx = await startFixtureServer({ hangRate: 1, hangMs: 100 });
    try {
      const gh = new GithubClient({ baseUrl: fx.url, transientRetries: 0, requestTimeoutMs: 5_000 });
      const res = await gh.request<unknown[]>("GET /users/{username}/repos", { username: "yungryce", per_page: 100 });
      expect(res!.data!.length).toBe(48);
      // Half the requests hang forever; in-request retries (the same loop as for 5xx) get every listing through.
      await fx.config({ hang_rate: 0.5, hang_ms: 0, seed: 7 });
      const retrying = new GithubClient({ baseUrl: fx.url, transientRetries: 8, requestTimeoutMs: 200 });
      const listing = await retrying.listUserRepos("yungryce", { etag: () => undefined, body: () => undefined });
      expect(listing.repos.length).toBe(48);
      expect(listing.complete).toBe(true);
      const st = await fx.stats();
      expect(st.hung).toBeGreaterThan(0);
      expect(st.config.hang_rate).toBe(0.5);
    } finally {
      await fx.stop();
    }
  });
});

describe("GitHub client: listings followed to their real end", () => {
  /** A cache of listing pages as plan keeps it (ETag + body per page). */
  function pageCache() {
    const pages = new Map<number, { etag?: string; body: GithubRepo[] }>();
    return {
      pages,
      cache: {
        etag: (p: number) => pages.get(p)?.etag,
        body: (p: number) => pages.get(p)?.body,
      },
      keep(listing: Listing) {
        for (const p of listing.pages) pages.set(p.page, { etag: p.etag, body: p.body });
      },
    };
  }

  test("a user grown 120 → 210 repos while page 1 answers 304: all 210 listed, listing complete", async () => {
    const fx = await startFixtureServer();
    try {
      const gh = new GithubClient({ baseUrl: fx.url });
      const c = pageCache();
      const first = await gh.listUserRepos("sindresorhus", c.cache);
      expect(first.repos.length).toBe(120);
      c.keep(first);
      // New names sort after every existing one: page 1 stays the same (304), pages 2 and 3 change.
      for (let i = 0; i < 90; i++) await fx.addRepo("sindresorhus", `zz-grown-${String(i).padStart(2, "0")}`);
      await fx.resetStats();
      const grown = await gh.listUserRepos("sindresorhus", c.cache);
      expect(grown.pages[0].modified).toBe(false);
      expect(grown.repos.length).toBe(210);
      expect(new Set(grown.repos.map((r) => r.name.toLowerCase())).size).toBe(210);
      expect(grown.complete).toBe(true);
      expect((await fx.stats()).list).toBe(3);
    } finally {
      await fx.stop();
    }
  });

  test("a full cached last page is followed by one more request; an empty one ends the listing", async () => {
    const fx = await startFixtureServer();
    try {
      const gh = new GithubClient({ baseUrl: fx.url });
      const c = pageCache();
      for (let i = 0; i < 52; i++) await fx.addRepo("yungryce", `zz-more-${String(i).padStart(2, "0")}`);
      const first = await gh.listUserRepos("yungryce", c.cache);
      expect(first.repos.length).toBe(100);
      c.keep(first);
      await fx.resetStats();
      const again = await gh.listUserRepos("yungryce", c.cache);
      expect(again.repos.length).toBe(100);
      expect(again.complete).toBe(true);
      const s = await fx.stats();
      expect(s.list).toBe(2); // page 1 (304) and page 2 (empty)
    } finally {
      await fx.stop();
    }
  });

  test("a repository listed twice is kept once (by lower-cased name)", async () => {
    const fx = await startFixtureServer();
    try {
      const gh = new GithubClient({ baseUrl: fx.url });
      const c = pageCache();
      c.keep(await gh.listUserRepos("sindresorhus", c.cache));
      // Page 2 as it was when a repository was created while page 1 was fetched: page 1's last one moved over.
      const p1 = c.pages.get(1)!, p2 = c.pages.get(2)!;
      const moved = { ...p1.body[p1.body.length - 1] };
      moved.name = moved.name.toUpperCase();
      c.pages.set(2, { etag: p2.etag, body: [moved, ...p2.body] });
      const listing = await gh.listUserRepos("sindresorhus", c.cache);
      expect(listing.repos.length).toBe(120);
      expect(listing.repos.filter((r) => r.name.toLowerCase() === moved.name.toLowerCase()).length).toBe(1);
    } finally {
      await fx.stop();
    }
  });

  test("maxRepos stops the listing early and says it is not complete", async () => {
    const fx = await startFixtureServer();
    try {
      const gh = new GithubClient({ baseUrl: fx.url });
      const listing = await gh.listUserRepos("sindresorhus", { etag: () => undefined, body: () => undefined }, {
        maxRepos: 30,
      });
      expect(listing.repos.length).toBe(30);
      expect(listing.complete).toBe(false);
      expect((await fx.stats()).list).toBe(1);
    } finally {
      await fx.stop();
    }
  });
});

describe("GitHub client: secondary rate limits", () => {
  test("403 secondary limit without retry-after: at least 60 s by default (RetryAfterError says so)", async () => {
    const fx = await startFixtureServer();
    try {
      await fx.config({ secondary_limit: { count: 1 } });
      const gh = new GithubClient({ baseUrl: fx.url, maxRateWaitMs: 1000 });
      const err = await gh.request("GET /users/{username}/repos", { username: "yungryce" })
        .then(() => null, (e: Error) => e);
      expect(err).toBeInstanceOf(RetryAfterError);
      expect((err as RetryAfterError).retryAfterMs).toBeGreaterThan(59_000);
      expect((await fx.stats()).secondary_limited).toBe(1);
    } finally {
      await fx.stop();
    }
  });

  test("secondary limits in a row wait exponentially longer, then the request succeeds (waiting is not failing)", async () => {
    const fx = await startFixtureServer();
    try {
      await fx.config({ secondary_limit: { count: 3 } });
      const logs: string[] = [];
      const gh = new GithubClient({ baseUrl: fx.url, secondaryWaitMs: 100, log: (m) => logs.push(m) });
      const res = await gh.request<unknown[]>("GET /users/{username}/repos", { username: "yungryce", per_page: 5 });
      expect(res!.data!.length).toBe(5);
      const waits = logs.filter((l) => l.startsWith("github secondary rate limit"));
      expect(waits.length).toBe(3);
      const s = await fx.stats();
      expect(s.secondary_limited).toBe(3);
      expect(s.served).toBe(1);
      // Each wait is the previous one doubled.
      expect(waits.map((l) => l.match(/waiting ([\d.]+) s/)![1])).toEqual(["0.1", "0.2", "0.4"]);
    } finally {
      await fx.stop();
    }
  });

  test("secondary limit with retry-after: waits that long, then succeeds", async () => {
    const fx = await startFixtureServer();
    try {
      await fx.config({ secondary_limit: { count: 1, retry_after: 1 } });
      const gh = new GithubClient({ baseUrl: fx.url, maxRateWaitMs: 1500 });
      const res = await gh.request<unknown[]>("GET /users/{username}/repos", { username: "yungryce", per_page: 1 });
      expect(res!.data!.length).toBe(1);
      expect((await fx.stats()).secondary_limited).toBe(1);
    } finally {
      await fx.stop();
    }
  });

  test("a plain 403 (no rate limit in it) is not waited on: it fails for good", async () => {
    // GitHub's answer to a token without access: 403, quota left, no retry-after.
    let requests = 0;
    const server = createHttpServer((_req, res) => {
      requests++;
      res.writeHead(403, { "content-type": "application/json", "x-ratelimit-remaining": "4999" });
      res.end(JSON.stringify({ message: "Resource not accessible by integration" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as { port: number };
      const gh = new GithubClient({ baseUrl: `http://127.0.0.1:${port}`, secondaryWaitMs: 60_000 });
      const err = await gh.request("GET /users/{username}/repos", { username: "yungryce" }).catch((e) => e);
      expect(err).toBeInstanceOf(NonRetriableError);
      expect(err.message).toBe("GitHub 403 for GET /users/{username}/repos");
      // Asked once: neither waited on as a rate limit nor retried as a fault.
      expect(requests).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test("a RetryAfterError is waited out and the attempt run again, without counting as a failure", async () => {
    const slept: number[] = [];
    let calls = 0;
    const out = await waitingOutRateLimits(() => {
      calls++;
      if (calls < 3) return Promise.reject(new RetryAfterError("GitHub rate limit", 1234 * calls));
      return Promise.resolve("done");
    }, { sleep: (ms) => (slept.push(ms), Promise.resolve()) });
    expect(out).toBe("done");
    expect(slept).toEqual([1234, 2468]);
    const other = await waitingOutRateLimits(() => Promise.reject(new Error("boom")), {
      sleep: () => Promise.resolve(),
    })
      .then(() => null, (e: Error) => e);
    expect(other!.message).toBe("boom");
  });
});

describe("limits on what GitHub sends", () => {
  test("a 100,000-level .repo-context.json is refused by depth, not parsed", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const r = parseRepoContext(`{"a": ${deep}}`);
    expect(r.value).toEqual({});
    expect(r.error).toContain(`nested deeper than ${MAX_CONTEXT_DEPTH} levels`);
    expect(jsonDepth('{"s": "[[[[{{{{", "a": [1, {"b": 2}]}')).toBe(3);
    expect(jsonDepth('{"s": "\\"[[["}')).toBe(1);
    expect(parseRepoContext('{"a": {"b": [1]}}').value).toEqual({ a: { b: [1] } });
  });

  test("fileText cuts at MAX_FILE_BYTES on a character boundary and flags it", () => {
    const bytes = new TextEncoder().encode("ab€€"); // € is 3 bytes
    expect(fileText(bytes, 4)).toEqual({ text: "ab", truncated: true });
    expect(fileText(bytes, 5)).toEqual({ text: "ab€", truncated: true });
    expect(fileText(bytes, 8)).toEqual({ text: "ab€€", truncated: false });
    expect(fileText(new Uint8Array(0), 8, 2_000_000)).toEqual({ text: "", truncated: true });
  });
});

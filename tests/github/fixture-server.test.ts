import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { Octokit } from "@octokit/rest";
import { RequestError } from "@octokit/request-error";
import { githubFixturesDir } from "../support/paths.ts";
import { type FixtureServer, startFixtureServer } from "../support/fixture-server.ts";
import { startFixtureServer as startInProcess } from "../../scripts/github-fixture-server.ts";

const fixtureBytes = (...p: string[]) => new Uint8Array(readFileSync(join(githubFixturesDir, ...p)));
const reposJson = (owner: string) => JSON.parse(readFileSync(join(githubFixturesDir, owner, "repos.json"), "utf8"));
const blobSha = (b: Uint8Array) => createHash("sha1").update(`blob ${b.byteLength}\0`).update(b).digest("hex");
const decode = (content: string) => new Uint8Array(Buffer.from(content, "base64"));

async function rejection(p: Promise<unknown>): Promise<RequestError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RequestError);
    return err as RequestError;
  }
  throw new Error("expected the request to fail");
}

/** GET with a raw, un-normalised path (fetch would resolve `..` itself). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method: "GET" }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("github fixture server (shared instance)", () => {
  let srv: FixtureServer;
  let octokit: Octokit;

  beforeAll(async () => {
    srv = await startFixtureServer();
    octokit = new Octokit({ baseUrl: srv.url, log: { debug() {}, info() {}, warn() {}, error() {} } });
  });
  afterAll(async () => {
    await srv?.stop();
  });
  beforeEach(async () => {
    await srv.reset();
  });

  test("Octokit paginates all 120 sindresorhus and 48 yungryce repositories", async () => {
    for (const [owner, count] of [["sindresorhus", 120], ["yungryce", 48]] as const) {
      const repos = await octokit.paginate(octokit.rest.repos.listForUser, { username: owner, per_page: 100 });
      expect(repos.length).toBe(count);
      const names = repos.map((r) => r.name);
      expect(new Set(names).size).toBe(count);
      expect(names).toEqual(reposJson(owner).map((r: { name: string }) => r.name));
    }
    const s = await srv.stats();
    expect(s.list).toBe(3); // 2 pages for sindresorhus, 1 for yungryce
  });

  test("Link header has next/last on the first page and prev/first on the last, on the server's origin", async () => {
    const first = await srv.fetch("/users/sindresorhus/repos?per_page=50");
    expect(first.status).toBe(200);
    expect((await first.json()).length).toBe(50);
    const link = first.headers.get("link")!;
    expect(link).toContain(`<${srv.url}/users/sindresorhus/repos?per_page=50&page=2>; rel="next"`);
    expect(link).toContain(`<${srv.url}/users/sindresorhus/repos?per_page=50&page=3>; rel="last"`);
    expect(link).not.toContain('rel="prev"');

    const last = await srv.fetch("/users/sindresorhus/repos?per_page=50&page=3");
    expect((await last.json()).length).toBe(20);
    const link3 = last.headers.get("link")!;
    expect(link3).toContain('rel="prev"');
    expect(link3).toContain('rel="first"');
    expect(link3).not.toContain('rel="next"');

    // default per_page is 30, and per_page is capped at 100
    expect((await (await srv.fetch("/users/sindresorhus/repos")).json()).length).toBe(30);
    expect((await (await srv.fetch("/users/sindresorhus/repos?per_page=500")).json()).length).toBe(100);
    // case-insensitive owner
    expect((await (await srv.fetch("/users/YungRyce/repos?per_page=100")).json()).length).toBe(48);
  });

  test("sort=pushed orders newest first; full_name ascending by default", async () => {
    const { data } = await octokit.rest.repos.listForUser({ username: "yungryce", sort: "pushed", per_page: 100 });
    const pushed = data.map((r) => r.pushed_at).filter((p): p is string => !!p);
    expect(pushed).toEqual([...pushed].sort().reverse());
    const { data: byName } = await octokit.rest.repos.listForUser({ username: "yungryce", per_page: 100 });
    const lower = byName.map((r) => r.full_name.toLowerCase());
    expect(lower).toEqual([...lower].sort());
  });

  test("README bytes equal the fixture (README.md and lower-case readme.md); sha is the git blob sha", async () => {
    for (
      const [owner, repo, file] of [
        ["yungryce", "AirBnB_clone_v2", "README.md"],
        ["sindresorhus", "boxen", "readme.md"],
        ["yungryce", "foliohive", "README.md"],
      ]
    ) {
      const { data } = await octokit.rest.repos.getReadme({ owner, repo });
      const want = fixtureBytes(owner, repo, file);
      expect(data.type).toBe("file");
      expect(data.encoding).toBe("base64");
      expect(data.name).toBe(file);
      expect(data.path).toBe(file);
      expect(data.size).toBe(want.byteLength);
      expect(decode(data.content)).toEqual(want);
      expect(data.sha).toBe(blobSha(want));
      for (const line of data.content.split("\n")) expect(line.length).toBeLessThanOrEqual(60);
      expect(data._links.self).toBeTruthy();
    }
    const missing = await rejection(octokit.rest.repos.getReadme({ owner: "yungryce", repo: "blog" }));
    expect(missing.status).toBe(404);
  });

  test("raw media type returns the README bytes", async () => {
    const res = await srv.fetch("/repos/sindresorhus/boxen/readme", {
      headers: { accept: "application/vnd.github.raw" },
    });
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(fixtureBytes("sindresorhus", "boxen", "readme.md"));
  });

  test("If-None-Match with the ETag gets 304, counted as not_modified and not against the rate limit", async () => {
    const first = await octokit.rest.repos.getReadme({ owner: "sindresorhus", repo: "boxen" });
    const etag = first.headers.etag!;
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
    const before = await srv.stats();

    const err = await rejection(
      octokit.rest.repos.getReadme({ owner: "sindresorhus", repo: "boxen", headers: { "if-none-match": etag } }),
    );
    expect(err.status).toBe(304);
    const res = await srv.fetch("/repos/sindresorhus/boxen/readme", { headers: { "if-none-match": etag } });
    expect(res.status).toBe(304);
    expect(await res.text()).toBe("");

    const after = await srv.stats();
    expect(after.not_modified - before.not_modified).toBe(2);
    expect(after.rate.used).toBe(before.rate.used);
    expect(after.served).toBe(before.served);

    // a different ETag is a normal 200
    const other = await srv.fetch("/repos/sindresorhus/boxen/readme", { headers: { "if-none-match": '"nope"' } });
    expect(other.status).toBe(200);
    expect(other.headers.get("etag")).toBe(etag);
  });

  test(".repo-context.json: existing decodes to the fixture bytes, missing is a 404 RequestError", async () => {
    const { data } = await octokit.rest.repos.getContent({
      owner: "yungryce",
      repo: "AirBnB_clone_v2",
      path: ".repo-context.json",
    });
    if (Array.isArray(data) || data.type !== "file") throw new Error("expected a file");
    expect(decode(data.content)).toEqual(fixtureBytes("yungryce", "AirBnB_clone_v2", ".repo-context.json"));
    expect(data.sha).toBe(blobSha(fixtureBytes("yungryce", "AirBnB_clone_v2", ".repo-context.json")));

    const err = await rejection(
      octokit.rest.repos.getContent({ owner: "sindresorhus", repo: "boxen", path: ".repo-context.json" }),
    );
    expect(err.status).toBe(404);
    expect((err.response?.data as { message: string }).message).toBe("Not Found");

    const skills = await octokit.rest.repos.getContent({
      owner: "yungryce",
      repo: "AirBnB_clone",
      path: "SKILLS-INDEX.md",
    });
    if (Array.isArray(skills.data) || skills.data.type !== "file") throw new Error("expected a file");
    expect(decode(skills.data.content)).toEqual(fixtureBytes("yungryce", "AirBnB_clone", "SKILLS-INDEX.md"));
  });

  test("a percent-encoded path is decoded", async () => {
    const res = await srv.fetch("/repos/yungryce/AirBnB_clone_v2/contents/%2Erepo%2Dcontext%2Ejson");
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.path).toBe(".repo-context.json");
    expect(decode(body.content)).toEqual(fixtureBytes("yungryce", "AirBnB_clone_v2", ".repo-context.json"));
  });

  test("languages, repo object defaults, user object and rate_limit shape", async () => {
    const { data: langs } = await octokit.rest.repos.listLanguages({ owner: "yungryce", repo: "foliohive" });
    expect(langs).toEqual(
      JSON.parse(readFileSync(join(githubFixturesDir, "yungryce", "foliohive", "languages.json"), "utf8")),
    );
    const { data: none } = await octokit.rest.repos.listLanguages({ owner: "sindresorhus", repo: "eslint-cssicorn" });
    expect(none).toEqual({});

    const { data: repo } = await octokit.rest.repos.get({ owner: "sindresorhus", repo: "boxen" });
    const fromList = reposJson("sindresorhus").find((r: { name: string }) => r.name === "boxen");
    expect(repo).toMatchObject(fromList);
    expect(repo.forks_count).toBe(0);
    expect(repo.homepage).toBeNull();
    expect(repo.license).toBeNull();
    expect(repo.open_issues_count).toBe(0);
    expect(repo.watchers_count).toBe(0);

    const { data: user } = await octokit.rest.users.getByUsername({ username: "YUNGRYCE" });
    expect(user.login).toBe("yungryce");
    expect(user.public_repos).toBe(48);

    const { data: rl, headers } = await octokit.rest.rateLimit.get();
    expect(rl.resources.core.limit).toBeGreaterThan(0);
    expect(rl.rate.remaining).toBe(rl.resources.core.remaining);
    expect(headers["x-ratelimit-resource"]).toBe("core");
    expect(Number(headers["x-ratelimit-reset"])).toBeGreaterThan(Date.now() / 1000);
    expect(headers["content-type"]).toBe("application/json; charset=utf-8");
  });

  test("unknown owner and unknown repo are 404 with GitHub's body", async () => {
    const err = await rejection(octokit.rest.repos.listForUser({ username: "no-such-user-xyz" }));
    expect(err.status).toBe(404);
    const body = err.response?.data as { message: string; documentation_url: string };
    expect(body.message).toBe("Not Found");
    expect(body.documentation_url).toMatch(/^https:\/\/docs\.github\.com/);
    expect((await rejection(octokit.rest.users.getByUsername({ username: "no-such-user-xyz" }))).status).toBe(404);
    expect((await rejection(octokit.rest.repos.get({ owner: "yungryce", repo: "nope" }))).status).toBe(404);
  });

  test("path traversal is never served", async () => {
    const attempts = [
      "/repos/yungryce/AirBnB_clone_v2/contents/../../sindresorhus/repos.json",
      "/repos/yungryce/AirBnB_clone_v2/contents/..%2F..%2Fsindresorhus%2Frepos.json",
      "/repos/yungryce/AirBnB_clone_v2/contents/%2E%2E/%2E%2E/%2E%2E/github/README.md",
      "/repos/yungryce/AirBnB_clone_v2/contents/%2Fetc%2Fpasswd",
      "/repos/yungryce/AirBnB_clone_v2/contents//etc/passwd",
      "/repos/yungryce/AirBnB_clone_v2/contents/.%2F..%2F..%2Frepos.json",
      "/repos/yungryce/AirBnB_clone_v2/contents/languages.json/..%2F..%2F..%2FREADME.md",
    ];
    for (const path of attempts) {
      const res = await rawGet(srv.port, path);
      expect([400, 404]).toContain(res.status);
      expect(res.body).not.toContain("AirBnB_clone"); // no repos.json or directory content leaked
    }
  });

  test("push changes pushed_at, the README and its ETag; reset restores the disk state", async () => {
    const before = await octokit.rest.repos.get({ owner: "yungryce", repo: "AirBnB_clone_v2" });
    const readme1 = await octokit.rest.repos.getReadme({ owner: "yungryce", repo: "AirBnB_clone_v2" });

    const pushed = await srv.push("yungryce", "AirBnB_clone_v2", {
      readme: "# new readme\n",
      files: { "ARCHITECTURE.md": "# arch\n" },
    });
    expect(Date.parse(String(pushed.pushed_at))).toBeGreaterThan(Date.parse(before.data.pushed_at!));

    const after = await octokit.rest.repos.get({ owner: "yungryce", repo: "AirBnB_clone_v2" });
    expect(Date.parse(after.data.pushed_at!)).toBeGreaterThan(Date.parse(before.data.pushed_at!));
    expect(Date.parse(after.data.updated_at!)).toBeGreaterThan(Date.parse(before.data.updated_at!));
    expect(after.headers.etag).not.toBe(before.headers.etag);

    const readme2 = await octokit.rest.repos.getReadme({ owner: "yungryce", repo: "AirBnB_clone_v2" });
    expect(new TextDecoder().decode(decode(readme2.data.content))).toBe("# new readme\n");
    expect(readme2.headers.etag).not.toBe(readme1.headers.etag);
    expect(readme2.data.sha).not.toBe(readme1.data.sha);
    // the old ETag no longer matches
    const cond = await srv.fetch("/repos/yungryce/AirBnB_clone_v2/readme", {
      headers: { "if-none-match": readme1.headers.etag! },
    });
    expect(cond.status).toBe(200);

    // the list reflects it too, and a second push is strictly later again
    const second = await srv.push("yungryce", "AirBnB_clone_v2");
    expect(Date.parse(String(second.pushed_at))).toBeGreaterThan(Date.parse(String(pushed.pushed_at)));
    const list = await octokit.paginate(octokit.rest.repos.listForUser, { username: "yungryce", per_page: 100 });
    expect(list.find((r) => r.name === "AirBnB_clone_v2")!.pushed_at).toBe(String(second.pushed_at));

    await srv.reset();
    const restored = await octokit.rest.repos.getReadme({ owner: "yungryce", repo: "AirBnB_clone_v2" });
    expect(restored.headers.etag).toBe(readme1.headers.etag);
    expect((await octokit.rest.repos.get({ owner: "yungryce", repo: "AirBnB_clone_v2" })).data.pushed_at).toBe(
      before.data.pushed_at,
    );
    expect((await srv.stats()).total).toBe(2);
  });

  test("set-file adds a malformed .repo-context.json; delete-repo drops a repo until reset", async () => {
    await srv.setFile("sindresorhus", "boxen", ".repo-context.json", "{not json");
    const { data } = await octokit.rest.repos.getContent({
      owner: "sindresorhus",
      repo: "boxen",
      path: ".repo-context.json",
    });
    if (Array.isArray(data) || data.type !== "file") throw new Error("expected a file");
    expect(new TextDecoder().decode(decode(data.content))).toBe("{not json");

    await srv.deleteRepo("yungryce", "blog");
    const list = await octokit.paginate(octokit.rest.repos.listForUser, { username: "yungryce", per_page: 100 });
    expect(list.length).toBe(47);
    expect(list.some((r) => r.name === "blog")).toBe(false);
    expect((await rejection(octokit.rest.repos.get({ owner: "yungryce", repo: "blog" }))).status).toBe(404);

    await srv.reset();
    expect(
      (await octokit.paginate(octokit.rest.repos.listForUser, { username: "yungryce", per_page: 100 })).length,
    ).toBe(48);
    expect(
      (await rejection(
        octokit.rest.repos.getContent({ owner: "sindresorhus", repo: "boxen", path: ".repo-context.json" }),
      )).status,
    ).toBe(404);
  });

  test("add-repo makes a new repository appear in the list", async () => {
    await srv.addRepo("yungryce", "brand-new", { readme: "# hi\n", language: "Go" });
    const list = await octokit.paginate(octokit.rest.repos.listForUser, { username: "yungryce", per_page: 100 });
    expect(list.length).toBe(49);
    const readme = await octokit.rest.repos.getReadme({ owner: "yungryce", repo: "brand-new" });
    expect(new TextDecoder().decode(decode(readme.data.content))).toBe("# hi\n");
  });

  test("after-listing: a queued change happens right after the next listing is answered, once", async () => {
    await srv.afterListing("set-file", { owner: "yungryce", repo: "monty", path: "README.md", content: "# later\n" });
    const readme = async () =>
      new TextDecoder().decode(decode(
        (await octokit.rest.repos.getReadme({ owner: "yungryce", repo: "monty" })).data
          .content,
      ));
    expect(await readme()).not.toBe("# later\n"); // not before a listing
    await octokit.rest.repos.listForUser({ username: "yungryce", per_page: 100 });
    expect(await readme()).toBe("# later\n");
    await srv.afterListing("delete-repo", { owner: "yungryce", repo: "blog" });
    expect((await octokit.rest.repos.listForUser({ username: "yungryce", per_page: 100 })).data.length).toBe(48);
    expect((await octokit.rest.repos.listForUser({ username: "yungryce", per_page: 100 })).data.length).toBe(47);
    // Only known changes, on known repos.
    const bad = await srv.fetch("/_fixture/after-listing", {
      method: "POST",
      body: JSON.stringify({ action: "reset" }),
    });
    expect(bad.status).toBe(422);
    await expect(srv.afterListing("push", { owner: "yungryce", repo: "no-such-repo" })).rejects.toThrow(/404/);
  });

  test("stats count requests per route kind", async () => {
    await octokit.rest.repos.listForUser({ username: "yungryce", per_page: 10 });
    await octokit.rest.repos.get({ owner: "yungryce", repo: "blog" });
    await octokit.rest.repos.getReadme({ owner: "sindresorhus", repo: "boxen" });
    await octokit.rest.repos.getReadme({ owner: "sindresorhus", repo: "alfy" });
    await rejection(octokit.rest.repos.getContent({ owner: "yungryce", repo: "blog", path: "ARCHITECTURE.md" }));
    await octokit.rest.repos.listLanguages({ owner: "yungryce", repo: "blog" });
    await octokit.rest.users.getByUsername({ username: "yungryce" });
    await octokit.rest.rateLimit.get();
    const s = await srv.stats();
    expect(s).toMatchObject({
      list: 1,
      repo: 1,
      readme: 2,
      contents: 1,
      languages: 1,
      user: 1,
      rate_limit: 1,
      total: 8,
      not_found: 1,
      not_modified: 0,
      rate_limited: 0,
      failed_injected: 0,
    });
    expect(s.rate.used).toBe(7); // /rate_limit does not count, like GitHub
    await srv.resetStats();
    expect((await srv.stats()).total).toBe(0);
  });

  test("concurrent requests are served concurrently and max_in_flight records them", async () => {
    await srv.config({ latency_ms: 300 });
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => srv.fetch(`/repos/sindresorhus/boxen?i=${i}`).then((r) => r.status)),
      );
      expect(results).toEqual(Array(8).fill(200));
      const s = await srv.stats();
      expect(s.max_in_flight).toBe(8);
      expect(s.in_flight).toBe(0);
    } finally {
      await srv.config({ latency_ms: 0 });
    }
  });
});

describe("github fixture server (behaviour flags)", () => {
  test("--rate-limit 3: the 4th request is a 403 with remaining 0; 304s and rejected requests are counted apart", async () => {
    const srv = await startFixtureServer({ rateLimit: 3, rateWindowS: 2 });
    try {
      const statuses: number[] = [];
      let etag = "";
      for (let i = 0; i < 3; i++) {
        const res = await srv.fetch("/repos/yungryce/blog");
        statuses.push(res.status);
        etag = res.headers.get("etag")!;
        expect(res.headers.get("x-ratelimit-limit")).toBe("3");
        expect(res.headers.get("x-ratelimit-remaining")).toBe(String(2 - i));
        expect(res.headers.get("x-ratelimit-used")).toBe(String(i + 1));
      }
      expect(statuses).toEqual([200, 200, 200]);
      // a conditional hit is still a 304 and costs nothing
      expect((await srv.fetch("/repos/yungryce/blog", { headers: { "if-none-match": etag } })).status).toBe(304);

      const octokit = new Octokit({ baseUrl: srv.url, log: { debug() {}, info() {}, warn() {}, error() {} } });
      const err = await rejection(octokit.rest.repos.get({ owner: "yungryce", repo: "blog" }));
      expect(err.status).toBe(403);
      expect((err.response?.data as { message: string }).message).toMatch(/^API rate limit exceeded for /);
      expect(err.response?.headers["x-ratelimit-remaining"]).toBe("0");
      const reset = Number(err.response?.headers["x-ratelimit-reset"]);
      expect(reset).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000));

      const res5 = await srv.fetch("/users/yungryce/repos");
      expect(res5.status).toBe(403);
      const s = await srv.stats();
      expect(s.rate_limited).toBe(2);
      expect(s.not_modified).toBe(1);
      expect(s.served).toBe(3);
      expect(s.total).toBe(6);

      // after the reset time the window is fresh again
      while (Date.now() < reset * 1000) await new Promise((r) => setTimeout(r, 100));
      const again = await srv.fetch("/repos/yungryce/blog");
      expect(again.status).toBe(200);
      expect(again.headers.get("x-ratelimit-remaining")).toBe("2");
    } finally {
      await srv.stop();
    }
  });

  test("--fail-rate 1 gives 502s that are counted as injected failures, not served", async () => {
    const srv = await startFixtureServer({ failRate: 1 });
    try {
      const octokit = new Octokit({ baseUrl: srv.url, log: { debug() {}, info() {}, warn() {}, error() {} } });
      const err = await rejection(octokit.rest.repos.get({ owner: "yungryce", repo: "blog" }));
      expect(err.status).toBe(502);
      const res = await srv.fetch("/users/yungryce/repos");
      expect(res.status).toBe(502);
      expect((await res.json()).message).toBeTruthy();
      let s = await srv.stats();
      expect(s.failed_injected).toBe(2);
      expect(s.served).toBe(0);
      expect(s.rate.used).toBe(0);

      await srv.config({ fail_rate: 0 });
      expect((await srv.fetch("/users/yungryce/repos")).status).toBe(200);
      s = await srv.stats();
      expect(s.failed_injected).toBe(2);
      expect(s.served).toBe(1);
    } finally {
      await srv.stop();
    }
  });

  test("the same seed gives the same failure sequence", async () => {
    const seq = async () => {
      const srv = await startFixtureServer({ failRate: 0.5, seed: 42 });
      try {
        const out: number[] = [];
        for (let i = 0; i < 20; i++) out.push((await srv.fetch("/repos/yungryce/blog")).status);
        return out;
      } finally {
        await srv.stop();
      }
    };
    const a = await seq();
    expect(a).toContain(502);
    expect(a).toContain(200);
    expect(await seq()).toEqual(a);
  });

  test("the module API starts an in-process server and close() stops it", async () => {
    const srv = await startInProcess({ port: 0 });
    try {
      expect(srv.url).toBe(`http://127.0.0.1:${srv.port}`);
      const res = await fetch(`${srv.url}/repos/sindresorhus/boxen/readme`);
      expect(res.status).toBe(200);
      expect(decode((await res.json()).content)).toEqual(fixtureBytes("sindresorhus", "boxen", "readme.md"));
    } finally {
      await srv.close();
    }
    const refused = await fetch(`${srv.url}/rate_limit`).then(() => false, () => true);
    expect(refused).toBe(true);
  });

  test("stop() leaves no process behind", async () => {
    const srv = await startFixtureServer();
    await srv.stop();
    expect(srv.process.child.exitCode !== null || srv.process.child.signalCode !== null).toBe(true);
    const refused = await fetch(`${srv.url}/rate_limit`).then(() => false, () => true);
    expect(refused).toBe(true);
  });
});

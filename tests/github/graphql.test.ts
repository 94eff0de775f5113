/**
 * The GraphQL path (a token configured) against the fixture server's
 * `POST /graphql` (GitHub's real schema): request counts, content addressing
 * by git object id, identical bundles to the REST path, fallback to REST, and
 * every query foliosync sends validated against GitHub's schema.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../shared/config.ts";
import { createContext } from "../../workers/context.ts";
import { ROLES, type RunningRoles, startRoles } from "../../workers/roles.ts";
import { sampleQueries } from "../../workers/github/graphql.ts";
import { githubSchema } from "../../scripts/fixture-graphql/index.ts";
import type { PushChanges } from "../support/fixture-server.ts";
import { bundleOf, capturingLogger, comparable, type Stack, startStack } from "../support/pipeline.ts";

let rest: Stack;
let gql: Stack;
let gqlWorkers: RunningRoles;
const logs: string[] = [];

/** Warnings of the GraphQL stack's workers, kept for assertions. */
const captureLog = capturingLogger(logs);

beforeAll(async () => {
  rest = await startStack();
  await rest.startWorkers();
  gql = await startStack({ env: { GITHUB_TOKEN: "fixture-token-1" } });
  const c = await createContext(loadConfig(gql.env), {
    redis: gql.redis.client(),
    store: gql.ctx.store,
    log: captureLog,
  });
  gqlWorkers = startRoles(c, ROLES);
});
afterAll(async () => {
  await gqlWorkers?.stop(2000);
  await Promise.all([rest?.stop(), gql?.stop()]);
});

/** The same change on both fixture servers. */
async function both(f: (s: Stack) => Promise<unknown>) {
  await f(rest);
  await f(gql);
}
let pushes = 0;
/** The same push, at the same time, on both fixture servers. */
async function pushBoth(repo: string, changes: PushChanges) {
  const pushed_at = new Date(Date.UTC(2027, 0, 1) + 1000 * ++pushes).toISOString().replace(".000Z", "Z");
  await both((s) => s.github.push("yungryce", repo, { ...changes, pushed_at }));
}

describe("GitHub GraphQL", () => {
  test("every query foliosync sends validates against GitHub's real GraphQL schema", async () => {
    const { graphql, schema } = await githubSchema();
    const sent = sampleQueries();
    expect(sent.map((q) => q.name)).toEqual(["list", "blobs"]);
    for (const q of sent) {
      const errors = graphql.validate(schema, graphql.parse(q.query));
      expect({ name: q.name, errors: errors.map((e) => e.message) }).toEqual({ name: q.name, errors: [] });
    }
  }, 30_000);

  test("cold yungryce: ≤ 4 GraphQL requests, no REST request, the bundle byte-identical to REST's", async () => {
    const r = await rest.refresh("yungryce");
    await gql.github.resetStats();
    const g = await gql.refresh("yungryce");
    expect(r.state).toBe("completed");
    expect(g.state).toBe("completed");
    expect(g.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    const s = await gql.github.stats();
    expect(s.graphql).toBeLessThanOrEqual(4);
    expect(s.total).toBe(s.graphql);
    expect(s.graphql_points).toBeGreaterThan(0);
    expect(comparable(await bundleOf(gql, "yungryce"))).toBe(comparable(await bundleOf(rest, "yungryce")));
  }, 30_000);

  test("warm, nothing changed: fresh after one query", async () => {
    await gql.github.resetStats();
    const g = await gql.refresh("yungryce");
    expect(g.state).toBe("fresh");
    expect((await gql.github.stats()).total).toBe(1);
  }, 30_000);

  test("a push to 2 repos: ≤ 3 requests, only their changed files fetched", async () => {
    await pushBoth("monty", { readme: "# monty\nnew readme after push\n" });
    await pushBoth("printf", { readme: "# printf\nanother new readme\n" });
    await rest.refresh("yungryce");
    await gql.github.resetStats();
    const g = await gql.refresh("yungryce");
    expect(g.state).toBe("completed");
    expect(g.progress.total).toBe(2);
    const s = await gql.github.stats();
    expect(s.total).toBeLessThanOrEqual(3);
    expect(s.graphql_blobs).toBe(2);
    expect(comparable(await bundleOf(gql, "yungryce"))).toBe(comparable(await bundleOf(rest, "yungryce")));
  }, 30_000);

  test("a code-only push re-syncs the repo without fetching any file", async () => {
    await pushBoth("monty", { files: { "src/main.c": "int main(void) { return 0; }\n" } });
    await gql.github.resetStats();
    const g = await gql.refresh("yungryce");
    expect(g.state).toBe("completed");
    expect(g.progress.total).toBe(1);
    const s = await gql.github.stats();
    expect(s.graphql_blobs).toBe(0);
    expect(s.total).toBe(1);
    const monty = (await bundleOf(gql, "yungryce")).repos.find((r) => r.name === "monty")!;
    expect(monty.readme).toBe("# monty\nnew readme after push\n");
  }, 30_000);

  test("a README renamed README.md → readme.rst is found; binary and oversized files as in REST", async () => {
    const renamed = "Printf\n======\n\nNow in reStructuredText.\n";
    await pushBoth("printf", { files: { "README.md": null, "readme.rst": renamed } });
    await pushBoth("monty", { readme: "binary\u0000readme\u0001" });
    await pushBoth("binary_trees", { files: { "ARCHITECTURE.md": "é".repeat(600_000) } });
    expect((await rest.refresh("yungryce")).state).toBe("completed");
    expect((await gql.refresh("yungryce")).state).toBe("completed");
    const g = await bundleOf(gql, "yungryce");
    expect(g.repos.find((r) => r.name === "printf")!.readme).toBe(renamed);
    expect(g.repos.find((r) => r.name === "monty")!.readme).toBe("");
    const big = g.repos.find((r) => r.name === "binary_trees")!;
    expect(big.truncated_files).toEqual(["ARCHITECTURE.md"]);
    expect(Buffer.byteLength(big.architecture)).toBeLessThanOrEqual(1_048_576);
    expect(comparable(g)).toBe(comparable(await bundleOf(rest, "yungryce")));
  }, 30_000);

  test("cold sindresorhus (120 repos): ≤ 6 requests; grown to 210 and one deleted: identical to REST", async () => {
    await gql.github.resetStats();
    const g = await gql.refresh("sindresorhus");
    expect(g.state).toBe("completed");
    expect(g.progress.total).toBe(120);
    expect((await gql.github.stats()).total).toBeLessThanOrEqual(6);
    // One creation time for both servers: the records compare byte for byte.
    const pushed_at = new Date().toISOString();
    for (let i = 0; i < 90; i++) {
      await both((s) =>
        s.github.addRepo("sindresorhus", `zz-grown-${String(i).padStart(2, "0")}`, { readme: `# ${i}\n`, pushed_at })
      );
    }
    await both((s) => s.github.deleteRepo("sindresorhus", "boxen"));
    await rest.refresh("sindresorhus");
    const again = await gql.refresh("sindresorhus");
    expect(again.state).toBe("completed");
    const bundle = await bundleOf(gql, "sindresorhus");
    expect(bundle.repos.length).toBe(209);
    expect(bundle.repos.find((r) => r.name === "boxen")).toBeUndefined();
    expect(comparable(bundle)).toBe(comparable(await bundleOf(rest, "sindresorhus")));
  }, 60_000);

  test("GraphQL unusable (404 at /graphql): the refresh runs over REST, with a log line saying why", async () => {
    await gql.github.config({ graphql: false });
    try {
      logs.length = 0;
      await gql.github.resetStats();
      const g = await gql.refresh("yungryce", { force_refresh: true });
      expect(g.state).toBe("completed");
      expect(g.progress.failed).toBe(0);
      const s = await gql.github.stats();
      expect(s.graphql).toBe(1);
      expect(s.list).toBeGreaterThan(0);
      expect(logs.some((l) => /GraphQL unusable \(GitHub GraphQL 404 .*\); listing yungryce over REST instead/.test(l)))
        .toBe(true);
    } finally {
      await gql.github.config({ graphql: true });
    }
  }, 30_000);

  test("unknown user over GraphQL → failed with a reason", async () => {
    const g = await gql.refresh("no-such-user-xyz");
    expect(g.state).toBe("failed");
    expect(g.error).toContain("not found");
  }, 30_000);
});

/**
 * The limits a refresh keeps to (MAX_FILE_BYTES, MAX_REPOS_PER_USER,
 * GITHUB_REQUEST_BUDGET) and secondary rate limits, through the whole
 * pipeline: real Redis, the fixture GitHub, workers in this process.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { githubFixturesDir } from "../support/paths.ts";
import { type Stack, startStack } from "../support/pipeline.ts";

const stacks: Stack[] = [];
afterAll(async () => {
  await Promise.all(stacks.map((s) => s.stop()));
});
async function stackWith(env: Record<string, string>): Promise<Stack> {
  const s = await startStack({ env });
  stacks.push(s);
  await s.startWorkers();
  return s;
}
function fixtureReadme(owner: string, repo: string): Buffer | null {
  const dir = join(githubFixturesDir, owner, repo);
  const f = readdirSync(dir).find((n) => /^readme(\.|$)/i.test(n));
  return f ? readFileSync(join(dir, f)) : null;
}

describe("limits with clear reasons", () => {
  test(
    "MAX_FILE_BYTES: larger READMEs are cut to the limit and flagged; MAX_REPOS_PER_USER bundles the first N",
    async () => {
      const stack = await stackWith({ MAX_FILE_BYTES: "4096", MAX_REPOS_PER_USER: "30" });
      const job = await stack.refresh("yungryce");
      expect(job.state).toBe("completed");
      expect(job.progress.total).toBe(30);
      // The final record (merge's message) still says the bundle is cut, and where.
      expect(job.message).toStartWith("bundle of 30 repos published; ");
      expect(job.message).toContain(
        "the bundle holds only the first 30 repositories of yungryce by name (MAX_REPOS_PER_USER=30)",
      );
      const bundle = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
      expect(bundle.repos.length).toBe(30);
      let cut = 0;
      for (const r of bundle.repos) {
        const whole = fixtureReadme("yungryce", r.name) ?? Buffer.alloc(0);
        const flagged = r.truncated_files?.includes("README") ?? false;
        expect(flagged).toBe(whole.byteLength > 4096);
        if (flagged) {
          cut++;
          expect(Buffer.byteLength(r.readme)).toBeLessThanOrEqual(4096);
          expect(whole.toString("utf8").startsWith(r.readme)).toBe(true);
        } else {
          expect(r.readme).toBe(whole.toString("utf8"));
        }
      }
      expect(cut).toBeGreaterThan(0);
      const flags = (b: typeof bundle) => b.repos.map((r) => [r.name, r.truncated_files ?? []]);

      // A cut file stays flagged when it is unchanged (a 304 keeps the previous record's flag).
      await stack.github.push("yungryce", bundle.repos.find((r) => r.truncated_files?.includes("README"))!.name, {
        files: { "CHANGES.txt": "code-only change" },
      });
      const again = await stack.refresh("yungryce");
      expect(again.state).toBe("completed");
      expect(again.message).toContain("(MAX_REPOS_PER_USER=30)");
      // Nothing changed: `fresh`, and the record still says the bundle is cut.
      const fresh = await stack.refresh("yungryce");
      expect(fresh.state).toBe("fresh");
      expect(fresh.message).toBe(
        "nothing changed on GitHub; the bundle is current; the bundle holds only the first 30 repositories of " +
          "yungryce by name (MAX_REPOS_PER_USER=30); the others are left out",
      );
      const after = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
      expect(flags(after)).toEqual(flags(bundle));
    },
    30_000,
  );

  test("GITHUB_REQUEST_BUDGET: a refresh stops spending at its budget; the rest fails with the reason", async () => {
    const stack = await stackWith({ GITHUB_REQUEST_BUDGET: "60" });
    await stack.github.resetStats();
    const job = await stack.refresh("sindresorhus");
    expect(job.state).toBe("completed");
    expect(job.progress.failed).toBeGreaterThan(0);
    expect(job.progress.completed).toBeGreaterThan(0);
    expect((await stack.github.stats()).total).toBeLessThanOrEqual(60);
    const dlq = await stack.jobs.dlqList(200);
    expect(dlq.length).toBe(job.progress.failed);
    for (const e of dlq) expect(e.error).toContain("GITHUB_REQUEST_BUDGET=60");
  }, 30_000);

  // GitHub's secondary limit is an HTTP 403 on /graphql too (GraphQL reports a spent primary quota as an HTTP 200
  // with `errors` instead: tests/github/graphql-faults.test.ts). Waited out, never a reason to fall back to REST.
  test.each([
    { path: "REST", token: false, retryAfter: null, shape: "no retry-after" },
    { path: "GraphQL", token: true, retryAfter: null, shape: "no retry-after" },
    { path: "GraphQL", token: true, retryAfter: 1, shape: "retry-after: 1" },
  ])(
    "secondary rate limits over $path (403, $shape) are waited out: completes, nothing dead-lettered",
    async ({ token, retryAfter }) => {
      const stack = await stackWith({
        GITHUB_SECONDARY_WAIT_MS: "200",
        ...(token ? { GITHUB_TOKEN: "fixture-token-secondary" } : {}),
      });
      await stack.github.config({ secondary_limit: { count: retryAfter ? 2 : 3, retry_after: retryAfter } });
      const job = await stack.refresh("yungryce");
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
      const s = await stack.github.stats();
      expect(s.secondary_limited).toBe(retryAfter ? 2 : 3);
      expect(await stack.jobs.dlqDepth()).toBe(0);
      if (token) {
        // Every request went to /graphql: a secondary limit there is waited out, not taken for GraphQL being unusable.
        expect(s.graphql).toBe(s.total);
        expect(s.list).toBe(0);
      } else expect(s.graphql).toBe(0);
    },
    30_000,
  );
});

/**
 * GitHub faults end to end (fixture server knobs): 50 % 502s, a secondary
 * rate limit with retry-after, a repo deleted between plan and sync, a README
 * changing while its repo syncs, a user growing past a page boundary, a
 * rename; over GraphQL (a token) and REST, each with its own stack. Each
 * refresh ends completed with the bundle GitHub describes, and every DLQ entry
 * is a 502 that ran out of retries. npm test runs both paths (but the 50 %
 * one: full suite only).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { type Stack, startStack } from "../support/pipeline.ts";
import { API_PATHS, apiEnv, type ApiPath, assertNothingLost, expectPathTaken, FULL } from "./support.ts";

/** Seeds whose 502s fall on many of the path's requests (GraphQL sends few). */
const SEED_502: Record<ApiPath, number> = { graphql: 3, rest: 5 };

for (const path of API_PATHS) {
  describe(path, () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ fixture: { seed: 11 }, env: apiEnv(path) });
      await stack.startWorkers();
    });
    afterAll(async () => {
      await stack?.stop();
    });

    const bundleOf = async (u: string) => (await readCurrentBundle(stack.ctx.store, u))!.bundle;
    const check = async (job: Awaited<ReturnType<Stack["refresh"]>>, repos: number) =>
      await assertNothingLost({
        jobs: stack.jobs,
        store: stack.ctx.store,
        results: new Map([[job.job_id, job]]),
        expectRepos: () => repos,
        // A repo's sync that got a 502 on each of its attempts.
        explainDlq: (e) => e.queue === "sync" && /^GitHub 502 for /.test(e.error),
      });

    // The longest of these (≈ 20 s on 2 shared cores) runs in npm run test:reliability; fixture --fail-rate 0.3 runs in
    // npm test (tests/pipeline/reliability.test.ts).
    test.skipIf(!FULL)(
      "50 % 502s on a forced refresh: completes, every repo kept (a repo out of retries keeps its record)",
      async () => {
        expect((await stack.refresh("yungryce")).state).toBe("completed");
        await stack.github.config({ fail_rate: 0.5, seed: SEED_502[path] });
        try {
          const job = await stack.refresh("yungryce", { force_refresh: true, timeoutMs: 120_000 });
          expect(job.state).toBe("completed");
          expect(job.progress.total).toBe(48);
          const stats = await stack.github.stats();
          const rest = stats.list + stats.repo + stats.readme + stats.contents + stats.languages;
          console.log(JSON.stringify({
            scenario: "github-502-50pct",
            path,
            requests: stats.total,
            graphql: stats.graphql,
            rest,
            failed_injected: stats.failed_injected,
            ...await check(job, 48),
          }));
          // GraphQL needs a few requests (a listing, blobs by the hundred), REST one per file.
          expect(stats.failed_injected).toBeGreaterThan(path === "graphql" ? 5 : 50);
        } finally {
          await stack.github.config({ fail_rate: 0 });
        }
      },
      180_000,
    );

    test("a secondary rate limit with retry-after is waited out, not failed", async () => {
      if (!FULL) expect((await stack.refresh("yungryce")).state).toBe("completed");
      await stack.github.push("yungryce", "monty", { readme: "# after a secondary limit\n" });
      await stack.github.config({ secondary_limit: { count: 3, retry_after: 1 } });
      const job = await stack.refresh("yungryce", { timeoutMs: 120_000 });
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ failed: 0 });
      expect((await bundleOf("yungryce")).repos.find((r) => r.name === "monty")!.readme).toBe(
        "# after a secondary limit\n",
      );
      expect((await stack.github.stats()).secondary_limited).toBe(3);
    }, 180_000);

    test("a repo deleted between plan and sync, and a README changed while its repo syncs", async () => {
      await stack.github.push("yungryce", "monty", { readme: "# v1\n" });
      await stack.github.push("yungryce", "AirBnB_clone", { readme: "# gone soon\n" });
      await stack.workers!.stop();
      const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
      // A plan that syncs no repo itself (SYNC_IN_PLAN_MAX=0): both repos go to sync jobs, run after the changes.
      const planOnly = await stack.startWorkers(["plan"], { SYNC_IN_PLAN_MAX: "0" });
      await stack.waitFor(job.job_id, ["syncing"]);
      await planOnly.stop();
      await stack.github.deleteRepo("yungryce", "AirBnB_clone");
      await stack.github.setFile("yungryce", "monty", "README.md", "# v2, written during the sync\n");
      stack.workers = await stack.startWorkers();
      const done = await stack.waitFor(job.job_id, ["completed", "failed"]);
      expect(done.state).toBe("completed");
      // The next refresh drops the deleted repo and picks up the README as GitHub has it now.
      await stack.github.push("yungryce", "monty", { readme: "# v3\n" });
      const next = await stack.refresh("yungryce");
      expect(next.state).toBe("completed");
      const b = await bundleOf("yungryce");
      expect(b.repos.length).toBe(47);
      expect(b.repos.some((r) => r.name === "AirBnB_clone")).toBe(false);
      expect(b.repos.find((r) => r.name === "monty")!.readme).toBe("# v3\n");
      await check(next, 47);
    }, 180_000);

    test("a user grown past a page boundary and a rename: the bundle follows GitHub", async () => {
      expect((await stack.refresh("sindresorhus", { timeoutMs: 120_000 })).state).toBe("completed");
      for (let i = 0; i < 90; i++) {
        await stack.github.addRepo("sindresorhus", `grown-${String(i).padStart(2, "0")}`, { readme: `# grown ${i}\n` });
      }
      const first = (await bundleOf("sindresorhus")).repos[0].name;
      await stack.github.deleteRepo("sindresorhus", first);
      await stack.github.addRepo("sindresorhus", `${first}-renamed`, { readme: "# renamed\n" });
      const job = await stack.refresh("sindresorhus", { timeoutMs: 120_000 });
      expect(job.state).toBe("completed");
      const b = await bundleOf("sindresorhus");
      expect(b.repos.length).toBe(210);
      expect(b.repos.some((r) => r.name === first)).toBe(false);
      expect(b.repos.find((r) => r.name === `${first}-renamed`)!.readme).toBe("# renamed\n");
      await check(job, 210);
    }, 180_000);
    test(`every refresh went the ${path} way`, async () => {
      expectPathTaken(path, await stack.github.stats());
    });
  });
}

/**
 * GitHub requests that never answer (fixture --hang-rate, held until the
 * client hangs up): each request is abandoned at GITHUB_REQUEST_TIMEOUT_MS as
 * a RequestTimeoutError and retried by the one error policy. Concurrent
 * refreshes of fixture and generated users, over GraphQL (a token) and REST
 * (GITHUB_API=rest): every accepted refresh ends completed (or failed with a
 * reason), every bundle holds the users' repositories, nothing stays in
 * flight, here or at the fixture server. Before the timeout existed, the
 * first hung request held its sync forever.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { FINAL_STATES } from "../../shared/schemas/job.ts";
import { type Stack, startStack } from "../support/pipeline.ts";
import { assertNothingLost, sleep, waitAllFinal } from "./support.ts";

const TIMEOUT_MS = 400;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    fixture: { seed: 13 },
    env: { GITHUB_TOKEN: "hang-test-token", GITHUB_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) },
  });
});
afterAll(async () => {
  await stack?.stop();
});

const REPOS: Record<string, number> = { yungryce: 48, sindresorhus: 120, "gen-150-hang": 150, "gen-60-hang": 60 };

async function refreshAllWhileHanging(api: "auto" | "rest", hangRate: number) {
  const workers = await stack.startWorkers(undefined, { GITHUB_API: api });
  try {
    await stack.github.resetStats();
    await stack.github.config({ hang_rate: hangRate, hang_ms: 0, seed: api === "rest" ? 17 : 13 });
    const ids: string[] = [];
    for (const username of Object.keys(REPOS)) {
      const { job } = await stack.jobs.requestRefresh({ username, force_refresh: true });
      ids.push(job.job_id);
    }
    const results = await waitAllFinal(stack.jobs, ids, 240_000);
    await stack.github.config({ hang_rate: 0 });
    const stats = await stack.github.stats();
    expect(stats.hung).toBeGreaterThan(0);
    const outcome = await assertNothingLost({
      jobs: stack.jobs,
      store: stack.ctx.store,
      results,
      expectRepos: (u) => REPOS[u],
      // A sync that hung on every one of its attempts: dead-lettered with the timeout as its reason.
      explainDlq: (e) => /did not answer within \d+ ms/.test(e.error),
    });
    for (const j of results.values()) {
      expect(FINAL_STATES.has(j!.state)).toBe(true);
      if (j!.state === "failed") expect(j!.error).toBeTruthy();
    }
    // The client hung up on every held request: the fixture server holds none.
    for (let i = 0; i < 100 && (await stack.github.stats()).in_flight > 0; i++) await sleep(50);
    expect((await stack.github.stats()).in_flight).toBe(0);
    return { outcome, stats };
  } finally {
    await stack.github.config({ hang_rate: 0 });
    await workers.stop(2000);
  }
}

test("GraphQL: 30 % of GitHub requests hang forever; 4 concurrent forced refreshes all complete", async () => {
  const { outcome, stats } = await refreshAllWhileHanging("auto", 0.3);
  expect(outcome.completed).toBe(4);
  expect(stats.graphql).toBeGreaterThan(0);
}, 300_000);

test("REST: 10 % of GitHub requests hang forever; 4 concurrent forced refreshes all complete", async () => {
  const { outcome, stats } = await refreshAllWhileHanging("rest", 0.1);
  expect(outcome.completed).toBe(4);
  expect(stats.graphql).toBe(0);
}, 300_000);

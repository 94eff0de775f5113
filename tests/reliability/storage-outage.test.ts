/**
 * Storage outage: Azurite (persistent) and the GCS test server each stopped
 * for 10 s mid-refresh and started again (connections refused while down; the
 * stored objects survive, as a real service's do). The job completes or fails
 * with a reason; the current bundle is never partial (readers polling it during the outage and after
 * see the old complete bundle or the new complete one). Over GraphQL (a token)
 * and REST. npm run test:reliability only (it waits out a 10 s outage).
 */
import { afterEach, expect, test } from "bun:test";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import type { JobRecord } from "../../shared/schemas/job.ts";
import type { RepoRecord } from "../../shared/schemas/repo.ts";
import { startAzurite } from "../support/azurite.ts";
import { startGcsTestServer } from "../support/gcs-test-server.ts";
import { type Stack, startStack } from "../support/pipeline.ts";
import { API_PATHS, apiEnv, assertNothingLost, expectPathTaken, FULL, sleep } from "./support.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

/** The one DLQ form an outage can leave: a sync or merge whose storage retries ran out (none seen so far). */
const storageDlq = (backend: "azure" | "gcs") => (e: { queue: string; error: string }) =>
  (e.queue === "sync" || e.queue === "merge") &&
  new RegExp(`^storage (get|put|list|delete) failed \\(${backend}\\): `).test(e.error);

/**
 * Reads the user's current bundle from storage in a loop until stopped and
 * keeps the repo count of every bundle read (a read that fails while storage
 * is down is counted apart): never a partial one.
 */
function watchCurrent(stack: Stack, user: string) {
  const seen = new Map<number, number>();
  let unavailable = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const n = (await readCurrentBundle(stack.ctx.store, user))?.bundle.repos.length ?? 0;
        seen.set(n, (seen.get(n) ?? 0) + 1);
      } catch {
        unavailable++;
      }
      await sleep(200);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { repo_counts: Object.fromEntries(seen), unavailable };
    },
  };
}

/** One backend's outage: how to start it, the environment that selects it, and how to stop and start it. */
interface Outage {
  backend: "azure" | "gcs";
  title: string;
  scenario: string;
  readme: string;
  start(): Promise<{ env: Record<string, string>; down(): Promise<void>; up(): Promise<void> }>;
  /** What the final bundle and job must show (the two backends' tests have asked this differently). */
  expectOutcome(done: JobRecord, monty: RepoRecord | undefined, dlq: number, readme: string): void;
}

const OUTAGES: Outage[] = [
  {
    backend: "azure",
    title: "Azurite stopped for 10 s mid-refresh: completed or failed with a reason, never a partial bundle",
    scenario: "storage-outage-10s",
    readme: "# during the outage\n",
    async start() {
      const az = await startAzurite({ persistent: true });
      cleanup.push(() => az.dispose());
      return {
        env: {
          STORAGE_BACKEND: "azure",
          AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
          AZURE_CONTAINER: "foliosync",
        },
        down: () => az.stop(),
        up: () => az.start(),
      };
    },
    expectOutcome(done, monty, _dlq, readme) {
      if (done.state === "completed") expect(monty!.readme).toBe(readme);
      else expect(done.error_code).toBe("storage_unavailable");
    },
  },
  {
    backend: "gcs",
    title: "GCS test server stopped for 10 s mid-refresh: completed or failed with a reason, never a partial bundle",
    scenario: "gcs-outage-10s",
    readme: "# during the GCS outage\n",
    async start() {
      const gcs = await startGcsTestServer({ buckets: ["foliosync"] });
      cleanup.push(() => gcs.stop());
      return {
        env: { STORAGE_BACKEND: "gcs", GCS_BUCKET: "foliosync", GCS_API_ENDPOINT: gcs.url },
        down: () => gcs.pause(),
        up: () => gcs.resume(),
      };
    },
    expectOutcome(done, monty, dlq, readme) {
      if (done.state === "completed" && dlq === 0) expect(monty!.readme).toBe(readme);
      else if (done.state === "failed") expect(done.error_code).toBe("storage_unavailable");
    },
  },
];

for (const path of API_PATHS) {
  for (const outage of OUTAGES) {
    test.skipIf(!FULL)(`${outage.title} (${path})`, async () => {
      const backend = await outage.start();
      const stack: Stack = await startStack({ fixture: { latencyMs: 60 }, env: { ...backend.env, ...apiEnv(path) } });
      cleanup.push(() => stack.stop());
      await stack.startWorkers();
      expect((await stack.refresh("yungryce")).state).toBe("completed");
      await stack.github.push("yungryce", "monty", { readme: outage.readme });
      const { job } = await stack.jobs.requestRefresh({ username: "yungryce", force_refresh: true });
      // Storage goes down while the refresh is under way: over GraphQL plan stores the records itself, over REST
      // the sync jobs do, and the merge publishes.
      await stack.waitFor(job.job_id, ["planning", "syncing", "merging"]);
      const reader = watchCurrent(stack, "yungryce");
      await backend.down();
      await sleep(10_000);
      // Publishing needs storage: nothing can have completed while it was down.
      expect((await stack.jobs.get(job.job_id))!.state).not.toBe("completed");
      await backend.up();
      const done = await stack.waitFor(job.job_id, ["completed", "failed"], 180_000);
      const reads = await reader.stop();
      // Every bundle a reader got during and after the outage was complete.
      expect(Object.keys(reads.repo_counts)).toEqual(["48"]);
      const summary = await assertNothingLost({
        jobs: stack.jobs,
        store: stack.ctx.store,
        results: new Map([[job.job_id, done]]),
        expectRepos: () => 48,
        explainDlq: storageDlq(outage.backend),
      });
      console.log(
        JSON.stringify({
          scenario: outage.scenario,
          path,
          state: done.state,
          error: done.error,
          reads,
          ...summary,
        }),
      );
      const current = await readCurrentBundle(stack.ctx.store, "yungryce");
      expect(current!.bundle.repos.length).toBe(48);
      outage.expectOutcome(done, current!.bundle.repos.find((r) => r.name === "monty"), summary.dlq, outage.readme);
      expectPathTaken(path, await stack.github.stats());
    }, 300_000);
  }
}

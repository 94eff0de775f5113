import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { publishBundle, readCurrentBundle } from "../../shared/bundle-store.ts";
import { storageKeys } from "../../shared/keys.ts";
import type { Bundle } from "../../shared/schemas/bundle.ts";
import { Bundle as BundleSchema, BundlePointer } from "../../shared/schemas/bundle.ts";
import { startAzurite } from "../support/azurite.ts";
import { startGcsTestServer } from "../support/gcs-test-server.ts";
import { startStack } from "../support/pipeline.ts";

const NOWHERE = "/proc/foliosync-nowhere"; // cannot be created: proves nothing touches the local disk
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function backendEnv(backend: "local" | "gcs" | "azure"): Promise<Record<string, string>> {
  if (backend === "local") return { STORAGE_BACKEND: "local" };
  if (backend === "gcs") {
    const gcs = await startGcsTestServer({ buckets: ["foliosync"] });
    cleanups.push(() => gcs.stop());
    return { STORAGE_BACKEND: "gcs", GCS_BUCKET: "foliosync", GCS_API_ENDPOINT: gcs.url, STORAGE_DIR: NOWHERE };
  }
  const az = await startAzurite();
  cleanups.push(() => az.dispose());
  return {
    STORAGE_BACKEND: "azure",
    AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
    AZURE_CONTAINER: "foliosync",
    STORAGE_DIR: NOWHERE,
  };
}

describe("the whole pipeline on each storage backend, chosen by environment only", () => {
  for (const backend of ["local", "gcs", "azure"] as const) {
    test(`refresh of yungryce to a complete bundle on ${backend}`, async () => {
      const stack = await startStack({ env: await backendEnv(backend) });
      try {
        expect(stack.ctx.store.backend).toBe(backend);
        await stack.startWorkers();
        const job = await stack.refresh("yungryce");
        expect(job.state).toBe("completed");
        const current = await readCurrentBundle(stack.ctx.store, "yungryce");
        expect(current!.bundle.repos.length).toBe(48);
        expect(current!.pointer.repo_count).toBe(48);
        if (backend !== "local") {
          expect(existsSync(NOWHERE)).toBe(false);
          expect(readdirSync(stack.storageDir)).toEqual([]);
        }
      } finally {
        await stack.stop();
      }
    }, 60_000);
  }
});

describe("atomic publish", () => {
  test("racing publishers: readers polling current.json only ever see a complete bundle; the newest wins", async () => {
    const az = await startAzurite();
    cleanups.push(() => az.dispose());
    const stack = await startStack({
      env: { STORAGE_BACKEND: "azure", AZURE_STORAGE_CONNECTION_STRING: az.connectionString, AZURE_CONTAINER: "race" },
    });
    try {
      await stack.startWorkers();
      expect((await stack.refresh("yungryce")).state).toBe("completed");
      const base = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
      const dec = new TextDecoder();
      let reads = 0;
      let stop = false;
      const problems: string[] = [];
      const reader = async () => {
        while (!stop) {
          const p = await stack.ctx.store.get(storageKeys.bundleCurrent("yungryce"));
          const pointer = BundlePointer.parse(JSON.parse(dec.decode(p!.data)));
          const b = await stack.ctx.store.get(pointer.key);
          const bundle = BundleSchema.parse(JSON.parse(dec.decode(b!.data)));
          if (bundle.fingerprint !== pointer.fingerprint || bundle.repos.length !== pointer.repo_count) {
            problems.push(pointer.key);
          }
          reads++;
        }
      };
      // 12 distinct bundles (different subsets), published by racing writers.
      const variants: Bundle[] = Array.from({ length: 12 }, (_, i) => ({
        ...base,
        fingerprint: (i + 1).toString(16).padStart(2, "0").repeat(20),
        generated_at: new Date(Date.now() + i * 1000).toISOString(),
        repos: base.repos.slice(0, 20 + i),
      }));
      const readers = [reader(), reader(), reader()];
      const results = await Promise.all(variants.map((v) => publishBundle(stack.ctx.store, v)));
      await new Promise((r) => setTimeout(r, 200));
      stop = true;
      await Promise.all(readers);
      expect(problems).toEqual([]);
      expect(reads).toBeGreaterThan(10);
      expect(results.some((r) => r.published)).toBe(true);
      const final = (await readCurrentBundle(stack.ctx.store, "yungryce"))!;
      expect(final.pointer.fingerprint).toBe(variants[11].fingerprint);
      expect(final.bundle.repos.length).toBe(31);
    } finally {
      await stack.stop();
    }
  }, 60_000);

  test(
    "Azurite stopped mid-refresh and restarted: the job completes or fails with a reason; never a partial current bundle",
    async () => {
      const az = await startAzurite({ persistent: true });
      cleanups.push(() => az.dispose());
      const stack = await startStack({
        fixture: { latencyMs: 80 },
        env: {
          STORAGE_BACKEND: "azure",
          AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
          AZURE_CONTAINER: "outage",
          SYNC_CONCURRENCY: "4",
        },
      });
      try {
        await stack.startWorkers();
        const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
        for (;;) {
          const j = await stack.jobs.get(job.job_id);
          if ((j?.progress.completed ?? 0) >= 3) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        await az.stop();
        await new Promise((r) => setTimeout(r, 1500));
        await az.start();
        const done = await stack.waitFor(job.job_id, ["completed", "failed"], 90_000);
        if (done.state === "failed") expect(done.error ?? "").not.toBe("");
        const current = await readCurrentBundle(stack.ctx.store, "yungryce");
        if (done.state === "completed") {
          expect(done.progress.completed + done.progress.failed).toBe(48);
          expect(current!.bundle.repos.length).toBe(done.progress.completed);
        }
        if (current) {
          expect(current.bundle.fingerprint).toBe(current.pointer.fingerprint);
          expect(current.bundle.repos.length).toBe(current.pointer.repo_count);
        }
      } finally {
        await stack.stop();
      }
    },
    120_000,
  );
});

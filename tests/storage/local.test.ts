import { afterAll, describe, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { runStorageConformance } from "./common.case.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runStorageConformance("local", async (opts) => {
  const dir = mkdtempSync(join(tmpdir(), "foliosync-local-"));
  dirs.push(dir);
  const store = await LocalStore.open(dir, opts);
  return { store, cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) };
}, { describe, test });

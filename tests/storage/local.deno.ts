// Deno runs the same conformance suite against the local backend: the gateway
// runs in Deno and reads storage through this adapter.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { denoHarness, runStorageConformance } from "./common.case.ts";

runStorageConformance("local (deno)", async (opts) => {
  const dir = mkdtempSync(join(tmpdir(), "foliosync-local-deno-"));
  const store = await LocalStore.open(dir, opts);
  return { store, cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) };
}, denoHarness());

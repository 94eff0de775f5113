import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AzureStore } from "../../shared/storage/azure/azure-store.ts";
import { type AzuriteServer, startAzurite } from "../support/azurite.ts";
import { runStorageConformance } from "./common.case.ts";

let azurite: AzuriteServer;
let n = 0;
beforeAll(async () => {
  azurite = await startAzurite();
}, 30_000);
afterAll(async () => {
  await azurite?.dispose();
});

const fast = { retries: 4, baseMs: 5, maxMs: 20 };
async function freshStore(opts: { pageSize?: number } = {}) {
  const container = `c${Date.now().toString(36)}-${++n}`;
  const store = await AzureStore.open({ connectionString: azurite.connectionString, container, retry: fast, ...opts });
  return { store, cleanup: async () => void (await store.container.deleteIfExists()) };
}

runStorageConformance("azure (azurite)", (o) => freshStore(o), { describe, test });

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

describe("azure adapter specifics", () => {
  const dec = new TextDecoder();

  test("createStore(azure) creates the container when missing", async () => {
    const { createStore } = await import("../../shared/storage/index.ts");
    const { loadConfig } = await import("../../shared/config.ts");
    const store = await createStore(loadConfig({
      STORAGE_BACKEND: "azure",
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      AZURE_CONTAINER: "created-by-create-store",
    }));
    expect(store.backend).toBe("azure");
    await store.ping();
    const { version } = await store.put("k.json", "{}", { ifAbsent: true });
    expect(version).toMatch(/^"?0x[0-9A-F]+"?$/i);
  });

  test(
    "an outage: calls fail while Azurite is down, a retried write rides out a short one, data survives a restart",
    async () => {
      const az = await startAzurite({ persistent: true });
      try {
        const store = await AzureStore.open({
          connectionString: az.connectionString,
          container: "outage",
          retry: { retries: 60, baseMs: 100, maxMs: 500 }, // rides out up to ~30 s of restart on a loaded machine
        });
        const quick = await AzureStore.open({
          connectionString: az.connectionString,
          container: "outage",
          retry: { retries: 1, baseMs: 5, maxMs: 10 },
        });
        const { version } = await store.put("a.json", '{"n":1}');
        await az.stop();
        expect(await quick.ping().catch((e) => e)).toBeInstanceOf(Error);
        expect(await quick.get("a.json").catch((e) => e)).toBeInstanceOf(Error);
        const pending = store.put("a.json", '{"n":2}', { ifVersion: version });
        await new Promise((r) => setTimeout(r, 300));
        await az.start();
        const v2 = await pending;
        expect(v2.version).not.toBe(version);
        const got = await quick.get("a.json");
        expect(dec.decode(got!.data)).toBe('{"n":2}');
        await az.restart();
        expect((await quick.get("a.json"))!.version).toBe(v2.version);
      } finally {
        await az.dispose();
      }
    },
    90_000,
  );
});

// The Azure adapter under Deno (the gateway runs in Deno), against Azurite.
import { AzureStore } from "../../shared/storage/azure/azure-store.ts";
import { type AzuriteServer, startAzurite } from "../support/azurite.ts";
import { denoHarness, runStorageConformance } from "./common.case.ts";

let azurite: AzuriteServer | undefined;
let n = 0;
runStorageConformance("azure (deno)", async (o) => {
  azurite ??= await startAzurite();
  const container = `deno-${Date.now().toString(36)}-${++n}`;
  const store = await AzureStore.open({
    connectionString: azurite.connectionString,
    container,
    retry: { baseMs: 5, maxMs: 20 },
    ...o,
  });
  return { store, cleanup: async () => void (await store.container.deleteIfExists()) };
}, denoHarness());

Deno.test({
  name: "azure (deno): stop azurite",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await azurite?.dispose();
  },
});

// The GCS adapter under Deno (the gateway runs in Deno), against the in-process test server.
import { GcsStore } from "../../shared/storage/gcs/gcs-store.ts";
import { type GcsTestServer, startGcsTestServer } from "../support/gcs-test-server.ts";
import { denoHarness, runStorageConformance } from "./common.case.ts";

let gcs: GcsTestServer | undefined;
let n = 0;
runStorageConformance("gcs (deno)", async (o) => {
  gcs ??= await startGcsTestServer();
  const bucket = `deno-${++n}`;
  gcs.createBucket(bucket);
  const store = await GcsStore.open({ bucket, apiEndpoint: gcs.url, retry: { baseMs: 5, maxMs: 20 }, ...o });
  return { store, cleanup: async () => {} };
}, denoHarness());

Deno.test({
  name: "gcs (deno): stop the test server",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await gcs?.stop();
  },
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PreconditionFailedError } from "../../shared/errors.ts";
import { GcsStore } from "../../shared/storage/gcs/gcs-store.ts";
import { type GcsTestServer, startGcsTestServer } from "../support/gcs-test-server.ts";
import { runStorageConformance } from "./common.case.ts";

let gcs: GcsTestServer;
let n = 0;
beforeAll(async () => {
  gcs = await startGcsTestServer();
});
afterAll(async () => {
  await gcs?.stop();
});

const fast = { retries: 4, baseMs: 5, maxMs: 20 };
async function freshStore(opts: { pageSize?: number; resumableThreshold?: number } = {}) {
  const bucket = `bucket-${++n}`;
  gcs.createBucket(bucket);
  const store = await GcsStore.open({ bucket, apiEndpoint: gcs.url, retry: fast, ...opts });
  return { store, cleanup: async () => {} };
}

runStorageConformance("gcs (multipart uploads)", (o) => freshStore(o), { describe, test });
// resumableThreshold 0: every upload takes the resumable path (POST session, PUT bytes)
runStorageConformance("gcs (resumable uploads)", (o) => freshStore({ ...o, resumableThreshold: 0 }), { describe, test });

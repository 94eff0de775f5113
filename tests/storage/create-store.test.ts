import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "../../shared/config.ts";
import { ConfigError } from "../../shared/errors.ts";
import { createStore } from "../../shared/storage/index.ts";
import { startGcsTestServer } from "../support/gcs-test-server.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const base = loadConfig({});

async function configError(cfg: Partial<Config>): Promise<string> {
  const err = await createStore({ ...base, ...cfg } as Config).then(() => null, (e) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return String(err.message);
}

describe("createStore", () => {
  test("local by default, in STORAGE_DIR", async () => {
    const dir = mkdtempSync(join(tmpdir(), "foliosync-cs-"));
    dirs.push(dir);
    const store = await createStore(loadConfig({ STORAGE_DIR: dir }));
    expect(store.backend).toBe("local");
    await store.ping();
    await store.put("a/b.json", "{}");
    expect(await store.list("a/")).toEqual(["a/b.json"]);
  });

  test("gcs needs GCS_BUCKET", async () => {
    expect(await configError({ STORAGE_BACKEND: "gcs", GCS_BUCKET: undefined })).toContain("GCS_BUCKET");
  });

  test("azure needs AZURE_STORAGE_CONNECTION_STRING and AZURE_CONTAINER", async () => {
    expect(await configError({ STORAGE_BACKEND: "azure", AZURE_CONTAINER: "c" })).toContain(
      "AZURE_STORAGE_CONNECTION_STRING",
    );
    expect(
      await configError({ STORAGE_BACKEND: "azure", AZURE_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true" }),
    )
      .toContain("AZURE_CONTAINER");
  });

  test("an unknown backend or an empty STORAGE_DIR names the variable", async () => {
    expect(await configError({ STORAGE_BACKEND: "s3" as never })).toContain("STORAGE_BACKEND");
    expect(await configError({ STORAGE_BACKEND: "local", STORAGE_DIR: "" })).toContain("STORAGE_DIR");
  });

  test("gcs with GCS_API_ENDPOINT talks to that server and nothing else", async () => {
    const gcs = await startGcsTestServer({ buckets: ["cfg-bucket"] });
    try {
      const store = await createStore(
        loadConfig({ STORAGE_BACKEND: "gcs", GCS_BUCKET: "cfg-bucket", GCS_API_ENDPOINT: gcs.url }),
      );
      expect(store.backend).toBe("gcs");
      await store.ping();
      await store.put("x.json", "{}");
      expect(await store.list("")).toEqual(["x.json"]);
      expect(gcs.requests.length).toBeGreaterThan(0);
    } finally {
      await gcs.stop();
    }
  });
});

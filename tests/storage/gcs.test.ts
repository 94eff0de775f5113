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
runStorageConformance("gcs (resumable uploads)", (o) => freshStore({ ...o, resumableThreshold: 0 }), {
  describe,
  test,
});

describe("gcs adapter specifics", () => {
  const dec = new TextDecoder();

  test("the resumable path sends ifGenerationMatch=0 on the session POST; a 412 there is normalised", async () => {
    const { store } = await freshStore({ resumableThreshold: 0 });
    const before = gcs.requests.length;
    await store.put("r/a.json", "{}", { ifAbsent: true });
    const err = await store.put("r/a.json", "{}", { ifAbsent: true }).catch((e) => e);
    expect(err).toBeInstanceOf(PreconditionFailedError);
    const sent = gcs.requests.slice(before);
    expect(
      sent.filter((r) =>
        r.startsWith("POST /upload/") && r.includes("uploadType=resumable") && r.includes("ifGenerationMatch=0")
      ),
    ).toHaveLength(2);
    expect(sent.filter((r) => r.startsWith("PUT /upload/"))).toHaveLength(1); // the loser never sent its bytes
  });

  test("the multipart path sends ifGenerationMatch=<generation>; a stale one is normalised and not retried", async () => {
    const { store } = await freshStore();
    const v1 = await store.put("m/a.json", "1");
    await store.put("m/a.json", "2", { ifVersion: v1.version });
    const before = gcs.requests.length;
    const err = await store.put("m/a.json", "3", { ifVersion: v1.version }).catch((e) => e);
    expect(err).toBeInstanceOf(PreconditionFailedError);
    const sent = gcs.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain("uploadType=multipart");
    expect(sent[0]).toContain(`ifGenerationMatch=${v1.version}`);
    // a version that cannot be a generation fails without a request
    expect(await store.put("m/a.json", "4", { ifVersion: '"0x8DB"' }).catch((e) => e)).toBeInstanceOf(
      PreconditionFailedError,
    );
  });

  test("list pages with maxResults + pageToken", async () => {
    const { store } = await freshStore({ pageSize: 10 });
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.put(`l/${String(i).padStart(2, "0")}`, "x")));
    const before = gcs.requests.length;
    const keys = await store.list("l/");
    expect(keys).toHaveLength(25);
    const sent = gcs.requests.slice(before);
    expect(sent).toHaveLength(3);
    expect(sent.every((r) => r.includes("maxResults=10"))).toBe(true);
    expect(sent.filter((r) => r.includes("pageToken="))).toHaveLength(2);
  });

  test("transient faults (503, 429, 500, socket reset) are retried until the call succeeds", async () => {
    const { store } = await freshStore();
    gcs.setFailNext(2, 503);
    const { version } = await store.put("t/a.json", '{"a":1}');
    gcs.setFailNext(1, 429);
    gcs.setFailNext(1, "reset");
    const got = await store.get("t/a.json");
    expect(got?.version).toBe(version);
    expect(dec.decode(got!.data)).toBe('{"a":1}');
    gcs.setFailNext(1, 500);
    expect(await store.list("t/")).toEqual(["t/a.json"]);
    gcs.setFailNext(1, 502);
    expect(await store.delete("t/a.json")).toBe(true);
    // a conditional create retried after a 503 still wins exactly once
    gcs.setFailNext(1, 503);
    await store.put("t/once.json", "{}", { ifAbsent: true });
    expect(await store.put("t/once.json", "{}", { ifAbsent: true }).catch((e) => e)).toBeInstanceOf(
      PreconditionFailedError,
    );
  });

  test("retries are bounded: a persistent 503 fails after retries+1 attempts", async () => {
    const { store } = await freshStore();
    const before = gcs.requests.length;
    gcs.setFailNext(50, 503);
    const err = await store.put("t/down.json", "{}").catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PreconditionFailedError);
    expect(gcs.requests.length - before).toBe(fast.retries + 1);
    gcs.clearFaults();
  });

  test("4xx answers other than 404/412 are not retried", async () => {
    const { store } = await freshStore();
    const before = gcs.requests.length;
    gcs.setFailNext(1, 403);
    const err = await store.put("t/forbidden.json", "{}").catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(gcs.requests.length - before).toBe(1);
  });

  test("ping fails for a bucket that does not exist", async () => {
    const store = await GcsStore.open({ bucket: "no-such-bucket", apiEndpoint: gcs.url, retry: fast });
    expect(await store.ping().catch((e) => e)).toBeInstanceOf(Error);
  });
});

describe("gcs test server speaks the JSON API like the service", () => {
  const api = (path: string, init?: RequestInit) => fetch(`${gcs.url}${path}`, init);
  const upload = (bucket: string, name: string, body: string, query = "") =>
    api(`/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(name)}${query}`, {
      method: "POST",
      body,
    });

  test("crc32c and md5Hash are GCS's base64 big-endian values", async () => {
    const { crc32c, crc32cBase64 } = await import("../support/gcs-test-server.ts");
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283); // the CRC-32C check value
    expect(crc32cBase64(new Uint8Array(0))).toBe("AAAAAA==");
    gcs.createBucket("srv");
    const obj = await (await upload("srv", "h.txt", "hello")).json();
    expect(obj.crc32c).toBe(crc32cBase64(new TextEncoder().encode("hello")));
    expect(obj.md5Hash).toBe("XUFAKrxLKna5cZ2REBfFkg==");
    expect(obj.size).toBe("5");
  });

  test("preconditions: ifGenerationMatch (0 = absent), ifGenerationNotMatch (304 on GET), ifMetagenerationMatch", async () => {
    gcs.createBucket("pre");
    const first = await upload("pre", "a/b c.txt", "1", "&ifGenerationMatch=0");
    expect(first.status).toBe(200);
    const { generation } = await first.json();
    const again = await upload("pre", "a/b c.txt", "2", "&ifGenerationMatch=0");
    expect(again.status).toBe(412);
    const body = await again.json();
    expect(body.error.code).toBe(412);
    expect(body.error.errors[0].reason).toBe("conditionNotMet");
    expect((await upload("pre", "a/b c.txt", "2", "&ifGenerationMatch=1")).status).toBe(412);
    expect((await upload("pre", "missing.txt", "2", "&ifGenerationMatch=123")).status).toBe(412);
    expect((await upload("pre", "a/b c.txt", "2", `&ifMetagenerationMatch=2`)).status).toBe(412);
    const path = `/storage/v1/b/pre/o/${encodeURIComponent("a/b c.txt")}`;
    expect((await api(`${path}?ifGenerationNotMatch=${generation}`)).status).toBe(304);
    expect((await api(`${path}?ifGenerationMatch=${generation}&alt=media`)).status).toBe(200);
    const del = await api(`${path}?ifGenerationMatch=1`, { method: "DELETE" });
    expect(del.status).toBe(412);
    const ok = await upload("pre", "a/b c.txt", "3", `&ifGenerationMatch=${generation}&ifMetagenerationMatch=1`);
    expect(ok.status).toBe(200);
    expect(BigInt((await ok.json()).generation) > BigInt(generation)).toBe(true);
    const media = await api(`${path}?alt=media`);
    expect(await media.text()).toBe("3");
    expect(media.headers.get("x-goog-hash")).toContain("crc32c=");
  });

  test("404s use GCS's error shape, for objects and buckets", async () => {
    gcs.createBucket("nf");
    const o = await api("/storage/v1/b/nf/o/nope");
    expect(o.status).toBe(404);
    expect((await o.json()).error.errors[0].reason).toBe("notFound");
    expect((await api("/storage/v1/b/no-bucket-here/o")).status).toBe(404);
    expect((await api("/storage/v1/b/no-bucket-here")).status).toBe(404);
  });

  test("list: prefix, delimiter, maxResults, pageToken", async () => {
    gcs.createBucket("ls");
    for (const n of ["a/1", "a/2", "a/3", "a/x/1", "a/x/2", "a/y/1", "b/1"]) await upload("ls", n, "x");
    const names: string[] = [];
    const prefixes: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const r =
        await (await api(`/storage/v1/b/ls/o?prefix=a/&delimiter=/&maxResults=2${token ? `&pageToken=${token}` : ""}`))
          .json();
      names.push(...(r.items ?? []).map((i: { name: string }) => i.name));
      prefixes.push(...(r.prefixes ?? []));
      token = r.nextPageToken ?? "";
      pages++;
    } while (token);
    expect(names).toEqual(["a/1", "a/2", "a/3"]);
    expect(prefixes).toEqual(["a/x/", "a/y/"]);
    expect(pages).toBe(3);
  });
});

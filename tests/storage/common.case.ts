/**
 * The storage conformance suite, written once and run against every backend
 * (Hono's common.case.test.ts pattern). It imports no test runner: the caller
 * passes describe/test (bun:test directly, or the Deno adapter below), and
 * assertions use node:assert, which both runtimes have.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { InvalidNameError, PreconditionFailedError } from "../../shared/errors.ts";
import { getJson, putJson, StoredJsonError } from "../../shared/storage/json.ts";
import type { BlobStore } from "../../shared/storage/types.ts";

export interface Harness {
  describe(name: string, fn: () => void): void;
  test(name: string, fn: () => Promise<void>, timeoutMs?: number): void;
}

export interface StoreUnderTest {
  store: BlobStore;
  cleanup(): Promise<void>;
}

/** Makes a fresh, empty store (its own dir / bucket / container). */
export type MakeStore = (opts: { pageSize?: number }) => Promise<StoreUnderTest>;

export interface ConformanceOptions {
  /** Keys written for the paging test (default 25, listed with pageSize 10). */
  listKeys?: number;
  pageSize?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => Error, what: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.ok(
      err instanceof cls,
      `${what}: expected ${cls.name}, got ${(err as Error)?.name}: ${(err as Error)?.message}`,
    );
    return;
  }
  assert.fail(`${what}: expected ${cls.name}, but it resolved`);
}

export function runStorageConformance(
  name: string,
  makeStore: MakeStore,
  h: Harness,
  opts: ConformanceOptions = {},
): void {
  const listKeys = opts.listKeys ?? 25;
  const pageSize = opts.pageSize ?? 10;

  const withStore = (
    title: string,
    fn: (s: BlobStore) => Promise<void>,
    storeOpts: { pageSize?: number } = {},
    timeoutMs = 30_000,
  ) =>
    h.test(title, async () => {
      const { store, cleanup } = await makeStore(storeOpts);
      try {
        await fn(store);
      } finally {
        await cleanup();
      }
    }, timeoutMs);

  h.describe(`storage conformance: ${name}`, () => {
    withStore("missing key: get → null, delete → false; ping works", async (s) => {
      await s.ping();
      assert.equal(await s.get("nothing/here.json"), null);
      assert.equal(await s.delete("nothing/here.json"), false);
      assert.deepEqual(await s.list("nothing/"), []);
    });

    withStore("binary round trip: all 256 byte values, octet-stream by default", async (s) => {
      const data = new Uint8Array(512);
      for (let i = 0; i < 512; i++) data[i] = (i * 7 + 3) % 256;
      for (let i = 0; i < 256; i++) data[i] = i;
      const { version } = await s.put("bin/all-bytes.bin", data);
      assert.equal(typeof version, "string");
      assert.ok(version.length > 0);
      const got = await s.get("bin/all-bytes.bin");
      assert.ok(got);
      assert.deepEqual(Array.from(got.data), Array.from(data));
      assert.ok(got.data instanceof Uint8Array);
      assert.equal(got.version, version);
      assert.equal(got.contentType, "application/octet-stream");
    });

    withStore("UTF-8 round trip (emoji, CJK, combining marks); .json → application/json", async (s) => {
      const text = JSON.stringify({ s: "héllo wörld — 🚀👩🏽‍💻 你好，世界 日本語 한국어 e\u0301 \u0000 end" });
      const { version } = await s.put("text/unicode.json", text);
      const got = await s.get("text/unicode.json");
      assert.ok(got);
      assert.equal(dec.decode(got.data), text);
      assert.deepEqual(Array.from(got.data), Array.from(enc.encode(text)));
      assert.equal(got.version, version);
      assert.equal(got.contentType, "application/json");
    });

    withStore("empty object and explicit content type", async (s) => {
      await s.put("misc/empty.bin", new Uint8Array(0));
      const empty = await s.get("misc/empty.bin");
      assert.ok(empty);
      assert.equal(empty.data.byteLength, 0);
      await s.put("misc/page.html", "<p>hi</p>", { contentType: "text/html; charset=utf-8" });
      const html = await s.get("misc/page.html");
      assert.equal(html?.contentType, "text/html; charset=utf-8");
      assert.equal(dec.decode(html!.data), "<p>hi</p>");
    });

    withStore("a larger object (1 MiB + 3 bytes) round trips", async (s) => {
      const data = new Uint8Array(1024 * 1024 + 3);
      let x = 12345;
      for (let i = 0; i < data.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        data[i] = x >>> 24;
      }
      await s.put("big/blob.bin", data);
      const got = await s.get("big/blob.bin");
      assert.ok(got);
      assert.equal(got.data.byteLength, data.byteLength);
      assert.ok(Buffer.from(got.data).equals(Buffer.from(data)), "content differs");
    });

    withStore("create-only: the second create fails with PreconditionFailedError and changes nothing", async (s) => {
      const first = await s.put("c/once.json", '{"n":1}', { ifAbsent: true });
      await rejectsWith(s.put("c/once.json", '{"n":2}', { ifAbsent: true }), PreconditionFailedError, "second create");
      const got = await s.get("c/once.json");
      assert.equal(dec.decode(got!.data), '{"n":1}');
      assert.equal(got!.version, first.version);
    });

    withStore(
      "match-version: success with the current version, conflict with a stale one or a missing key",
      async (s) => {
        const v1 = await s.put("m/doc.json", '{"v":1}');
        const v2 = await s.put("m/doc.json", '{"v":2}', { ifVersion: v1.version });
        assert.notEqual(v2.version, v1.version);
        await rejectsWith(
          s.put("m/doc.json", '{"v":3}', { ifVersion: v1.version }),
          PreconditionFailedError,
          "stale version",
        );
        assert.equal(dec.decode((await s.get("m/doc.json"))!.data), '{"v":2}');
        await rejectsWith(
          s.put("m/missing.json", "{}", { ifVersion: v1.version }),
          PreconditionFailedError,
          "missing key",
        );
        assert.equal(await s.get("m/missing.json"), null);
        const v3 = await s.put("m/doc.json", '{"v":3}', { ifVersion: v2.version });
        assert.equal((await s.get("m/doc.json"))!.version, v3.version);
      },
    );

    withStore("the version changes on every write, even with identical content", async (s) => {
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const { version } = await s.put("v/same.bin", "same bytes");
        assert.ok(!seen.has(version), `version ${version} repeated`);
        seen.add(version);
        assert.equal((await s.get("v/same.bin"))!.version, version);
      }
    });

    withStore(
      `list by prefix pages through ${listKeys} keys (page size ${pageSize}) and isolates prefixes`,
      async (s) => {
        const expected: string[] = [];
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < listKeys; i++) {
          const k = `p/a/item-${String(i).padStart(4, "0")}.json`;
          expected.push(k);
          writes.push(s.put(k, `{"i":${i}}`));
        }
        expected.push("p/a/deep/er/x.json");
        writes.push(s.put("p/a/deep/er/x.json", "{}"));
        writes.push(
          s.put("p/ab.json", "{}"),
          s.put("p/abc/y.json", "{}"),
          s.put("p/b/z.json", "{}"),
          s.put("q/a/w.json", "{}"),
        );
        await Promise.all(writes);
        expected.sort();
        assert.deepEqual(await s.list("p/a/"), expected);
        assert.deepEqual(await s.list("p/ab"), ["p/ab.json", "p/abc/y.json"]);
        assert.deepEqual(await s.list("p/b/"), ["p/b/z.json"]);
        assert.deepEqual(await s.list("p/c"), []);
        const all = await s.list("");
        assert.equal(all.length, listKeys + 5);
        assert.deepEqual(all, [...all].sort());
        assert.deepEqual(await s.list("p/a/item-000"), expected.filter((k) => k.startsWith("p/a/item-000")));
      },
      { pageSize },
      60_000,
    );

    withStore("delete removes the key from get and list; a create-only write works again after it", async (s) => {
      await s.put("d/x.json", "{}");
      await s.put("d/y.json", "{}");
      assert.equal(await s.delete("d/x.json"), true);
      assert.equal(await s.get("d/x.json"), null);
      assert.deepEqual(await s.list("d/"), ["d/y.json"]);
      assert.equal(await s.delete("d/x.json"), false);
      await s.put("d/x.json", '{"again":true}', { ifAbsent: true });
      assert.equal(dec.decode((await s.get("d/x.json"))!.data), '{"again":true}');
    });

    withStore("20 concurrent create-only writes of one key: exactly one wins", async (s) => {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.put("race/create.json", `{"writer":${i}}`, { ifAbsent: true })),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ i, version: r.value.version }] : []));
      assert.equal(won.length, 1, `winners: ${JSON.stringify(won)}`);
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(
            r.reason instanceof PreconditionFailedError,
            `loser failed with ${r.reason?.name}: ${r.reason?.message}`,
          );
        }
      }
      const got = await s.get("race/create.json");
      assert.equal(dec.decode(got!.data), `{"writer":${won[0].i}}`);
      assert.equal(got!.version, won[0].version);
    });

    withStore("20 concurrent match-version writes from the same version: exactly one wins", async (s) => {
      const { version } = await s.put("race/update.json", '{"writer":-1}');
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.put("race/update.json", `{"writer":${i}}`, { ifVersion: version })),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ i, version: r.value.version }] : []));
      assert.equal(won.length, 1, `winners: ${JSON.stringify(won)}`);
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof PreconditionFailedError, String(r.reason));
      }
      const got = await s.get("race/update.json");
      assert.equal(dec.decode(got!.data), `{"writer":${won[0].i}}`);
      assert.equal(got!.version, won[0].version);
    });

    withStore("keys with spaces, Unicode and leading dots round trip and list", async (s) => {
      const keys = [
        "repos/octo-cat/.github.json",
        "repos/octo-cat/my repo with spaces.json",
        "repos/octo-cat/ünïcødé-🚀.json",
        "repos/octo-cat/项目_名.json",
        "repos/octo-cat/a+b=c&d%20e#f?g.json",
      ];
      for (const [i, k] of keys.entries()) await s.put(k, `{"i":${i}}`);
      for (const [i, k] of keys.entries()) assert.equal(dec.decode((await s.get(k))!.data), `{"i":${i}}`, k);
      assert.deepEqual(await s.list("repos/octo-cat/"), [...keys].sort());
      assert.equal(await s.delete(keys[3]), true);
      assert.equal(await s.get(keys[3]), null);
    });

    withStore("invalid keys are rejected with InvalidNameError", async (s) => {
      for (
        const k of [
          "",
          "/etc/passwd",
          "a//b",
          "a/../b",
          "..",
          "../x",
          "a/..",
          "./a",
          "a/.",
          "a\\b",
          "a/",
          "a/.~tmp",
          "a\u0000b",
        ]
      ) {
        await rejectsWith(s.put(k, "x"), InvalidNameError, `put ${JSON.stringify(k)}`);
        await rejectsWith(s.get(k), InvalidNameError, `get ${JSON.stringify(k)}`);
        await rejectsWith(s.delete(k), InvalidNameError, `delete ${JSON.stringify(k)}`);
      }
      await rejectsWith(s.list("../"), InvalidNameError, "list ../");
      await rejectsWith(s.list("/abs"), InvalidNameError, "list /abs");
    });

    withStore("getJson/putJson: round trip, schema validation, preconditions", async (s) => {
      const Schema = z.object({ name: z.string(), n: z.number() });
      assert.equal(await getJson(s, "j/none.json", Schema), null);
      const { version } = await putJson(s, "j/a.json", { name: "ä🚀", n: 1 }, { ifAbsent: true });
      const got = await getJson(s, "j/a.json", Schema);
      assert.deepEqual(got, { value: { name: "ä🚀", n: 1 }, version });
      assert.equal((await s.get("j/a.json"))!.contentType, "application/json");
      await rejectsWith(
        putJson(s, "j/a.json", { name: "x", n: 2 }, { ifAbsent: true }),
        PreconditionFailedError,
        "putJson ifAbsent",
      );
      await putJson(s, "j/a.json", { name: "x", n: 2 }, { ifVersion: version });
      await rejectsWith(getJson(s, "j/a.json", z.object({ name: z.number() })), StoredJsonError, "schema mismatch");
      await s.put("j/bad.json", "{not json");
      await rejectsWith(getJson(s, "j/bad.json"), StoredJsonError, "bad json");
    });
  });
}

/** The Deno adapter: describe() prefixes names, test() registers a Deno.test. */
export function denoHarness(): Harness {
  const stack: string[] = [];
  // deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
  const Deno = (globalThis as any).Deno;
  return {
    describe(name, fn) {
      stack.push(name);
      try {
        fn();
      } finally {
        stack.pop();
      }
    },
    test(name, fn) {
      Deno.test({ name: [...stack, name].join(" > "), fn, sanitizeOps: false, sanitizeResources: false });
    },
  };
}

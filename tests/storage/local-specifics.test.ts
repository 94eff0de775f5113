import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PreconditionFailedError } from "../../shared/errors.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { bunBin, repoRoot } from "../support/paths.ts";
import { startProcess } from "../support/process.ts";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "foliosync-local-x-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const dec = new TextDecoder();

// One racing writer: create-only on KEYS keys, then INCS compare-and-swap increments of one counter.
const CHILD = `
const { LocalStore } = await import(${JSON.stringify(join(repoRoot, "shared/storage/local/local-store.ts"))});
const { PreconditionFailedError } = await import(${JSON.stringify(join(repoRoot, "shared/errors.ts"))});
const store = await LocalStore.open(process.env.DIR);
const id = process.env.ID;
while (Date.now() < Number(process.env.START_AT)) await new Promise((r) => setTimeout(r, 2));
const wins = [];
for (let k = 0; k < Number(process.env.KEYS); k++) {
  try { await store.put("race/k" + k + ".json", id, { ifAbsent: true }); wins.push(k); }
  catch (e) { if (!(e instanceof PreconditionFailedError)) throw e; }
}
let conflicts = 0;
for (let i = 0; i < Number(process.env.INCS); i++) {
  for (;;) {
    const cur = await store.get("counter.json");
    const n = cur ? Number(new TextDecoder().decode(cur.data)) : 0;
    try {
      await store.put("counter.json", String(n + 1), cur ? { ifVersion: cur.version } : { ifAbsent: true });
      break;
    } catch (e) { if (!(e instanceof PreconditionFailedError)) throw e; conflicts++; }
  }
}
console.log("RESULT " + JSON.stringify({ id, wins, conflicts }));
`;

describe("local backend specifics", () => {
  test("writers in separate processes: exactly one create-only win per key, no lost CAS increment", async () => {
    const dir = tmp();
    const N = 4, KEYS = 10, INCS = 15;
    const startAt = Date.now() + 1500;
    const procs = Array.from({ length: N }, (_, i) =>
      startProcess(bunBin, ["-e", CHILD], {
        env: {
          ...process.env,
          DIR: dir,
          ID: `w${i}`,
          START_AT: String(startAt),
          KEYS: String(KEYS),
          INCS: String(INCS),
        },
      }));
    const codes = await Promise.all(procs.map((p) => p.exited));
    const results = procs.map((p, i) => {
      expect({ i, code: codes[i], out: codes[i] === 0 ? "" : p.output() }).toEqual({ i, code: 0, out: "" });
      return JSON.parse(p.output().match(/RESULT (.*)/)![1]) as { id: string; wins: number[]; conflicts: number };
    });
    const store = await LocalStore.open(dir);
    for (let k = 0; k < KEYS; k++) {
      const winners = results.filter((r) => r.wins.includes(k));
      expect(winners).toHaveLength(1);
      expect(dec.decode((await store.get(`race/k${k}.json`))!.data)).toBe(winners[0].id);
    }
    expect(dec.decode((await store.get("counter.json"))!.data)).toBe(String(N * INCS));
    // no temp or lock file left behind, none listed
    expect(readdirSync(join(dir, "race")).filter((f) => f.startsWith(".~"))).toEqual([]);
    expect((await store.list("")).length).toBe(KEYS + 1);
  }, 30_000);

  test("a lock left by a dead process is broken at once; an abandoned one after staleLockMs; a live one holds", async () => {
    const dir = tmp();
    const os = await import("node:os");
    // staleLockMs far away: the dead owner alone lets the write through (else it would time out and throw).
    const patient = await LocalStore.open(dir, { staleLockMs: 3_600_000, lockTimeoutMs: 5000 });
    await patient.put("a/k.json", "1");
    const lock = join(dir, "a", ".~k.json.lock");
    writeFileSync(lock, `${os.hostname()} 999999999 dead`); // an owner pid that cannot exist on this host
    await patient.put("a/k.json", "2");
    expect(existsSync(lock)).toBe(false);
    // A lock from another host (pid unknowable) holds while it is younger than staleLockMs…
    writeFileSync(lock, "some-other-host 1 x");
    const hurried = await LocalStore.open(dir, { staleLockMs: 3_600_000, lockTimeoutMs: 200 });
    await expect(hurried.put("a/k.json", "x")).rejects.toThrow(/timed out after 200 ms waiting for/);
    expect(existsSync(lock)).toBe(true);
    // …and is broken once it is older.
    const old = new Date(Date.now() - 10_000);
    utimesSync(lock, old, old);
    const store = await LocalStore.open(dir, { staleLockMs: 5_000, lockTimeoutMs: 60_000 });
    await store.put("a/k.json", "3");
    expect(existsSync(lock)).toBe(false);
    expect(dec.decode((await store.get("a/k.json"))!.data)).toBe("3");
  });

  test("a live lock makes writers wait, and they time out with an error (not a precondition failure)", async () => {
    const dir = tmp();
    const store = await LocalStore.open(dir, { staleLockMs: 60_000, lockTimeoutMs: 300 });
    await store.put("b.json", "1");
    writeFileSync(join(dir, ".~b.json.lock"), `${(await import("node:os")).hostname()} ${process.pid} held`);
    const err = await store.put("b.json", "2").catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PreconditionFailedError);
    expect(String(err.message)).toContain("timed out");
    rmSync(join(dir, ".~b.json.lock"));
    await store.put("b.json", "2");
  });

  test("writes are atomic renames: a reader never sees a partial object", async () => {
    const dir = tmp();
    const store = await LocalStore.open(dir);
    const big = (c: number) => new Uint8Array(64 * 1024).fill(c);
    await store.put("x.bin", big(1));
    let stop = false;
    const reader = (async () => {
      let reads = 0;
      while (!stop) {
        const got = await store.get("x.bin");
        expect(got!.data.byteLength).toBe(64 * 1024);
        expect(got!.data.every((b) => b === got!.data[0])).toBe(true);
        reads++;
      }
      return reads;
    })();
    for (let i = 2; i < 14; i++) await store.put("x.bin", big(i));
    stop = true;
    expect(await reader).toBeGreaterThan(0);
  });

  test("a file put there by hand reads as raw bytes with a content-hash version, and can be CAS-updated", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "hand.json"), '{"by":"hand"}');
    const store = await LocalStore.open(dir);
    const got = await store.get("hand.json");
    expect(dec.decode(got!.data)).toBe('{"by":"hand"}');
    expect(got!.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(got!.contentType).toBe("application/json");
    await store.put("hand.json", "{}", { ifVersion: got!.version });
    expect(readFileSync(join(dir, "hand.json"), "utf8")).toStartWith("FOLIOSYNC-BLOB/1 ");
    expect(await store.list("")).toEqual(["hand.json"]);
  });

  test("keys stay inside STORAGE_DIR", async () => {
    const dir = tmp();
    const store = await LocalStore.open(join(dir, "inner"));
    for (const k of ["../outside.json", "a/../../outside.json", "/tmp/x", "a\\..\\b"]) {
      expect(await store.put(k, "x").catch((e) => e.name)).toBe("InvalidNameError");
    }
    expect(readdirSync(dir)).toEqual(["inner"]);
  });
});

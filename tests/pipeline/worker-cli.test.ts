import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { bunBin, repoRoot } from "../support/paths.ts";

const worker = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(bunBin, [join(repoRoot, "workers", "main.ts"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 20_000,
  });

test("bun run worker rejects an unknown role with a clear message", () => {
  const r = worker(["--role", "juggle"]);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('unknown role "juggle"');
});

test("bun run worker names a bad environment variable", () => {
  const r = worker(["--role", "sync"], { STORAGE_BACKEND: "floppy" });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain("STORAGE_BACKEND");
});

/**
 * Every script reads its command line one way (scripts/lib/cli-args.ts: node:util's strict parseArgs; the
 * operator's CLI: commander): `--help` prints the usage on stdout and exits 0, an unknown flag exits 2 with
 * a message naming it. Each script runs for real, in the runtime package.json gives it.
 */
import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { bunBin, denoBin, repoRoot } from "../support/paths.ts";

type Runtime = "bun" | "deno" | "node";

/** The scripts one runs, by the runtime that runs them. */
const ENTRY: Record<string, Runtime> = {
  "scripts/bench/ai.ts": "deno",
  "scripts/bench/floor-server.ts": "deno",
  "scripts/bench/gateway.ts": "bun",
  "scripts/bench/load.ts": "bun",
  "scripts/bench/refresh.ts": "bun",
  "scripts/bench/storage.ts": "bun",
  "scripts/bench/train.ts": "deno",
  "scripts/check.mjs": "node",
  "scripts/cli/main.ts": "bun",
  "scripts/demo.ts": "bun",
  "scripts/eval-ranking.ts": "deno",
  "scripts/github-fixture-server.ts": "bun",
  "scripts/keys.ts": "bun",
  "scripts/setup.mjs": "node",
  "scripts/stack.ts": "bun",
  "scripts/tune-fusion.ts": "deno",
  "workers/main.ts": "bun",
};

/**
 * Files under scripts/ that are modules, not commands. scripts/run-tests.mjs hands its arguments to the test
 * runners (only its --help is its own).
 */
const NOT_CHECKED = new Set([
  "scripts/bench/cpu-profile.ts",
  "scripts/bench/http-load.ts",
  "scripts/cli/api.ts",
  "scripts/cli/exit-codes.ts",
  "scripts/cli/foliosync.mjs",
  "scripts/cli/ops.ts",
  "scripts/cli/render.ts",
  "scripts/fixture-graphql/index.ts",
  "scripts/fixtures/generated-users.ts",
  "scripts/lib/cli-args.ts",
  "scripts/lib/embedded-stack.ts",
  "scripts/lib/free-port.ts",
  "scripts/lib/process.ts",
  "scripts/lib/redis-server.ts",
  "scripts/lib/sse.ts",
  "scripts/run-tests.mjs",
]);

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const rt = ENTRY[file];
  const [cmd, pre] = rt === "deno" ? [denoBin, ["run", "-A"]] : rt === "node" ? [process.execPath, []] : [bunBin, []];
  return new Promise((resolve) => {
    const child = spawn(cmd, [...pre, join(repoRoot, file), ...args], {
      cwd: repoRoot,
      // Nothing a script reads may reach a real service if the flag check let it start.
      env: { ...process.env, REDIS_URL: "redis://127.0.0.1:1", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)));
}

test("every file under scripts/ is either a command checked here or a module", () => {
  const unlisted = filesUnder("scripts").filter((f) => !(f in ENTRY) && !NOT_CHECKED.has(f));
  expect(unlisted).toEqual([]);
});

for (const f of Object.keys(ENTRY)) {
  test(`${f}: --help prints the usage and exits 0; an unknown flag exits 2 naming it`, async () => {
    const help = await run(f, ["--help"]);
    expect({ code: help.code, usage: /^usage/i.test(help.stdout.trim()) }).toEqual({ code: 0, usage: true });
    const bad = await run(f, ["--no-such-flag"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown option '--no-such-flag'/i);
  }, 120_000);
}

#!/usr/bin/env node
// Runs every test: the static checks (scripts/check.mjs: type-check of both
// runtimes, lint, format; each one counts as a test), `bun test`, then
// `deno test`, shows their output as it comes, and ends with one line of its
// own: `N passed, N failed, N skipped` (the sum of all three). Exits non-zero
// when anything failed. Arguments (test file filters) skip the static checks.
import { spawn } from "node:child_process";
import { report, runChecks } from "./check.mjs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (n) => join(root, "node_modules", ".bin", n);
// Every argument goes to `bun test` and `deno test` as they are (file filters, their own flags); only
// --help is this script's.
const extra = process.argv.slice(2);
if (extra.length === 1 && (extra[0] === "--help" || extra[0] === "-h")) {
  console.log("usage: node scripts/run-tests.mjs [test file filter…]   (with filters: no static checks)");
  process.exit(0);
}
const env = {
  ...process.env,
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || "/tmp/foliosync-xdg",
};
// deno-lint-ignore no-control-regex -- ANSI colour codes are what is stripped
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

function runner(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const onData = (stream) => (d) => {
      out += d.toString();
      stream.write(d);
    };
    child.stdout.on("data", onData(process.stdout));
    child.stderr.on("data", onData(process.stderr));
    child.on("close", (code) => resolve({ code: code ?? 1, out: strip(out) }));
    child.on("error", (err) => resolve({ code: 1, out: String(err) }));
  });
}

const last = (out, re) => {
  const all = [...out.matchAll(re)];
  return all.length ? Number(all[all.length - 1][1]) : 0;
};

import { mkdirSync } from "node:fs";
mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });

const checks = extra.length ? [] : await runChecks();
report(checks);
const c = { passed: checks.filter((r) => r.ok).length, failed: checks.filter((r) => !r.ok).length };

// The per-test limit is given here too: bunfig.toml's [test] timeout is not applied by every bun version.
const bun = await runner(bin("bun"), ["test", "--timeout", "120000", ...extra]);
const b = {
  passed: last(bun.out, /^\s*(\d+) pass$/gm),
  failed: last(bun.out, /^\s*(\d+) fail$/gm),
  skipped: last(bun.out, /^\s*(\d+) skip$/gm) + last(bun.out, /^\s*(\d+) todo$/gm),
};
// A runner that crashed before reporting still counts as a failure.
if (bun.code !== 0 && b.failed === 0) b.failed = 1;

const deno = await runner(bin("deno"), ["test", "-A", "--no-check", ...extra]);
const summary = deno.out.match(
  /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored)?/g,
);
const d = { passed: 0, failed: 0, skipped: 0 };
if (summary) {
  const m = summary[summary.length - 1].match(/(\d+) passed.*?\| (\d+) failed(?:.*?\| (\d+) ignored)?/);
  d.passed = Number(m[1]);
  d.failed = Number(m[2]);
  d.skipped = Number(m[3] ?? 0);
}
if (deno.code !== 0 && d.failed === 0) d.failed = 1;

const passed = c.passed + b.passed + d.passed;
const failed = c.failed + b.failed + d.failed;
const skipped = b.skipped + d.skipped;
console.log(
  `\nchecks: ${c.passed} passed, ${c.failed} failed; bun: ${b.passed} passed, ${b.failed} failed; deno: ${d.passed} passed, ${d.failed} failed`,
);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || bun.code !== 0 || deno.code !== 0 ? 1 : 0);

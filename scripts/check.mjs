#!/usr/bin/env node
// Static checks of the tracked code, each one a pass or a fail:
//   deno-check  every Deno entry point (gateway, training worker, Deno scripts, *.deno.ts tests) with `deno check`
//   bun-tsc     every Bun entry point (workers, Bun scripts, *.test.ts tests) with `tsc --noEmit`, tsconfig.json's
//               options and Bun's types
//   deno-lint   `deno lint` (deno.json's rules, no-explicit-any included)
//   deno-fmt    `deno fmt --check` (code; Markdown is prose and keeps its authors' layout)
// `npm run check` prints each result and exits non-zero on any failure; `npm test` runs the same checks
// (scripts/run-tests.mjs imports runChecks) and counts each as one test in its closing line.
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (n) => join(root, "node_modules", ".bin", n);

/**
 * Scripts that run under Deno: those a package.json script starts with `deno run`, and those whose own
 * header says they are started with `deno run <their path>` (helpers the benchmarks start). Every other
 * script under scripts/ runs under Bun.
 */
function denoScripts(files) {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const out = new Set();
  for (const cmd of Object.values(pkg.scripts ?? {})) {
    for (const m of String(cmd).matchAll(/\bdeno run\b[^&|;]*?\s(scripts\/[\w./-]+\.ts)/g)) out.add(m[1]);
  }
  for (const f of files) {
    if (!f.startsWith("scripts/") || !f.endsWith(".ts") || !existsSync(join(root, f))) continue;
    const header = readFileSync(join(root, f), "utf8").slice(0, 2000);
    if (header.includes(`deno run -A ${f}`) || header.includes(`deno run ${f}`)) out.add(f);
  }
  return out;
}

function trackedTs() {
  // Tracked and new (untracked, not ignored) files: a check before `git add` sees the same files as CI.
  const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.ts"], {
    cwd: root,
    encoding: "utf8",
  });
  return [...new Set(out.split("\n").filter(Boolean))].sort();
}

/** The entry points of each runtime; each checker follows their imports (shared/ is checked under both). */
export function entryPoints(files = trackedTs()) {
  const DENO_SCRIPTS = denoScripts(files);
  const deno = [];
  const bun = [];
  for (const f of files) {
    if (f.startsWith("node_modules/")) continue;
    if (f === "gateway/main.ts" || f === "workers/train/main.ts" || DENO_SCRIPTS.has(f) || f.endsWith(".deno.ts")) {
      deno.push(f);
    } else if (
      f === "workers/main.ts" || (f.startsWith("scripts/") && !DENO_SCRIPTS.has(f)) ||
      (f.startsWith("tests/") && f.endsWith(".test.ts"))
    ) {
      bun.push(f);
    }
  }
  return { deno, bun };
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ ok: code === 0, out }));
    child.on("error", (err) => resolve({ ok: false, out: String(err) }));
  });
}

/** Runs every check (two at a time: the machine has two cores); resolves to [{name, ok, out}]. */
export async function runChecks() {
  const { deno, bun } = entryPoints();
  const checks = [
    ["deno-check", () => run(bin("deno"), ["check", "--quiet", ...deno])],
    ["bun-tsc", () => run(bin("tsc"), ["--noEmit", "-p", bunTsconfig(bun)])],
    ["deno-lint", () => run(bin("deno"), ["lint", "--quiet"])],
    ["deno-fmt", () => run(bin("deno"), ["fmt", "--check", "--quiet"])],
  ];
  const results = [];
  for (let i = 0; i < checks.length; i += 2) {
    const pair = checks.slice(i, i + 2);
    const done = await Promise.all(pair.map(([, f]) => f()));
    pair.forEach(([name], j) => results.push({ name, ...done[j] }));
  }
  return results;
}

/**
 * A tsconfig for exactly the Bun entry points: tsconfig.json's compiler options (Bun's types), the
 * file list from entryPoints, so what runs under Bun and what tsc checks cannot drift apart.
 */
function bunTsconfig(files) {
  const dir = join(root, ".tmp");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "tsconfig.bun.json");
  const config = { extends: "../tsconfig.json", include: [], exclude: [], files: files.map((f) => `../${f}`) };
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

export function report(results, write = (s) => process.stdout.write(s)) {
  for (const r of results) {
    if (!r.ok) write(`\n--- ${r.name} failed ---\n${r.out.trim()}\n`);
  }
  for (const r of results) write(`check ${r.name}: ${r.ok ? "ok" : "FAILED"}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const USAGE = "usage: node scripts/check.mjs   (no arguments: every check, each reported)";
  let help = false;
  try {
    help = parseArgs({ options: { help: { type: "boolean", short: "h" } }, strict: true }).values.help === true;
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (help) {
    console.log(USAGE);
    process.exit(0);
  }
  const results = await runChecks();
  report(results);
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

#!/usr/bin/env node
// Installs what `npm test` / `npm run demo` need, only when it is missing:
// npm packages (incl. the deno and bun runtimes), Debian's redis-server and,
// for WebGPU on CPU, mesa-vulkan-drivers + libvulkan1, and chromium for the
// status page's browser test. Plain Node, no deps.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Plain Node (no TypeScript), so node:util's parseArgs directly, as scripts/lib/cli-args.ts does for the rest.
const USAGE = "usage: node scripts/setup.mjs [--quiet]";
let flags;
try {
  flags =
    parseArgs({ options: { quiet: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true }).values;
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const quiet = flags.quiet === true;
const log = (m) => quiet || console.error(`[setup] ${m}`);
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"], ...opts });
  return r.status === 0;
}
function has(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}
function debInstalled(pkg) {
  return spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" }).stdout?.includes(
    "install ok installed",
  );
}

// 1. npm packages, incl. deno and bun: installed when missing or when
//    package.json / package-lock.json changed since the last install (stamp).
//    `npm install`, not `npm ci`: npm ci rejects a lock file that lacks the
//    other platforms' optional runtime packages.
const bin = (n) => join(root, "node_modules", ".bin", n);
const runtimeWorks = (n) => existsSync(bin(n)) && spawnSync(bin(n), ["--version"], { stdio: "ignore" }).status === 0;
const stampFile = join(root, "node_modules", ".foliosync-install-stamp");
const manifestHash = () =>
  createHash("sha256")
    .update(readFileSync(join(root, "package.json")))
    .update(existsSync(join(root, "package-lock.json")) ? readFileSync(join(root, "package-lock.json")) : "")
    .digest("hex");
const stampOk = () => existsSync(stampFile) && readFileSync(stampFile, "utf8") === manifestHash();
if (!runtimeWorks("deno") || !runtimeWorks("bun") || !stampOk()) {
  log("installing npm packages (incl. the deno and bun runtimes)…");
  if (
    !run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
      stdio: ["ignore", process.stderr, "inherit"],
    })
  ) {
    console.error("[setup] npm install failed");
    process.exit(1);
  }
  for (const n of ["deno", "bun"]) {
    if (!runtimeWorks(n)) {
      // npm may have skipped the runtime's install script: approve and rebuild it.
      run("npm", ["rebuild", n], { stdio: ["ignore", process.stderr, "inherit"] });
      if (!runtimeWorks(n)) {
        console.error(`[setup] ${n} did not install: run 'npm install-scripts approve ${n} && npm rebuild ${n}'`);
        process.exit(1);
      }
    }
  }
  writeFileSync(stampFile, manifestHash());
}

// 2. Debian packages.
const wanted = [];
if (!has("redis-server")) wanted.push("redis-server");
const vulkan = ["mesa-vulkan-drivers", "libvulkan1"].filter((p) => !debInstalled(p));
if (has("dpkg-query")) wanted.push(...vulkan);
// Debian's Chromium for the status page's browser test (playwright-core drives it; no browser download).
if (!existsSync("/usr/bin/chromium") && has("dpkg-query")) wanted.push("chromium");
if (wanted.length) {
  if (isRoot && has("apt-get")) {
    log(`installing Debian packages: ${wanted.join(" ")}…`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    run("apt-get", ["update", "-qq"], { env, stdio: ["ignore", "ignore", "inherit"] });
    if (
      !run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...wanted], {
        env,
        stdio: ["ignore", "ignore", "inherit"],
      })
    ) {
      log("apt-get install failed");
    }
  }
  if (!has("redis-server")) {
    console.error(
      "[setup] redis-server is missing. Install Debian's package: `sudo apt-get install redis-server` " +
        "(or put a redis-server 7 binary on PATH).",
    );
    process.exit(1);
  }
  if (vulkan.some((p) => !debInstalled(p))) {
    log("note: mesa-vulkan-drivers/libvulkan1 missing: WebGPU on CPU is unavailable, training falls back to wasm.");
  }
}
try {
  execFileSync("redis-server", ["--version"], { stdio: "ignore" });
} catch {
  console.error("[setup] redis-server does not run; install Debian's redis-server package.");
  process.exit(1);
}

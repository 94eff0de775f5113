#!/usr/bin/env node
// The `foliosync` bin: runs scripts/cli/main.ts with the Bun that npm
// installed beside it (no global bun needed), passing arguments, stdio and
// the exit code through unchanged.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bun = join(root, "node_modules", ".bin", process.platform === "win32" ? "bun.exe" : "bun");
const r = spawnSync(bun, [join(root, "scripts", "cli", "main.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
if (r.error) {
  console.error(`foliosync: cannot start Bun (${r.error.message}); run npm install first`);
  process.exit(4);
}
process.exit(r.status ?? 1);

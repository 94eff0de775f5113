import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "./paths.ts";

/** How code names an environment variable it reads. */
const PATTERNS = [
  /\benv\??\.([A-Z][A-Z0-9_]+)\b/g, // process.env.X, env.X, env?.X
  /\benv\[["']([A-Z][A-Z0-9_]+)["']\]/g, // env["X"]
  /\benv\??\.get\??\.?\(["']([A-Z][A-Z0-9_]+)["']\)/g, // Deno.env.get("X")
  /\.env\(["']([A-Z][A-Z0-9_]+)["']\)/g, // commander's Option.env("X")
  /\bprocessEnv\(\)\??\.([A-Z][A-Z0-9_]+)\b/g, // shared/config.ts processEnv().X
];

/**
 * Every environment variable the .ts/.mjs files under `dirs` (relative to the repository) read by name,
 * leaving out the files in `except`.
 */
export function envReadInSource(dirs: string[], except: string[] = []): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mjs)$/.test(e.name) && !except.includes(relative(repoRoot, p))) {
        const src = readFileSync(p, "utf8");
        for (const re of PATTERNS) for (const m of src.matchAll(re)) names.add(m[1]);
      }
    }
  };
  for (const d of dirs) walk(join(repoRoot, d));
  return names;
}

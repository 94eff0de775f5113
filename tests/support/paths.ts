import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is tests/support/paths.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** `../shared/fixtures` beside the repository, or FOLIOSYNC_FIXTURES_DIR. */
export const fixturesRoot = resolveFixturesRoot();
export const githubFixturesDir = join(fixturesRoot, "github");
export const queriesDir = join(fixturesRoot, "queries");
export const binDir = join(repoRoot, "node_modules", ".bin");
export const bunBin = join(binDir, "bun");
export const denoBin = join(binDir, "deno");

function resolveFixturesRoot(): string {
  // deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
  const g = globalThis as any;
  const env = g.Deno?.env?.get?.("FOLIOSYNC_FIXTURES_DIR") ?? g.process?.env?.FOLIOSYNC_FIXTURES_DIR;
  return env ? resolve(env) : resolve(repoRoot, "..", "shared", "fixtures");
}

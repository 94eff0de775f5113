/**
 * The one way scripts read their command line: `node:util`'s `parseArgs` (the same in Node, Bun and Deno), strict,
 * so an unknown or malformed flag stops the script with a usage line and exit status 2 instead of being ignored;
 * `--help` / `-h` prints the usage on stdout and exits 0. Numbers are checked here once, so no script reads
 * `Number(undefined)` or a negative count. (The operator's CLI, scripts/cli/, uses commander for its subcommands.)
 */
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The arguments after the script's name, whichever runtime runs it. */
export function scriptArgs(): string[] {
  return process.argv.slice(2);
}

/** Stops the script: the reason and the usage line on stderr, exit status 2 (a usage mistake). */
export function failUsage(reason: string, usage: string): never {
  console.error(`${reason}\nusage: ${usage}`);
  process.exit(2);
}

/**
 * Parses `args` against `options`; on a mistake prints `usage` with the reason to stderr and exits 2; with
 * `--help` or `-h` prints `usage` (and `details`, when given) to stdout and exits 0. Positionals are allowed
 * only when `allowPositionals` is set. The tokens keep the flags' order, for scripts whose flags group (a
 * `--queries` belongs to the `--fixtures` before it).
 */
export function parseScriptArgs<O extends Options>(
  options: O,
  usage: string,
  { args = scriptArgs(), allowPositionals = false, details }: {
    args?: string[];
    allowPositionals?: boolean;
    details?: string;
  } = {},
) {
  // `help` joins the options here, so the type callers see is that of their own options.
  const withHelp = { ...options, help: { type: "boolean", short: "h" } } as O;
  let parsed;
  try {
    parsed = parseArgs({ args, options: withHelp, allowPositionals, strict: true, tokens: true });
  } catch (err) {
    failUsage(err instanceof Error ? err.message : String(err), usage);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    console.log(`usage: ${usage}${details ? `\n\n${details.trim()}` : ""}`);
    process.exit(0);
  }
  return parsed;
}

/** A comma-separated list of numbers (`--seeds 42,7`), else `fallback` when absent; a bad item exits 2. */
export function numberListFlag(value: string | undefined, name: string, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  const items = value.split(",").map((x) => x.trim());
  const out = items.map(Number);
  if (!items.length || items.some((x, i) => x === "" || !Number.isFinite(out[i]))) {
    console.error(`--${name} must be comma-separated numbers, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return out;
}

/** A flag's value as a finite number at least `min`, else `fallback` when absent; a bad value exits 2. */
export function numberFlag(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min) {
    console.error(`--${name} must be a number >= ${min}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

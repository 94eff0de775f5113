/**
 * .env.example against shared/config.ts: every variable the config reads is
 * listed once, with its default as the value (empty when it has none) and a
 * comment saying what it means; nothing listed is unknown; the file as
 * written loads.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigSchema, loadConfig } from "../../shared/config.ts";
import { envReadInSource } from "../support/env-read.ts";
import { repoRoot } from "../support/paths.ts";

interface Entry {
  name: string;
  value: string;
  commented: boolean;
  meaning: string;
}

function parseEnvExample(): Entry[] {
  const lines = readFileSync(join(repoRoot, ".env.example"), "utf8").split("\n");
  const out: Entry[] = [];
  let comment: string[] = [];
  let afterVariable = false;
  for (const line of lines) {
    const m = line.match(/^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$/);
    if (m) {
      // Consecutive variables (e.g. the *_CONCURRENCY group) share the comment above them.
      out.push({ name: m[2], value: m[3], commented: Boolean(m[1]), meaning: comment.join(" ").trim() });
      afterVariable = true;
    } else if (line.startsWith("#") && !line.startsWith("##")) {
      if (afterVariable) comment = [];
      afterVariable = false;
      comment.push(line.replace(/^#\s?/, ""));
    } else {
      comment = [];
      afterVariable = false;
    }
  }
  return out;
}

const entries = parseEnvExample();
const active = entries.filter((e) => !e.commented);
const shape = ConfigSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }>;

test("lists every variable shared/config.ts reads, once, and nothing else as a setting", () => {
  const listed = active.map((e) => e.name);
  expect(new Set(listed).size).toBe(listed.length);
  const missing = Object.keys(shape).filter((k) => !listed.includes(k));
  const unknown = listed.filter((k) => !(k in shape));
  if (missing.length || unknown.length) {
    throw new Error(
      `.env.example is out of step with shared/config.ts: missing ${missing.join(", ") || "none"}, ` +
        `unknown ${unknown.join(", ") || "none"}. Each config variable goes in .env.example as ` +
        "KEY=<its default, empty when none> under a comment line saying what it means.",
    );
  }
});

test("each value is the config's default (empty when there is none), and each has a meaning", () => {
  for (const e of active) {
    const d = shape[e.name].safeParse(undefined);
    const def = d.success && d.data !== undefined ? String(d.data) : "";
    expect({ name: e.name, value: e.value }).toEqual({ name: e.name, value: def });
    expect({ name: e.name, meaningful: e.meaning.length > 10 }).toEqual({ name: e.name, meaningful: true });
  }
});

test("the file as written loads, and gives the defaults", () => {
  const env = Object.fromEntries(active.map((e) => [e.name, e.value]));
  expect(loadConfig(env)).toEqual(loadConfig({}));
});

test("the variables read outside shared/config.ts are documented (commented out)", () => {
  const extra = entries.filter((e) => e.commented).map((e) => e.name);
  expect(extra.sort()).toEqual([
    "FOLIOSYNC_WORD_VECTORS",
    "HOST",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "TRUSTED_PROXY_HOPS",
    "XDG_RUNTIME_DIR",
  ]);
  for (const e of entries.filter((e) => e.commented)) expect(e.meaning.length).toBeGreaterThan(10);
});

/** README's `## Environment` tables: the config's settings, then what is read elsewhere. */
function readmeTables(): { settings: Map<string, string>; elsewhere: Set<string> } {
  const text = readFileSync(join(repoRoot, "README.md"), "utf8");
  const section = text.slice(text.indexOf("\n## Environment\n"));
  const body = section.slice(0, section.indexOf("\n## ", 5));
  const tables = body.split(/\n(?!\|)/).map((chunk) => chunk.split("\n").filter((l) => l.startsWith("| `")))
    .filter((rows) => rows.length);
  const cells = (row: string) => row.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
  const names = (cell: string) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]);
  const settings = new Map<string, string>();
  for (const row of tables[0] ?? []) {
    const [name, def] = cells(row);
    settings.set(names(name).join(","), def);
  }
  return { settings, elsewhere: new Set((tables[1] ?? []).flatMap((row) => names(cells(row)[0]))) };
}

test("README's settings table lists every config variable once, with the config's default", () => {
  const { settings } = readmeTables();
  expect([...settings.keys()].filter((k) => k.includes(","))).toEqual([]); // one variable a row
  expect([...settings.keys()].sort()).toEqual(Object.keys(shape).sort());
  for (const [name, cell] of settings) {
    const d = shape[name].safeParse(undefined);
    const def = d.success && d.data !== undefined ? String(d.data) : "";
    expect({ name, default: cell === "—" ? "" : cell.replace(/^`|`$/g, "") }).toEqual({ name, default: def });
  }
});

test("README lists every variable the code reads outside shared/config.ts, and no variable nothing reads", () => {
  const { settings, elsewhere } = readmeTables();
  const read = envReadInSource(["gateway", "workers", "shared", "scripts"], ["shared/config.ts"]);
  expect([...read].filter((v) => !settings.has(v) && !elsewhere.has(v)).sort()).toEqual([]);
  expect([...elsewhere].filter((v) => !read.has(v)).sort()).toEqual([]);
  const commented = entries.filter((e) => e.commented).map((e) => e.name);
  expect(commented.filter((v) => !elsewhere.has(v))).toEqual([]);
});

/**
 * Every command docs/RUNBOOK.md names exists, checked against the files it
 * names them from (no cluster, no Docker engine): each `docker compose …`
 * service is a service of compose.yaml, each `npm run X` / `bun run X` a
 * package.json script and `deno task X` a deno.json task, each `foliosync …`
 * command and flag one the real CLI's `--help` lists, each `deploy/…` and
 * ScaledObject one the Kubernetes base defines, and each Secret created with
 * exactly the keys the manifests read (and every key of the app Secret has a
 * rotation line). The worker image, where the runbook runs the CLI, holds
 * every file the CLI imports.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { type K8sObject, loadYamlDocs } from "../deploy/kustomize.ts";
import { repoRoot } from "../support/paths.ts";

const runbook = readFileSync(join(repoRoot, "docs", "RUNBOOK.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
const denoJson = JSON.parse(readFileSync(join(repoRoot, "deno.json"), "utf8"));

// ---- the commands in the runbook ----------------------------------------------------------------

/** Code: each line of a fenced block, and each inline code span of the prose. */
function codeSnippets(md: string): string[] {
  const out: string[] = [];
  const fence = /^\s*```/;
  let inFence = false;
  for (const line of md.split("\n")) {
    if (fence.test(line)) {
      inFence = !inFence;
      continue;
    }
    if (inFence) out.push(line.replace(/(^|\s)#.*$/, ""));
    else for (const [, code] of line.matchAll(/`([^`]+)`/g)) out.push(code);
  }
  // A block continued with `\` is one command.
  return out.join("\n").replace(/\\\n/g, " ").split("\n").filter((l) => l.trim());
}

/** Shell words of one command (quotes removed; `…` placeholders kept as words). */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The simple commands of a snippet: split at `&&`, `||`, `;`, `|`, `&`, and inside `alias x='…'`. */
function commands(snippet: string): string[][] {
  const alias = snippet.trim().match(/^alias\s+[\w-]+=(['"])(.*)\1$/);
  if (alias) return commands(alias[2]);
  const out: string[][] = [];
  for (const part of snippet.split(/&&|\|\||[;|&]/)) {
    const w = words(part.trim());
    if (w.length) out.push(w);
  }
  return out;
}

const all = codeSnippets(runbook).flatMap(commands);
const placeholder = (w: string) => /^(<.*>|…|\.\.\.|N(-1)?)$/.test(w) || w.includes("…") || w.includes("<");

/** `foliosync X …` in every spelling the runbook uses: the bin, npx, `bun run cli --`, the image's main.ts. */
function cliInvocations(): string[][] {
  const out: string[][] = [];
  for (const w of all) {
    let i = w.indexOf("foliosync");
    if (i === 0 || (i === 1 && w[0] === "npx")) out.push(w.slice(i + 1));
    i = w.findIndex((x, k) => x === "run" && w[k + 1] === "cli" && w[k + 2] === "--");
    if (i >= 1 && ["bun", "npm"].includes(w[i - 1])) out.push(w.slice(i + 3));
    i = w.indexOf("scripts/cli/main.ts");
    if (i >= 0) out.push(w.slice(i + 1));
  }
  return out.filter((a) => a.length > 0 && !placeholder(a[0]));
}

// ---- compose, scripts, tasks ----------------------------------------------------------------------

/** Options of `docker compose` (global and per subcommand) that take a value. */
const COMPOSE_VALUE_OPTS = new Set([
  "-f",
  "--file",
  "-p",
  "--project-name",
  "--profile",
  "--env-file",
  "--project-directory",
  "-e",
  "--env",
  "-u",
  "--user",
  "-w",
  "--workdir",
  "-t",
  "--timeout",
  "--index",
]);

/** The services a `docker compose …` command names. */
function composeServices(w: string[]): string[] {
  const at = w.findIndex((x, k) => x === "docker" && w[k + 1] === "compose");
  if (at < 0) return [];
  const rest = w.slice(at + 2);
  let k = 0;
  while (k < rest.length && rest[k].startsWith("-")) k += COMPOSE_VALUE_OPTS.has(rest[k]) ? 2 : 1;
  const sub = rest[k++];
  const services: string[] = [];
  while (k < rest.length) {
    const x = rest[k];
    if (x === "--scale") {
      services.push(rest[k + 1].split("=")[0]);
      k += 2;
    } else if (x.startsWith("--scale=")) {
      services.push(x.slice(8).split("=")[0]);
      k++;
    } else if (x.startsWith("-")) k += COMPOSE_VALUE_OPTS.has(x) ? 2 : 1;
    else {
      services.push(x);
      // exec/run: the first word is the service, the rest is the command run in it.
      if (sub === "exec" || sub === "run") break;
      k++;
    }
  }
  return services.filter((s) => !placeholder(s));
}

const composeNames = new Set(
  ["compose.yaml", "compose.gpu.yaml"].flatMap((f) =>
    existsSync(join(repoRoot, f)) ? Object.keys(parseYaml(readFileSync(join(repoRoot, f), "utf8")).services ?? {}) : []
  ),
);

describe("RUNBOOK.md: compose, npm, bun and deno commands", () => {
  test("every `docker compose …` service is a service of compose.yaml", () => {
    const named = all.flatMap(composeServices);
    // The parser finds what the runbook uses (guards the parser itself).
    expect(named).toContain("worker-sync");
    expect(named).toContain("worker-plan");
    for (const s of named) expect({ service: s, known: composeNames.has(s) }).toEqual({ service: s, known: true });
  });

  test("every `npm run X` / `bun run X` is a package.json script (or a file), every `deno task X` a task", () => {
    const runs: string[] = [];
    const tasks: string[] = [];
    for (const w of all) {
      for (let k = 0; k + 2 < w.length + 1; k++) {
        if (["npm", "bun"].includes(w[k]) && w[k + 1] === "run" && w[k + 2]) runs.push(w[k + 2]);
        if (w[k] === "deno" && w[k + 1] === "task" && w[k + 2]) tasks.push(w[k + 2]);
      }
    }
    expect(runs.length).toBeGreaterThan(2);
    for (const r of runs.filter((r) => !r.startsWith("-"))) {
      const known = r in pkg.scripts || existsSync(join(repoRoot, r));
      expect({ run: r, known }).toEqual({ run: r, known: true });
    }
    for (const t of tasks) expect({ task: t, known: t in (denoJson.tasks ?? {}) }).toEqual({ task: t, known: true });
  });
});

// ---- the CLI ---------------------------------------------------------------------------------------

const helpCache = new Map<string, string>();
/** `foliosync <path> --help` from the real bin (exit 0). */
function help(path: string[]): string {
  const key = path.join(" ");
  let text = helpCache.get(key);
  if (text === undefined) {
    const r = spawnSync("node", [join(repoRoot, "scripts", "cli", "foliosync.mjs"), ...path, "--help"], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
      timeout: 60_000,
    });
    if (r.status !== 0) throw new Error(`foliosync ${key} --help exited ${r.status}: ${r.stderr}`);
    text = r.stdout;
    helpCache.set(key, text);
  }
  return text;
}

/** The command names in a help text's "Commands:" section. */
function commandsIn(helpText: string): Set<string> {
  const section = helpText.split(/\n(?=\S)/).find((s) => s.startsWith("Commands:")) ?? "";
  return new Set(
    [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((c) => c !== "help"),
  );
}

describe("RUNBOOK.md: foliosync commands", () => {
  test("every `foliosync …` command, subcommand and flag is one the CLI's --help lists", () => {
    const invocations = cliInvocations();
    expect(invocations.length).toBeGreaterThan(10);
    const top = commandsIn(help([]));
    expect(top.has("dlq")).toBe(true);
    const seen = new Set<string>();
    for (const argv of invocations) {
      // Global options may come first (the image alias passes --url).
      const args = [...argv];
      while (args[0]?.startsWith("--")) {
        expect({ flag: args[0], global: help([]).includes(args[0].split("=")[0]) }).toEqual({
          flag: args[0],
          global: true,
        });
        args.splice(0, args[0].includes("=") ? 1 : 2);
      }
      if (args.length === 0 || placeholder(args[0])) continue;
      const cmd = args[0];
      expect({ command: cmd, known: top.has(cmd) }).toEqual({ command: cmd, known: true });
      const path = [cmd];
      const subs = commandsIn(help(path));
      if (subs.size > 0 && args[1] && !args[1].startsWith("-") && !placeholder(args[1])) {
        expect({ command: `${cmd} ${args[1]}`, known: subs.has(args[1]) }).toEqual({
          command: `${cmd} ${args[1]}`,
          known: true,
        });
        path.push(args[1]);
      }
      const text = help(path);
      for (const flag of args.filter((a) => /^--[a-z]/.test(a)).map((a) => a.split("=")[0])) {
        const listed = new RegExp(`(^|[\\s,])${flag}(?![\\w-])`, "m").test(text);
        expect({ command: path.join(" "), flag, listed }).toEqual({ command: path.join(" "), flag, listed: true });
      }
      seen.add(path.join(" "));
    }
    // The procedures' commands were all found (guards the extraction).
    for (const c of ["workers", "dlq depth", "dlq replay", "model rollback", "keys create", "refresh"]) {
      expect(seen.has(c)).toBe(true);
    }
  }, 120_000);
});

// ---- Kubernetes names and secrets ----------------------------------------------------------------

const base: K8sObject[] = readdirSync(join(repoRoot, "deploy", "k8s", "base"))
  .filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml")
  .flatMap((f) => loadYamlDocs(join(repoRoot, "deploy", "k8s", "base", f)));
const namesOf = (kind: string) => new Set(base.filter((o) => o?.kind === kind).map((o) => o.metadata?.name));

/** Secret name → the keys any object reads from it (secretKeyRef, KEDA secretTargetRef). */
function secretKeysRead(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (name: string, key: string) => {
    if (!out.has(name)) out.set(name, new Set());
    out.get(name)!.add(key);
  };
  const walk = (v: unknown) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== "object") return;
    const o = v as Record<string, unknown>;
    const ref = o.secretKeyRef as { name?: string; key?: string } | undefined;
    if (ref?.name && ref.key) add(ref.name, ref.key);
    for (const t of (o.secretTargetRef as { name?: string; key?: string }[] | undefined) ?? []) {
      if (t.name && t.key) add(t.name, t.key);
    }
    Object.values(o).forEach(walk);
  };
  base.forEach(walk);
  return out;
}

describe("RUNBOOK.md: Kubernetes", () => {
  test("every deploy/<name> and ScaledObject named is one the base defines", () => {
    const deployments = namesOf("Deployment");
    const scaled = namesOf("ScaledObject");
    expect(deployments.has("foliosync-gateway")).toBe(true);
    let checked = 0;
    for (const w of all.filter((w) => w[0] === "kubectl")) {
      for (const [k, x] of w.entries()) {
        const d = x.match(/^deploy(?:ments?)?\/([a-z0-9-]+|<[^>]+>)$/);
        if (d && !placeholder(d[1])) {
          expect({ deploy: d[1], known: deployments.has(d[1]) }).toEqual({ deploy: d[1], known: true });
          checked++;
        }
        if (/^scaledobjects?$/.test(x) && w[k + 1] && !w[k + 1].startsWith("-") && !placeholder(w[k + 1])) {
          expect({ scaledobject: w[k + 1], known: scaled.has(w[k + 1]) }).toEqual({
            scaledobject: w[k + 1],
            known: true,
          });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(3);
  });

  test("each Secret is created with exactly the keys the manifests read; each app secret key has a rotation line", () => {
    const read = secretKeysRead();
    expect(read.get("foliosync-secrets")?.has("GITHUB_TOKENS")).toBe(true);
    const created = new Map<string, Set<string>>();
    for (const w of all) {
      const at = w.findIndex((x, k) => x === "secret" && w[k + 1] === "generic");
      if (w[0] !== "kubectl" || at < 0) continue;
      const keys = w.filter((x) => x.startsWith("--from-literal=")).map((x) => x.slice(15).split("=")[0]);
      created.set(w[at + 2], new Set(keys));
    }
    expect([...created.keys()].sort()).toEqual([...read.keys()].sort());
    for (const [name, keys] of read) {
      expect({ secret: name, keys: [...created.get(name)!].sort() }).toEqual({ secret: name, keys: [...keys].sort() });
    }
    const rotation = runbook.slice(runbook.indexOf("## Rotate each secret"), runbook.indexOf("## Replay"));
    for (const key of read.get("foliosync-secrets")!) {
      expect({ key, rotation: rotation.includes(`| \`${key}\``) }).toEqual({ key, rotation: true });
    }
  });
});

// ---- the worker image holds the CLI --------------------------------------------------------------

/** Every file of this repository that `entry` imports, transitively (relative imports only). */
function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imp of transpiler.scanImports(readFileSync(file, "utf8").replace(/^#!.*/, ""))) {
      if (!imp.path.startsWith(".")) continue;
      visit(resolve(dirname(file), imp.path));
    }
  };
  visit(join(repoRoot, entry));
  return new Set([...seen].map((f) => relative(repoRoot, f)));
}

test("the worker image holds every file the CLI imports (the runbook runs it there)", () => {
  const text = readFileSync(join(repoRoot, "Dockerfile.worker"), "utf8").replace(/\\\n/g, " ");
  const copied = [...text.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => {
    const parts = m[1].trim().split(/\s+/);
    return parts.slice(0, -1);
  });
  const inImage = (f: string) => copied.some((c) => f === c || f.startsWith(c.replace(/\/?$/, "/")));
  const files = [...importClosure("scripts/cli/main.ts"), ...importClosure("scripts/keys.ts")];
  expect(files).toContain("scripts/cli/ops.ts");
  for (const f of files) expect({ file: f, inImage: inImage(f) }).toEqual({ file: f, inImage: true });
});

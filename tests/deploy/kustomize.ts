/**
 * The subset of Kustomize that deploy/k8s/ uses, rendered without the
 * kustomize binary or a cluster: `resources` (files and directories),
 * `patches` (strategic-merge patches, by kind + name or by a `target` with
 * kind / name / labelSelector) and `images` (newName / newTag). Any other
 * kustomization field fails the render, so what this renders is what
 * `kubectl apply -k` would apply.
 * Strategic merge as Kubernetes does it for the fields used here: maps merge,
 * `null` deletes, the lists below merge by their key, other lists are replaced.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

// deno-lint-ignore no-explicit-any -- Kubernetes objects are open-ended JSON; the schema validation types them
export type K8sObject = Record<string, any>;

const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
};
const KNOWN_FIELDS = new Set(["apiVersion", "kind", "resources", "patches", "images"]);

/** Every document of a YAML file (empty documents dropped); throws on a YAML error. */
export function loadYamlDocs(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  const out: K8sObject[] = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

function isMap(v: unknown): v is K8sObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function strategicMerge(base: unknown, patch: unknown, field = ""): unknown {
  if (patch === null) return undefined;
  if (isMap(base) && isMap(patch)) {
    const out: K8sObject = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else if (k in out) out[k] = strategicMerge(out[k], v, k);
      else out[k] = stripNulls(v);
    }
    return out;
  }
  const key = MERGE_KEYS[field];
  if (key && Array.isArray(base) && Array.isArray(patch)) {
    const out = base.map((x) => structuredClone(x));
    for (const p of patch) {
      const i = out.findIndex((b) => isMap(b) && isMap(p) && b[key] === p[key]);
      if (i >= 0) out[i] = strategicMerge(out[i], p, "");
      else out.push(stripNulls(p));
    }
    return out;
  }
  return stripNulls(patch);
}

function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (isMap(v)) {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, stripNulls(x)]));
  }
  return v;
}

/** `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, comma-separated. */
export function matchesSelector(labels: Record<string, string> = {}, selector: string): boolean {
  const terms = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  return terms.every((raw) => {
    const t = raw.trim();
    let m = t.match(/^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/);
    if (m) {
      const set = m[3].split(",").map((s) => s.trim());
      return m[2] === "in" ? set.includes(labels[m[1]]) : !set.includes(labels[m[1]]);
    }
    m = t.match(/^([\w./-]+)\s*(!=|==|=)\s*([\w./-]*)$/);
    if (m) return m[2] === "!=" ? labels[m[1]] !== m[3] : labels[m[1]] === m[3];
    throw new Error(`unsupported label selector term "${t}"`);
  });
}

interface Target {
  kind?: string;
  name?: string;
  labelSelector?: string;
}

/** Renders a kustomization directory into its list of objects. */
export function renderKustomization(dir: string): K8sObject[] {
  const file = join(dir, "kustomization.yaml");
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const [k] = loadYamlDocs(file);
  for (const field of Object.keys(k)) {
    if (!KNOWN_FIELDS.has(field)) throw new Error(`${file}: field "${field}" is not rendered by this test`);
  }
  if (k.kind !== "Kustomization") throw new Error(`${file}: kind must be Kustomization`);
  let objects: K8sObject[] = [];
  for (const r of (k.resources ?? []) as string[]) {
    const p = resolve(dir, r);
    if (!existsSync(p)) throw new Error(`${file}: resource ${r} does not exist`);
    objects.push(...(statSync(p).isDirectory() ? renderKustomization(p) : loadYamlDocs(p)));
  }
  for (const entry of (k.patches ?? []) as { path: string; target?: Target }[]) {
    const p = resolve(dir, entry.path);
    const docs = loadYamlDocs(p);
    if (docs.length !== 1) throw new Error(`${p}: a patch file holds exactly one patch`);
    const patch = docs[0];
    // A list of operations is a JSON 6902 patch (it needs a target); a map is a strategic-merge patch.
    const ops = Array.isArray(patch) ? (patch as JsonPatchOp[]) : undefined;
    if (ops && !entry.target) throw new Error(`${p}: a JSON 6902 patch needs a target`);
    const target: Target = entry.target ?? { kind: patch.kind, name: patch.metadata?.name };
    const hits = objects.filter((o) =>
      (!target.kind || o.kind === target.kind) &&
      (!target.name || o.metadata?.name === target.name) &&
      (!target.labelSelector || matchesSelector(o.metadata?.labels, target.labelSelector))
    );
    if (hits.length === 0) throw new Error(`${p}: the patch matches nothing (${JSON.stringify(target)})`);
    objects = objects.map((o) => {
      if (!hits.includes(o)) return o;
      if (ops) return applyJsonPatch(o, ops, p);
      // With a target, the patch's own name is ignored (Kustomize applies it to every match).
      const body = { ...patch, metadata: { ...patch.metadata, name: o.metadata.name } };
      return strategicMerge(o, body) as K8sObject;
    });
  }
  for (const img of (k.images ?? []) as { name: string; newName?: string; newTag?: string }[]) {
    let used = false;
    for (const o of objects) {
      for (const c of podContainers(o)) {
        const [name, tag] = splitImage(c.image);
        if (name !== img.name) continue;
        used = true;
        c.image = `${img.newName ?? name}${img.newTag ?? tag ? `:${img.newTag ?? tag}` : ""}`;
      }
    }
    if (!used) throw new Error(`${file}: image ${img.name} is used by no container`);
  }
  return objects;
}

interface JsonPatchOp {
  op: "add" | "replace" | "remove";
  path: string;
  value?: unknown;
}

/** RFC 6902 add / replace / remove on a copy; a path that does not resolve fails the render. */
export function applyJsonPatch(obj: K8sObject, ops: JsonPatchOp[], where = "patch"): K8sObject {
  const out = structuredClone(obj);
  for (const { op, path, value } of ops) {
    const parts = path.split("/").slice(1).map((x) => x.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop()!;
    // deno-lint-ignore no-explicit-any -- walking arbitrary JSON
    let parent: any = out;
    for (const seg of parts) {
      parent = parent?.[Array.isArray(parent) ? Number(seg) : seg];
      if (parent === undefined) throw new Error(`${where}: ${op} ${path}: ${seg} does not exist`);
    }
    const key = Array.isArray(parent) ? (last === "-" ? parent.length : Number(last)) : last;
    if (op !== "add" && !(key in parent)) throw new Error(`${where}: ${op} ${path}: nothing there`);
    if (op === "remove") Array.isArray(parent) ? parent.splice(key as number, 1) : delete parent[key];
    else if (op === "add" && Array.isArray(parent)) parent.splice(key as number, 0, value);
    else parent[key] = value;
  }
  return out;
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.lastIndexOf(":");
  return at > image.lastIndexOf("/") ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
}

/** The containers of a workload's pod template (none for other kinds). */
export function podContainers(o: K8sObject): K8sObject[] {
  const spec = o.spec?.template?.spec;
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

/**
 * The deployment files, checked without a cluster, a Docker engine or the
 * network: every Kubernetes overlay rendered (tests/deploy/kustomize.ts) and
 * validated against the Kubernetes and KEDA schemas (kubernetes-models,
 * @kubernetes-models/keda), compose.yaml and the Dockerfiles parsed; every
 * container command is a script that exists, every variable set is one
 * foliosync reads, and the configuration each container gets loads.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigSchema, loadConfig } from "../../shared/config.ts";
import { queueKey, type QueueName } from "../../shared/jobs/queue-names.ts";
import { ROLES } from "../../workers/roles.ts";
import { envReadInSource } from "../support/env-read.ts";
import { repoRoot } from "../support/paths.ts";
import { type K8sObject, loadYamlDocs, podContainers, renderKustomization, strategicMerge } from "./kustomize.ts";

const k8sDir = join(repoRoot, "deploy", "k8s");
const OVERLAYS = { local: "local", gcp: "gcs", azure: "azure" } as const;

// ---- what the code reads ----------------------------------------------------------------------

/** Variables read outside shared/config.ts by the runtime code (gateway/, workers/, shared/). */
const CONFIG_KEYS = new Set(Object.keys(ConfigSchema.shape));
const READ = new Set([...CONFIG_KEYS, ...envReadInSource(["gateway", "workers", "shared"])]);
/** Read by the runtimes and their libraries rather than by our code. */
const PLATFORM_VARS = /^(OTEL_[A-Z_]+|NVIDIA_[A-Z_]+|DENO_[A-Z_]+|NODE_ENV)$/;
const isRead = (name: string) => READ.has(name) || PLATFORM_VARS.test(name);

test("the source scan finds the variables read outside shared/config.ts", () => {
  // Guards the scan itself: these are read in gateway/main.ts and the ranking code.
  for (const v of ["HOST", "TRUSTED_PROXY_HOPS", "FOLIOSYNC_WORD_VECTORS"]) expect(READ.has(v)).toBe(true);
  expect(isRead("NOT_A_FOLIOSYNC_VARIABLE")).toBe(false);
});

// ---- Dockerfiles --------------------------------------------------------------------------------

interface Stage {
  from: string;
  name?: string;
  instructions: { op: string; args: string }[];
}

function parseDockerfile(file: string): Stage[] {
  const text = readFileSync(join(repoRoot, file), "utf8").replace(/\\\n/g, " ");
  const stages: Stage[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [, op, args] = line.match(/^(\w+)\s+(.*)$/) ?? [];
    if (!op) throw new Error(`${file}: cannot parse "${line}"`);
    if (op.toUpperCase() === "FROM") {
      const m = args.match(/^(\S+)(?:\s+AS\s+(\S+))?$/i)!;
      stages.push({ from: m[1], name: m[2], instructions: [] });
    } else stages.at(-1)!.instructions.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

const lastOf = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op).at(-1)?.args;
const execForm = (args: string | undefined): string[] => (args ? JSON.parse(args) : []);
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
/** The non-root users of the pinned runtime images and their uids. */
const IMAGE_USERS: Record<string, number> = { deno: 1993, bun: 1000, node: 1000 };

/** The stage an image (build target) runs, with everything a container needs to know. */
const IMAGES = {
  "foliosync-gateway": { file: "Dockerfile.gateway", target: "runtime" },
  "foliosync-worker": { file: "Dockerfile.worker", target: "worker" },
  "foliosync-train": { file: "Dockerfile.worker", target: "train" },
} as const;

function imageStage(image: keyof typeof IMAGES): Stage {
  const { file, target } = IMAGES[image];
  const stage = parseDockerfile(file).find((s) => s.name === target);
  if (!stage) throw new Error(`${file} has no stage ${target}`);
  return stage;
}

/** The script an entrypoint runs (the first argument that is a .ts file). */
function entryScript(entrypoint: string[]): string {
  const script = entrypoint.find((a) => a.endsWith(".ts"));
  if (!script) throw new Error(`no script in ${JSON.stringify(entrypoint)}`);
  return script;
}

describe("Dockerfiles", () => {
  for (const file of ["Dockerfile.gateway", "Dockerfile.worker"]) {
    test(`${file}: pinned bases, lockfile install without dev dependencies, non-root, HEALTHCHECK`, () => {
      const stages = parseDockerfile(file);
      const names = new Set(stages.map((s) => s.name));
      for (const s of stages) {
        if (names.has(s.from)) continue; // FROM an earlier stage
        // A pinned base: an explicit version tag (or digest), never latest or a bare name.
        expect(s.from).toMatch(/^[\w./-]+(:[\w.-]*\d[\w.-]*|@sha256:[0-9a-f]{64})$/);
        expect(s.from).not.toMatch(/:latest$/);
        if (s.from.startsWith("denoland/deno:")) expect(s.from).toEndWith(`-${pkg.devDependencies.deno}`);
        if (s.from.startsWith("oven/bun:")) expect(s.from).toStartWith(`oven/bun:${pkg.devDependencies.bun}`);
      }
      const runs = stages.flatMap((s) => s.instructions.filter((i) => i.op === "RUN").map((i) => i.args));
      const installs = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r));
      expect(installs.length).toBeGreaterThan(0);
      for (const r of installs) {
        expect(r).toMatch(/\bnpm ci\b/); // the lockfile, exactly
        expect(r).toContain("--omit=dev");
      }
      const copies = stages.flatMap((s) => s.instructions.filter((i) => i.op === "COPY").map((i) => i.args));
      expect(copies.some((c) => c.includes("package-lock.json"))).toBe(true);
      // Every COPY source from the build context exists.
      for (const c of copies.filter((c) => !c.startsWith("--from"))) {
        const parts = c.split(/\s+/).filter((p) => !p.startsWith("--"));
        for (const src of parts.slice(0, -1)) expect(existsSync(join(repoRoot, src))).toBe(true);
      }
    });
  }

  for (const image of Object.keys(IMAGES) as (keyof typeof IMAGES)[]) {
    test(`${image}: runs a script that exists, as a non-root user, with a writable data directory`, () => {
      const s = imageStage(image);
      const user = lastOf(s, "USER");
      expect(user).toBeDefined();
      expect(user).not.toMatch(/^(root|0)(:|$)/);
      expect(IMAGE_USERS[user!]).toBeGreaterThan(0);
      const hc = lastOf(s, "HEALTHCHECK")!;
      expect(hc).toMatch(/CMD/);
      expect(hc).toMatch(/\/(api\/)?ready/);
      const entry = execForm(lastOf(s, "ENTRYPOINT"));
      expect(existsSync(join(repoRoot, entryScript(entry)))).toBe(true);
      const runs = s.instructions.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
      expect(runs).toMatch(new RegExp(`chown -R ${user}:${user} /app/data`));
      const env = s.instructions.filter((i) => i.op === "ENV").map((i) => i.args).join(" ");
      expect(env).toContain("STORAGE_DIR=/app/data");
      for (const [, name] of env.matchAll(/([A-Z][A-Z0-9_]*)=/g)) expect(isRead(name)).toBe(true);
    });
  }

  test("the worker image's default command names real roles", () => {
    const cmd = execForm(lastOf(imageStage("foliosync-worker"), "CMD"));
    expect(cmd[0]).toBe("--role");
    for (const r of cmd[1].split(",")) expect(ROLES as readonly string[]).toContain(r);
  });

  test("the train image has the Vulkan loader and asks the NVIDIA runtime for graphics", () => {
    const s = imageStage("foliosync-train");
    const text = s.instructions.map((i) => `${i.op} ${i.args}`).join("\n");
    expect(text).toContain("libvulkan1");
    expect(text).toMatch(/NVIDIA_DRIVER_CAPABILITIES=\S*graphics/);
  });
});

// ---- compose ------------------------------------------------------------------------------------

/** `${VAR:-default}` / `${VAR-default}` / `${VAR}` with nothing set: what compose sees without a .env. */
function interpolate(v: unknown): string {
  return String(v).replace(/\$\{([A-Z0-9_]+)(:?-([^}]*))?\}/g, (_, _name, _d, def) => def ?? "");
}

const compose = parseYaml(readFileSync(join(repoRoot, "compose.yaml"), "utf8"), { merge: true });
const composeGpu = parseYaml(readFileSync(join(repoRoot, "compose.gpu.yaml"), "utf8"), { merge: true });

describe("compose.yaml", () => {
  const services = compose.services as Record<string, K8sObject>;
  const ours = Object.entries(services).filter(([, s]) => s.build);

  test("has Redis with AOF, Azurite, the gateway, one service per worker role and the trainer", () => {
    expect(Object.keys(services).sort()).toEqual(
      ["azurite", "gateway", "redis", "worker-merge", "worker-notify", "worker-plan", "worker-sync", "worker-train"],
    );
    const redisCmd = services.redis.command.join(" ");
    expect(redisCmd).toContain("--appendonly yes");
    expect(services.redis.volumes.some((v: string) => v.endsWith(":/data"))).toBe(true);
    expect(services.redis.healthcheck.test).toContain("ping");
    expect(services.azurite.command).toContain("--skipApiVersionCheck");
    for (const [name, s] of Object.entries(services)) {
      expect(s.image).toMatch(/:[\w.-]+$/); // pinned, or our own local tag
      for (const dep of Object.keys(s.depends_on ?? {})) expect(services[dep]).toBeDefined();
      expect(name).toMatch(/^[a-z0-9-]+$/);
    }
  });

  for (const [name, s] of Object.entries(compose.services as Record<string, K8sObject>).filter(([, s]) => s.build)) {
    test(`${name}: builds an image whose command is a script that exists; its environment loads`, () => {
      const file: string = s.build.dockerfile;
      expect(existsSync(join(repoRoot, s.build.context, file))).toBe(true);
      const target: string = s.build.target ?? parseDockerfile(file).at(-1)!.name!;
      const image = Object.entries(IMAGES).find(([, v]) => v.file === file && v.target === target)?.[0];
      expect(image).toBeDefined();
      const stage = imageStage(image as keyof typeof IMAGES);
      expect(existsSync(join(repoRoot, entryScript(execForm(lastOf(stage, "ENTRYPOINT")))))).toBe(true);
      const args: string[] = s.command ?? execForm(lastOf(stage, "CMD"));
      if (image === "foliosync-worker") {
        expect(args[0]).toBe("--role");
        for (const r of args[1].split(",")) expect(ROLES as readonly string[]).toContain(r);
      }
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
      for (const k of Object.keys(env)) expect({ k, read: isRead(k) }).toEqual({ k, read: true });
      const cfg = loadConfig(env);
      expect(cfg.STORAGE_BACKEND).toBe("azure");
      expect(cfg.REDIS_URL).toBe("redis://redis:6379");
      expect(cfg.AZURE_STORAGE_CONNECTION_STRING).toContain("BlobEndpoint=http://azurite:10000/");
      expect(s.env_file?.[0]).toMatchObject({ path: ".env", required: false });
    });
  }

  test("the settings file compose reads is documented by .env.example", () => {
    expect(existsSync(join(repoRoot, ".env.example"))).toBe(true);
    expect(ours.length).toBe(6);
  });

  test("compose.gpu.yaml gives the trainer one NVIDIA GPU", () => {
    const dev = composeGpu.services["worker-train"].deploy.resources.reservations.devices[0];
    expect(dev.driver).toBe("nvidia");
    expect(dev.capabilities).toContain("gpu");
    expect(services["worker-train"]).toBeDefined();
  });
});

// ---- Kubernetes ---------------------------------------------------------------------------------

async function validateSchema(o: K8sObject): Promise<void> {
  const [group, version] = String(o.apiVersion).includes("/") ? String(o.apiVersion).split("/") : ["", o.apiVersion];
  const mod = group === "keda.sh"
    ? await import(`@kubernetes-models/keda/keda.sh/${version}`)
    : await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

function byKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}
function named(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
}
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** A plausible value for each secret key, so the configuration can be loaded as the pod would. */
const SECRET_STANDINS: Record<string, string> = {
  url: "rediss://default:x@redis.example.internal:6380",
  AZURE_STORAGE_CONNECTION_STRING: "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=eA==;EndpointSuffix=x",
  GITHUB_TOKEN: "t",
  GITHUB_TOKENS: "t1,t2",
  API_KEYS: "key-standin:*",
  GITHUB_WEBHOOK_SECRET: "github-webhook-standin",
  WEBHOOK_SIGNING_SECRET: "status-signing-standin",
  LLM_API_KEY: "l",
};

/** The environment a container gets: its ConfigMaps (envFrom), literal values and secret stand-ins. */
function containerEnv(objects: K8sObject[], c: K8sObject): { env: Record<string, string>; literal: string[] } {
  const env: Record<string, string> = {};
  const literal: string[] = [];
  for (const from of c.envFrom ?? []) {
    expect(from.secretRef).toBeUndefined(); // secrets by name, key by key
    Object.assign(env, named(objects, "ConfigMap", from.configMapRef.name).data);
    literal.push(...Object.keys(named(objects, "ConfigMap", from.configMapRef.name).data));
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value;
      literal.push(e.name);
    } else if (e.valueFrom?.secretKeyRef) {
      const key = e.valueFrom.secretKeyRef.key;
      expect(SECRET_STANDINS[key]).toBeDefined();
      env[e.name] = SECRET_STANDINS[key];
    } else if (e.valueFrom?.configMapKeyRef) {
      env[e.name] = named(objects, "ConfigMap", e.valueFrom.configMapKeyRef.name).data[e.valueFrom.configMapKeyRef.key];
    }
  }
  return { env, literal };
}

const SECRET_LIKE = /TOKEN|SECRET|PASSWORD|API_KEYS|_KEY$|CONNECTION_STRING/;

describe("deploy/k8s", () => {
  test("the base's patch semantics: null deletes, containers and env merge by name, other lists are replaced", () => {
    const base = {
      spec: {
        nodeSelector: { a: "1", b: "2" },
        tolerations: [{ key: "x" }],
        containers: [{ name: "c", env: [{ name: "A", value: "1" }], image: "i" }],
      },
    };
    const out = strategicMerge(base, {
      spec: {
        nodeSelector: { a: null, c: "3" },
        tolerations: [{ key: "y" }],
        containers: [{ name: "c", env: [{ name: "B", value: "2" }] }],
      },
    });
    expect(out).toEqual({
      spec: {
        nodeSelector: { b: "2", c: "3" },
        tolerations: [{ key: "y" }],
        containers: [{ name: "c", env: [{ name: "A", value: "1" }, { name: "B", value: "2" }], image: "i" }],
      },
    });
  });

  for (const [overlay, backend] of Object.entries(OVERLAYS)) {
    describe(`overlay ${overlay}`, () => {
      const objects = renderKustomization(join(k8sDir, "overlays", overlay));

      test("every object validates against the Kubernetes / KEDA schema", async () => {
        expect(objects.length).toBeGreaterThan(15);
        for (const o of objects) {
          try {
            await validateSchema(o);
          } catch (err) {
            throw new Error(`${o.kind} ${o.metadata?.name}: ${(err as Error).message}`);
          }
        }
        const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
        expect(new Set(ids).size).toBe(ids.length);
      });

      test("Secrets are referenced, never defined or inlined", () => {
        expect(byKind(objects, "Secret")).toEqual([]);
        for (const d of byKind(objects, "Deployment")) {
          for (const c of podContainers(d)) {
            for (const e of c.env ?? []) {
              if (SECRET_LIKE.test(e.name)) {
                expect({ name: e.name, value: e.value }).toEqual({ name: e.name, value: undefined });
              }
            }
          }
        }
        for (const cm of byKind(objects, "ConfigMap")) {
          for (const k of Object.keys(cm.data ?? {})) expect(SECRET_LIKE.test(k)).toBe(false);
        }
      });

      test("each Deployment: a script that exists, probes on health/ready, requests and limits, non-root", () => {
        const deployments = byKind(objects, "Deployment").filter((d) => d.metadata.name !== "foliosync-redis");
        expect(deployments.map((d) => d.metadata.name).sort()).toEqual(
          ["gateway", "merge", "notify", "plan", "sync", "train"].map((n) => `foliosync-${n}`),
        );
        for (const d of deployments) {
          const pod = d.spec.template.spec;
          expect(selects(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
          const [c] = pod.containers;
          const imageName = Object.keys(IMAGES).find((i) =>
            c.image === i || c.image.match(new RegExp(`/${i}:`)) || c.image.startsWith(`${i}:`)
          );
          expect({ deployment: d.metadata.name, imageName }).toEqual({
            deployment: d.metadata.name,
            imageName: expect.any(String),
          });
          const stage = imageStage(imageName as keyof typeof IMAGES);
          const entry = execForm(lastOf(stage, "ENTRYPOINT"));
          expect(existsSync(join(repoRoot, entryScript(c.command ?? entry)))).toBe(true);
          // Runs as the image's own non-root user.
          expect(pod.securityContext.runAsNonRoot).toBe(true);
          expect(pod.securityContext.runAsUser).toBe(IMAGE_USERS[lastOf(stage, "USER")!]);
          expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
          if (imageName === "foliosync-worker") {
            const role = d.metadata.name.replace("foliosync-", "");
            expect(c.args).toEqual(["--role", role]);
            expect(ROLES as readonly string[]).toContain(role);
          }
          for (const r of ["requests", "limits"]) {
            expect(c.resources[r].cpu).toBeDefined();
            expect(c.resources[r].memory).toBeDefined();
          }
          const { env } = containerEnv(objects, c);
          const cfg = loadConfig(env);
          expect(cfg.STORAGE_BACKEND).toBe(backend);
          const gateway = imageName === "foliosync-gateway";
          const port = gateway ? cfg.PORT : cfg.WORKER_METRICS_PORT;
          const [health, ready] = gateway ? ["/api/health", "/api/ready"] : ["/health", "/ready"];
          expect(c.livenessProbe.httpGet.path).toBe(health);
          expect(c.readinessProbe.httpGet.path).toBe(ready);
          for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
            const named = c.ports.find((p: K8sObject) => p.name === probe.httpGet.port);
            expect(named?.containerPort).toBe(port);
          }
          // Every volume mount has its volume; every claim exists.
          for (const m of c.volumeMounts ?? []) {
            expect(pod.volumes.some((v: K8sObject) => v.name === m.name)).toBe(true);
          }
          for (const v of pod.volumes ?? []) {
            if (v.persistentVolumeClaim) named(objects, "PersistentVolumeClaim", v.persistentVolumeClaim.claimName);
          }
        }
      });

      test("every variable set in a container is one foliosync reads, and the required ones are set", () => {
        for (const d of byKind(objects, "Deployment").filter((d) => d.metadata.name !== "foliosync-redis")) {
          for (const c of podContainers(d)) {
            const { env } = containerEnv(objects, c);
            for (const k of Object.keys(env)) expect({ k, read: isRead(k) }).toEqual({ k, read: true });
            // Each storage backend's own variables are present (loadConfig throws without them).
            const cfg = loadConfig(env);
            if (backend === "gcs") expect(cfg.GCS_BUCKET).toBeTruthy();
            if (backend === "azure") expect(cfg.AZURE_CONTAINER).toBeTruthy();
            expect(env.REDIS_URL).toBe(SECRET_STANDINS.url);
          }
        }
      });

      test("Services and PodDisruptionBudgets select pods that exist", () => {
        const pods = byKind(objects, "Deployment").map((d) => d.spec.template.metadata.labels);
        for (const s of byKind(objects, "Service")) expect(pods.some((l) => selects(s.spec.selector, l))).toBe(true);
        const pdbs = byKind(objects, "PodDisruptionBudget");
        for (const n of ["gateway", "plan", "sync", "merge", "notify"]) {
          const labels = named(objects, "Deployment", `foliosync-${n}`).spec.template.metadata.labels;
          expect(pdbs.some((p) => selects(p.spec.selector.matchLabels, labels))).toBe(true);
        }
      });

      test("the gateway scales on CPU (HPA); the workers on their bee-queue waiting lists (KEDA)", () => {
        const hpa = named(objects, "HorizontalPodAutoscaler", "foliosync-gateway");
        expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "foliosync-gateway" });
        expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
        const prefix = named(objects, "ConfigMap", "foliosync-config").data.QUEUE_PREFIX ?? "fs";
        const want: Record<string, [number, number]> = { sync: [2, 20], merge: [1, 4], notify: [1, 4], train: [0, 1] };
        const scaled = byKind(objects, "ScaledObject");
        expect(scaled.map((s) => s.metadata.name).sort()).toEqual(
          Object.keys(want).map((q) => `foliosync-${q}`).sort(),
        );
        for (const [queue, [min, max]] of Object.entries(want)) {
          const so = named(objects, "ScaledObject", `foliosync-${queue}`);
          expect([so.spec.minReplicaCount, so.spec.maxReplicaCount]).toEqual([min, max]);
          named(objects, "Deployment", so.spec.scaleTargetRef.name);
          expect(so.spec.scaleTargetRef.name).toBe(`foliosync-${queue}`);
          const waiting = so.spec.triggers.find((t: K8sObject) =>
            t.metadata.listName === queueKey(prefix, queue as QueueName, "waiting")
          );
          expect(waiting?.type).toBe("redis");
          expect(Number(waiting.metadata.listLength)).toBeGreaterThan(0);
          for (const t of so.spec.triggers) {
            // Azure Cache for Redis speaks TLS only.
            expect(t.metadata.enableTLS).toBe(overlay === "azure" ? "true" : undefined);
            const auth = named(objects, "TriggerAuthentication", t.authenticationRef.name);
            const params = auth.spec.secretTargetRef.map((r: K8sObject) => r.parameter);
            expect(params).toContain("address");
            expect(t.metadata.address).toBeUndefined();
          }
        }
        // The gateway and the KEDA-scaled Deployments leave their replica count to the autoscaler.
        for (const n of ["gateway", "sync", "merge", "notify", "train"]) {
          expect(named(objects, "Deployment", `foliosync-${n}`).spec.replicas).toBeUndefined();
        }
      });

      test("training placement", () => {
        const pod = named(objects, "Deployment", "foliosync-train").spec.template.spec;
        const [c] = pod.containers;
        if (overlay === "local") {
          expect(c.resources.limits["nvidia.com/gpu"]).toBeUndefined();
          expect(pod.nodeSelector).toBeUndefined();
          return;
        }
        expect(c.resources.limits["nvidia.com/gpu"]).toBe(1);
        expect(Object.keys(pod.nodeSelector).length).toBe(1);
        expect(pod.tolerations.length).toBeGreaterThan(0);
        if (overlay === "gcp") expect(pod.nodeSelector["cloud.google.com/gke-accelerator"]).toBeTruthy();
        if (overlay === "azure") expect(pod.tolerations.some((t: K8sObject) => t.key === "sku")).toBe(true);
      });
    });
  }

  test("every YAML file under deploy/k8s parses, and every one is used by some overlay", () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith(".yaml")) files.push(join(d, e.name));
      }
    };
    walk(k8sDir);
    const used = new Set<string>();
    const collect = (dir: string) => {
      used.add(join(dir, "kustomization.yaml"));
      const [k] = loadYamlDocs(join(dir, "kustomization.yaml"));
      for (const r of k.resources ?? []) {
        const p = join(dir, r);
        if (existsSync(join(p, "kustomization.yaml"))) collect(p);
        else used.add(p);
      }
      for (const p of k.patches ?? []) used.add(join(dir, p.path));
    };
    for (const o of Object.keys(OVERLAYS)) collect(join(k8sDir, "overlays", o));
    for (const f of files) {
      expect(loadYamlDocs(f).length).toBeGreaterThan(0);
      expect({ f, used: used.has(f) }).toEqual({ f, used: true });
    }
  });
});

/**
 * TF.js backend selection for the training worker (Deno):
 * webgpu when `navigator.gpu` yields a hardware adapter, else wasm, else cpu.
 * A software fallback adapter (lavapipe, `isFallbackAdapter`) is passed over
 * in automatic mode: on it this model trains ~8x slower than on wasm.
 * TFJS_BACKEND forces one (and fails loudly if it cannot be used).
 */
import type * as tfType from "@tensorflow/tfjs";

export type BackendName = "webgpu" | "wasm" | "cpu";
export const BACKEND_ORDER: BackendName[] = ["webgpu", "wasm", "cpu"];

export interface AdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export interface BackendChoice {
  backend: BackendName;
  adapter?: AdapterInfo;
  /** Every backend tried, in order, and why it was not taken. */
  tried: Array<{ backend: BackendName; ok: boolean; reason?: string }>;
}

// deno-lint-ignore no-explicit-any -- WebGPU's types exist in Deno only, and adapter fields vary by implementation
type GpuLike = { requestAdapter(opts?: any): Promise<any> } | undefined | null;

export interface SelectOptions {
  /** Forces one backend ("" or undefined: automatic). */
  forced?: BackendName | "" | null;
  /** Injected for tests; defaults to globalThis.navigator?.gpu. */
  gpu?: GpuLike;
  log?: (msg: string) => void;
}

/** file:// URL of the directory holding tfjs-backend-wasm's .wasm files. */
export function wasmDir(): string {
  return new URL("../../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url).href;
}

function readAdapterInfo(adapter: { info?: Record<string, unknown> }): AdapterInfo {
  const info = adapter?.info ?? {};
  // GPUAdapterInfo fields are getters: read one by one.
  const out: AdapterInfo = {};
  for (const k of ["vendor", "architecture", "device", "description"] as const) {
    const v = (info as Record<string, unknown>)[k];
    if (typeof v === "string") out[k] = v;
  }
  // deno-lint-ignore no-explicit-any -- WebGPU's types exist in Deno only, and adapter fields vary by implementation
  const fb = (adapter as any)?.isFallbackAdapter ?? (info as any)?.isFallbackAdapter;
  if (typeof fb === "boolean") out.isFallbackAdapter = fb;
  return out;
}

async function tryBackend(
  tf: typeof tfType,
  name: BackendName,
  gpu: GpuLike,
  forcedWebgpu = false,
): Promise<{ ok: boolean; reason?: string; adapter?: AdapterInfo }> {
  try {
    if (name === "webgpu") {
      if (!gpu) return { ok: false, reason: "navigator.gpu is not available" };
      const adapter = await gpu.requestAdapter();
      if (!adapter) return { ok: false, reason: "navigator.gpu.requestAdapter() returned no adapter" };
      const info = readAdapterInfo(adapter);
      if (info.isFallbackAdapter && !forcedWebgpu) {
        // A software adapter (e.g. lavapipe) is several times slower than wasm for this model.
        return {
          ok: false,
          reason: `only a software fallback adapter (${
            info.description || info.vendor || "unknown"
          }); set TFJS_BACKEND=webgpu to use it`,
        };
      }
      await import("@tensorflow/tfjs-backend-webgpu");
      const ok = await tf.setBackend("webgpu");
      if (!ok) return { ok: false, reason: "tf.setBackend('webgpu') returned false" };
      return { ok: true, adapter: info };
    }
    if (name === "wasm") {
      const wasm = await import("@tensorflow/tfjs-backend-wasm");
      wasm.setWasmPaths(wasmDir());
      const ok = await tf.setBackend("wasm");
      return ok ? { ok: true } : { ok: false, reason: "tf.setBackend('wasm') returned false (is --allow-read given?)" };
    }
    const ok = await tf.setBackend("cpu");
    return ok ? { ok: true } : { ok: false, reason: "tf.setBackend('cpu') returned false" };
  } catch (err) {
    return { ok: false, reason: `${(err as Error)?.message ?? err}` };
  }
}

export async function selectBackend(tf: typeof tfType, opts: SelectOptions = {}): Promise<BackendChoice> {
  // deno-lint-ignore no-explicit-any -- WebGPU's types exist in Deno only, and adapter fields vary by implementation
  const gpu = "gpu" in opts ? opts.gpu : (globalThis as any).navigator?.gpu;
  const log = opts.log ?? (() => {});
  const tried: BackendChoice["tried"] = [];
  const order = opts.forced ? [opts.forced] : BACKEND_ORDER;
  for (const name of order) {
    const r = await tryBackend(tf, name, gpu, opts.forced === "webgpu");
    tried.push({ backend: name, ok: r.ok, ...(r.reason ? { reason: r.reason } : {}) });
    if (r.ok) {
      await tf.ready();
      log(`tfjs backend: ${name}${r.adapter ? ` (${JSON.stringify(r.adapter)})` : ""}`);
      return { backend: name, tried, ...(r.adapter ? { adapter: r.adapter } : {}) };
    }
    log(`tfjs backend ${name} unavailable: ${r.reason}`);
  }
  throw new Error(
    `no usable tfjs backend (${tried.map((t) => `${t.backend}: ${t.reason}`).join("; ")})`,
  );
}

import type { Config } from "../config.ts";
import { ConfigError, describeError, FoliosyncError, InvalidNameError, StorageUnavailableError } from "../errors.ts";
import type { RetryOptions } from "../retry.ts";
import type { BlobStore, PutOptions } from "./types.ts";

export type { BlobStore, PutOptions, StoredObject } from "./types.ts";

/** Options for tests and tuning; production code passes none. */
export interface StoreOptions {
  /** Page size for list() (forces paging in tests). */
  pageSize?: number;
  /** Transient-fault retry policy (see shared/retry.ts). */
  retry?: RetryOptions;
}

/**
 * Picks the backend from the config. The SDK of a backend is only loaded
 * (dynamic import) when that backend is chosen. Every fault of the backend
 * leaves the store as a StorageUnavailableError (faultsAsUnavailable).
 */
export async function createStore(cfg: Config, opts: StoreOptions = {}): Promise<BlobStore> {
  return faultsAsUnavailable(await openBackend(cfg, opts));
}

/**
 * The store with every fault of its backend (an SDK or file-system error,
 * after the adapter's retries) thrown as StorageUnavailableError, its cause
 * kept: so a job failed by storage says `storage_unavailable`
 * (errorCodeOf), while retry decisions, which read the cause's status and
 * code, stay as they were. Our own errors (a failed precondition, a bad key,
 * a stored record that is not JSON) pass unchanged.
 */
export function faultsAsUnavailable(store: BlobStore): BlobStore {
  const guard = <A extends unknown[], R>(op: string, fn: (...args: A) => Promise<R>) => async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof FoliosyncError) throw err;
      throw new StorageUnavailableError(`storage ${op} failed (${store.backend}): ${describeError(err)}`, {
        cause: err,
      });
    }
  };
  return {
    backend: store.backend,
    get: guard("get", (key: string) => store.get(key)),
    put: guard("put", (key: string, data: Uint8Array | string, o?: PutOptions) => store.put(key, data, o)),
    list: guard("list", (prefix: string) => store.list(prefix)),
    delete: guard("delete", (key: string) => store.delete(key)),
    ping: guard("ping", () => store.ping()),
    ...(store.close ? { close: () => store.close!() } : {}),
  };
}

async function openBackend(cfg: Config, opts: StoreOptions): Promise<BlobStore> {
  const backend = cfg.STORAGE_BACKEND ?? "local";
  switch (backend) {
    case "local": {
      if (!cfg.STORAGE_DIR) throw new ConfigError("invalid configuration: STORAGE_BACKEND=local needs STORAGE_DIR");
      const { LocalStore } = await import("./local/local-store.ts");
      return LocalStore.open(cfg.STORAGE_DIR, { fsync: cfg.STORAGE_FSYNC, ...opts });
    }
    case "gcs": {
      if (!cfg.GCS_BUCKET) throw new ConfigError("invalid configuration: STORAGE_BACKEND=gcs needs GCS_BUCKET");
      const { GcsStore } = await import("./gcs/gcs-store.ts");
      return GcsStore.open({ bucket: cfg.GCS_BUCKET, apiEndpoint: cfg.GCS_API_ENDPOINT, ...opts });
    }
    case "azure": {
      if (!cfg.AZURE_STORAGE_CONNECTION_STRING) {
        throw new ConfigError("invalid configuration: STORAGE_BACKEND=azure needs AZURE_STORAGE_CONNECTION_STRING");
      }
      if (!cfg.AZURE_CONTAINER) {
        throw new ConfigError("invalid configuration: STORAGE_BACKEND=azure needs AZURE_CONTAINER");
      }
      const { AzureStore } = await import("./azure/azure-store.ts");
      return AzureStore.open({
        connectionString: cfg.AZURE_STORAGE_CONNECTION_STRING,
        container: cfg.AZURE_CONTAINER,
        ...opts,
      });
    }
    default:
      throw new ConfigError(
        `invalid configuration: STORAGE_BACKEND=${JSON.stringify(backend)}: must be one of local, gcs, azure`,
      );
  }
}

// ---- helpers shared by the adapters -------------------------------------

/** Segments starting with this are reserved for the local backend's temp and lock files. */
export const RESERVED_SEGMENT_PREFIX = ".~";

/**
 * Storage keys are relative, '/'-separated paths: no empty, '.' or '..'
 * segment, no leading '/', no backslash, no control character, no reserved
 * '.~' segment. Every backend enforces the same rule so that data can move
 * between them. Spaces and any other Unicode are allowed.
 */
export function validateKey(key: string): string {
  const bad = (why: string) => new InvalidNameError(`invalid storage key ${JSON.stringify(key)}: ${why}`);
  if (typeof key !== "string" || key.length === 0) throw bad("empty");
  if (key.length > 1024) throw bad("longer than 1024 characters");
  if (key.startsWith("/")) throw bad("absolute");
  if (key.includes("\\")) throw bad("backslash");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw bad("control character");
  if (/[\ud800-\udfff]/.test(key.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""))) throw bad("lone surrogate");
  for (const seg of key.split("/")) {
    if (seg === "") throw bad("empty segment");
    if (seg === "." || seg === "..") throw bad(`'${seg}' segment`);
    if (seg.startsWith(RESERVED_SEGMENT_PREFIX)) throw bad(`segment starts with reserved '${RESERVED_SEGMENT_PREFIX}'`);
  }
  return key;
}

/** A list prefix: "" or the start of a key; complete segments follow the key rules, the last may be partial. */
export function validatePrefix(prefix: string): string {
  const bad = (why: string) => new InvalidNameError(`invalid storage prefix ${JSON.stringify(prefix)}: ${why}`);
  if (typeof prefix !== "string") throw bad("not a string");
  if (prefix === "") return prefix;
  if (prefix.startsWith("/")) throw bad("absolute");
  if (prefix.includes("\\")) throw bad("backslash");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(prefix)) throw bad("control character");
  const segs = prefix.split("/");
  for (let i = 0; i < segs.length - 1; i++) {
    if (segs[i] === "" || segs[i] === "." || segs[i] === "..") throw bad(`'${segs[i]}' segment`);
  }
  if (segs[segs.length - 1] === "..") throw bad("'..' segment");
  return prefix;
}

/** application/json for .json keys, else application/octet-stream. */
export function defaultContentType(key: string): string {
  return key.toLowerCase().endsWith(".json") ? "application/json" : "application/octet-stream";
}

const encoder = new TextEncoder();
export function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** JS string order (UTF-16 code units), the same on every backend. */
export function sortKeys(keys: string[]): string[] {
  return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

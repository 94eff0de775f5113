import type { Config } from "../config.ts";
import { ConfigError, describeError, FoliosyncError, StorageUnavailableError } from "../errors.ts";
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

import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import type { RetryOptions } from "../retry.ts";
import type { BlobStore } from "./types.ts";

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
 * (dynamic import) when that backend is chosen.
 */
export async function createStore(cfg: Config, opts: StoreOptions = {}): Promise<BlobStore> {
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

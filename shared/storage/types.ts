/**
 * The one blob storage interface every backend implements (local directory,
 * Google Cloud Storage, Azure Blob). Versions are opaque strings: a content
 * hash / generation file locally, the object generation on GCS, the ETag on
 * Azure. A failed precondition always throws PreconditionFailedError.
 */
export interface StoredObject {
  data: Uint8Array;
  version: string;
  contentType?: string;
}

export interface PutOptions {
  /** Create-only: fail if the key exists. */
  ifAbsent?: boolean;
  /** Match-version: fail unless the key's current version is this one. */
  ifVersion?: string;
  contentType?: string;
}

export interface BlobStore {
  readonly backend: "local" | "gcs" | "azure";
  get(key: string): Promise<StoredObject | null>;
  put(key: string, data: Uint8Array | string, options?: PutOptions): Promise<{ version: string }>;
  /** Every key under the prefix (the adapter pages internally), sorted. */
  list(prefix: string): Promise<string[]>;
  /** true if something was deleted. */
  delete(key: string): Promise<boolean>;
  /** Throws when the backend is unreachable (readiness). */
  ping(): Promise<void>;
  close?(): Promise<void>;
}

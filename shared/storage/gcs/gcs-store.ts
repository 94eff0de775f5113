import { type Bucket, Storage } from "@google-cloud/storage";
import { createHash } from "node:crypto";
import { PreconditionFailedError } from "../../errors.ts";
import { defaultContentType, sortKeys, toBytes, validateKey, validatePrefix } from "../common.ts";
import { httpStatusOf, type RetryOptions, withRetry } from "../../retry.ts";
import type { BlobStore, PutOptions, StoredObject } from "../types.ts";

/**
 * Google Cloud Storage backend. version = object generation; preconditions
 * = ifGenerationMatch (0 = create-only). The client's own retries are off:
 * transient faults are retried here (shared/retry.ts), so one policy covers every
 * backend. Both 412 shapes (GaxiosError.status on resumable uploads,
 * ApiError.code on multipart ones) become PreconditionFailedError.
 */
export interface GcsStoreOptions {
  bucket: string;
  /** A GCS-compatible JSON API endpoint (tests): then no credentials are used. */
  apiEndpoint?: string;
  projectId?: string;
  /** list() page size (default 1000, the service maximum). */
  pageSize?: number;
  retry?: RetryOptions;
  /** Objects at least this large use a resumable upload (default 8 MiB); smaller ones one multipart request. */
  resumableThreshold?: number;
  /** A preconfigured client (tests, custom auth). */
  storage?: Storage;
}

const isNotFound = (err: unknown) => httpStatusOf(err) === 404;
const isPrecondition = (err: unknown) => httpStatusOf(err) === 412;
const md5b64 = (b: Uint8Array) => createHash("md5").update(b).digest("base64");

export class GcsStore implements BlobStore {
  readonly backend = "gcs" as const;
  private readonly pageSize: number;
  private readonly retry: RetryOptions;
  private readonly resumableThreshold: number;

  private constructor(readonly storage: Storage, readonly bucket: Bucket, opts: GcsStoreOptions) {
    this.pageSize = Math.max(1, Math.min(1000, opts.pageSize ?? 1000));
    this.retry = opts.retry ?? {};
    this.resumableThreshold = opts.resumableThreshold ?? 8 * 1024 * 1024;
  }

  static open(opts: GcsStoreOptions): Promise<GcsStore> {
    const storage = opts.storage ??
      new Storage({
        ...(opts.apiEndpoint
          ? {
            apiEndpoint: opts.apiEndpoint.replace(/\/+$/, ""),
            projectId: opts.projectId ?? "foliosync-local",
            useAuthWithCustomEndpoint: false,
          }
          : opts.projectId
          ? { projectId: opts.projectId }
          : {}),
        retryOptions: { autoRetry: false, maxRetries: 0 },
      });
    return Promise.resolve(new GcsStore(storage, storage.bucket(opts.bucket), opts));
  }

  async get(key: string): Promise<StoredObject | null> {
    validateKey(key);
    return await withRetry(async () => {
      // Metadata first, then the bytes of exactly that generation: data and
      // version always belong together. An overwrite in between → try again.
      for (let i = 0; i < 5; i++) {
        let meta;
        try {
          [meta] = await this.bucket.file(key).getMetadata();
        } catch (err) {
          if (isNotFound(err)) return null;
          throw err;
        }
        const generation = String(meta.generation);
        try {
          const [buf] = await this.bucket.file(key, { generation }).download();
          return {
            data: new Uint8Array(buf),
            version: generation,
            contentType: meta.contentType ?? defaultContentType(key),
          };
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      throw Object.assign(new Error(`gcs: ${key} kept changing while being read`), { code: 503 });
    }, this.retry);
  }

  async put(key: string, data: Uint8Array | string, options: PutOptions = {}): Promise<{ version: string }> {
    validateKey(key);
    const bytes = toBytes(data);
    const contentType = options.contentType ?? defaultContentType(key);
    const conditional = options.ifAbsent || options.ifVersion !== undefined;
    let ifGenerationMatch: number | string | undefined;
    if (options.ifAbsent) ifGenerationMatch = 0;
    if (options.ifVersion !== undefined) {
      if (!/^[1-9]\d*$/.test(options.ifVersion) || options.ifAbsent) {
        throw new PreconditionFailedError(
          key,
          `precondition failed for ${key}: ${options.ifVersion} is not a current generation`,
        );
      }
      ifGenerationMatch = options.ifVersion;
    }
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return await withRetry(async (attempt) => {
      const file = this.bucket.file(key);
      try {
        await file.save(body, {
          resumable: bytes.byteLength >= this.resumableThreshold,
          contentType,
          metadata: { contentType },
          validation: "crc32c",
          ...(ifGenerationMatch !== undefined ? { preconditionOpts: { ifGenerationMatch } } : {}),
        });
        return { version: String(file.metadata.generation) };
      } catch (err) {
        if (!isPrecondition(err)) throw err;
        if (attempt > 0 && conditional) {
          // An earlier attempt may have landed before its answer was lost: if
          // the object now holds exactly our bytes, that write was ours.
          const mine = await this.currentIfSame(key, bytes);
          if (mine) return { version: mine };
        }
        throw new PreconditionFailedError(key, `precondition failed for ${key}`, { cause: err });
      }
    }, this.retry);
  }

  private async currentIfSame(key: string, bytes: Uint8Array): Promise<string | null> {
    try {
      const [meta] = await this.bucket.file(key).getMetadata();
      return meta.md5Hash === md5b64(bytes) ? String(meta.generation) : null;
    } catch {
      return null;
    }
  }

  // The same page loop as AzureStore.list, over each SDK's own paging (page token vs continuation token):
  // each page is one retried call, so a fault mid-listing repeats one page, not the listing.
  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const keys: string[] = [];
    let pageToken: string | undefined;
    do {
      const token = pageToken;
      const [files, next] = await withRetry(
        () =>
          this.bucket.getFiles({
            prefix,
            maxResults: this.pageSize,
            autoPaginate: false,
            ...(token ? { pageToken: token } : {}),
          }),
        this.retry,
      );
      for (const f of files) keys.push(f.name);
      pageToken = (next as { pageToken?: string } | null | undefined)?.pageToken;
    } while (pageToken);
    return sortKeys(keys);
  }

  async delete(key: string): Promise<boolean> {
    validateKey(key);
    return await withRetry(async () => {
      try {
        await this.bucket.file(key).delete();
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    }, this.retry);
  }

  async ping(): Promise<void> {
    const [exists] = await withRetry(() => this.bucket.exists(), {
      ...this.retry,
      retries: Math.min(1, this.retry.retries ?? 1),
    });
    if (!exists) throw new Error(`gcs: bucket ${this.bucket.name} does not exist`);
  }

  async close(): Promise<void> {}
}

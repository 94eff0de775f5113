import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { PreconditionFailedError } from "../../errors.ts";
import { bytesEqual, defaultContentType, sortKeys, toBytes, validateKey, validatePrefix } from "../common.ts";
import { httpStatusOf, type RetryOptions, withRetry } from "../../retry.ts";
import type { BlobStore, PutOptions, StoredObject } from "../types.ts";

/**
 * Azure Blob backend (block blobs). version = ETag; create-only =
 * ifNoneMatch "*" (409 BlobAlreadyExists), match-version = ifMatch (412
 * ConditionNotMet): both become PreconditionFailedError. The SDK's own retry
 * policy is cut to one try: transient faults are retried here (shared/retry.ts).
 * The container is created at open() when missing.
 */
export interface AzureStoreOptions {
  connectionString: string;
  container: string;
  /** list() page size (default 5000, the service maximum). */
  pageSize?: number;
  retry?: RetryOptions;
  /** Skip createIfNotExists at open (the container is known to exist). */
  skipCreateContainer?: boolean;
}

function errorCode(err: unknown): string | undefined {
  const e = err as {
    code?: unknown;
    details?: { errorCode?: string };
    response?: { headers?: { get?(n: string): string | undefined } };
  };
  if (typeof e?.code === "string") return e.code;
  return e?.details?.errorCode ?? e?.response?.headers?.get?.("x-ms-error-code");
}

async function readAll(stream: NodeJS.ReadableStream | undefined, blob?: Promise<Blob>): Promise<Uint8Array> {
  if (!stream) {
    if (blob) return new Uint8Array(await (await blob).arrayBuffer());
    return new Uint8Array(0);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
    const c = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    parts.push(c);
    total += c.byteLength;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

export class AzureStore implements BlobStore {
  readonly backend = "azure" as const;
  private readonly pageSize: number;
  private readonly retry: RetryOptions;

  private constructor(readonly container: ContainerClient, opts: AzureStoreOptions) {
    this.pageSize = Math.max(1, Math.min(5000, opts.pageSize ?? 5000));
    this.retry = opts.retry ?? {};
  }

  static async open(opts: AzureStoreOptions): Promise<AzureStore> {
    const service = BlobServiceClient.fromConnectionString(opts.connectionString, { retryOptions: { maxTries: 1 } });
    const container = service.getContainerClient(opts.container);
    if (!opts.skipCreateContainer) await withRetry(() => container.createIfNotExists(), opts.retry);
    return new AzureStore(container, opts);
  }

  async get(key: string): Promise<StoredObject | null> {
    validateKey(key);
    return await withRetry(async () => {
      try {
        const res = await this.container.getBlobClient(key).download(0, undefined, { maxRetryRequests: 0 });
        const data = await readAll(res.readableStreamBody, res.blobBody);
        return { data, version: res.etag!, contentType: res.contentType ?? defaultContentType(key) };
      } catch (err) {
        if (httpStatusOf(err) === 404) return null;
        throw err;
      }
    }, this.retry);
  }

  async put(key: string, data: Uint8Array | string, options: PutOptions = {}): Promise<{ version: string }> {
    validateKey(key);
    const bytes = toBytes(data);
    const contentType = options.contentType ?? defaultContentType(key);
    const conditions = {
      ...(options.ifAbsent ? { ifNoneMatch: "*" } : {}),
      ...(options.ifVersion !== undefined ? { ifMatch: options.ifVersion } : {}),
    };
    const conditional = options.ifAbsent || options.ifVersion !== undefined;
    return await withRetry(async (attempt) => {
      try {
        const res = await this.container.getBlockBlobClient(key).upload(bytes, bytes.byteLength, {
          blobHTTPHeaders: { blobContentType: contentType },
          conditions,
        });
        return { version: res.etag! };
      } catch (err) {
        const status = httpStatusOf(err);
        const lost = status === 412 ||
          (status === 409 && options.ifAbsent && (errorCode(err) ?? "BlobAlreadyExists") === "BlobAlreadyExists") ||
          (status === 404 && options.ifVersion !== undefined && errorCode(err) !== "ContainerNotFound");
        if (!lost) throw err;
        if (attempt > 0 && conditional) {
          // An earlier attempt may have landed before its answer was lost.
          const cur = await this.get(key).catch(() => null);
          if (cur && bytesEqual(cur.data, bytes)) return { version: cur.version };
        }
        throw new PreconditionFailedError(key, `precondition failed for ${key} (${errorCode(err) ?? status})`, {
          cause: err,
        });
      }
    }, this.retry);
  }

  // The same page loop as GcsStore.list, over each SDK's own paging (continuation token vs page token):
  // each page is one retried call, so a fault mid-listing repeats one page, not the listing.
  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const continuationToken = token;
      const page = await withRetry(async () => {
        const it = this.container
          .listBlobsFlat(prefix ? { prefix } : {})
          .byPage({ maxPageSize: this.pageSize, ...(continuationToken ? { continuationToken } : {}) });
        return (await it.next()).value;
      }, this.retry);
      if (!page) break;
      for (const b of page.segment.blobItems) keys.push(b.name);
      token = page.continuationToken || undefined;
    } while (token);
    return sortKeys(keys);
  }

  async delete(key: string): Promise<boolean> {
    validateKey(key);
    return await withRetry(async () => {
      const res = await this.container.getBlobClient(key).deleteIfExists();
      return res.succeeded;
    }, this.retry);
  }

  async ping(): Promise<void> {
    await withRetry(() => this.container.getProperties(), {
      ...this.retry,
      retries: Math.min(1, this.retry.retries ?? 1),
    });
  }

  async close(): Promise<void> {}
}

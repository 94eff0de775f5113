/**
 * The project's own small Google Cloud Storage JSON-API server, for tests and
 * local runs: the subset @google-cloud/storage uses (resumable, multipart and
 * media uploads; object metadata and ?alt=media download; list with prefix,
 * delimiter, maxResults, pageToken; delete; bucket get/insert/delete) with
 * the real service's preconditions (ifGenerationMatch, 0 = must not exist;
 * ifGenerationNotMatch; ifMetagenerationMatch/NotMatch → 412
 * conditionNotMet, 304 on a GET) and error shapes. Upload answers carry
 * correct base64 big-endian crc32c and md5Hash, downloads an x-goog-hash.
 *
 * In process: `const gcs = await startGcsTestServer()`; as a child process
 * (e.g. for Deno): `bun tests/support/gcs-test-server.ts [--port P]
 * [--bucket B]…` prints "gcs-test-server listening on <url>".
 *
 * Faults: setFailNext(n, status | "reset", match?) answers the next n
 * matching requests with that status (GCS error JSON) or resets the socket.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { numberFlag, parseScriptArgs } from "../../scripts/lib/cli-args.ts";

// ---- CRC32C (Castagnoli), reflected polynomial 0x82F63B78 -----------------
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC32C_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** GCS's crc32c field: base64 of the 4 big-endian bytes. */
export function crc32cBase64(data: Uint8Array): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data));
  return b.toString("base64");
}
export function md5Base64(data: Uint8Array): string {
  return createHash("md5").update(data).digest("base64");
}

interface StoredObj {
  name: string;
  data: Buffer;
  generation: string;
  metageneration: number;
  contentType: string;
  metadata?: Record<string, string>;
  created: string;
  updated: string;
  md5Hash: string;
  crc32c: string;
}
interface Upload {
  bucket: string;
  name: string;
  meta: Record<string, unknown>;
  query: URLSearchParams;
  chunks: Buffer[];
  received: number;
  done?: StoredObj;
}
type Fault = { remaining: number; status: number | "reset"; match?: (method: string, path: string) => boolean };

export interface GcsTestServer {
  url: string;
  port: number;
  /** Buckets must exist, as on the real service: create them here (or POST /storage/v1/b). */
  createBucket(name: string): void;
  /** The next n requests (matching `match`, if given) fail with `status` (503 default) or a socket reset. */
  setFailNext(n: number, status?: number | "reset", match?: (method: string, path: string) => boolean): void;
  /** Drops every pending injected fault. */
  clearFaults(): void;
  /** Every request seen, as "METHOD /path?query". */
  requests: string[];
  /**
   * Stops listening and drops every open connection (clients get
   * "connection refused", as from a stopped service); the objects stay, as a
   * real service's storage does across a restart.
   */
  pause(): Promise<void>;
  /** Listens again on the same port, with the same objects. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
const notFound = (msg: string) => new HttpError(404, msg, "notFound");
const conditionNotMet = () =>
  new HttpError(412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet", {
    locationType: "header",
    location: "If-Match",
  });

export async function startGcsTestServer(
  opts: { port?: number; host?: string; buckets?: string[] } = {},
): Promise<GcsTestServer> {
  const host = opts.host ?? "127.0.0.1";
  const buckets = new Map<string, Map<string, StoredObj>>();
  const bucketCreated = new Map<string, string>();
  const uploads = new Map<string, Upload>();
  const faults: Fault[] = [];
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let lastGen = 0;
  let base = "";

  const createBucket = (name: string) => {
    if (!buckets.has(name)) {
      buckets.set(name, new Map());
      bucketCreated.set(name, new Date().toISOString());
    }
  };
  for (const b of opts.buckets ?? []) createBucket(b);

  const nextGeneration = () => {
    // microseconds since the epoch, strictly increasing (like GCS generations)
    lastGen = Math.max(lastGen + 1, Date.now() * 1000);
    return String(lastGen);
  };
  const bucketOf = (name: string) => {
    const b = buckets.get(name);
    if (!b) throw notFound("The specified bucket does not exist.");
    return b;
  };
  const objectJson = (bucket: string, o: StoredObj) => {
    const enc = encodeURIComponent(o.name);
    return {
      kind: "storage#object",
      id: `${bucket}/${o.name}/${o.generation}`,
      selfLink: `${base}/storage/v1/b/${bucket}/o/${enc}`,
      mediaLink: `${base}/download/storage/v1/b/${bucket}/o/${enc}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket,
      generation: o.generation,
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: "STANDARD",
      size: String(o.data.length),
      md5Hash: o.md5Hash,
      crc32c: o.crc32c,
      etag: Buffer.from(`${o.generation}/${o.metageneration}`).toString("base64"),
      timeCreated: o.created,
      updated: o.updated,
      timeStorageClassUpdated: o.created,
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
  };

  /** The real service's precondition rules; `read` turns NotMatch failures into 304. */
  const checkPreconditions = (q: URLSearchParams, current: StoredObj | undefined, read: boolean) => {
    const gm = q.get("ifGenerationMatch");
    if (gm !== null) {
      if (gm === "0" ? current !== undefined : current?.generation !== gm) throw conditionNotMet();
    }
    const mm = q.get("ifMetagenerationMatch");
    if (mm !== null && (!current || String(current.metageneration) !== mm)) throw conditionNotMet();
    const gnm = q.get("ifGenerationNotMatch");
    if (gnm !== null && current && current.generation === gnm) {
      throw read ? new HttpError(304, "Not Modified", "notModified") : conditionNotMet();
    }
    const mnm = q.get("ifMetagenerationNotMatch");
    if (mnm !== null && current && String(current.metageneration) === mnm) {
      throw read ? new HttpError(304, "Not Modified", "notModified") : conditionNotMet();
    }
  };

  const store = (
    bucket: string,
    name: string,
    data: Buffer,
    meta: Record<string, unknown>,
    q: URLSearchParams,
    contentTypeHeader?: string,
  ) => {
    if (!name) throw new HttpError(400, "Required", "required");
    const objects = bucketOf(bucket);
    const current = objects.get(name);
    checkPreconditions(q, current, false);
    const md5 = md5Base64(data);
    const crc = crc32cBase64(data);
    if (meta.crc32c && meta.crc32c !== crc) {
      throw new HttpError(400, `Provided CRC32C "${meta.crc32c}" doesn't match calculated CRC32C "${crc}".`, "invalid");
    }
    if (meta.md5Hash && meta.md5Hash !== md5) {
      throw new HttpError(
        400,
        `Provided MD5 hash "${meta.md5Hash}" doesn't match calculated MD5 hash "${md5}".`,
        "invalid",
      );
    }
    const now = new Date().toISOString();
    const obj: StoredObj = {
      name,
      data,
      generation: nextGeneration(),
      metageneration: 1,
      contentType: (meta.contentType as string | undefined) || contentTypeHeader || "application/octet-stream",
      metadata: meta.metadata as Record<string, string> | undefined,
      created: now,
      updated: now,
      md5Hash: md5,
      crc32c: crc,
    };
    objects.set(name, obj);
    return obj;
  };

  const checkGoogHash = (req: IncomingMessage, data: Buffer) => {
    const h = req.headers["x-goog-hash"];
    if (!h) return;
    for (const part of String(h).split(",")) {
      const [alg, ...rest] = part.trim().split("=");
      const val = rest.join("=");
      if (alg === "crc32c" && val !== crc32cBase64(data)) throw new HttpError(400, "CRC32C mismatch", "invalid");
      if (alg === "md5" && val !== md5Base64(data)) throw new HttpError(400, "MD5 mismatch", "invalid");
    }
  };

  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(Buffer.from(c)));
      req.on("end", () => resolve(Buffer.concat(parts)));
      req.on("error", reject);
    });

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json; charset=UTF-8",
      "Content-Length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };
  const sendError = (res: ServerResponse, e: HttpError) => {
    if (e.status === 304) {
      res.writeHead(304);
      res.end();
      return;
    }
    sendJson(res, e.status, {
      error: {
        code: e.status,
        message: e.message,
        errors: [{ message: e.message, domain: "global", reason: e.reason, ...e.extra }],
      },
    });
  };

  const parseMultipart = (body: Buffer, contentType: string) => {
    const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
    if (!m) throw new HttpError(400, "multipart body without boundary", "invalid");
    const delim = Buffer.from(`--${m[1] ?? m[2].trim()}`);
    const parts: { headers: Record<string, string>; body: Buffer }[] = [];
    let pos = body.indexOf(delim);
    while (pos >= 0) {
      let start = pos + delim.length;
      if (body.subarray(start, start + 2).toString() === "--") break;
      if (body.subarray(start, start + 2).toString() === "\r\n") start += 2;
      const next = body.indexOf(delim, start);
      if (next < 0) break;
      let end = next;
      if (body.subarray(end - 2, end).toString() === "\r\n") end -= 2;
      const part = body.subarray(start, end);
      const sep = part.indexOf("\r\n\r\n");
      const headers: Record<string, string> = {};
      for (const line of part.subarray(0, sep < 0 ? 0 : sep).toString().split("\r\n")) {
        const i = line.indexOf(":");
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      parts.push({ headers, body: sep < 0 ? part : part.subarray(sep + 4) });
      pos = next;
    }
    if (parts.length < 2) throw new HttpError(400, "multipart upload needs metadata and media parts", "invalid");
    return {
      meta: JSON.parse(parts[0].body.toString() || "{}"),
      media: Buffer.from(parts[1].body),
      mediaType: parts[1].headers["content-type"],
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", base);
    const method = req.method ?? "GET";
    const path = url.pathname;
    const q = url.searchParams;
    requests.push(`${method} ${path}${url.search}`);

    const fault = faults.find((f) => f.remaining > 0 && (!f.match || f.match(method, path + url.search)));
    if (fault) {
      fault.remaining--;
      if (fault.status === "reset") {
        req.socket.destroy();
        return;
      }
      await readBody(req);
      throw new HttpError(fault.status, "Injected fault", fault.status === 429 ? "rateLimitExceeded" : "backendError");
    }

    const seg = path.split("/").slice(1); // raw, still percent-encoded
    const dec = (s: string) => decodeURIComponent(s);

    // ---- uploads: /upload/storage/v1/b/B/o -----------------------------------
    if (
      seg[0] === "upload" && seg[1] === "storage" && seg[2] === "v1" && seg[3] === "b" && seg[5] === "o" &&
      seg.length === 6
    ) {
      const bucket = dec(seg[4]);
      bucketOf(bucket);
      const type = q.get("uploadType");
      if (method === "POST" && type === "resumable") {
        const body = await readBody(req);
        const meta = body.length ? JSON.parse(body.toString()) : {};
        const name = meta.name ?? q.get("name") ?? "";
        if (!name) throw new HttpError(400, "Required", "required");
        checkPreconditions(q, buckets.get(bucket)!.get(name), false);
        const id = randomBytes(12).toString("hex");
        const ct = req.headers["x-upload-content-type"];
        uploads.set(id, {
          bucket,
          name,
          meta: { ...meta, contentType: meta.contentType ?? (ct ? String(ct) : undefined) },
          query: q,
          chunks: [],
          received: 0,
        });
        const loc = new URL(`${base}/upload/storage/v1/b/${seg[4]}/o`);
        loc.searchParams.set("uploadType", "resumable");
        loc.searchParams.set("name", name);
        loc.searchParams.set("upload_id", id);
        res.writeHead(200, { Location: loc.toString(), "X-GUploader-UploadID": id, "Content-Length": 0 });
        res.end();
        return;
      }
      if (method === "PUT" && type === "resumable" && q.get("upload_id")) {
        const up = uploads.get(q.get("upload_id")!);
        const body = await readBody(req);
        if (!up) throw notFound("No such upload session.");
        if (up.done) return sendJson(res, 200, objectJson(up.bucket, up.done));
        const range = String(req.headers["content-range"] ?? "");
        const status = /^bytes \*\/(\d+|\*)$/.exec(range);
        const chunk = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range);
        let total: number | undefined;
        let final: boolean;
        if (status) {
          total = status[1] === "*" ? undefined : Number(status[1]);
          final = total !== undefined && total === up.received;
        } else if (chunk) {
          const offset = Number(chunk[1]);
          if (offset > up.received) throw new HttpError(400, "Upload offset beyond what was received", "invalid");
          const fresh = body.subarray(up.received - offset);
          up.chunks.push(Buffer.from(fresh));
          up.received += fresh.length;
          total = chunk[3] === "*" ? undefined : Number(chunk[3]);
          // "*" as total on a data request: the client sends everything in this one request
          final = total === undefined ? true : up.received >= total;
        } else {
          up.chunks.push(body);
          up.received += body.length;
          final = true;
        }
        if (!final) {
          res.writeHead(
            308,
            up.received > 0 ? { Range: `bytes=0-${up.received - 1}`, "Content-Length": 0 } : { "Content-Length": 0 },
          );
          res.end();
          return;
        }
        const data = Buffer.concat(up.chunks);
        try {
          checkGoogHash(req, data);
          up.done = store(up.bucket, up.name, data, up.meta, up.query);
        } catch (e) {
          uploads.delete(q.get("upload_id")!);
          throw e;
        }
        return sendJson(res, 200, objectJson(up.bucket, up.done));
      }
      if (method === "DELETE" && type === "resumable" && q.get("upload_id")) {
        uploads.delete(q.get("upload_id")!);
        res.writeHead(499, { "Content-Length": 0 });
        res.end();
        return;
      }
      if (method === "POST" && type === "multipart") {
        const body = await readBody(req);
        const { meta, media, mediaType } = parseMultipart(body, String(req.headers["content-type"] ?? ""));
        checkGoogHash(req, media);
        const obj = store(bucket, meta.name ?? q.get("name") ?? "", media, meta, q, mediaType);
        return sendJson(res, 200, objectJson(bucket, obj));
      }
      if (method === "POST" && type === "media") {
        const body = await readBody(req);
        const obj = store(bucket, q.get("name") ?? "", body, {}, q, req.headers["content-type"]);
        return sendJson(res, 200, objectJson(bucket, obj));
      }
      throw new HttpError(400, `unsupported upload ${method} uploadType=${type}`, "invalid");
    }

    // ---- JSON API: /storage/v1/b[/B[/o[/N]]] ---------------------------------
    if (seg[0] === "storage" && seg[1] === "v1" && seg[2] === "b") {
      const jsonBody = await readBody(req);
      if (seg.length === 3 && method === "POST") {
        const { name } = JSON.parse(jsonBody.toString() || "{}");
        if (!name) throw new HttpError(400, "Required", "required");
        if (buckets.has(name)) {
          throw new HttpError(
            409,
            "Your previous request to create the named bucket succeeded and you already own it.",
            "conflict",
          );
        }
        createBucket(name);
        return sendJson(res, 200, { kind: "storage#bucket", id: name, name, timeCreated: bucketCreated.get(name) });
      }
      const bucket = seg[3] ? dec(seg[3]) : "";
      if (seg.length === 4) {
        const objects = bucketOf(bucket);
        if (method === "GET") {
          return sendJson(res, 200, {
            kind: "storage#bucket",
            id: bucket,
            name: bucket,
            selfLink: `${base}/storage/v1/b/${bucket}`,
            location: "US",
            storageClass: "STANDARD",
            metageneration: "1",
            timeCreated: bucketCreated.get(bucket),
            updated: bucketCreated.get(bucket),
          });
        }
        if (method === "DELETE") {
          if (objects.size) throw new HttpError(409, "The bucket you tried to delete is not empty.", "conflict");
          buckets.delete(bucket);
          res.writeHead(204);
          res.end();
          return;
        }
      }
      if (seg.length === 5 && seg[4] === "o" && method === "GET") {
        const objects = bucketOf(bucket);
        const prefix = q.get("prefix") ?? "";
        const delimiter = q.get("delimiter") ?? "";
        const max = Math.min(1000, Math.max(1, Number(q.get("maxResults") ?? 1000) || 1000));
        // pageToken: the last entry of the previous page (a name, or a prefix that covers names)
        const token = q.get("pageToken") ? JSON.parse(Buffer.from(q.get("pageToken")!, "base64url").toString()) : null;
        const startOffset = q.get("startOffset");
        const endOffset = q.get("endOffset");
        const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
        const names = [...objects.keys()]
          .filter((n) => n.startsWith(prefix) && (!startOffset || n >= startOffset) && (!endOffset || n < endOffset))
          .filter((n) => !token || (cmp(n, token.a) > 0 && !(token.p && n.startsWith(token.a))))
          .sort(cmp);
        const entries: { name: string; prefix?: string }[] = [];
        const seen = new Set<string>();
        for (const n of names) {
          const rest = n.slice(prefix.length);
          const di = delimiter ? rest.indexOf(delimiter) : -1;
          if (di < 0) {
            entries.push({ name: n });
            continue;
          }
          const p = prefix + rest.slice(0, di + delimiter.length);
          if (!seen.has(p)) {
            seen.add(p);
            entries.push({ name: n, prefix: p });
          }
        }
        const page = entries.slice(0, max);
        const items = page.filter((e) => !e.prefix).map((e) => objectJson(bucket, objects.get(e.name)!));
        const prefixes = page.filter((e) => e.prefix).map((e) => e.prefix!);
        const lastEntry = page[page.length - 1];
        const next = entries.length > max
          ? Buffer.from(JSON.stringify(lastEntry.prefix ? { a: lastEntry.prefix, p: true } : { a: lastEntry.name }))
            .toString("base64url")
          : undefined;
        return sendJson(res, 200, {
          kind: "storage#objects",
          ...(items.length ? { items } : {}),
          ...(prefixes.length ? { prefixes } : {}),
          ...(next ? { nextPageToken: next } : {}),
        });
      }
      if (seg.length >= 6 && seg[4] === "o") {
        const objects = bucketOf(bucket);
        const name = dec(seg.slice(5).join("/"));
        const obj = objects.get(name);
        const gen = q.get("generation");
        if (!obj || (gen !== null && gen !== obj.generation)) throw notFound(`No such object: ${bucket}/${name}`);
        if (method === "GET") {
          checkPreconditions(q, obj, true);
          if (q.get("alt") === "media") {
            let data = obj.data;
            let status = 200;
            const headers: Record<string, string | number> = {
              "Content-Type": obj.contentType,
              "x-goog-hash": `crc32c=${obj.crc32c},md5=${obj.md5Hash}`,
              "x-goog-generation": obj.generation,
              "x-goog-metageneration": String(obj.metageneration),
              "x-goog-stored-content-length": obj.data.length,
              "x-goog-stored-content-encoding": "identity",
              ETag: `"${obj.md5Hash}"`,
            };
            const r = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ""));
            if (r) {
              const from = Number(r[1]);
              const to = r[2] ? Math.min(Number(r[2]), obj.data.length - 1) : obj.data.length - 1;
              data = obj.data.subarray(from, to + 1);
              status = 206;
              headers["Content-Range"] = `bytes ${from}-${to}/${obj.data.length}`;
              delete headers["x-goog-hash"];
            }
            headers["Content-Length"] = data.length;
            res.writeHead(status, headers);
            res.end(data);
            return;
          }
          return sendJson(res, 200, objectJson(bucket, obj));
        }
        if (method === "DELETE") {
          checkPreconditions(q, obj, false);
          objects.delete(name);
          res.writeHead(204);
          res.end();
          return;
        }
      }
    }
    throw new HttpError(404, `Not Found: ${method} ${path}`, "notFound");
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (res.headersSent || req.socket.destroyed) return;
      if (e instanceof HttpError) return sendError(res, e);
      sendError(res, new HttpError(500, `internal error: ${(e as Error)?.message}`, "backendError"));
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  await listen(opts.port ?? 0);
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  base = `http://${host}:${port}`;

  return {
    url: base,
    port,
    createBucket,
    requests,
    clearFaults() {
      faults.length = 0;
    },
    setFailNext(n, status = 503, match) {
      faults.push({ remaining: n, status, match });
    },
    pause: close,
    resume: () => listen(port),
    stop: () => server.listening ? close() : Promise.resolve(),
  };
}

// Child-process mode (Bun or Deno): `bun tests/support/gcs-test-server.ts --port 0 --bucket b1`.
if ((import.meta as { main?: boolean }).main) {
  const { values } = parseScriptArgs(
    { port: { type: "string" }, bucket: { type: "string", multiple: true } },
    "gcs-test-server.ts [--port N] [--bucket NAME]...",
  );
  const s = await startGcsTestServer({ port: numberFlag(values.port, "port", 0), buckets: values.bucket ?? [] });
  console.log(`gcs-test-server listening on ${s.url}`);
}

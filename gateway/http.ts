/**
 * Small HTTP building blocks shared by every route: the one error type and
 * error shape, the JSON body reader, client identity.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { describeZodError } from "../shared/schemas/api.ts";
import { isRepoName, isUsername } from "../shared/schemas/names.ts";
import { isJobId } from "../shared/keys.ts";

/** Every error answer: `{error:{code, message}}` plus optional extra fields and headers. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 429 | 500 | 503,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message }, ...extra };
}

export function errorResponse(err: HttpError): Response {
  return new Response(JSON.stringify(errorBody(err.code, err.message, err.extra)), {
    status: err.status,
    headers: { "content-type": "application/json; charset=utf-8", ...err.headers },
  });
}

function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  const base = ct.split(";")[0].trim().toLowerCase();
  return base === "application/json" || (base.startsWith("application/") && base.endsWith("+json"));
}

/**
 * The request body's bytes. Bounded by the route's bodyLimit (app.ts), which
 * has either checked Content-Length (HTTP framing then holds the read to it)
 * or already read and counted a body without one.
 */
export async function readBody(c: Context): Promise<Uint8Array> {
  try {
    return new Uint8Array(await c.req.raw.arrayBuffer());
  } catch {
    throw new HttpError(400, "bad_request", "could not read the request body");
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a JSON body against a strict zod schema. `optional`: an empty body
 * (no bytes) counts as `{}`. 415 when the content type is not JSON, 400 for
 * bad JSON or a body the schema rejects (413 over the limit: the route's bodyLimit).
 */
export async function parseJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  opts: { optional?: boolean } = {},
): Promise<z.output<S>> {
  const raw = await readBody(c);
  let value: unknown;
  if (raw.byteLength === 0) {
    if (!opts.optional) {
      if (!isJsonContentType(c.req.header("content-type"))) {
        throw new HttpError(415, "unsupported_media_type", "request body must be application/json");
      }
      throw new HttpError(400, "invalid_body", "request body must be a JSON object");
    }
    value = {};
  } else {
    if (!isJsonContentType(c.req.header("content-type"))) {
      throw new HttpError(415, "unsupported_media_type", "request body must be application/json");
    }
    let text: string;
    try {
      text = utf8.decode(raw);
    } catch {
      throw new HttpError(400, "invalid_json", "request body is not valid UTF-8");
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new HttpError(400, "invalid_json", "request body is not valid JSON");
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, "invalid_body", "request body must be a JSON object");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, "invalid_body", describeZodError(parsed.error));
  return parsed.data;
}

// ---- names ----
const show = (s: string) => JSON.stringify(s.length > 60 ? s.slice(0, 60) + "…" : s);

export function requireUsername(u: string | undefined): string {
  if (!isUsername(u)) {
    throw new HttpError(
      400,
      "invalid_username",
      `${show(String(u ?? ""))} is not a GitHub username: 1-39 letters, digits or hyphens, not starting with a hyphen`,
    );
  }
  return u;
}

export function requireRepoName(r: string | undefined): string {
  if (!isRepoName(r)) {
    throw new HttpError(
      400,
      "invalid_repo",
      `${show(String(r ?? ""))} is not a GitHub repository name: 1-100 letters, digits, '.', '-' or '_'`,
    );
  }
  return r;
}

/** job_id query parameter: 400 when missing or malformed. */
export function requireJobId(c: Context): string {
  const id = c.req.query("job_id");
  if (id === undefined || id === "") throw new HttpError(400, "missing_job_id", "query parameter job_id is required");
  if (!isJobId(id)) throw new HttpError(400, "invalid_job_id", "job_id is malformed");
  return id;
}

export const sameUser = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

const enc = new TextEncoder();

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Connection info the server passes as Hono's env (main.ts). */
export interface GatewayBindings {
  remoteAddr?: { hostname?: string };
}

/**
 * The client's IP: the socket peer, or — behind `trustedProxyHops` trusted
 * proxies — the address the outermost trusted proxy saw in X-Forwarded-For
 * (counted from the right, so a client cannot spoof it by prepending).
 */
export function clientIp(c: Context, trustedProxyHops: number): string {
  const peer = (c.env as GatewayBindings | undefined)?.remoteAddr?.hostname ?? "unknown";
  if (trustedProxyHops > 0) {
    const xff = c.req.header("x-forwarded-for");
    if (xff) {
      const parts = xff.split(",").map((s) => s.trim()).filter(Boolean);
      const pick = parts[parts.length - trustedProxyHops] ?? parts[0];
      if (pick) return pick;
    }
  }
  return peer;
}

/** A client id safe inside a Redis key. */
export function safeClientId(s: string): string {
  return s.replace(/[^A-Za-z0-9.:_-]/g, "_").slice(0, 64);
}

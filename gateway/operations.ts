/**
 * The gateway's HTTP operations: the one definition both the app's routes
 * (app.ts `registerOperations`: path, method, access gate, body limit) and the
 * OpenAPI document (openapi.ts) are made from, so the two cannot drift. A
 * route exists only as an entry here plus its handler (route modules hand
 * handlers in by operation id); the app refuses to start when an entry has no
 * handler or a handler has no entry.
 *
 * Request and response bodies are named zod schemas from shared/schemas (the
 * single source of the types); the document converts them with
 * `z.toJSONSchema`. What follows from an entry is not repeated in it: the
 * path parameters (from `{name}` in the path), 400/500 for an operation with
 * inputs, 401/403 and `security` from `access`, 413/415 from `body`, 404 from
 * `requires`.
 *
 * Order matters: Hono tries routes in this order, so
 * `/api/bundles/{username}/{repo}` comes after the `status` and `events`
 * routes it would otherwise shadow.
 */
import type { z } from "zod";
import { AiBody, AiResponse, BundleResponse, ErrorBody, RefreshAccepted, RefreshBody } from "../shared/schemas/api.ts";
import { JobRecord } from "../shared/schemas/job.ts";
import { REPO_NAME_RE, USERNAME_RE } from "../shared/schemas/names.ts";
import { RepoRecord } from "../shared/schemas/repo.ts";
import type { Config } from "../shared/config.ts";
import type { Access } from "./auth.ts";

type Json = Record<string, unknown>;

/**
 * The schemas the document names (`components.schemas`), each in the shape a
 * client sees: a request body as zod's input, an answer as its output.
 */
export const SCHEMAS = {
  RefreshBody: { schema: RefreshBody, io: "input" },
  RefreshAccepted: { schema: RefreshAccepted, io: "output" },
  JobRecord: { schema: JobRecord, io: "output" },
  BundleResponse: { schema: BundleResponse, io: "output" },
  RepoRecord: { schema: RepoRecord, io: "output" },
  AiBody: { schema: AiBody, io: "input" },
  AiResponse: { schema: AiResponse, io: "output" },
  ErrorBody: { schema: ErrorBody, io: "output" },
} satisfies Record<string, { schema: z.ZodType; io: "input" | "output" }>;
export type SchemaName = keyof typeof SCHEMAS;

/** Every path parameter by name: a path's `{name}` must be one of these. */
export const PATH_PARAMS: Record<string, Json> = {
  username: {
    name: "username",
    in: "path",
    required: true,
    description: "GitHub username",
    schema: { type: "string", pattern: USERNAME_RE.source },
  },
  repo: { name: "repo", in: "path", required: true, schema: { type: "string", pattern: REPO_NAME_RE.source } },
};

const JOB_ID: Json = {
  name: "job_id",
  in: "query",
  required: true,
  schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" },
};

/** The most a request body may be (bytes) unless its operation says otherwise. */
export const MAX_BODY_BYTES = 64 * 1024;
/** GitHub caps push payloads at 25 MB. */
export const WEBHOOK_MAX_BODY_BYTES = 25 * 1024 * 1024;

export interface ResponseDef {
  description: string;
  /** A JSON answer of this schema. */
  json?: SchemaName;
  /** An event stream (text/event-stream) whose every event's data is this schema. */
  events?: SchemaName;
  headers?: Record<string, Json>;
}

export interface BodyDef {
  required: boolean;
  /** The media types accepted: a schema name (a JSON body of that schema) or a raw OpenAPI schema. */
  content: Record<string, SchemaName | Json>;
  /** Enforced by Hono's bodyLimit before the handler runs (default MAX_BODY_BYTES). */
  maxBytes?: number;
}

export interface Operation {
  method: "get" | "post";
  /** OpenAPI path template; `{name}` parameters are PATH_PARAMS entries. */
  path: string;
  summary: string;
  /** `public`: no key ever; `read`/`write`: the API-key rule of auth.ts. */
  access: "public" | Access;
  /** Query and header parameters. */
  params?: Json[];
  body?: BodyDef;
  /** The route answers 404 (before its body is read) while this config variable is unset. */
  requires?: { config: keyof Config; message: string };
  /** The answers not derived from the rest of the entry. */
  responses: Record<string, ResponseDef>;
}

const err = (description: string): ResponseDef => ({ description, json: "ErrorBody" });
const retryAfter = { "Retry-After": { schema: { type: "integer" } } };

const repoRecord = (where: string): Omit<Operation, "path"> => ({
  method: "get",
  summary: `One repository record of the current bundle (${where})`,
  access: "read",
  responses: { "200": { description: "Record", json: "RepoRecord" }, "404": err("No such repo") },
});

export const OPERATIONS = {
  refresh: {
    method: "post",
    path: "/api/bundles/{username}/refresh",
    summary: "Start (or join) a refresh of the user's bundle",
    access: "write",
    body: { required: false, content: { "application/json": "RefreshBody" } },
    responses: {
      "202": { description: "Accepted; the job in flight for the user", json: "RefreshAccepted" },
      "429": {
        description: "Over the client's refresh rate, or the job has the most callback receivers",
        headers: retryAfter,
        json: "ErrorBody",
      },
    },
  },
  status: {
    method: "get",
    path: "/api/bundles/{username}/status",
    summary: "The job with its progress",
    access: "read",
    params: [JOB_ID],
    responses: { "200": { description: "Job", json: "JobRecord" }, "404": err("Unknown job") },
  },
  events: {
    method: "get",
    path: "/api/bundles/{username}/events",
    summary: "Server-sent events: the job object now and on every change, until a final state",
    access: "read",
    params: [
      JOB_ID,
      {
        name: "until",
        in: "query",
        required: false,
        description: "`terminal`: keep streaming after `completed` until training ends",
        schema: { type: "string", enum: ["terminal"] },
      },
    ],
    responses: {
      "200": { description: "Each event's data is a JobRecord (x-event-data-schema)", events: "JobRecord" },
      "404": err("Unknown job"),
      "429": err("Too many event streams open for this client"),
    },
  },
  bundle: {
    method: "get",
    path: "/api/bundles/{username}",
    summary: "The user's current bundle",
    access: "read",
    responses: {
      "200": {
        description: "Bundle",
        headers: { ETag: { schema: { type: "string" } }, "Last-Modified": { schema: { type: "string" } } },
        json: "BundleResponse",
      },
      "304": { description: "If-None-Match matched" },
      "404": err("No bundle yet"),
    },
  },
  // The same record under repos/: the only way to reach a repo named "status" or "events".
  repoUnderRepos: {
    path: "/api/bundles/{username}/repos/{repo}",
    ...repoRecord('for any repo name, "status" and "events" too'),
  },
  repo: { path: "/api/bundles/{username}/{repo}", ...repoRecord("also at /api/bundles/{username}/repos/{repo}") },
  ai: {
    method: "post",
    path: "/api/ai",
    summary: "Rank the user's repositories for a question",
    access: "read",
    body: { required: true, content: { "application/json": "AiBody" } },
    responses: {
      "200": { description: "Answer", json: "AiResponse" },
      "404": err("No bundle for the user"),
      "429": { description: "Over the client's /api/ai rate", headers: retryAfter, json: "ErrorBody" },
    },
  },
  githubWebhook: {
    method: "post",
    path: "/api/webhooks/github",
    summary: "GitHub push webhook (X-Hub-Signature-256) → refresh of that repository",
    // The signature over the raw body is the credential, not an API key.
    access: "public",
    params: [
      { name: "X-Hub-Signature-256", in: "header", required: true, schema: { type: "string" } },
      { name: "X-GitHub-Event", in: "header", required: true, schema: { type: "string" } },
      { name: "X-GitHub-Delivery", in: "header", required: true, schema: { type: "string" } },
    ],
    requires: { config: "GITHUB_WEBHOOK_SECRET", message: "GitHub webhooks are not configured" },
    body: {
      required: true,
      maxBytes: WEBHOOK_MAX_BODY_BYTES,
      content: {
        "application/json": { type: "object" },
        "application/x-www-form-urlencoded": {
          type: "object",
          properties: { payload: { type: "string" } },
          required: ["payload"],
        },
      },
    },
    responses: {
      "200": { description: "ping, an ignored event, or a delivery id seen before ({duplicate:true})" },
      "202": { description: "Refresh accepted", json: "RefreshAccepted" },
      "401": err("Bad signature"),
    },
  },
  health: {
    method: "get",
    path: "/api/health",
    summary: "Liveness",
    access: "public",
    responses: { "200": { description: "ok" } },
  },
  ready: {
    method: "get",
    path: "/api/ready",
    summary: "Readiness: Redis and storage reachable",
    access: "public",
    responses: { "200": { description: "ready" }, "503": err("Not ready") },
  },
  metrics: {
    method: "get",
    path: "/api/metrics",
    summary: "Prometheus metrics",
    access: "public",
    responses: { "200": { description: "text/plain exposition format" } },
  },
  openapi: {
    method: "get",
    path: "/api/openapi.json",
    summary: "This document",
    access: "public",
    responses: { "200": { description: "OpenAPI 3.1" } },
  },
  page: {
    method: "get",
    path: "/",
    summary: "Status page",
    access: "public",
    responses: { "200": { description: "text/html" } },
  },
  pageModel: {
    method: "get",
    path: "/page/model/{username}",
    summary: "The status page's model line: the user's promoted model, or null",
    access: "read",
    responses: { "200": { description: "{username, model: {version, backend, trained_at} | null}" } },
  },
} satisfies Record<string, Operation>;

export type OperationId = keyof typeof OPERATIONS;

/** The path's `{name}` parameters, in order. */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => m[1]);
}

/** Hono's pattern of an OpenAPI path: `{name}` → `:name`. Also the route label of the latency histogram. */
export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z_]+)\}/g, ":$1");
}

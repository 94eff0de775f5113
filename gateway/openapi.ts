/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the zod schemas in
 * shared/schemas (z.toJSONSchema): request bodies as their input shape,
 * answers as their output shape. Paths are listed here once; schemas never.
 */
import { z } from "zod";
import { AiBody, AiResponse, BundleResponse, ErrorBody, RefreshAccepted, RefreshBody } from "../shared/schemas/api.ts";
import { JobRecord } from "../shared/schemas/job.ts";
import { REPO_NAME_RE, USERNAME_RE } from "../shared/schemas/names.ts";
import { RepoRecord } from "../shared/schemas/repo.ts";
import { MAX_BODY_BYTES } from "./http.ts";

type Json = Record<string, unknown>;

function schema(s: z.ZodType, io: "input" | "output"): Json {
  const out = z.toJSONSchema(s, { io, target: "draft-2020-12", unrepresentable: "any" }) as Json;
  delete out.$schema;
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ "application/json": { schema: ref(name) } });
const err = (description: string) => ({ description, content: json("ErrorBody") });

export function openApiDocument(): Json {
  const username = {
    name: "username",
    in: "path",
    required: true,
    description: "GitHub username",
    schema: { type: "string", pattern: USERNAME_RE.source },
  };
  const repo = {
    name: "repo",
    in: "path",
    required: true,
    schema: { type: "string", pattern: REPO_NAME_RE.source },
  };
  const jobId = {
    name: "job_id",
    in: "query",
    required: true,
    schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" },
  };
  const common = {
    "400": err("Invalid input"),
    "500": err("Internal error (no details)"),
  };
  const bodyErrors = {
    "413": err(`Body over ${MAX_BODY_BYTES} bytes`),
    "415": err("Body is not application/json"),
  };
  const repoRecord = (where: string) => ({
    summary: `One repository record of the current bundle (${where})`,
    parameters: [username, repo],
    responses: {
      "200": { description: "Record", content: json("RepoRecord") },
      ...common,
      "401": err("READ_ACCESS=key and no valid key was sent"),
      "403": err("READ_ACCESS=key and the key's scope does not cover the user"),
      "404": err("No such repo"),
    },
  });
  return {
    openapi: "3.1.0",
    info: {
      title: "foliosync",
      version: "0.1.0",
      description:
        "Asynchronous GitHub portfolio sync, bundles and AI queries. Errors are always {error:{code, message}}.",
    },
    components: {
      schemas: {
        RefreshBody: schema(RefreshBody, "input"),
        RefreshAccepted: schema(RefreshAccepted, "output"),
        JobRecord: schema(JobRecord, "output"),
        BundleResponse: schema(BundleResponse, "output"),
        RepoRecord: schema(RepoRecord, "output"),
        AiBody: schema(AiBody, "input"),
        AiResponse: schema(AiResponse, "output"),
        ErrorBody: schema(ErrorBody, "output"),
      },
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description:
            "A key whose scope covers the user: for refresh once any key exists; for reads with READ_ACCESS=key",
        },
      },
    },
    paths: {
      "/api/bundles/{username}/refresh": {
        post: {
          summary: "Start (or join) a refresh of the user's bundle",
          parameters: [username],
          security: [{}, { apiKey: [] }],
          requestBody: { required: false, content: json("RefreshBody") },
          responses: {
            "202": { description: "Accepted; the job in flight for the user", content: json("RefreshAccepted") },
            ...common,
            ...bodyErrors,
            "401": err("API keys are configured and none valid was sent"),
            "403": err("The key's scope does not cover the user"),
            "429": {
              description: "Over the client's refresh rate, or the job has the most callback receivers",
              headers: { "Retry-After": { schema: { type: "integer" } } },
              content: json("ErrorBody"),
            },
          },
        },
      },
      "/api/bundles/{username}/status": {
        get: {
          summary: "The job with its progress",
          parameters: [username, jobId],
          responses: {
            "200": { description: "Job", content: json("JobRecord") },
            ...common,
            "401": err("READ_ACCESS=key and no valid key was sent"),
            "403": err("READ_ACCESS=key and the key's scope does not cover the user"),
            "404": err("Unknown job"),
          },
        },
      },
      "/api/bundles/{username}/events": {
        get: {
          summary: "Server-sent events: the job object now and on every change, until a final state",
          parameters: [
            username,
            jobId,
            {
              name: "until",
              in: "query",
              required: false,
              description: "`terminal`: keep streaming after `completed` until training ends",
              schema: { type: "string", enum: ["terminal"] },
            },
          ],
          responses: {
            "200": {
              description: "Each event's data is a JobRecord (x-event-data-schema)",
              // OpenAPI 3.1 has no keyword for the schema of each event in a stream (3.2's itemSchema):
              // a vendor extension carries it, so standard 3.1 validators and generators accept the document.
              content: {
                "text/event-stream": { schema: { type: "string" }, "x-event-data-schema": ref("JobRecord") },
              },
            },
            ...common,
            "401": err("READ_ACCESS=key and no valid key was sent"),
            "403": err("READ_ACCESS=key and the key's scope does not cover the user"),
            "404": err("Unknown job"),
            "429": err("Too many event streams open for this client"),
          },
        },
      },
      "/api/bundles/{username}": {
        get: {
          summary: "The user's current bundle",
          parameters: [username],
          responses: {
            "200": {
              description: "Bundle",
              headers: { ETag: { schema: { type: "string" } }, "Last-Modified": { schema: { type: "string" } } },
              content: json("BundleResponse"),
            },
            "304": { description: "If-None-Match matched" },
            ...common,
            "401": err("READ_ACCESS=key and no valid key was sent"),
            "403": err("READ_ACCESS=key and the key's scope does not cover the user"),
            "404": err("No bundle yet"),
          },
        },
      },
      "/api/bundles/{username}/{repo}": { get: repoRecord("also at /api/bundles/{username}/repos/{repo}") },
      // The same record under repos/: the only way to reach a repo named "status" or "events".
      "/api/bundles/{username}/repos/{repo}": { get: repoRecord('for any repo name, "status" and "events" too') },
      "/api/ai": {
        post: {
          summary: "Rank the user's repositories for a question",
          security: [{}, { apiKey: [] }],
          requestBody: { required: true, content: json("AiBody") },
          responses: {
            "200": { description: "Answer", content: json("AiResponse") },
            ...common,
            ...bodyErrors,
            "401": err("READ_ACCESS=key and no valid key was sent"),
            "403": err("READ_ACCESS=key and the key's scope does not cover the user"),
            "404": err("No bundle for the user"),
            "429": {
              description: "Over the client's /api/ai rate",
              headers: { "Retry-After": { schema: { type: "integer" } } },
              content: json("ErrorBody"),
            },
          },
        },
      },
      "/api/webhooks/github": {
        post: {
          summary: "GitHub push webhook (X-Hub-Signature-256) → refresh of that repository",
          parameters: [
            { name: "X-Hub-Signature-256", in: "header", required: true, schema: { type: "string" } },
            { name: "X-GitHub-Event", in: "header", required: true, schema: { type: "string" } },
            { name: "X-GitHub-Delivery", in: "header", required: true, schema: { type: "string" } },
          ],
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: { type: "object" } },
              "application/x-www-form-urlencoded": {
                schema: { type: "object", properties: { payload: { type: "string" } }, required: ["payload"] },
              },
            },
          },
          responses: {
            "200": { description: "ping, an ignored event, or a delivery id seen before ({duplicate:true})" },
            "202": { description: "Refresh accepted", content: json("RefreshAccepted") },
            ...common,
            "401": err("Bad signature"),
            "404": err("GITHUB_WEBHOOK_SECRET not configured"),
          },
        },
      },
      "/api/health": { get: { summary: "Liveness", responses: { "200": { description: "ok" } } } },
      "/api/ready": {
        get: {
          summary: "Readiness: Redis and storage reachable",
          responses: { "200": { description: "ready" }, "503": err("Not ready") },
        },
      },
      "/api/metrics": {
        get: { summary: "Prometheus metrics", responses: { "200": { description: "text/plain exposition format" } } },
      },
      "/api/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } } },
      "/": { get: { summary: "Status page", responses: { "200": { description: "text/html" } } } },
    },
  };
}

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the operation
 * table (operations.ts) — the definition the routes are registered from —
 * and the zod schemas in shared/schemas (z.toJSONSchema): request bodies as
 * their input shape, answers as their output shape.
 */
import { z } from "zod";
import {
  MAX_BODY_BYTES,
  type Operation,
  OPERATIONS,
  PATH_PARAMS,
  pathParamNames,
  type ResponseDef,
  SCHEMAS,
} from "./operations.ts";

type Json = Record<string, unknown>;

function jsonSchema(s: z.ZodType, io: "input" | "output"): Json {
  const out = z.toJSONSchema(s, { io, target: "draft-2020-12", unrepresentable: "any" }) as Json;
  delete out.$schema;
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function response(r: ResponseDef): Json {
  const out: Json = { description: r.description };
  if (r.headers) out.headers = r.headers;
  if (r.json) out.content = { "application/json": { schema: ref(r.json) } };
  if (r.events) {
    // OpenAPI 3.1 has no keyword for the schema of each event in a stream (3.2's itemSchema):
    // a vendor extension carries it, so standard 3.1 validators and generators accept the document.
    out.content = { "text/event-stream": { schema: { type: "string" }, "x-event-data-schema": ref(r.events) } };
  }
  return out;
}

const err = (description: string): ResponseDef => ({ description, json: "ErrorBody" });

const ACCESS_ERRORS = {
  write: {
    "401": err("API keys are configured and none valid was sent"),
    "403": err("The key's scope does not cover the user"),
  },
  read: {
    "401": err("READ_ACCESS=key and no valid key was sent"),
    "403": err("READ_ACCESS=key and the key's scope does not cover the user"),
  },
};

/** The operation's answers: those its entry derives (inputs, access, body, requires), then its own. */
function responses(op: Operation): Json {
  const all: Record<string, ResponseDef> = {};
  const names = pathParamNames(op.path);
  if (names.length > 0 || op.params?.length || op.body) {
    all["400"] = err("Invalid input");
    all["500"] = err("Internal error (no details)");
  }
  if (op.access !== "public") Object.assign(all, ACCESS_ERRORS[op.access]);
  if (op.requires) all["404"] = err(`${op.requires.config} not configured`);
  if (op.body) {
    all["413"] = err(`Body over ${op.body.maxBytes ?? MAX_BODY_BYTES} bytes`);
    all["415"] = err(`Body is not ${Object.keys(op.body.content).join(" or ")}`);
  }
  Object.assign(all, op.responses);
  const codes = Object.keys(all).sort();
  return Object.fromEntries(codes.map((code) => [code, response(all[code])]));
}

function operation(id: string, op: Operation): Json {
  const params = [
    ...pathParamNames(op.path).map((name) => {
      const p = PATH_PARAMS[name];
      if (!p) throw new Error(`operation ${id}: no PATH_PARAMS entry for {${name}} in ${op.path}`);
      return p;
    }),
    ...(op.params ?? []),
  ];
  const out: Json = { operationId: id, summary: op.summary };
  if (params.length) out.parameters = params;
  if (op.access !== "public") out.security = [{}, { apiKey: [] }];
  if (op.body) {
    const content = Object.fromEntries(
      Object.entries(op.body.content).map(([type, s]) => [type, { schema: typeof s === "string" ? ref(s) : s }]),
    );
    out.requestBody = { required: op.body.required, content };
  }
  out.responses = responses(op);
  return out;
}

export function openApiDocument(): Json {
  const paths: Record<string, Json> = {};
  for (const [id, op] of Object.entries(OPERATIONS) as [string, Operation][]) {
    (paths[op.path] ??= {})[op.method] = operation(id, op);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "foliosync",
      version: "0.1.0",
      description:
        "Asynchronous GitHub portfolio sync, bundles and AI queries. Errors are always {error:{code, message}}.",
    },
    components: {
      schemas: Object.fromEntries(Object.entries(SCHEMAS).map(([name, s]) => [name, jsonSchema(s.schema, s.io)])),
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description:
            "A key whose scope covers the user: for refresh once any key exists; for reads with READ_ACCESS=key",
        },
      },
    },
    paths,
  };
}

/**
 * /api/openapi.json is a valid OpenAPI 3.1 document for a standard validator (what client generators are fed),
 * and it names exactly the routes the app serves. Both come from gateway/operations.ts: the app refuses to start
 * with an operation that has no handler or a handler that has no operation, and a route added to the Hono app by
 * any other way fails the comparison here.
 */
import SwaggerParser from "@apidevtools/swagger-parser";
import { Hono } from "hono";
import assert from "node:assert/strict";
import { type GatewayEnv, registerOperations, resolveDeps, type RouteHandler } from "../../gateway/app.ts";
import { OPERATIONS } from "../../gateway/operations.ts";
import { json, startTestGateway, stubAi } from "./harness.ts";
import { loadConfig } from "../../shared/config.ts";

Deno.test("openapi.json passes @apidevtools/swagger-parser's validation", async () => {
  const g = await startTestGateway();
  try {
    const doc = await json(await g.req("/api/openapi.json"));
    assert.equal(doc.openapi, "3.1.0");
    await SwaggerParser.validate(structuredClone(doc));
  } finally {
    await g.close();
  }
});

Deno.test("openapi.json and the app's routes name the same operations", async () => {
  const g = await startTestGateway();
  try {
    const doc = await json(await g.req("/api/openapi.json"));
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(item)) {
        if (["get", "post", "put", "patch", "delete"].includes(method)) {
          documented.add(`${method.toUpperCase()} ${path}`);
        }
      }
    }
    const served = new Set(
      g.app.routes
        .filter((r) => r.method !== "ALL" && !r.path.includes("*"))
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, "{$1}")}`),
    );
    assert.deepEqual([...served].filter((op) => !documented.has(op)).sort(), [], "served but not documented");
    assert.deepEqual([...documented].filter((op) => !served.has(op)).sort(), [], "documented but not served");
  } finally {
    await g.close();
  }
});

Deno.test("a route exists only as an operation of the table: a missing or an extra handler stops the app", async () => {
  const g = await startTestGateway();
  try {
    const config = loadConfig({ REDIS_URL: g.server.url, STORAGE_DIR: g.dir, QUEUE_PREFIX: "gt" });
    const ctx = resolveDeps({ config, redis: g.redis, jobs: g.jobs, store: g.store, ai: stubAi(g.store) });
    const ok: RouteHandler = (c) => c.text("ok");
    const all = () => new Map<string, RouteHandler>(Object.keys(OPERATIONS).map((id) => [id, ok]));

    const app = new Hono<GatewayEnv>();
    registerOperations(app, ctx, all());
    assert.equal((await app.request("/api/health")).status, 200);

    const extra = all().set("adminDump", ok);
    assert.throws(() => registerOperations(new Hono<GatewayEnv>(), ctx, extra), /adminDump, which is no operation/);

    const missing = all();
    missing.delete("status");
    assert.throws(
      () => registerOperations(new Hono<GatewayEnv>(), ctx, missing),
      /operation status \(GET \/api\/bundles\/\{username\}\/status\) has no handler/,
    );
  } finally {
    await g.close();
  }
});

Deno.test("the document follows the table: access, body limits and requires show in it", async () => {
  const g = await startTestGateway();
  try {
    const doc = await json(await g.req("/api/openapi.json"));
    const webhook = doc.paths["/api/webhooks/github"].post;
    assert.equal(webhook.responses["413"].description, `Body over ${25 * 1024 * 1024} bytes`);
    assert.equal(webhook.responses["404"].description, "GITHUB_WEBHOOK_SECRET not configured");
    assert.equal(webhook.security, undefined, "the signature is the webhook's credential");
    assert.equal(
      doc.paths["/api/bundles/{username}/refresh"].post.responses["413"].description,
      "Body over 65536 bytes",
    );
    for (const [path, method] of [["/api/bundles/{username}/status", "get"], ["/api/ai", "post"]]) {
      const op = doc.paths[path][method];
      assert.deepEqual(op.security, [{}, { apiKey: [] }], path);
      assert.ok(op.responses["401"] && op.responses["403"], path);
    }
    const events = doc.paths["/api/bundles/{username}/events"].get.responses["200"].content["text/event-stream"];
    assert.deepEqual(events["x-event-data-schema"], { $ref: "#/components/schemas/JobRecord" });
  } finally {
    await g.close();
  }
});

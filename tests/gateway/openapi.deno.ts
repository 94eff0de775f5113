/**
 * /api/openapi.json is a valid OpenAPI 3.1 document for a standard validator (what client generators are fed),
 * and it names exactly the routes the app serves: a route added or removed on one side only fails here.
 */
import SwaggerParser from "@apidevtools/swagger-parser";
import assert from "node:assert/strict";
import { json, startTestGateway } from "./harness.ts";

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
        .filter((r) => (r.path === "/" || r.path.startsWith("/api/")) && r.method !== "ALL" && !r.path.includes("*"))
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, "{$1}")}`),
    );
    assert.deepEqual([...served].filter((op) => !documented.has(op)).sort(), [], "served but not documented");
    assert.deepEqual([...documented].filter((op) => !served.has(op)).sort(), [], "documented but not served");
  } finally {
    await g.close();
  }
});

/**
 * GET /api/health   liveness: 200 {status:"ok"} while the process serves.
 * GET /api/ready    readiness: Redis PING and store.ping() (each with a timeout) →
 *                   200 {status:"ready", checks}; otherwise 503
 *                   {error:{code:"not_ready", message}, checks} (no internals).
 * GET /api/metrics  Prometheus text (gateway/metrics.ts).
 * GET /api/openapi.json  the contract, generated from the operation table and the zod schemas.
 */
import type { AppContext, RouteApp } from "../context.ts";
import { errorBody } from "../http.ts";
import { openApiDocument } from "../openapi.ts";

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, rej) => {
      t = setTimeout(() => rej(new Error("timeout")), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export function opsRoutes(app: RouteApp, ctx: AppContext) {
  app.handle("health", (c) => c.json({ status: "ok" }));

  app.handle("ready", async (c) => {
    const probe = async (f: () => Promise<unknown>) => {
      try {
        await withTimeout(f(), ctx.readyTimeoutMs);
        return "ok";
      } catch {
        return "unreachable";
      }
    };
    const [redis, storage] = await Promise.all([
      probe(() => ctx.redis.ping()),
      probe(() => ctx.store.ping()),
    ]);
    const checks = { redis, storage };
    c.header("cache-control", "no-store");
    if (redis === "ok" && storage === "ok") return c.json({ status: "ready", checks }, 200);
    const down = Object.entries(checks).filter(([, v]) => v !== "ok").map(([k]) => k).join(", ");
    return c.json(errorBody("not_ready", `not reachable: ${down}`, { checks }), 503);
  });

  app.handle("metrics", async (c) => {
    const text = await ctx.metrics.render();
    return c.body(text, 200, { "content-type": ctx.metrics.contentType });
  });

  let doc: string | undefined;
  app.handle("openapi", (c) => {
    doc ??= JSON.stringify(openApiDocument());
    return c.body(doc, 200, { "content-type": "application/json; charset=utf-8" });
  });
}

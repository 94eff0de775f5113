/**
 * The gateway's Hono app, built from its dependencies so that tests can run
 * it without a socket (`app.request(...)`) or behind `Deno.serve`.
 *
 *   const app = createApp({ config, redis, jobs, store, ai });
 *   Deno.serve((req, info) => app.fetch(req, { remoteAddr: info.remoteAddr }));
 *
 * Every answer that is not a success is `{error:{code, message}}`; nothing
 * internal (stack, Redis or storage messages) ever leaves.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { InputError, InvalidNameError } from "../shared/errors.ts";
import { FINAL_STATES } from "../shared/schemas/job.ts";
import {
  type AppContext,
  type GatewayApp,
  type GatewayDeps,
  type GatewayEnv,
  resolveDeps,
  type RouteApp,
  type RouteHandler,
} from "./context.ts";
import { errorResponse, HttpError } from "./http.ts";
import { honoPath, MAX_BODY_BYTES, type Operation, type OperationId, OPERATIONS } from "./operations.ts";
import { aiRoutes } from "./routes/ai.ts";
import { bundleRoutes } from "./routes/bundles.ts";
import { eventRoutes } from "./routes/events.ts";
import { opsRoutes } from "./routes/ops.ts";
import { refreshRoutes } from "./routes/refresh.ts";
import { statusRoutes } from "./routes/status.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import { pageRoutes } from "./page/page.ts";

export type { AiService, AppContext, GatewayApp, GatewayDeps, GatewayEnv, RouteApp, RouteHandler } from "./context.ts";
export { resolveDeps } from "./context.ts";

/** Collects the route modules' handlers by operation id (one each). */
export function routeCollector(): { routes: RouteApp; handlers: Map<string, RouteHandler> } {
  const handlers = new Map<string, RouteHandler>();
  return {
    handlers,
    routes: {
      handle(id, handler) {
        if (handlers.has(id)) throw new Error(`operation ${id} has two handlers`);
        handlers.set(id, handler);
      },
    },
  };
}

/**
 * Registers every operation of operations.ts, in the table's order, with its
 * handler; throws when an operation has no handler or a handler names no
 * operation, so a route and its documentation cannot come apart. Each route
 * is the chain:
 *  1. timing: the latency histogram gets (method, route pattern, status) once
 *     the chain's answer exists (an error answered by `app.onError` included;
 *     for an event stream: when it starts);
 *  2. `requires`: 404 while the config variable is unset (before any body is read);
 *  3. the access gate (auth.ts): 401, and the caller for the handler;
 *  4. Hono's bodyLimit on routes that take a body (64 KiB unless the entry
 *     says otherwise): 413 `payload_too_large`, by Content-Length or counted
 *     while reading a body without one;
 *  5. the handler.
 */
export function registerOperations(app: GatewayApp, ctx: AppContext, handlers: ReadonlyMap<string, RouteHandler>) {
  for (const id of handlers.keys()) {
    if (!Object.hasOwn(OPERATIONS, id)) throw new Error(`handler for ${id}, which is no operation of operations.ts`);
  }
  for (const [id, op] of Object.entries(OPERATIONS) as [OperationId, Operation][]) {
    const handler = handlers.get(id);
    if (!handler) throw new Error(`operation ${id} (${op.method.toUpperCase()} ${op.path}) has no handler`);
    const route = honoPath(op.path);
    const chain: MiddlewareHandler<GatewayEnv>[] = [timed(ctx, route)];
    const requires = op.requires;
    if (requires) {
      chain.push((_c, next) => {
        if (ctx.config[requires.config]) return next();
        throw new HttpError(404, "not_found", `${requires.message} (${requires.config})`);
      });
    }
    if (op.access !== "public") chain.push(ctx.auth.gate(op.access));
    if (op.body) chain.push(limitBody(op.body.maxBytes ?? MAX_BODY_BYTES));
    app.on(op.method.toUpperCase(), [route], ...chain, handler);
  }
}

/**
 * Hono's bodyLimit, 413 `payload_too_large` in our error shape. A request
 * that declares its length (and no Transfer-Encoding) is judged by the header
 * here, before bodyLimit sees it: bodyLimit reads `req.body` first, which
 * turns Deno.serve's body into a stream and makes the handler's read go
 * through it — 70–74 vs 51–56 µs of server CPU per refresh
 * (`npm run bench:gateway -- --only refresh`, alternating runs). HTTP framing
 * holds the read to the declared length.
 */
export function limitBody(maxSize: number): MiddlewareHandler<GatewayEnv> {
  const tooLarge = () =>
    errorResponse(new HttpError(413, "payload_too_large", `request body exceeds ${maxSize} bytes`));
  const counted = bodyLimit({ maxSize, onError: tooLarge });
  return (c, next) => {
    const headers = c.req.raw.headers;
    const declared = headers.get("content-length");
    if (declared === null || headers.has("transfer-encoding")) return counted(c, next);
    return Number(declared) > maxSize ? Promise.resolve(tooLarge()) : next();
  };
}

function timed(ctx: AppContext, route: string): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const t0 = performance.now();
    await next();
    ctx.metrics.observeRequest(c.req.method, route, c.res.status, (performance.now() - t0) / 1000);
  };
}

/** The answer to an error: its own 4xx for input errors, otherwise a logged 500 without internals. */
function errorToResponse(err: unknown, c: Context<GatewayEnv>, ctx: AppContext): Response {
  if (err instanceof HttpError) return errorResponse(err);
  // Hono middleware's own answer (the bearer-auth 401s, in our error shape: auth.ts).
  if (err instanceof HTTPException && err.res) return err.getResponse();
  if (err instanceof InvalidNameError) return errorResponse(new HttpError(400, "invalid_name", "invalid name"));
  if (err instanceof InputError) {
    return errorResponse(new HttpError(400, "invalid_input", err.message.slice(0, 300)));
  }
  if (err instanceof HTTPException) {
    const status = err.status >= 400 && err.status < 500 ? err.status : 500;
    return errorResponse(
      new HttpError(
        status as 400,
        status === 500 ? "internal" : "bad_request",
        status === 500 ? "internal error" : "bad request",
      ),
    );
  }
  ctx.logError(err, `${c.req.method} ${c.req.path}`);
  return errorResponse(new HttpError(500, "internal", "internal error"));
}

export function createApp(deps: GatewayDeps): GatewayApp {
  const ctx = resolveDeps(deps);
  const app: GatewayApp = new Hono<GatewayEnv>();
  deps.feed?.on((job) => {
    ctx.metrics.observeJob(job);
    if (FINAL_STATES.has(job.state)) ctx.pointers.invalidate(job.username);
  });
  deps.feed?.onChange((jobId) => ctx.jobCache.drop(jobId));
  deps.feed?.onReset(() => {
    ctx.jobCache.clear();
    ctx.pointers.clear();
  });

  // Every route comes from the operation table (operations.ts), which the
  // OpenAPI document is made from too.
  const toResponse = (err: unknown, c: Context<GatewayEnv>) => errorToResponse(err, c, ctx);
  const { routes, handlers } = routeCollector();
  refreshRoutes(routes, ctx);
  statusRoutes(routes, ctx);
  eventRoutes(routes, ctx);
  webhookRoutes(routes, ctx);
  aiRoutes(routes, ctx);
  opsRoutes(routes, ctx);
  bundleRoutes(routes, ctx);
  pageRoutes(routes, ctx);
  registerOperations(app, ctx, handlers);

  app.notFound((c) => {
    const api = c.req.path.startsWith("/api");
    const res = errorResponse(new HttpError(404, "not_found", api ? "no such API route" : "not found"));
    ctx.metrics.observeRequest(c.req.method, "unmatched", 404, 0); // no handler ran
    return res;
  });

  // Errors of a route's chain (handler and middleware), and outside one.
  app.onError((err, c) => toResponse(err, c));

  return app;
}

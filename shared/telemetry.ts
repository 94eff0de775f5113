/**
 * OpenTelemetry tracing for every foliosync process (gateway, Bun workers,
 * Deno training worker), configured by the standard variables:
 *
 *   OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  on when set (OTLP over HTTP)
 *   OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*   as the SDK reads them
 *   OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none                 off
 *
 * Off (the default), every helper here is a plain call: no spans, no
 * `trace` field in queued messages, stores and clients unwrapped.
 *
 * One refresh is one trace across processes: the step that queues a message
 * puts its span's W3C context into the message's `trace` field
 * (`withTrace`), and the step that runs it continues from there
 * (`inSpan(name, {parent: msg.trace})`). Within a process the active span
 * follows async calls (AsyncLocalStorage), so GitHub and storage calls made
 * while a job runs become its children. Log lines read `logContext()`:
 * the job id always, the trace and span ids when tracing is on.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Attributes,
  type Context,
  context,
  type ContextManager,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { processEnv } from "./config.ts";
import type { TraceCarrier } from "./schemas/job.ts";
import type { BlobStore } from "./storage/types.ts";

export { SpanKind };

const JOB_ID = createContextKey("foliosync.job_id");

/** The OpenTelemetry context manager for Bun, Deno and Node: AsyncLocalStorage. */
class AsyncLocalContextManager implements ContextManager {
  private als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const f = target as unknown as (...a: unknown[]) => unknown;
    return ((...a: unknown[]) => this.with(ctx, f, undefined, ...a)) as unknown as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}

let enabled = false;
let contextReady = false;
let provider: BasicTracerProvider | null = null;

export interface TelemetryOptions {
  /** Instead of OTLP (tests: an InMemorySpanExporter). Turns tracing on whatever the environment says. */
  exporter?: SpanExporter;
  env?: Record<string, string | undefined>;
}

/** Is an exporter configured by the standard variables? */
export function otlpConfigured(env: Record<string, string | undefined>): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").toLowerCase() === "true") return false;
  if ((env.OTEL_TRACES_EXPORTER ?? "").toLowerCase() === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Sets tracing up once per process, before anything that makes spans
 * (stores, GitHub clients). Always installs the context manager (job ids in
 * log lines); the tracer provider and exporter only when configured.
 */
export function initTelemetry(serviceName: string, opts: TelemetryOptions = {}): { enabled: boolean } {
  if (!contextReady) {
    context.setGlobalContextManager(new AsyncLocalContextManager());
    contextReady = true;
  }
  const env = opts.env ?? processEnv();
  if (enabled || (!opts.exporter && !otlpConfigured(env))) return { enabled };
  const exporter = opts.exporter ?? new OTLPTraceExporter();
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  return { enabled };
}

export function telemetryEnabled(): boolean {
  return enabled;
}

/** Exports what is buffered (call before a process exits). */
export async function flushTelemetry(): Promise<void> {
  await provider?.forceFlush().catch(() => {});
}

/** The active span's context as a message's `trace` field; undefined when off or outside a span. */
export function currentTrace(): TraceCarrier | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (!carrier.traceparent) return undefined;
  return { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) };
}

/** A message (plain object) with the active trace added, unless it has one or tracing is off. */
export function withTrace<T>(data: T): T {
  if (!enabled || !data || typeof data !== "object" || Array.isArray(data) || "trace" in data) return data;
  const t = currentTrace();
  return t ? { ...data, trace: t } : data;
}

/** The `trace` field of a message as received (validated; anything else is no parent). */
export function traceOf(data: unknown): TraceCarrier | undefined {
  const t = (data as { trace?: unknown } | null)?.trace as Partial<TraceCarrier> | undefined;
  if (
    !t || typeof t.traceparent !== "string" ||
    !/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(t.traceparent)
  ) {
    return undefined;
  }
  return {
    traceparent: t.traceparent,
    ...(typeof t.tracestate === "string" && t.tracestate.length <= 512 ? { tracestate: t.tracestate } : {}),
  };
}

/** Ids for a log line: the job's, and the trace's when tracing is on. */
export function logContext(): Record<string, string> {
  if (!contextReady) return {};
  const ctx = context.active();
  const out: Record<string, string> = {};
  const jobId = ctx.getValue(JOB_ID);
  if (typeof jobId === "string") out.job_id = jobId;
  const sc = trace.getSpan(ctx)?.spanContext();
  if (sc && trace.isSpanContextValid(sc)) {
    out.trace_id = sc.traceId;
    out.span_id = sc.spanId;
  }
  return out;
}

// Error text that may carry a credential is cut before it reaches a span.
const SECRETISH = /((?:account)?key|sig|token|password|secret|authorization)=([^;&\s]+)/gi;
function redact(text: string): string {
  return text.replace(/\/\/[^/@\s]+@/g, "//***@").replace(SECRETISH, "$1=***").slice(0, 300);
}

export interface SpanOptions {
  /** Continue the trace of a queued message instead of the active span. */
  parent?: TraceCarrier;
  /** Carried to every log line and child span of this work. */
  jobId?: string;
  kind?: SpanKind;
  attributes?: Attributes;
  /** Errors that are answers, not failures (e.g. GitHub's 304 / 404): the span stays OK. */
  expected?: (err: unknown) => boolean;
}

/**
 * Runs `fn` in a span (child of `parent`, else of the active span). With
 * tracing off it still carries the job id for log lines, and makes no span.
 */
export function inSpan<T>(name: string, opts: SpanOptions, fn: (span?: Span) => Promise<T>): Promise<T> {
  if (!contextReady) return fn();
  let ctx = opts.parent && enabled ? propagation.extract(ROOT_CONTEXT, opts.parent) : context.active();
  if (opts.jobId) ctx = ctx.setValue(JOB_ID, opts.jobId);
  if (!enabled) return context.with(ctx, () => fn());
  const attributes = { ...opts.attributes, ...(opts.jobId ? { "foliosync.job_id": opts.jobId } : {}) };
  return trace.getTracer("foliosync").startActiveSpan(
    name,
    { kind: opts.kind ?? SpanKind.INTERNAL, attributes },
    ctx,
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        if (!opts.expected?.(err)) {
          const e = err as { name?: string; message?: string };
          const message = redact(String(e?.message ?? err));
          span.addEvent("exception", { "exception.type": String(e?.name ?? "Error"), "exception.message": message });
          span.setStatus({ code: SpanStatusCode.ERROR, message });
        }
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** A store whose calls are spans (backend and key as attributes); the store itself when tracing is off. */
export function tracedStore(store: BlobStore): BlobStore {
  if (!enabled) return store;
  const attrs = (op: string, key?: string): SpanOptions => ({
    kind: SpanKind.CLIENT,
    attributes: {
      "foliosync.storage.backend": store.backend,
      "foliosync.storage.op": op,
      ...(key ? { "foliosync.storage.key": key } : {}),
    },
  });
  return {
    backend: store.backend,
    get: (key) => inSpan("storage get", attrs("get", key), () => store.get(key)),
    put: (key, data, options) => inSpan("storage put", attrs("put", key), () => store.put(key, data, options)),
    list: (prefix) => inSpan("storage list", attrs("list", prefix), () => store.list(prefix)),
    delete: (key) => inSpan("storage delete", attrs("delete", key), () => store.delete(key)),
    ping: () => inSpan("storage ping", attrs("ping"), () => store.ping()),
    ...(store.close ? { close: () => store.close!() } : {}),
  };
}

/** The part of an Octokit used here; its hook types are generic over Octokit's endpoint options. */
interface OctokitLike {
  hook: {
    wrap(
      name: "request",
      // deno-lint-ignore no-explicit-any -- Octokit's own option/response types; only method, url and status are read
      wrapper: (request: (o: any) => any, options: any) => Promise<any>,
    ): void;
  };
}

/**
 * Every GitHub request of an Octokit becomes a CLIENT span named by its
 * route template (bounded: `GET /repos/{owner}/{repo}/readme`); 304 and 404
 * are answers, not errors. Nothing is done when tracing is off.
 */
export function traceOctokit(octokit: OctokitLike): void {
  if (!enabled) return;
  octokit.hook.wrap("request", (request, options: { method?: string; url?: string }) => {
    const route = `${options.method ?? "GET"} ${String(options.url ?? "").split("?")[0].slice(0, 120)}`;
    return inSpan(
      `GitHub ${route}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "http.request.method": options.method ?? "GET",
          "url.template": route.slice(route.indexOf(" ") + 1),
        },
        expected: (err) => [304, 404].includes((err as { status?: number })?.status ?? 0),
      },
      async (span) => {
        try {
          const res: { status: number } = await request(options);
          span?.setAttribute("http.response.status_code", res.status);
          return res;
        } catch (err) {
          const status = (err as { status?: number })?.status;
          if (typeof status === "number") span?.setAttribute("http.response.status_code", status);
          throw err;
        }
      },
    );
  });
}

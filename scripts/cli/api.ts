/**
 * The gateway's HTTP API as the CLI uses it. Every failure becomes a
 * CliError with its exit code: 400 → USAGE, 401/403 → DENIED, 404 →
 * NOT_FOUND, 429 → RATE_LIMITED, 5xx or no answer → UNAVAILABLE. The
 * gateway's own `{error:{message}}` is shown (cleaned, bounded); bodies
 * are never trusted to have a shape.
 */
import { JobRecord } from "../../shared/schemas/job.ts";
import { sseData, SseLimitError } from "../lib/sse.ts";
import { CliError, EXIT, type ExitCode } from "./exit-codes.ts";
import { clean, truncate } from "./render.ts";

export interface ApiOptions {
  url: string;
  key?: string;
  /** Per request (not for event streams). */
  timeoutMs?: number;
}

function codeFor(status: number): ExitCode {
  if (status === 400 || status === 413 || status === 415) return EXIT.USAGE;
  if (status === 401 || status === 403) return EXIT.DENIED;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 429) return EXIT.RATE_LIMITED;
  return EXIT.UNAVAILABLE;
}

/** The gateway's base URL, checked: http(s) only, no credentials, no trailing slash. */
export function baseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`--url ${JSON.stringify(truncate(clean(raw), 100))} is not a URL`, EXIT.USAGE);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError("--url must be http(s)", EXIT.USAGE);
  if (u.username || u.password) throw new CliError("--url must not carry credentials", EXIT.USAGE);
  return u.origin + u.pathname.replace(/\/+$/, "");
}

export class Api {
  readonly url: string;
  constructor(private opts: ApiOptions) {
    this.url = baseUrl(opts.url);
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { accept: "application/json" };
    if (json) h["content-type"] = "application/json";
    if (this.opts.key) h.authorization = `Bearer ${this.opts.key}`;
    return h;
  }

  /** A path from the gateway (status_url, events_url) kept on the gateway's origin. */
  resolve(path: string): string {
    if (!path.startsWith("/") || path.startsWith("//")) {
      throw new CliError("the gateway sent a bad URL", EXIT.UNAVAILABLE);
    }
    return this.url + path;
  }

  async fetch(path: string, init: RequestInit = {}, timeoutMs = this.opts.timeoutMs ?? 30_000): Promise<Response> {
    try {
      return await fetch(this.resolve(path), {
        ...init,
        redirect: "error",
        signal: init.signal ?? AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const why = (err as Error).name === "TimeoutError" ? `no answer in ${timeoutMs / 1000} s` : "unreachable";
      throw new CliError(`gateway ${this.url} ${why}`, EXIT.UNAVAILABLE);
    }
  }

  /** JSON of a 2xx answer; a CliError otherwise. */
  async json(path: string, init: RequestInit = {}, want: number[] = [200]): Promise<unknown> {
    const res = await this.fetch(path, init);
    const text = await res.text().catch(() => "");
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch { /* not JSON: reported below by status */ }
    if (!want.includes(res.status)) {
      const msg = (body as { error?: { message?: unknown } } | null)?.error?.message;
      const detail = typeof msg === "string" ? truncate(clean(msg), 300) : `HTTP ${res.status}`;
      const retry = res.status === 429 ? res.headers.get("retry-after") : null;
      throw new CliError(
        `${detail}${retry && /^\d{1,6}$/.test(retry) ? ` (retry in ${retry} s)` : ""}`,
        codeFor(res.status),
      );
    }
    if (body === null) throw new CliError(`the gateway answered ${res.status} without JSON`, EXIT.UNAVAILABLE);
    return body;
  }

  get(path: string) {
    return this.json(path, { headers: this.headers(false) });
  }
  post(path: string, body: unknown, want = [200]) {
    return this.json(path, { method: "POST", headers: this.headers(true), body: JSON.stringify(body) }, want);
  }

  /**
   * Follows a job's event stream, calling `onJob` per event, until a state in
   * `stop`. A dropped stream is reopened (the gateway sends the current state
   * first, so nothing is missed); gives up with TIMEOUT at `deadline`.
   */
  async follow(
    eventsPath: string,
    stop: ReadonlySet<string>,
    onJob: (job: JobRecord) => void,
    deadline: number,
  ): Promise<JobRecord> {
    let last: JobRecord | null = null;
    let attempt = 0;
    while (Date.now() < deadline) {
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), Math.max(1, deadline - Date.now()));
      try {
        const res = await fetch(this.resolve(eventsPath), {
          headers: { ...this.headers(false), accept: "text/event-stream" },
          redirect: "error",
          signal: ctrl.signal,
        });
        if (res.status !== 200 || !res.body) {
          await res.body?.cancel();
          if (res.status >= 400 && res.status < 500) {
            throw new CliError(`event stream: HTTP ${res.status}`, codeFor(res.status));
          }
        } else {
          attempt = 0;
          for await (const data of sseData(res.body)) {
            let job: JobRecord;
            try {
              job = JobRecord.parse(JSON.parse(data));
            } catch {
              continue; // a malformed event is skipped, the stream goes on
            }
            last = job;
            onJob(job);
            if (stop.has(job.state)) {
              ctrl.abort();
              return job;
            }
          }
        }
      } catch (err) {
        if (err instanceof CliError) throw err;
        if (err instanceof SseLimitError) throw new CliError(err.message, EXIT.UNAVAILABLE);
        if (ctrl.signal.aborted && Date.now() >= deadline) break;
      } finally {
        clearTimeout(timer);
      }
      // Reconnect with a short backoff, as EventSource would.
      attempt++;
      await new Promise((r) => setTimeout(r, Math.min(3000, 200 * 2 ** Math.min(attempt, 4))));
    }
    throw new CliError(
      `still ${last ? last.state : "waiting"} after the timeout; the job goes on`,
      EXIT.TIMEOUT,
    );
  }
}

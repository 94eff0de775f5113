/**
 * notify: delivers the head of one receiver's status-webhook list
 * (shared/webhooks/callbacks.ts), signed:
 *   X-Foliosync-Event: job.<state>        X-Foliosync-Delivery: <unique id, the same across retries>
 *   X-Foliosync-Timestamp: <unix s>       X-Foliosync-Signature: sha256=HMAC(WEBHOOK_SIGNING_SECRET, "{ts}.{body}")
 * body = the job object. The connection goes to the address that was checked
 * (shared/net/pinned-post.ts); a refused address is dead-lettered at once
 * with its reason, never sent. A non-2xx answer (3xx included: redirects are
 * not followed), a timeout or a network fault throws, so the queue retries
 * with backoff, then dead-letters; either way the receiver's next delivery
 * then gets its turn. A slow or dead receiver holds back only itself: short
 * timeouts, a cap on deliveries in flight per host, and a breaker per host
 * that fails attempts at once while the host keeps failing.
 */
import { storedJob } from "../shared/jobs/job-store.ts";
import { redactUrl } from "../shared/net/address-policy.ts";
import { parseAllowHosts } from "../shared/net/address-policy.ts";
import { DeliveryRefused, pinnedPost } from "../shared/net/pinned-post.ts";
import { NonRetriableError } from "../shared/errors.ts";
import type { NotifyMessage } from "../shared/schemas/job.ts";
import { deliveryId } from "../shared/webhooks/callbacks.ts";
import {
  HEADER_DELIVERY,
  HEADER_EVENT,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  signStatusWebhook,
} from "../shared/webhooks/signature.ts";
import type { WorkerContext } from "./context.ts";

/** Consecutive failures of a host that open its breaker, and how long it stays open. */
const BREAKER_FAILURES = 5;
const BREAKER_OPEN_MS = 30_000;

interface HostState {
  inFlight: number;
  failures: number;
  openUntil: number;
}

/** Per-process delivery state: hosts (concurrency, breaker) and the head each receiver's attempt is on. */
class Deliveries {
  readonly hosts = new Map<string, HostState>();
  /** `${job}:${receiver}` → seq of the delivery being attempted (for the final-failure step). */
  readonly attempting = new Map<string, number>();
  allowHosts: ReadonlySet<string> | null = null;

  host(h: string): HostState {
    let s = this.hosts.get(h);
    if (!s) {
      s = { inFlight: 0, failures: 0, openUntil: 0 };
      this.hosts.set(h, s);
    }
    return s;
  }
}
const state = new WeakMap<WorkerContext, Deliveries>();
function deliveriesOf(ctx: WorkerContext): Deliveries {
  let d = state.get(ctx);
  if (!d) {
    d = new Deliveries();
    d.allowHosts = parseAllowHosts(ctx.cfg.CALLBACK_ALLOW_HOSTS);
    state.set(ctx, d);
  }
  return d;
}

export async function deliverStatusWebhook(ctx: WorkerContext, msg: NotifyMessage): Promise<void> {
  const d = deliveriesOf(ctx);
  const head = await ctx.jobs.callbacks.head(msg.job_id, msg.receiver);
  if (!head) return; // delivered already (a duplicate or late notify job)
  const { url, delivery } = head;
  d.attempting.set(`${msg.job_id}:${msg.receiver}`, delivery.seq);
  const id = deliveryId(msg.job_id, msg.receiver, delivery.seq);
  const where = redactUrl(url);
  const secret = ctx.cfg.WEBHOOK_SIGNING_SECRET;
  // The gateway refuses callback URLs without a signing secret; a worker without one sends nothing unsigned.
  if (!secret) throw new NonRetriableError(`delivery ${id} to ${where}: WEBHOOK_SIGNING_SECRET is not set`);
  const job = storedJob(delivery.json, [delivery.total, delivery.completed, delivery.failed]);
  if (!job) throw new NonRetriableError(`delivery ${id}: the queued job is not a job`);
  const body = JSON.stringify(job);

  const hostKey = (() => {
    try {
      return new URL(url).host.toLowerCase();
    } catch {
      return "?";
    }
  })();
  const host = d.host(hostKey);
  const now = Date.now();
  if (host.openUntil > now) {
    throw new Error(
      `delivery ${id} to ${where}: host failing, paused for ${Math.ceil((host.openUntil - now) / 1000)} s`,
    );
  }
  if (host.inFlight >= ctx.cfg.NOTIFY_HOST_CONCURRENCY) {
    throw new Error(`delivery ${id} to ${where}: ${host.inFlight} deliveries to this host in flight already`);
  }

  const ts = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "User-Agent": "foliosync-webhook",
    [HEADER_EVENT]: `job.${job.state}`,
    [HEADER_DELIVERY]: id,
    [HEADER_TIMESTAMP]: String(ts),
    [HEADER_SIGNATURE]: await signStatusWebhook(secret, ts, body),
  };
  host.inFlight++;
  let status: number;
  try {
    status = (await pinnedPost(url, {
      allowHosts: d.allowHosts ?? new Set(),
      headers,
      body,
      timeoutMs: ctx.cfg.NOTIFY_TIMEOUT_MS,
    })).status;
  } catch (err) {
    if (err instanceof DeliveryRefused) {
      throw new NonRetriableError(`delivery ${id} refused: ${err.message}`);
    }
    failed(host);
    throw new Error(`delivery ${id}: ${(err as Error).message}`);
  } finally {
    host.inFlight--;
  }
  if (status < 200 || status >= 300) {
    failed(host);
    throw new Error(
      `delivery ${id} to ${where}: answered ${status}${
        status >= 300 && status < 400 ? " (redirects are not followed)" : ""
      }`,
    );
  }
  host.failures = 0;
  d.attempting.delete(`${msg.job_id}:${msg.receiver}`);
  await ctx.jobs.callbacks.advance(msg.job_id, msg.receiver, delivery.seq);
}

function failed(host: HostState) {
  host.failures++;
  if (host.failures >= BREAKER_FAILURES) {
    host.openUntil = Date.now() + BREAKER_OPEN_MS;
    host.failures = 0;
  }
}

/**
 * The head delivery failed for good (dead-lettered by the caller): the
 * receiver's next delivery gets its turn. A delivery dead-lettered for its
 * stalls was attempted by processes that died: its head is the list's head
 * now (a head has exactly one notify job).
 */
export async function statusWebhookGaveUp(ctx: WorkerContext, msg: NotifyMessage): Promise<void> {
  const d = deliveriesOf(ctx);
  const key = `${msg.job_id}:${msg.receiver}`;
  const seq = d.attempting.get(key) ?? (await ctx.jobs.callbacks.head(msg.job_id, msg.receiver))?.delivery.seq;
  d.attempting.delete(key);
  if (seq !== undefined) await ctx.jobs.callbacks.advance(msg.job_id, msg.receiver, seq);
}

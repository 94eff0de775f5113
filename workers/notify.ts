import { createHmac } from "node:crypto";
import type { NotifyMessage } from "../shared/schemas/job.ts";
import type { WorkerContext } from "./context.ts";

/** `sha256=<hex>` HMAC of the exact body with WEBHOOK_SECRET (same scheme as GitHub's). */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * notify: POST the job object to the job's callback_url, signed. A non-2xx
 * answer or a network fault throws, so the queue retries with backoff.
 */
export async function deliverStatusWebhook(ctx: WorkerContext, msg: NotifyMessage): Promise<void> {
  const body = JSON.stringify(msg.job);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "foliosync-webhook",
    "x-foliosync-event": "job.status",
    "x-foliosync-delivery": `${msg.job_id}:${msg.job.state}`,
  };
  if (ctx.cfg.WEBHOOK_SECRET) headers["x-foliosync-signature-256"] = signBody(ctx.cfg.WEBHOOK_SECRET, body);
  const res = await fetch(msg.callback_url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`callback ${msg.callback_url} answered ${res.status}`);
}

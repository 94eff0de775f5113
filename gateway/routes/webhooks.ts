/**
 * POST /api/webhooks/github — GitHub webhooks (push, ping).
 *  - GITHUB_WEBHOOK_SECRET unset → 404 (the feature is off). It is never the
 *    status-webhook signing secret (config.ts refuses equal values), so a
 *    status webhook — whose receiver a caller chooses — cannot pass as a push.
 *  - `X-Hub-Signature-256: sha256=<hex>` = HMAC-SHA256(secret, raw body),
 *    compared in constant time → 401 when missing or wrong. Checked over the
 *    raw bytes before anything in the body is parsed. Not behind API keys:
 *    the signature is the credential.
 *  - `X-GitHub-Delivery` is processed once: remembered in Redis for
 *    DELIVERY_MEMORY_S; a redelivery → 200 {duplicate:true}, no new job.
 *  - `ping` → 200 {ok:true}.
 *  - `push` to the default branch → refresh of that one repository
 *    (`only_repos: [repo]`) for the repository's owner → 202 like refresh.
 *    Pushes to other branches, and other events, → 200 {ignored:true, reason}.
 *  Bodies: application/json, or application/x-www-form-urlencoded with a
 *  `payload` field (GitHub's other content type), at most 25 MB (GitHub's
 *  own ceiling for a push payload; other routes keep 64 KiB).
 */
import type { AppContext, RouteApp } from "../context.ts";
import { isRepoName, isUsername } from "../../shared/schemas/names.ts";
import { isGithubDeliveryId } from "../../shared/keys.ts";
import { hmacSha256Hex, verifyHmacSha256Hex } from "../../shared/webhooks/hmac.ts";
import { HttpError, readBody } from "../http.ts";
import { jobUrls } from "./refresh.ts";

/** How long a delivery id is remembered (GitHub redelivers on request, within days). */
export const DELIVERY_MEMORY_S = 7 * 24 * 3600;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `X-Hub-Signature-256` as GitHub sends it: `sha256=<hex HMAC-SHA256(secret, raw body)>`. */
export async function hubSignature(secret: string, body: Uint8Array): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, body)}`;
}

/** True when `header` is `sha256=<hex>` of the raw body (constant-time MAC check, shared/webhooks/hmac.ts). */
async function hubSignatureValid(secret: string, body: Uint8Array, header: string): Promise<boolean> {
  const m = header.trim().match(/^sha256=([0-9a-fA-F]{64})$/);
  return m !== null && await verifyHmacSha256Hex(secret, body, m[1]);
}

function parsePayload(raw: Uint8Array, contentType: string): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new HttpError(400, "invalid_json", "payload is not valid UTF-8");
  }
  const base = contentType.split(";")[0].trim().toLowerCase();
  if (base === "application/x-www-form-urlencoded") {
    const p = new URLSearchParams(text).get("payload");
    if (p === null) throw new HttpError(400, "invalid_body", "form body without a payload field");
    text = p;
  } else if (base !== "application/json") {
    throw new HttpError(415, "unsupported_media_type", "webhook body must be application/json");
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "payload is not valid JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) {
    throw new HttpError(400, "invalid_body", "payload must be a JSON object");
  }
  return v as Record<string, unknown>;
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function webhookRoutes(app: RouteApp, ctx: AppContext) {
  // operations.ts `githubWebhook`: 404 while GITHUB_WEBHOOK_SECRET is unset, bodies up to 25 MB.
  app.handle("githubWebhook", async (c) => {
    const secret = ctx.config.GITHUB_WEBHOOK_SECRET;
    // The route's `requires` answered 404 already; never verify against an empty key.
    if (!secret) throw new Error("githubWebhook served without GITHUB_WEBHOOK_SECRET");
    const raw = await readBody(c);
    if (!(await hubSignatureValid(secret, raw, c.req.header("x-hub-signature-256") ?? ""))) {
      throw new HttpError(401, "bad_signature", "missing or invalid X-Hub-Signature-256");
    }
    const event = (c.req.header("x-github-event") ?? "").trim();
    const delivery = (c.req.header("x-github-delivery") ?? "").trim();
    if (!isGithubDeliveryId(delivery)) {
      throw new HttpError(400, "invalid_delivery", "X-GitHub-Delivery is missing or malformed");
    }
    const payload = parsePayload(raw, c.req.header("content-type") ?? "");
    if (event === "ping") return c.json({ ok: true, event: "ping" }, 200);
    if (event !== "push") {
      return c.json({ ignored: true, reason: `event ${JSON.stringify(event.slice(0, 40))} is not handled` }, 200);
    }

    const repository = obj(payload.repository);
    const owner = str(obj(repository.owner).login) ?? str(obj(repository.owner).name);
    const repo = str(repository.name);
    if (!isUsername(owner)) {
      throw new HttpError(400, "invalid_username", "repository.owner.login is not a GitHub username");
    }
    if (!isRepoName(repo)) throw new HttpError(400, "invalid_repo", "repository.name is not a GitHub repository name");
    if (payload.deleted === true) return c.json({ ignored: true, reason: "branch deleted" }, 200);
    const ref = str(payload.ref);
    const def = str(repository.default_branch) ?? str(repository.master_branch);
    if (ref && def && ref !== `refs/heads/${def}`) {
      return c.json({ ignored: true, reason: `push to ${ref.slice(0, 100)}, not the default branch` }, 200);
    }
    // Once per delivery id: the first to set the marker acts; a redelivery (or a replay) does not.
    const marker = ctx.jobs.keys.githubDelivery(delivery);
    if ((await ctx.redis.set(marker, "1", "EX", DELIVERY_MEMORY_S, "NX")) !== "OK") {
      return c.json({ duplicate: true, reason: "this X-GitHub-Delivery was processed already" }, 200);
    }
    let job;
    try {
      ({ job } = await ctx.jobs.requestRefresh({ username: owner, only_repos: [repo] }));
    } catch (err) {
      // Not processed: a redelivery may try again.
      await ctx.redis.del(marker).catch(() => {});
      throw err;
    }
    return c.json({ status: "processing", job_id: job.job_id, ...jobUrls(owner, job.job_id) }, 202);
  });
}

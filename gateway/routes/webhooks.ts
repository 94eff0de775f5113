/**
 * POST /api/webhooks/github — GitHub webhooks (push, ping).
 *  - WEBHOOK_SECRET unset → 404 (the feature is off).
 *  - `X-Hub-Signature-256: sha256=<hex>` = HMAC-SHA256(secret, raw body),
 *    compared in constant time → 401 when missing or wrong. Checked before
 *    anything in the body is read. Not behind API keys: the signature is the
 *    credential.
 *  - `ping` → 200 {ok:true}.
 *  - `push` to the default branch → refresh of that one repository
 *    (`only_repos: [repo]`) for the repository's owner → 202 like refresh.
 *    Pushes to other branches, and other events, → 200 {ignored:true, reason}.
 *  Bodies: application/json, or application/x-www-form-urlencoded with a
 *  `payload` field (GitHub's other content type), at most 64 KiB.
 */
import type { AppContext, RouteApp } from "../app.ts";
import { isRepoName, isUsername } from "../../shared/schemas/names.ts";
import { HttpError, readRawBody, timingSafeEqualStr } from "../http.ts";
import { jobUrls } from "./refresh.ts";

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

export async function hubSignature(secret: string, body: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body as BufferSource));
  return "sha256=" + [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
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
  app.post("/api/webhooks/github", async (c) => {
    const secret = ctx.config.WEBHOOK_SECRET;
    if (!secret) throw new HttpError(404, "not_found", "webhooks are not configured (WEBHOOK_SECRET)");
    const raw = await readRawBody(c);
    const given = c.req.header("x-hub-signature-256") ?? "";
    const expected = await hubSignature(secret, raw);
    if (!given || !timingSafeEqualStr(given.trim().toLowerCase(), expected)) {
      throw new HttpError(401, "bad_signature", "missing or invalid X-Hub-Signature-256");
    }
    const event = (c.req.header("x-github-event") ?? "").trim();
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
    const { job } = await ctx.jobs.requestRefresh({ username: owner, only_repos: [repo] });
    return c.json({ status: "processing", job_id: job.job_id, ...jobUrls(owner, job.job_id) }, 202);
  });
}

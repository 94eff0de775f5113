/**
 * GET /api/bundles/{u}/status?job_id= → 200 job (with progress);
 * 400 without/malformed job_id or bad username; 404 unknown job or a job of
 * another user; 401/403 under READ_ACCESS=key (auth.ts). A job that has not changed since it was last read is answered
 * from memory (job-cache.ts).
 */
import type { AppContext, RouteApp } from "../context.ts";
import type { JobRecord } from "../../shared/schemas/job.ts";
import { HttpError, requireJobId, requireUsername, sameUser } from "../http.ts";

/** 404 unless the job exists (`owner` is its username) and belongs to the user. */
function requireOwner(owner: string | undefined, username: string, jobId: string): void {
  if (owner === undefined || !sameUser(owner, username)) {
    throw new HttpError(404, "job_not_found", `no job ${jobId} for ${username}`);
  }
}

/** The job read from Redis, checked to belong to the user; 404 otherwise. */
export async function loadUserJob(ctx: AppContext, username: string, jobId: string): Promise<JobRecord> {
  const job = await ctx.jobs.get(jobId);
  requireOwner(job?.username, username, jobId);
  return job!;
}

const STATUS_HEADERS = { "cache-control": "no-store", "content-type": "application/json" };

export function statusRoutes(app: RouteApp, ctx: AppContext) {
  app.handle("status", async (c) => {
    const username = requireUsername(c.req.param("username"));
    const jobId = requireJobId(c);
    ctx.auth.client(c, username);
    // Between the job's changes, from memory (job-cache.ts).
    const hit = await ctx.jobCache.get(jobId);
    requireOwner(hit?.job.username, username, jobId);
    // A plain Response (what c.header + c.json build, without Hono's Headers merging).
    return new Response(hit!.body, { status: 200, headers: STATUS_HEADERS });
  });
}

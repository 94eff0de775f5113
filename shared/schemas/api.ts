import { z } from "zod";
import { Username } from "./names.ts";
import { RepoRecord } from "./repo.ts";

export const RefreshBody = z
  .object({
    force_refresh: z.boolean().optional().default(false),
    /** Where signed status webhooks go (checked further at refresh and at every delivery). */
    callback_url: z
      .string()
      .max(2048)
      .url()
      .refine((u) => /^https?:\/\//i.test(u), "must be an http(s) URL")
      .optional(),
  })
  .strict();
export type RefreshBody = z.infer<typeof RefreshBody>;

export const RefreshAccepted = z.object({
  status: z.literal("processing"),
  job_id: z.string(),
  status_url: z.string(),
  events_url: z.string(),
});
export type RefreshAccepted = z.infer<typeof RefreshAccepted>;

export const AiBody = z
  .object({
    query: z.string().trim().min(1, "must not be empty").max(500),
    username: Username,
    limit: z.number().int().min(1).max(50).optional().default(5),
  })
  .strict();
export type AiBody = z.infer<typeof AiBody>;

export const AiResponse = z.object({
  response: z.string(),
  repositories_used: z.array(z.object({ name: z.string(), relevance_score: z.number() })),
  total_repositories: z.number().int(),
  query: z.string(),
  model: z.string(),
});
export type AiResponse = z.infer<typeof AiResponse>;

export const BundleResponse = z.object({
  username: Username,
  fingerprint: z.string(),
  last_modified: z.string(),
  data: z.array(RepoRecord),
});
export type BundleResponse = z.infer<typeof BundleResponse>;

export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** Formats a zod error so the message names each bad field. */
export function describeZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => `${i.path.length ? i.path.join(".") : "(body)"}: ${i.message}`)
    .join("; ");
}

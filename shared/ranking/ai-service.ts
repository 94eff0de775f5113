/**
 * /api/ai service: ranks a user's repositories for a question and answers
 * from their own fields.
 *
 *   createAiService({ store, llm? }).answer({query, username, limit}) →
 *     AiResponse, or null when the user has no bundle.
 *
 * Per user it caches the bundle's search index (keyed by the version of
 * `bundles/{user}/current.json`) and the promoted model (keyed by the version
 * of `models/{user}/current.json`). Both pointers are re-checked at most once
 * per `revalidateMs` (in the background once warm), so a warm answer does no
 * storage I/O; a new bundle or a newly promoted model is picked up on the
 * next check. Before any model exists it ranks with BM25 (model: "bm25").
 * Runs in Deno (gateway) and Bun; TF.js is not needed for inference.
 */
import { readCurrentBundle, readPointer } from "../bundle-store.ts";
import { NonRetriableError } from "../errors.ts";
import { AiBody, type AiResponse } from "../schemas/api.ts";
import type { BlobStore } from "../storage/types.ts";
import type { RankingModel } from "./model.ts";
import { loadModel, readModelPointer } from "./model-store.ts";
import { BundleIndex } from "./ranker.ts";
import { type RepoFields, repoSummary } from "./text-fields.ts";

export interface LlmOptions {
  /** OpenAI-compatible base URL (…/v1) or full chat-completions URL. */
  url: string;
  apiKey?: string;
  model?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface AiServiceOptions {
  store: BlobStore;
  /** Optional LLM for the prose answer; the grounded answer is the fallback. */
  llm?: LlmOptions | null;
  /** How often the pointers are re-checked (ms, default 1000; 0 = every request). */
  revalidateMs?: number;
  /** Users kept in the cache (default 200). */
  maxUsers?: number;
  log?: (msg: string) => void;
}

export interface AiService {
  answer(body: AiBody | { query: string; username: string; limit?: number }): Promise<AiResponse | null>;
  /** Drops cached state (all users, or one). */
  invalidate(username?: string): void;
}

/** Bad input reaching the service directly (the gateway validates first). */
export class AiInputError extends NonRetriableError {
  override name = "AiInputError";
  readonly status = 400;
}

interface Entry {
  bundleVersion: string;
  index: BundleIndex;
  modelVersion: string | null;
  model: RankingModel | null;
  modelLabel: string;
  checkedAt: number;
  revalidating?: Promise<void>;
}

export function modelLabel(model: RankingModel | null): string {
  if (!model) return "bm25";
  return `dual-encoder+bm25:${model.meta.content_fingerprint.slice(0, 12)}:${model.meta.backend}`;
}

export function createAiService(opts: AiServiceOptions): AiService {
  const { store } = opts;
  const revalidateMs = opts.revalidateMs ?? 1000;
  const maxUsers = opts.maxUsers ?? 200;
  const log = opts.log ?? (() => {});
  const cache = new Map<string, Entry>();
  const loading = new Map<string, Promise<Entry | null>>();

  async function load(user: string, prev?: Entry): Promise<Entry | null> {
    const bp = await readPointer(store, user);
    if (!bp) return null;
    let index = prev?.index;
    let bundleVersion = prev?.bundleVersion;
    if (!index || bundleVersion !== bp.version) {
      const cur = await readCurrentBundle(store, user);
      if (!cur) return null;
      index = new BundleIndex(cur.bundle.repos);
      bundleVersion = cur.pointerVersion;
    }
    let model = prev?.model ?? null;
    let modelVersion = prev?.modelVersion ?? null;
    const mp = await readModelPointer(store, user);
    if (!mp) {
      model = null;
      modelVersion = null;
    } else if (mp.version !== modelVersion) {
      try {
        model = await loadModel(store, mp.pointer.prefix);
        modelVersion = mp.version;
      } catch (err) {
        log(`model of ${user} at ${mp.pointer.prefix} unreadable: ${(err as Error).message}; using BM25`);
        model = prev?.model ?? null;
      }
    }
    return {
      bundleVersion: bundleVersion!,
      index,
      model,
      modelVersion,
      modelLabel: modelLabel(model),
      checkedAt: Date.now(),
    };
  }

  async function entryFor(user: string): Promise<Entry | null> {
    const e = cache.get(user);
    if (e) {
      const stale = Date.now() - e.checkedAt >= revalidateMs;
      if (!stale) return e;
      if (revalidateMs > 0 && !e.revalidating) {
        // Warm: answer from the cache, refresh in the background.
        e.revalidating = load(user, e)
          .then((n) => {
            if (n) cache.set(user, n);
            else cache.delete(user);
          })
          .catch((err) => {
            log(`revalidating ${user} failed: ${(err as Error).message}`);
            e.checkedAt = Date.now();
          })
          .finally(() => (e.revalidating = undefined));
        return e;
      }
      if (revalidateMs > 0) return e;
    }
    let p = loading.get(user);
    if (!p) {
      p = load(user, e).finally(() => loading.delete(user));
      loading.set(user, p);
    }
    const n = await p;
    if (!n) {
      cache.delete(user);
      return null;
    }
    cache.delete(user);
    cache.set(user, n);
    while (cache.size > maxUsers) cache.delete(cache.keys().next().value!);
    return n;
  }

  return {
    invalidate(username?: string) {
      if (username) cache.delete(username.toLowerCase());
      else cache.clear();
    },
    async answer(raw) {
      const parsed = AiBody.safeParse(raw);
      if (!parsed.success) {
        throw new AiInputError(
          parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
        );
      }
      const body = parsed.data;
      const user = body.username.toLowerCase();
      const entry = await entryFor(user);
      if (!entry) return null;
      const { index, model } = entry;
      const ranked = index.rank(body.query, model ? "fusion" : "bm25", model);
      const top = ranked.order
        .filter((i) => ranked.scores[i] > 0)
        .slice(0, body.limit)
        .map((i) => ({ i, name: index.names[i], relevance_score: Math.round(ranked.scores[i] * 10000) / 10000 }));
      const grounded = groundedAnswer(body.query, user, top.map((t) => index.fields[t.i]));
      let response = grounded;
      if (opts.llm && top.length) {
        try {
          response = await llmAnswer(opts.llm, body.query, user, top.map((t) => index.fields[t.i])) || grounded;
        } catch (err) {
          log(`LLM answer failed (${(err as Error).message}); grounded answer used`);
        }
      }
      return {
        response,
        repositories_used: top.map(({ name, relevance_score }) => ({ name, relevance_score })),
        total_repositories: index.size,
        query: body.query,
        model: entry.modelLabel,
      };
    },
  };
}

function describe(f: RepoFields): string {
  const summary = repoSummary(f).replace(/\s+/g, " ").trim();
  const short = summary.length > 160 ? summary.slice(0, 157).replace(/\s+\S*$/, "") + "…" : summary;
  const extras: string[] = [];
  if (f.languages.length) extras.push(f.languages.slice(0, 3).join(", "));
  if (f.topics.length) extras.push(`topics: ${f.topics.slice(0, 4).join(", ")}`);
  return `${f.name} — ${short}${extras.length ? ` (${extras.join("; ")})` : ""}`;
}

/** A short answer built only from the top repositories' own fields. */
export function groundedAnswer(query: string, user: string, top: RepoFields[]): string {
  if (!top.length) return `None of ${user}'s repositories matches “${query}”.`;
  const [first, ...rest] = top;
  let s = `For “${query}”, ${user}'s most relevant repository is ${describe(first)}.`;
  if (rest.length) s += ` Also relevant: ${rest.slice(0, 4).map(describe).join("; ")}.`;
  return s;
}

async function llmAnswer(llm: LlmOptions, query: string, user: string, top: RepoFields[]): Promise<string> {
  const url = /\/chat\/completions$/.test(llm.url) ? llm.url : llm.url.replace(/\/$/, "") + "/chat/completions";
  const context = top.map((f) => `- ${describe(f)}`).join("\n");
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), llm.timeoutMs ?? 8000);
  try {
    const res = await (llm.fetch ?? fetch)(url, {
      method: "POST",
      signal: ctl.signal,
      headers: {
        "content-type": "application/json",
        ...(llm.apiKey ? { authorization: `Bearer ${llm.apiKey}` } : {}),
      },
      body: JSON.stringify({
        model: llm.model ?? "gpt-4o-mini",
        temperature: 0.2,
        max_tokens: 220,
        messages: [
          {
            role: "system",
            content:
              "Answer in at most three sentences, using only the repositories listed. Name the repositories you use.",
          },
          { role: "user", content: `Repositories of ${user}:\n${context}\n\nQuestion: ${query}` },
        ],
      }),
    });
    if (!res.ok) throw new Error(`LLM endpoint answered ${res.status}`);
    const json = await res.json();
    const text = json?.choices?.[0]?.message?.content;
    return typeof text === "string" ? text.trim() : "";
  } finally {
    clearTimeout(timer);
  }
}

/** The optional LLM from the validated config (LLM_API_URL / LLM_API_KEY); null when not configured. */
export function llmFromConfig(cfg: { LLM_API_URL?: string; LLM_API_KEY?: string }): LlmOptions | null {
  return cfg.LLM_API_URL ? { url: cfg.LLM_API_URL, ...(cfg.LLM_API_KEY ? { apiKey: cfg.LLM_API_KEY } : {}) } : null;
}

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
 *
 * A model trained with sentence vectors (ranker.ts SENTENCE_WEIGHT) needs the
 * question's vector from the same pretrained encoder: `queryEncoder` loads it
 * on first use (TF.js; the gateway passes one); question vectors are cached
 * (LRU). Without an encoder, or while it cannot be loaded (retried after
 * ENCODER_RETRY_MS), the question is ranked without that signal and the
 * answer's `model` says so (no "+sentence").
 */
import { readCurrentBundle, readPointer } from "../bundle-store.ts";
import { InputError } from "../errors.ts";
import { AiBody, type AiResponse } from "../schemas/api.ts";
import type { BlobStore } from "../storage/types.ts";
import { type RankingModel, sentenceVectorsOf } from "./model.ts";
import { loadModel, readModelPointer } from "./model-store.ts";
import { BundleIndex } from "./ranker.ts";
import type { SentenceEncoder } from "./sentence-encoder.ts";
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
  /** Loads the pretrained sentence encoder for question vectors (once; see the header). */
  queryEncoder?: (() => Promise<SentenceEncoder>) | null;
  /** Question vectors kept (default 2000). */
  maxQueryVectors?: number;
  log?: (msg: string) => void;
}

export interface AiService {
  answer(body: AiBody | { query: string; username: string; limit?: number }): Promise<AiResponse | null>;
  /** Drops cached state (all users, or one). */
  invalidate(username?: string): void;
}

/** Bad input reaching the service directly (the gateway validates first). */
export class AiInputError extends InputError {
  override name = "AiInputError";
}

interface Entry {
  bundleVersion: string;
  index: BundleIndex;
  modelVersion: string | null;
  model: RankingModel | null;
  modelLabel: string;
  /** The label when the question's sentence vector took part. */
  sentenceLabel: string;
  checkedAt: number;
  revalidating?: Promise<void>;
}

/** What ranked an answer: "bm25", or the model's kind, content fingerprint and training backend. */
export function modelLabel(model: RankingModel | null, sentence = false): string {
  if (!model) return "bm25";
  const kind = sentence ? "dual-encoder+sentence+bm25" : "dual-encoder+bm25";
  return `${kind}:${model.meta.content_fingerprint.slice(0, 12)}:${model.meta.backend}`;
}

/** After a failed load of the sentence encoder, how long before it is tried again. */
export const ENCODER_RETRY_MS = 60_000;

export function createAiService(opts: AiServiceOptions): AiService {
  const { store } = opts;
  const revalidateMs = opts.revalidateMs ?? 1000;
  const maxUsers = opts.maxUsers ?? 200;
  const log = opts.log ?? (() => {});
  const cache = new Map<string, Entry>();
  const loading = new Map<string, Promise<Entry | null>>();
  const maxQueryVectors = opts.maxQueryVectors ?? 2000;
  const queryVectors = new Map<string, Float32Array>();
  let encoder: Promise<SentenceEncoder> | null = null;
  let encoderFailedAt = -Infinity;

  /** The question's sentence vector for this model, or null (no vectors, no encoder, or it failed). */
  async function queryVectorFor(model: RankingModel | null, query: string): Promise<Float32Array | null> {
    // Every question, however short: one repo can stand out even for three words (SENTENCE_CONFIDENT_Z).
    if (!model?.sentenceVectors || !opts.queryEncoder) return null;
    const hit = queryVectors.get(query);
    if (hit) {
      queryVectors.delete(query);
      queryVectors.set(query, hit);
      return hit;
    }
    if (!encoder) {
      if (Date.now() - encoderFailedAt < ENCODER_RETRY_MS) return null;
      encoder = opts.queryEncoder();
    }
    const pending = encoder;
    let enc: SentenceEncoder;
    try {
      enc = await pending;
    } catch (err) {
      // Once per failed load (concurrent questions share it).
      if (encoder === pending) {
        log(`sentence encoder unavailable (${(err as Error).message}); ranking without it`);
        encoder = null;
        encoderFailedAt = Date.now();
      }
      return null;
    }
    if (!sentenceVectorsOf(model, enc.id)) return null;
    let v: Float32Array;
    try {
      [v] = await enc.embed([query]);
    } catch (err) {
      // A question the encoder fails on is still answered, by the other signals.
      log(`sentence encoder failed on a question (${(err as Error).message}); ranked without it`);
      return null;
    }
    queryVectors.set(query, v);
    while (queryVectors.size > maxQueryVectors) queryVectors.delete(queryVectors.keys().next().value!);
    return v;
  }

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
    // A pointer that cannot be read (undefined here) keeps the model held, or BM25.
    const mp = await readModelPointer(store, user).catch((err) => {
      log(`model pointer of ${user} unreadable: ${(err as Error).message}`);
      return undefined;
    });
    if (mp === null) {
      model = null;
      modelVersion = null;
    } else if (mp && mp.version !== modelVersion) {
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
      sentenceLabel: modelLabel(model, true),
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
      const qv = await queryVectorFor(model, body.query);
      const ranked = index.rank(body.query, { mode: model ? "fusion" : "bm25", model, queryVector: qv });
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
        model: ranked.sentenceWeight > 0 ? entry.sentenceLabel : entry.modelLabel,
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

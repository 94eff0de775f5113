import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publishBundle } from "../../shared/bundle-store.ts";
import { AiInputError, createAiService, groundedAnswer } from "../../shared/ranking/ai-service.ts";
import { repoFields } from "../../shared/ranking/text-fields.ts";
import { loadFixtureBundle } from "../../shared/ranking/fixture-bundle.ts";
import { rng } from "../../shared/ranking/hash.ts";
import { buildIndex, DEFAULT_MODEL_CONFIG, featurize, type RankingModel } from "../../shared/ranking/model.ts";
import { promoteModel, readModelPointer, saveModel } from "../../shared/ranking/model-store.ts";
import { AiResponse } from "../../shared/schemas/api.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { githubFixturesDir } from "../support/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "foliosync-ai-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bundle = loadFixtureBundle(join(githubFixturesDir, "yungryce"));

/** A model whose only knowledge is: the word "zebra" means the repo `target`. */
function pointingModel(target: string, fp: string): RankingModel {
  const cfg = { ...DEFAULT_MODEL_CONFIG, dim: 4, charWeight: 0 };
  const vocab = featurize("zebra", cfg).features;
  const names = bundle.repos.map((r) => r.name);
  const r = rng(3);
  const repoVectors = new Float32Array(names.length * 4);
  names.forEach((n, i) => {
    if (n === target) repoVectors.set([1, 0, 0, 0], i * 4);
    else repoVectors.set([0, r(), r(), r()].map((x) => x / 2), i * 4);
  });
  return {
    config: cfg,
    vocab,
    index: buildIndex(vocab),
    embeddings: Float32Array.from([1, 0, 0, 0]),
    repoNames: names,
    repoVectors,
    meta: {
      username: "yungryce",
      content_fingerprint: fp,
      backend: "cpu",
      seed: 1,
      trained_at: new Date().toISOString(),
      train_ms: 1,
      epochs: 1,
      pairs: 1,
      held_out: 0,
      alpha: 0.5,
    },
  };
}

describe("/api/ai service", async () => {
  const store = await LocalStore.open(dir);
  const ai = createAiService({ store, revalidateMs: 0 });

  test("unknown user (no bundle yet) → null", async () => {
    expect(await ai.answer({ query: "flask", username: "nobody-here" })).toBeNull();
  });

  test("bad input is rejected: empty, oversize, bad username, bad limit", async () => {
    await expect(ai.answer({ query: "   ", username: "yungryce" })).rejects.toBeInstanceOf(AiInputError);
    await expect(ai.answer({ query: "x".repeat(501), username: "yungryce" })).rejects.toBeInstanceOf(AiInputError);
    await expect(ai.answer({ query: "flask", username: "../etc" })).rejects.toBeInstanceOf(AiInputError);
    await expect(ai.answer({ query: "flask", username: "yungryce", limit: 0 })).rejects.toBeInstanceOf(AiInputError);
  });

  test("before any model: BM25, grounded answer, schema-valid", async () => {
    await publishBundle(store, bundle);
    const res = await ai.answer({ query: "Laravel PHP projects", username: "yungryce", limit: 3 });
    expect(res).not.toBeNull();
    AiResponse.parse(res);
    expect(res!.model).toBe("bm25");
    expect(res!.total_repositories).toBe(48);
    expect(res!.query).toBe("Laravel PHP projects");
    expect(res!.repositories_used.length).toBe(3);
    expect(res!.repositories_used[0].name).toBe("laravel_apps");
    expect(res!.repositories_used[0].relevance_score).toBe(1);
    for (const r of res!.repositories_used) expect(r.relevance_score).toBeGreaterThan(0);
    expect(res!.response).toContain("laravel_apps");
    // usernames are case-insensitive
    expect((await ai.answer({ query: "Laravel", username: "YungRyce" }))!.total_repositories).toBe(48);
  });

  test("a query matching nothing gives no repositories and says so", async () => {
    const res = await ai.answer({ query: "qwxzv", username: "yungryce" });
    expect(res!.repositories_used).toEqual([]);
    expect(res!.response).toContain("None");
  });

  test("a promoted model is picked up (pointer change) and fused with BM25", async () => {
    const m1 = pointingModel("monty", bundle.content_fingerprint);
    await saveModel(store, m1);
    const prefix = `models/yungryce/${bundle.content_fingerprint}/`;
    expect(
      await promoteModel(store, {
        username: "yungryce",
        content_fingerprint: bundle.content_fingerprint,
        prefix,
        backend: "cpu",
        trained_at: "t",
      }, null),
    ).toBe(true);
    const res = await ai.answer({ query: "zebra", username: "yungryce" });
    expect(res!.model).not.toBe("bm25");
    expect(res!.model).toContain(bundle.content_fingerprint.slice(0, 12));
    expect(res!.repositories_used[0].name).toBe("monty");

    // a second model for other content replaces it once current.json changes
    const fp2 = "0123456789abcdef0123";
    await saveModel(store, pointingModel("printf", fp2));
    const cur = await readModelPointer(store, "yungryce");
    expect(
      await promoteModel(store, {
        username: "yungryce",
        content_fingerprint: fp2,
        prefix: `models/yungryce/${fp2}/`,
        backend: "cpu",
        trained_at: "t",
      }, cur!.version),
    ).toBe(true);
    const res2 = await ai.answer({ query: "zebra", username: "yungryce" });
    expect(res2!.model).toContain(fp2.slice(0, 12));
    expect(res2!.repositories_used[0].name).toBe("printf");
    // a stale promotion loses
    expect(
      await promoteModel(store, {
        username: "yungryce",
        content_fingerprint: "ffffffffffff",
        prefix: "models/yungryce/ffffffffffff/",
        backend: "cpu",
        trained_at: "t",
      }, cur!.version),
    ).toBe(false);
  });

  test("an unreadable model falls back to serving what it had / BM25", async () => {
    const fresh = createAiService({ store, revalidateMs: 0 });
    const cur = await readModelPointer(store, "yungryce");
    await promoteModel(store, {
      username: "yungryce",
      content_fingerprint: "deadbeefdeadbeef",
      prefix: "models/yungryce/deadbeefdeadbeef/",
      backend: "cpu",
      trained_at: "t",
    }, cur!.version);
    const res = await fresh.answer({ query: "Laravel", username: "yungryce" });
    expect(res!.model).toBe("bm25");
    expect(res!.repositories_used[0].name).toBe("laravel_apps");
  });

  test("a model pointer that is not a ModelPointer: the question is answered by what is held, or BM25", async () => {
    const cur = await readModelPointer(store, "yungryce");
    await store.put("models/yungryce/current.json", JSON.stringify({ username: "yungryce", prefix: 42 }), {
      ifVersion: cur!.version,
    });
    await expect(readModelPointer(store, "yungryce")).rejects.toThrow(/does not match its schema/);
    const fresh = createAiService({ store, revalidateMs: 0, log: () => {} });
    const res = await fresh.answer({ query: "Laravel", username: "yungryce" });
    expect(res!.model).toBe("bm25");
    expect(res!.repositories_used[0].name).toBe("laravel_apps");
    await store.put("models/yungryce/current.json", "{not json", {});
    expect((await fresh.answer({ query: "Laravel", username: "yungryce" }))!.model).toBe("bm25");
  });

  test("optional LLM endpoint is used when it answers, grounded answer otherwise", async () => {
    const calls: string[] = [];
    const okFetch = ((url: string, init: RequestInit) => {
      calls.push(String(url));
      expect(JSON.parse(String(init.body)).messages[1].content).toContain("laravel_apps");
      return Promise.resolve(
        new Response(JSON.stringify({ choices: [{ message: { content: "Use laravel_apps." } }] }), { status: 200 }),
      );
    }) as unknown as typeof fetch;
    const withLlm = createAiService({ store, revalidateMs: 0, llm: { url: "http://llm.invalid/v1", fetch: okFetch } });
    const a = await withLlm.answer({ query: "Laravel PHP", username: "yungryce" });
    expect(a!.response).toBe("Use laravel_apps.");
    expect(calls[0]).toBe("http://llm.invalid/v1/chat/completions");
    const badFetch = (() => Promise.resolve(new Response("no", { status: 500 }))) as unknown as typeof fetch;
    const failing = createAiService({ store, revalidateMs: 0, llm: { url: "http://llm.invalid/v1", fetch: badFetch } });
    const b = await failing.answer({ query: "Laravel PHP", username: "yungryce" });
    expect(b!.response).toContain("laravel_apps");
  });
});

describe("grounded answer wording", () => {
  test("a repo without a description is summarised by its project_identity sentence, not its labels", () => {
    const f = repoFields({
      name: "Email_FA",
      repoContext: {
        project_identity: {
          name: "Email Function App",
          type: "project",
          scope: "serverless",
          description: "Serverless Azure Function App for email notification system with SMTP integration",
        },
      },
      languages: { Python: 10 },
    });
    const s = groundedAnswer("send mail", "someone", [f]);
    expect(s).toContain("Email_FA — Serverless Azure Function App for email notification system with SMTP integration");
    expect(s).not.toContain("project. serverless");
    // Only labels, no sentence: the labels are still used.
    const g = repoFields({ name: "x", repoContext: { project_identity: { name: "X App", type: "tool" } } });
    expect(groundedAnswer("q", "u", [g])).toContain("x — X App. tool");
    // Labels only, but a README: its first paragraph says more than the labels.
    const h = repoFields({
      name: "fa",
      repoContext: { project_identity: { name: "monorepo", type: "repository" } },
      readme: "# Azure Function Apps\n\nA collection of Azure Function Apps for email, images and VMs.\n",
    });
    expect(groundedAnswer("q", "u", [h])).toContain(
      "fa — A collection of Azure Function Apps for email, images and VMs.",
    );
  });
});

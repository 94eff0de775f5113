/**
 * Training benchmark (Deno): trains a fixture owner's bundle exactly as the
 * worker does, on TFJS_BACKEND (webgpu | wasm | cpu; automatic when unset),
 * and prints one JSON line {backend, train_ms, adapter, …}.
 *
 *   TFJS_BACKEND=wasm deno run -A scripts/bench/train.ts [--owner yungryce] [--runs 3] [--store DIR]
 *
 * --store DIR also publishes the bundle and promotes the model into a local
 * store at DIR (used by scripts/bench/ai.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { publishBundle } from "../../shared/bundle-store.ts";
import { loadFixtureBundle } from "../../shared/ranking/fixture-bundle.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { githubFixturesDir } from "../../tests/support/paths.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import { buildUserModel, trainUserModel } from "../../workers/train/train.ts";
import { defaultWordVectors } from "../../shared/ranking/word-vectors-source.ts";
import { numberFlag, parseScriptArgs } from "../lib/cli-args.ts";

// --json is accepted for symmetry with the other benchmarks: the output is always one JSON line.
const { values: argv } = parseScriptArgs(
  { owner: { type: "string" }, runs: { type: "string" }, store: { type: "string" }, json: { type: "boolean" } },
  "bench:train [--owner NAME] [--runs N] [--store DIR] [--json]",
);
const owner = argv.owner ?? "yungryce";
const runs = numberFlag(argv.runs, "runs", 3, 1);
const storeDir = argv.store ?? "";

const forced = (Deno.env.get("TFJS_BACKEND") ?? "") as "" | "webgpu" | "wasm" | "cpu";
const choice = await selectBackend(tf, { forced, log: (m) => console.error(m) });
const t0 = performance.now();
defaultWordVectors((m) => console.error(m));
const wordVectorsMs = Math.round(performance.now() - t0);
const bundle = loadFixtureBundle(join(githubFixturesDir, owner));

const times: number[] = [];
let last;
for (let i = 0; i < runs; i++) {
  last = await buildUserModel(bundle, { backend: choice.backend });
  times.push(last.train_ms);
}
times.sort((a, b) => a - b);
let promoted: string | undefined;
if (storeDir) {
  const store = await LocalStore.open(storeDir);
  await publishBundle(store, bundle);
  const out = await trainUserModel({ bundle, store, backend: choice.backend });
  promoted = out.status === "trained" ? out.pointer.prefix : `skipped: ${out.reason}`;
}
console.log(JSON.stringify({
  backend: choice.backend,
  train_ms: times[Math.floor(times.length / 2)],
  train_ms_runs: times,
  owner,
  repos: bundle.repos.length,
  pairs: last?.pairs.train.length,
  word_vectors_load_ms: wordVectorsMs,
  adapter: choice.adapter ?? null,
  tried: choice.tried,
  deno: Deno.version.deno,
  ...(promoted ? { promoted } : {}),
}));

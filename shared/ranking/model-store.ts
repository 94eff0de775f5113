/**
 * Model artifacts in blob storage, through a TF.js-style IOHandler
 * (`{save(artifacts), load()}`; structurally a tf.io.IOHandler, declared here
 * without importing TF.js so the gateway can load models without it).
 *
 *   models/{user}/{content_fingerprint}/model.json   topology + weight specs + metadata
 *   models/{user}/{content_fingerprint}/weights.bin  little-endian float32 weights
 *   models/{user}/current.json                        the promoted model (conditional swap)
 */
import { PreconditionFailedError } from "../errors.ts";
import { storageKeys } from "../keys.ts";
import { ModelPointer } from "../schemas/bundle.ts";
import { getJson } from "../storage/json.ts";
import type { BlobStore } from "../storage/types.ts";
export { ModelPointer };
import { type Artifacts, modelFromArtifacts, modelToArtifacts, type RankingModel } from "./model.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export const MODEL_JSON = "model.json";
export const WEIGHTS_BIN = "weights.bin";

export interface SaveResult {
  modelArtifactsInfo: {
    dateSaved: Date;
    modelTopologyType: "JSON";
    modelTopologyBytes?: number;
    weightSpecsBytes?: number;
    weightDataBytes?: number;
  };
}

export interface StorageIOHandler {
  save(artifacts: Artifacts): Promise<SaveResult>;
  load(): Promise<Artifacts>;
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** An IOHandler that writes/reads `${prefix}model.json` and `${prefix}weights.bin`. */
export function storageIOHandler(store: BlobStore, prefix: string): StorageIOHandler {
  const p = prefix.endsWith("/") ? prefix : prefix + "/";
  return {
    async save(a: Artifacts): Promise<SaveResult> {
      if (!isLittleEndian()) throw new Error("big-endian hosts are not supported");
      const weights = new Uint8Array(
        a.weightData instanceof ArrayBuffer ? a.weightData : (a.weightData as ArrayBuffer),
      );
      // Weights first: model.json is what a reader looks for, so it lands last.
      await store.put(p + WEIGHTS_BIN, weights, { contentType: "application/octet-stream" });
      const manifest = {
        format: a.format,
        generatedBy: a.generatedBy,
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: a.weightSpecs }],
        userDefinedMetadata: a.userDefinedMetadata,
      };
      const json = JSON.stringify(manifest);
      await store.put(p + MODEL_JSON, enc.encode(json), { contentType: "application/json" });
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          modelTopologyBytes: json.length,
          weightSpecsBytes: JSON.stringify(a.weightSpecs).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<Artifacts> {
      const m = await store.get(p + MODEL_JSON);
      if (!m) throw new Error(`no model at ${p}${MODEL_JSON}`);
      const manifest = JSON.parse(dec.decode(m.data));
      const group = manifest.weightsManifest?.[0];
      if (!group) throw new Error(`${p}${MODEL_JSON} has no weightsManifest`);
      const w = await store.get(p + group.paths[0]);
      if (!w) throw new Error(`no weights at ${p}${group.paths[0]}`);
      const copy = new Uint8Array(w.data.byteLength);
      copy.set(w.data);
      return {
        format: manifest.format,
        generatedBy: manifest.generatedBy,
        modelTopology: manifest.modelTopology,
        weightSpecs: group.weights,
        weightData: copy.buffer,
        userDefinedMetadata: manifest.userDefinedMetadata,
      };
    },
  };
}

export async function saveModel(store: BlobStore, model: RankingModel): Promise<string> {
  const prefix = storageKeys.modelPrefix(model.meta.username, model.meta.content_fingerprint);
  await storageIOHandler(store, prefix).save(modelToArtifacts(model));
  return prefix;
}

export async function loadModel(store: BlobStore, prefix: string): Promise<RankingModel> {
  return modelFromArtifacts(await storageIOHandler(store, prefix).load());
}

/**
 * The promoted model's pointer, or null when the user has none. A pointer that
 * is not JSON or not a ModelPointer throws StoredJsonError (not retried).
 */
export async function readModelPointer(
  store: BlobStore,
  username: string,
): Promise<{ pointer: ModelPointer; version: string } | null> {
  const found = await getJson(store, storageKeys.modelCurrent(username), ModelPointer);
  return found && { pointer: found.value, version: found.version };
}

/**
 * Swaps `models/{user}/current.json` to the new model, conditionally on the
 * pointer version the gate compared against (null: no model yet). Returns
 * false when another promotion won the race.
 */
export async function promoteModel(
  store: BlobStore,
  pointer: ModelPointer,
  expectedVersion: string | null,
): Promise<boolean> {
  try {
    await store.put(storageKeys.modelCurrent(pointer.username), enc.encode(JSON.stringify(pointer)), {
      ...(expectedVersion ? { ifVersion: expectedVersion } : { ifAbsent: true }),
      contentType: "application/json",
    });
    return true;
  } catch (err) {
    if (err instanceof PreconditionFailedError) return false;
    throw err;
  }
}

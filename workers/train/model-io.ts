/**
 * The TF.js IOHandler over the storage adapter, typed as tf.io.IOHandler for
 * the training worker. The implementation lives in shared/ranking/model-store.ts
 * (no TF.js import there, so the gateway can load models without TF.js).
 */
import type * as tfType from "@tensorflow/tfjs";
import type { BlobStore } from "../../shared/storage/types.ts";
import { storageIOHandler as sharedHandler } from "../../shared/ranking/model-store.ts";

export { loadModel, promoteModel, readModelPointer, saveModel } from "../../shared/ranking/model-store.ts";
export type { ModelPointer } from "../../shared/ranking/model-store.ts";

export function storageIOHandler(store: BlobStore, prefix: string): tfType.io.IOHandler {
  return sharedHandler(store, prefix) as unknown as tfType.io.IOHandler;
}

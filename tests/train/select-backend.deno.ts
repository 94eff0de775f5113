import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { BACKEND_ORDER, selectBackend } from "../../shared/ranking/select-backend.ts";

Deno.test("backend order is webgpu, wasm, cpu", () => {
  assert.deepEqual(BACKEND_ORDER, ["webgpu", "wasm", "cpu"]);
});

Deno.test("no navigator.gpu → wasm (webgpu recorded as unavailable)", async () => {
  const c = await selectBackend(tf, { gpu: undefined });
  assert.equal(c.backend, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.equal(c.tried[0].backend, "webgpu");
  assert.equal(c.tried[0].ok, false);
  assert.match(c.tried[0].reason ?? "", /navigator\.gpu/);
});

Deno.test("an adapter request that yields nothing → wasm", async () => {
  const c = await selectBackend(tf, { gpu: { requestAdapter: () => Promise.resolve(null) } });
  assert.equal(c.backend, "wasm");
  assert.match(c.tried[0].reason ?? "", /no adapter/);
});

Deno.test("a software fallback adapter is passed over automatically", async () => {
  const fake = { info: { vendor: "mesa", description: "llvmpipe" }, isFallbackAdapter: true };
  const c = await selectBackend(tf, { gpu: { requestAdapter: () => Promise.resolve(fake) } });
  assert.equal(c.backend, "wasm");
  assert.match(c.tried[0].reason ?? "", /fallback adapter \(llvmpipe\)/);
});

Deno.test("TFJS_BACKEND forces one backend; an unusable forced backend fails loudly", async () => {
  const c = await selectBackend(tf, { forced: "cpu" });
  assert.equal(c.backend, "cpu");
  assert.deepEqual(c.tried.map((t) => t.backend), ["cpu"]);
  await assert.rejects(selectBackend(tf, { forced: "webgpu", gpu: undefined }), /no usable tfjs backend/);
  // leave wasm active for the other tests in this process
  assert.equal((await selectBackend(tf, { forced: "wasm" })).backend, "wasm");
});

import assert from "node:assert/strict";
import { startRedis } from "./redis.ts";

Deno.test("redis harness works from deno test too", async () => {
  const r = await startRedis();
  try {
    assert.notEqual(r.port, 6379);
    const c = r.client();
    await c.set("k", "from-deno");
    assert.equal(await c.get("k"), "from-deno");
  } finally {
    await r.stop();
  }
});

import { expect, test } from "bun:test";
import { startRedis } from "./redis.ts";

test("redis harness starts a private server that is not 6379, and stops it", async () => {
  const r = await startRedis();
  try {
    expect(r.port).not.toBe(6379);
    const c = r.client();
    await c.set("k", "v");
    expect(await c.get("k")).toBe("v");
    expect(await c.config("GET", "dir")).toEqual(["dir", r.dir]);
  } finally {
    await r.stop();
  }
  const { connect } = await import("node:net");
  const refused = await new Promise<boolean>((res) => {
    const s = connect(r.port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      res(false);
    });
    s.once("error", () => res(true));
  });
  expect(refused).toBe(true);
});

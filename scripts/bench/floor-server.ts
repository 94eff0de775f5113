/**
 * The benchmark floor: a bare Deno.serve doing one Redis LPUSH per request
 * (ioredis, the client the gateway uses) and answering a small JSON body.
 * `deno run -A scripts/bench/floor-server.ts` with PORT (0 = free port) and
 * REDIS_URL; prints `floor listening on http://127.0.0.1:PORT`.
 */
import { Redis } from "ioredis";
import { parseScriptArgs } from "../lib/cli-args.ts";

parseScriptArgs({}, "deno run -A scripts/bench/floor-server.ts", {
  details: "Environment: PORT (0: a free port), REDIS_URL (default redis://127.0.0.1:6379).",
});
const redis = new Redis(Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379");
let n = 0;
const server = Deno.serve(
  {
    port: Number(Deno.env.get("PORT") ?? "0"),
    hostname: "127.0.0.1",
    onListen: ({ port }) => console.log(`floor listening on http://127.0.0.1:${port}`),
  },
  async () => {
    await redis.lpush("bench:floor", String(++n));
    return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  },
);
const stop = async () => {
  await server.shutdown();
  redis.disconnect();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);

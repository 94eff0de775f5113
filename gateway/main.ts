/**
 * `deno task gateway`: serves the API on PORT (0 = any free port) and prints
 * `gateway listening on http://127.0.0.1:PORT` once it accepts connections.
 * Extra environment read here only: HOST (default 0.0.0.0),
 * TRUSTED_PROXY_HOPS (default 0). SIGINT/SIGTERM: graceful shutdown.
 */
import { loadConfig, processEnv } from "../shared/config.ts";
import { createApp } from "./app.ts";
import { createGatewayDeps } from "./deps.ts";
import { flushTelemetry, initTelemetry } from "../shared/telemetry.ts";

const env = processEnv();
let config;
try {
  config = loadConfig(env);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  Deno.exit(2);
}
initTelemetry("foliosync-gateway", { env });
const hops = Number(env.TRUSTED_PROXY_HOPS ?? "0");
const runtime = await createGatewayDeps(config, { trustedProxyHops: Number.isInteger(hops) && hops > 0 ? hops : 0 });
const app = createApp(runtime.deps);

const server = Deno.serve(
  {
    port: config.PORT,
    hostname: env.HOST || "0.0.0.0",
    onListen: ({ port }) => console.log(`gateway listening on http://127.0.0.1:${port}`),
  },
  // remoteAddr is read lazily: only the routes that need the client's IP (refresh) pay for it.
  (req, info) =>
    app.fetch(req, {
      get remoteAddr() {
        return info.remoteAddr as Deno.NetAddr;
      },
    }),
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  // Open event streams would hold shutdown forever: give them a moment, then go.
  const force = setTimeout(() => Deno.exit(0), 3_000);
  await server.shutdown().catch(() => {});
  await runtime.close();
  await flushTelemetry();
  clearTimeout(force);
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

#!/usr/bin/env bun
/**
 * `npm run dev`   — the whole stack on the GitHub fixtures (gateway on $PORT, default 8787).
 * `npm start`     — the whole stack against $GITHUB_API_URL (default GitHub's API), token $GITHUB_TOKEN.
 * Uses $REDIS_URL when set, else a private redis-server. Ctrl-C stops everything.
 */
import { parseScriptArgs } from "./lib/cli-args.ts";
import { startEmbeddedStack } from "./lib/embedded-stack.ts";

const fixtures = parseScriptArgs({ fixtures: { type: "boolean" } }, "stack.ts [--fixtures]").values.fixtures ?? false;
try {
  const stack = await startEmbeddedStack({ fixtures });
  console.log(`foliosync is up: ${stack.gatewayUrl}/  (GitHub: ${stack.githubUrl}, Redis: ${stack.env.REDIS_URL})`);
  if (fixtures) console.log("fixture users: yungryce (48 repos), sindresorhus (120 repos)");
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping…");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} catch (err) {
  console.error(`could not start the stack: ${(err as Error).message}`);
  process.exit(1);
}

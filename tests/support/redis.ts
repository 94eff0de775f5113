// A private redis-server per test file: see scripts/lib/redis-server.ts.
export * from "../../scripts/lib/redis-server.ts";

// The launcher lives in scripts/lib so the demo and dev stack use the same code.
export * from "../../scripts/lib/process.ts";

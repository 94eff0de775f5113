export * from "../../scripts/lib/free-port.ts";

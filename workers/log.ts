import { logContext } from "../shared/telemetry.ts";

export type Level = "debug" | "info" | "warn" | "error" | "silent";
export interface Logger {
  debug(msg: string, extra?: Record<string, unknown>): void;
  info(msg: string, extra?: Record<string, unknown>): void;
  warn(msg: string, extra?: Record<string, unknown>): void;
  error(msg: string, extra?: Record<string, unknown>): void;
}
const order: Level[] = ["debug", "info", "warn", "error", "silent"];

/**
 * One JSON line per event on stderr (stdout stays free for CLIs), with the
 * job id and, when tracing is on, the trace and span ids of the work it is about.
 */
export function createLogger(level: Level = "info", base: Record<string, unknown> = {}): Logger {
  const min = order.indexOf(level);
  const emit = (lvl: Level) => (msg: string, extra?: Record<string, unknown>) => {
    if (order.indexOf(lvl) < min) return;
    console.error(JSON.stringify({ t: new Date().toISOString(), level: lvl, msg, ...base, ...logContext(), ...extra }));
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

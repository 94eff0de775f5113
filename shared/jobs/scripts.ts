import { readdirSync, readFileSync } from "node:fs";
import type { Redis } from "ioredis";

/**
 * The one loader for every atomic Redis operation: each `lua/<name>-<numKeys>.lua`
 * becomes an ioredis command `<camelName>` (EVALSHA with EVAL fallback).
 */
const luaDir = new URL("./lua/", import.meta.url);

export interface LuaScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

let cached: LuaScript[] | undefined;
export function luaScripts(): LuaScript[] {
  if (cached) return cached;
  cached = readdirSync(luaDir)
    .filter((f) => f.endsWith(".lua"))
    .map((file) => {
      const m = file.match(/^([a-z0-9-]+)-(\d+)\.lua$/);
      if (!m) throw new Error(`lua file not named <name>-<numKeys>.lua: ${file}`);
      const name = m[1].replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
      return { name, numberOfKeys: Number(m[2]), lua: readFileSync(new URL(file, luaDir), "utf8") };
    });
  return cached;
}

const loaded = new WeakSet<Redis>();
/** Defines every script on the client once. */
export function loadScripts(redis: Redis): ScriptedRedis {
  if (!loaded.has(redis)) {
    for (const s of luaScripts()) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    loaded.add(redis);
  }
  return redis as ScriptedRedis;
}

type Arg = string | number;
type Cmd<R> = (...args: Arg[]) => Promise<R>;
export type ScriptedRedis = Redis & {
  requestRefresh: Cmd<[number, string, string?, string?, string?, string?]>;
  setState: Cmd<string | null>;
  startSync: Cmd<string | null>;
  markReposDone: Cmd<(number | string)[]>;
  enqueue: Cmd<number>;
  heartbeatLock: Cmd<number>;
  dlqReplay: Cmd<number>;
  releaseIfOwner: Cmd<number>;
  callbackRegister: Cmd<number>;
  callbackFanout: Cmd<number>;
  callbackAdvance: Cmd<number>;
};

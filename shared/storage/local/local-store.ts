import { createHash, randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import process from "node:process";
import { dirname, join, resolve, sep } from "node:path";
import { PreconditionFailedError } from "../../errors.ts";
import {
  defaultContentType,
  RESERVED_SEGMENT_PREFIX,
  sortKeys,
  toBytes,
  validateKey,
  validatePrefix,
} from "../common.ts";
import type { BlobStore, PutOptions, StoredObject } from "../types.ts";

/**
 * Local-directory backend. Works in Bun and Deno (node:fs / node:crypto only).
 *
 * - A key maps to the file STORAGE_DIR/<key>. The file holds a one-line
 *   header (magic + JSON {v: version, ct: content type, n: length}) and then
 *   the bytes, so data, version and content type change together in one
 *   atomic rename. A file placed there by hand (no header) reads as raw
 *   bytes with version "sha256:<hex of content>".
 * - Every mutation of a key (put, delete) holds that key's lock file
 *   (`.~<name>.lock`, created with O_EXCL), so preconditions are atomic across
 *   processes. A lock whose owner died on this host, or which has not been
 *   refreshed for staleMs, is broken. The lock names its owner ("host pid
 *   random"): a delete's lock holds just that; a put's lock is the new object
 *   itself — its header names the owner (field `o`) — written whole when the
 *   lock is taken and renamed over the key once the precondition holds, which
 *   publishes the object and releases the lock in one atomic step. So a put
 *   creates one file, not two: creating a file (an inode) is the costly
 *   file-system call here (0.2–0.35 ms each on this machine's disk under
 *   load, against 0.01–0.03 ms for a rename or an unlink).
 * - Conditional writes fsync the file before the rename and the directory
 *   after it (see `fsync`).
 * - Temp and lock files start with ".~" (a reserved key segment) and never
 *   show up in list().
 * - The version is a fresh generation on every write ("<ms>-<random>").
 */
export interface LocalStoreOptions {
  /** How long put/delete wait for a key's lock (default 15 s). */
  lockTimeoutMs?: number;
  /** A lock not refreshed for this long is considered abandoned (default 30 s). */
  staleLockMs?: number;
  /** Accepted for symmetry with the cloud backends (list reads directories whole). */
  pageSize?: number;
  /**
   * When to fsync (file and directory) before a write returns:
   * - "conditional" (default): writes with a precondition (ifAbsent/ifVersion —
   *   immutable bundle versions and the `current.json` pointer swap, what
   *   readers rely on) are fsynced; plain overwrites (repo records, model
   *   artifacts: re-derivable from GitHub) are still atomic (temp + rename)
   *   but left to the OS's writeback. fsync costs 50–130 ms per write under
   *   load on this machine's disk, most of a refresh's wall time.
   * - "always": every write is fsynced.
   * A process crash loses nothing either way; only an OS crash can.
   */
  fsync?: "conditional" | "always";
}

const MAGIC = "FOLIOSYNC-BLOB/1 ";
const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
const HEADER_PROBE = 4096;
const HOST = hostname();

interface Header {
  v: string;
  ct: string;
  n: number;
  /** The writer that held the key's lock while this object was its lock file (see LocalStore). */
  o?: string;
}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const rand = () => randomBytes(6).toString("hex");

function newVersion(): string {
  return `${Date.now().toString().padStart(13, "0")}-${randomBytes(8).toString("hex")}`;
}

function parseFile(buf: Uint8Array): { header: Header; data: Uint8Array } {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let hasMagic = bytes.byteLength >= MAGIC_BYTES.byteLength;
  for (let i = 0; hasMagic && i < MAGIC_BYTES.byteLength; i++) if (bytes[i] !== MAGIC_BYTES[i]) hasMagic = false;
  if (hasMagic) {
    const nl = bytes.indexOf(10, MAGIC_BYTES.byteLength);
    if (nl > 0) {
      try {
        const header = JSON.parse(new TextDecoder().decode(bytes.subarray(MAGIC_BYTES.byteLength, nl))) as Header;
        const data = bytes.subarray(nl + 1);
        if (typeof header.v === "string" && header.n === data.byteLength) {
          return { header, data: new Uint8Array(data) };
        }
      } catch { /* not our header: raw file */ }
    }
  }
  const v = "sha256:" + createHash("sha256").update(bytes).digest("hex");
  return { header: { v, ct: "", n: bytes.byteLength }, data: new Uint8Array(bytes) };
}

export class LocalStore implements BlobStore {
  readonly backend = "local" as const;
  readonly root: string;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;
  private readonly fsyncAlways: boolean;

  private constructor(root: string, opts: LocalStoreOptions) {
    this.root = root;
    this.fsyncAlways = opts.fsync === "always";
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 15_000;
    this.staleLockMs = opts.staleLockMs ?? 30_000;
  }

  static async open(dir: string, opts: LocalStoreOptions = {}): Promise<LocalStore> {
    const root = resolve(dir);
    await fsp.mkdir(root, { recursive: true });
    return new LocalStore(root, opts);
  }

  private pathFor(key: string): string {
    validateKey(key);
    const p = join(this.root, ...key.split("/"));
    if (!p.startsWith(this.root + sep)) throw new Error(`key escapes the storage dir: ${key}`);
    return p;
  }

  async get(key: string): Promise<StoredObject | null> {
    const path = this.pathFor(key);
    let buf: Uint8Array;
    try {
      buf = await fsp.readFile(path);
    } catch (err) {
      const c = errCode(err);
      if (c === "ENOENT" || c === "ENOTDIR" || c === "EISDIR") return null;
      throw err;
    }
    const { header, data } = parseFile(buf);
    return { data, version: header.v, contentType: header.ct || defaultContentType(key) };
  }

  /** The current version of the file at path, or null. Reads only the header when there is one. */
  private async currentVersion(path: string): Promise<string | null> {
    let fh;
    try {
      fh = await fsp.open(path, "r");
    } catch (err) {
      const c = errCode(err);
      if (c === "ENOENT" || c === "ENOTDIR") return null;
      throw err;
    }
    try {
      const probe = new Uint8Array(HEADER_PROBE);
      const { bytesRead } = await fh.read(probe, 0, HEADER_PROBE, 0);
      const head = probe.subarray(0, bytesRead);
      const nl = head.indexOf(10);
      if (nl > 0) {
        const text = new TextDecoder().decode(head.subarray(0, nl));
        if (text.startsWith(MAGIC)) {
          try {
            const h = JSON.parse(text.slice(MAGIC.length)) as Header;
            const size = (await fh.stat()).size;
            if (typeof h.v === "string" && h.n === size - (nl + 1)) return h.v;
          } catch { /* raw file: hash it below */ }
        }
      }
    } finally {
      await fh.close();
    }
    const buf = await fsp.readFile(path).catch((err) => {
      if (errCode(err) === "ENOENT") return null;
      throw err;
    });
    return buf ? parseFile(buf).header.v : null;
  }

  async put(key: string, data: Uint8Array | string, options: PutOptions = {}): Promise<{ version: string }> {
    const path = this.pathFor(key);
    const bytes = toBytes(data);
    const contentType = options.contentType ?? defaultContentType(key);
    const dir = dirname(path);
    const base = path.slice(dir.length + 1);
    const conditional = options.ifAbsent === true || options.ifVersion !== undefined;
    const durable = this.fsyncAlways || conditional;
    const version = newVersion();
    const owner = ownerToken();
    const header = new TextEncoder().encode(
      MAGIC + JSON.stringify({ v: version, ct: contentType, n: bytes.byteLength, o: owner } satisfies Header) + "\n",
    );
    const file = new Uint8Array(header.byteLength + bytes.byteLength);
    file.set(header, 0);
    file.set(bytes, header.byteLength);
    // The lock is the new object: taken by creating it whole, given up by renaming it over the key.
    const lock = await this.takeLock(dir, base, owner, file, durable);
    let published = false;
    try {
      if (conditional) {
        const current = await this.currentVersion(path);
        if (options.ifAbsent && current !== null) {
          throw new PreconditionFailedError(key, `precondition failed for ${key}: it already exists`);
        }
        if (options.ifVersion !== undefined && current !== options.ifVersion) {
          throw new PreconditionFailedError(
            key,
            `precondition failed for ${key}: version is ${current ?? "absent"}, expected ${options.ifVersion}`,
          );
        }
      }
      if (lock.fh) {
        await lock.fh.sync();
        await lock.fh.close();
        lock.fh = undefined;
      }
      await fsp.rename(lock.path, path);
      published = true;
      if (durable) await this.syncDir(dir);
      return { version };
    } finally {
      await lock.fh?.close().catch(() => {});
      await lock.release(published);
    }
  }

  async delete(key: string): Promise<boolean> {
    const path = this.pathFor(key);
    const dir = dirname(path);
    const base = path.slice(dir.length + 1);
    try {
      const st = await fsp.stat(path);
      if (!st.isFile()) return false;
    } catch (err) {
      const c = errCode(err);
      if (c === "ENOENT" || c === "ENOTDIR") return false;
      throw err;
    }
    const release = await this.lock(dir, base);
    try {
      await fsp.unlink(path);
      await this.syncDir(dir);
      return true;
    } catch (err) {
      const c = errCode(err);
      if (c === "ENOENT" || c === "ENOTDIR") return false;
      throw err;
    } finally {
      await release();
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const slash = prefix.lastIndexOf("/");
    const baseRel = slash >= 0 ? prefix.slice(0, slash) : "";
    const start = baseRel ? join(this.root, ...baseRel.split("/")) : this.root;
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        const c = errCode(err);
        if (c === "ENOENT" || c === "ENOTDIR") return;
        throw err;
      }
      for (const e of entries) {
        const name = String(e.name);
        if (name.startsWith(RESERVED_SEGMENT_PREFIX)) continue;
        const key = rel ? `${rel}/${name}` : name;
        if (e.isDirectory()) {
          // only descend where keys under it can still match the prefix
          const d = key + "/";
          if (d.startsWith(prefix) || prefix.startsWith(d)) await walk(join(dir, name), key);
        } else if (e.isFile() && key.startsWith(prefix)) {
          out.push(key);
        }
      }
    };
    await walk(start, baseRel);
    return sortKeys(out);
  }

  async ping(): Promise<void> {
    const st = await fsp.stat(this.root);
    if (!st.isDirectory()) throw new Error(`STORAGE_DIR ${this.root} is not a directory`);
    await fsp.access(this.root, 2 /* W_OK */);
  }

  async close(): Promise<void> {}

  private async syncDir(dir: string): Promise<void> {
    // Makes the rename durable. Not every platform lets a directory be opened: best effort.
    try {
      const fh = await fsp.open(dir, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch { /* best effort */ }
  }

  /** Takes the per-key lock file holding only its owner (delete); returns its release function. */
  private async lock(dir: string, base: string): Promise<() => Promise<void>> {
    const owner = ownerToken();
    const lock = await this.takeLock(dir, base, owner, new TextEncoder().encode(owner), false);
    return () => lock.release(false);
  }

  /**
   * Takes the per-key lock by creating `.~<base>.lock` create-only with
   * `content` (which names `owner`), waiting while another owner holds it and
   * breaking it when that owner is gone. `keepOpen`: the file stays open (to
   * fsync it later). `release(renamed)` stops the heartbeat and, unless the
   * lock was renamed away, removes it if it is still ours.
   */
  private async takeLock(
    dir: string,
    base: string,
    owner: string,
    content: Uint8Array,
    keepOpen: boolean,
  ): Promise<{ path: string; fh?: FileHandle; release: (renamed: boolean) => Promise<void> }> {
    const lockPath = join(dir, `${RESERVED_SEGMENT_PREFIX}${base}.lock`);
    const deadline = Date.now() + this.lockTimeoutMs;
    let fh: FileHandle | undefined;
    for (let attempt = 0;; attempt++) {
      try {
        if (keepOpen) {
          fh = await fsp.open(lockPath, "wx", 0o644);
          try {
            await fh.write(content, 0, content.byteLength, 0);
          } catch (err) {
            await fh.close().catch(() => {});
            await fsp.rm(lockPath, { force: true }).catch(() => {});
            throw err;
          }
        } else {
          // One call that creates, writes and closes: each file-system call waits its turn for the I/O threads.
          await fsp.writeFile(lockPath, content, { flag: "wx", mode: 0o644 });
        }
        break;
      } catch (err) {
        const c = errCode(err);
        if (c === "ENOENT") {
          await fsp.mkdir(dir, { recursive: true });
          continue;
        }
        if (c !== "EEXIST") throw err;
      }
      await this.breakIfStale(lockPath);
      if (Date.now() > deadline) throw new Error(`timed out after ${this.lockTimeoutMs} ms waiting for ${lockPath}`);
      await sleep(Math.min(50, 1 + attempt) * Math.random() + 1);
    }
    // Keep the lock fresh while held so that a slow writer is never taken for a dead one.
    const heartbeat = setInterval(() => {
      const now = new Date();
      fsp.utimes(lockPath, now, now).catch(() => {});
    }, Math.max(100, Math.floor(this.staleLockMs / 3)));
    (heartbeat as { unref?: () => void }).unref?.();
    return {
      path: lockPath,
      fh,
      release: async (renamed) => {
        clearInterval(heartbeat);
        if (renamed) return;
        try {
          if ((await lockOwner(lockPath)) === owner) await fsp.unlink(lockPath);
        } catch { /* already gone */ }
      },
    };
  }

  private async breakIfStale(lockPath: string): Promise<void> {
    let owner: string;
    let mtimeMs: number;
    try {
      owner = await lockOwner(lockPath);
      mtimeMs = (await fsp.stat(lockPath)).mtimeMs;
    } catch {
      return; // gone already
    }
    const [host, pidText] = owner.split(" ");
    let stale = Date.now() - mtimeMs > this.staleLockMs;
    if (!stale && host === HOST && pidText && Number(pidText) !== process.pid) {
      try {
        process.kill(Number(pidText), 0);
      } catch (err) {
        if (errCode(err) === "ESRCH") stale = true;
      }
    }
    if (!stale) return;
    // Move it aside (atomic, only one breaker wins), then check we moved the lock we judged stale.
    const aside = `${lockPath}.${rand()}.stale`;
    try {
      await fsp.rename(lockPath, aside);
    } catch {
      return;
    }
    try {
      const moved = await lockOwner(aside);
      if (moved !== owner) {
        // Someone replaced the stale lock meanwhile: give theirs back.
        await fsp.link(aside, lockPath).catch(() => {});
      }
    } finally {
      await fsp.rm(aside, { force: true }).catch(() => {});
    }
  }
}

/** A lock owner's name: "host pid random". */
function ownerToken(): string {
  return `${HOST} ${process.pid} ${rand()}`;
}

/**
 * Who holds a lock file: a put's lock is an object whose header names its
 * owner (`o`); any other lock file holds the owner's name as its text ("" when
 * its owner died before writing it). Reads at most the first HEADER_PROBE bytes.
 */
async function lockOwner(lockPath: string): Promise<string> {
  const fh = await fsp.open(lockPath, "r");
  let head: Uint8Array;
  try {
    const probe = new Uint8Array(HEADER_PROBE);
    const { bytesRead } = await fh.read(probe, 0, HEADER_PROBE, 0);
    head = probe.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const text = new TextDecoder().decode(head);
  if (text.startsWith(MAGIC)) {
    const nl = text.indexOf("\n");
    try {
      const o = (JSON.parse(text.slice(MAGIC.length, nl < 0 ? undefined : nl)) as Partial<Header>).o;
      return typeof o === "string" ? o : "";
    } catch {
      return "";
    }
  }
  return text;
}

/**
 * A small closed-loop HTTP/1.1 load generator for the benchmarks (Bun or
 * Node): C keep-alive connections, each sending its next request when the
 * previous answer is complete; latency per request, throughput over the run.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import process from "node:process";

/** CPU time (user + system, ms) a process has used so far (Linux /proc), or NaN. */
export function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

export interface Result {
  /** The load generator's own CPU per request (µs): what it takes from the shared cores. */
  client_cpu_us?: number;
  /** Server CPU per request (µs), measured from /proc: robust to other load on the machine. */
  cpu_us?: number;
  p50_ms: number;
  p99_ms: number;
  rps: number;
  errors: number;
  statuses: Record<string, number>;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export interface Req {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  onBody?: (status: number, text: string) => void;
}

/** An answer: status and the raw body bytes (a view into the connection's buffer until the next answer). */
interface Answer {
  status: number;
  body: Buffer;
}
const EMPTY = Buffer.alloc(0);

/**
 * One keep-alive HTTP/1.1 connection (node:net): one request at a time,
 * answers framed by Content-Length (or chunked). Far cheaper per request
 * than fetch(), so that the load generator does not become the bottleneck
 * on a machine it shares with the servers.
 */
class Conn {
  private sock!: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((r: Answer) => void) | null = null;
  private failed: ((e: Error) => void) | null = null;
  constructor(private host: string, private port: number) {}
  open(): Promise<void> {
    return new Promise((res, rej) => {
      this.sock = connect(this.port, this.host, () => res());
      this.sock.setNoDelay(true);
      this.sock.on("data", (d: Buffer) => {
        this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
        this.parse();
      });
      this.sock.on("error", (e) => {
        rej(e);
        this.failed?.(e);
      });
      this.sock.on("close", () => this.failed?.(new Error("connection closed")));
    });
  }
  private parse() {
    if (!this.waiting) return;
    const end = this.buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString("latin1");
    const status = Number(head.slice(9, 12));
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let body: Buffer;
    let used: number;
    if (cl) {
      const n = Number(cl[1]);
      if (this.buf.length < end + 4 + n) return;
      body = this.buf.subarray(end + 4, end + 4 + n);
      used = end + 4 + n;
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      let off = end + 4;
      const parts: Buffer[] = [];
      for (;;) {
        const nl = this.buf.indexOf("\r\n", off);
        if (nl < 0) return;
        const size = parseInt(this.buf.subarray(off, nl).toString("latin1"), 16);
        if (this.buf.length < nl + 2 + size + 2) return;
        if (size === 0) {
          used = nl + 4;
          break;
        }
        parts.push(this.buf.subarray(nl + 2, nl + 2 + size));
        off = nl + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = EMPTY;
      used = end + 4;
    }
    this.buf = this.buf.subarray(used);
    const w = this.waiting;
    this.waiting = null;
    w({ status, body });
  }
  request(r: Req): Promise<Answer> {
    return new Promise((res, rej) => {
      this.waiting = res;
      this.failed = rej;
      const body = r.body ?? "";
      let head = `${r.method ?? "GET"} ${r.path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n`;
      for (const [k, v] of Object.entries(r.headers ?? {})) head += `${k}: ${v}\r\n`;
      if (body || r.method === "POST") head += `content-length: ${Buffer.byteLength(body)}\r\n`;
      this.sock.write(head + "\r\n" + body);
    });
  }
  close() {
    this.sock.destroy();
  }
}

/** C connections share one counter of N requests; each awaits its answer before sending the next. */
export async function drive(
  base: string,
  total: number,
  concurrency: number,
  makeRequest: (i: number) => Req,
): Promise<Result> {
  const { hostname, port } = new URL(base);
  const conns = await Promise.all(Array.from({ length: concurrency }, async () => {
    const c = new Conn(hostname, Number(port));
    await c.open();
    return c;
  }));
  const lat = new Float64Array(total);
  const started = new Float64Array(total);
  const statuses: Record<string, number> = {};
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const loop = async (conn: Conn) => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const req = makeRequest(i);
      const s = performance.now();
      started[i] = s - t0;
      try {
        const res = await conn.request(req);
        lat[i] = performance.now() - s;
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status >= 500) errors++;
        // Decoded only where a caller reads it: the servers' answers are what is measured, not our decoding.
        req.onBody?.(res.status, res.body.toString("utf8"));
      } catch {
        lat[i] = performance.now() - s;
        errors++;
        statuses.error = (statuses.error ?? 0) + 1;
        return;
      }
    }
  };
  await Promise.all(conns.map(loop));
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const c of conns) c.close();
  // Diagnosis: BENCH_TRACE=file writes "start_ms latency_ms" per request (find stalls in time).
  const trace = process.env.BENCH_TRACE;
  if (trace) {
    let out = "";
    for (let k = 0; k < total; k++) out += `${started[k].toFixed(2)} ${lat[k].toFixed(2)}\n`;
    appendFileSync(trace, out);
  }
  const sorted = lat.slice().sort();
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    p50_ms: r2(quantile(sorted, 0.5)),
    p99_ms: r2(quantile(sorted, 0.99)),
    rps: Math.round(total / wall),
    client_cpu_us: Math.round((cpu.user + cpu.system) / total),
    errors,
    statuses,
  };
}

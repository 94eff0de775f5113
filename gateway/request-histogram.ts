/**
 * The gateway's request-latency histogram
 * (foliosync_http_request_duration_seconds{method,route,status}), kept by
 * hand instead of by prom-client: observing is on every request's path, and
 * prom-client hashes the label object on each observe even through a bound
 * child (≈ 4 % of the gateway's JS time under load). Here one label set is
 * one array of bucket counts found by a flat key; the Prometheus text format
 * is written at scrape time (cumulative buckets, `+Inf`, `_sum`, `_count`).
 */

interface Series {
  labels: string;
  counts: Float64Array; // per bucket, not cumulative; last = above the largest bound
  sum: number;
  count: number;
}

/** Label values escaped as the text format requires (backslash, quote, newline). */
const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export class RequestHistogram {
  private series = new Map<string, Series>();
  constructor(
    readonly name: string,
    private help: string,
    private buckets: number[],
    /** Label sets beyond this are not recorded (route labels are patterns, so the set is small). */
    private maxSeries = 1000,
  ) {}

  observe(method: string, route: string, status: number, seconds: number) {
    const key = `${method} ${status} ${route}`;
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.maxSeries) return;
      s = {
        labels: `method="${esc(method)}",route="${esc(route)}",status="${status}"`,
        counts: new Float64Array(this.buckets.length + 1),
        sum: 0,
        count: 0,
      };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.buckets.length && seconds > this.buckets[i]) i++;
    s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }

  /** The metric in the Prometheus text format (empty when nothing was observed). */
  render(): string {
    if (this.series.size === 0) return "";
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i];
        out.push(`${this.name}_bucket{le="${this.buckets[i]}",${s.labels}} ${acc}`);
      }
      out.push(`${this.name}_bucket{le="+Inf",${s.labels}} ${s.count}`);
      out.push(`${this.name}_sum{${s.labels}} ${s.sum}`);
      out.push(`${this.name}_count{${s.labels}} ${s.count}`);
    }
    return out.join("\n") + "\n";
  }
}

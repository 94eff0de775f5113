/**
 * Terminal output: tables, the progress bar, and the rule that text from
 * outside (repo names, descriptions, error messages, GitHub's answers) never
 * reaches a terminal with its control characters — an escape sequence in a
 * repo description must not move the cursor or retitle the window.
 */
import type { JobRecord } from "../../shared/schemas/job.ts";

// deno-lint-ignore no-control-regex -- control characters are exactly what is removed
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/g;

/** Untrusted text made safe for a terminal: control and bidi characters dropped, one line. */
export function clean(text: unknown): string {
  return String(text ?? "").replace(/[\r\n\t]+/g, " ").replace(CONTROL, "").trim();
}

/** Cuts to `max` characters (by code point), marking the cut with an ellipsis. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return max <= 1 ? chars.slice(0, max).join("") : chars.slice(0, max - 1).join("") + "…";
}

export interface Stream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Escape codes only on a terminal, and never with NO_COLOR set. */
export function fancy(stream: Stream, env: Record<string, string | undefined>): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== "dumb";
}

/** Columns aligned with two spaces; the last column is cut to the width left when `width` is given. */
export function table(headers: string[], rows: string[][], width?: number): string {
  const all = [headers, ...rows.map((r) => r.map(clean))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? "")].length)));
  const last = headers.length - 1;
  if (width) {
    const used = widths.slice(0, last).reduce((a, b) => a + b + 2, 0);
    widths[last] = Math.max(10, Math.min(widths[last], width - used));
  }
  return all
    .map((r) =>
      r.map((cell, i) => {
        const c = i === last ? truncate(cell ?? "", widths[i]) : cell ?? "";
        return i === last ? c : c + " ".repeat(widths[i] - [...c].length);
      }).join("  ").trimEnd()
    )
    .join("\n") + "\n";
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Repos done (completed + failed) of the total. */
export function doneOf(job: JobRecord): number {
  return job.progress.completed + job.progress.failed;
}

/**
 * ETA from the pace seen since the first sync event: (left) × (elapsed / done since then).
 * null until at least one repo finished after the clock started.
 */
export class Eta {
  private start: { t: number; done: number } | null = null;
  constructor(private now: () => number = () => Date.now()) {}
  update(job: JobRecord): number | null {
    if (job.state !== "syncing") return job.state === "merging" || job.state === "completed" ? 0 : null;
    const done = doneOf(job);
    const t = this.now();
    if (!this.start) {
      this.start = { t, done };
      return null;
    }
    const gained = done - this.start.done;
    if (gained <= 0) return null;
    return ((job.progress.total - done) * (t - this.start.t)) / gained / 1000;
  }
}

/** One line describing a job, the same words the status page uses. */
export function describe(job: JobRecord): string {
  const p = job.progress;
  const done = doneOf(job);
  switch (job.state) {
    case "queued":
      return "queued";
    case "planning":
      return "listing repositories";
    case "syncing":
      return `refreshing ${done} of ${p.total} repos${p.failed ? ` (${p.failed} failed)` : ""}`;
    case "merging":
      return `merging ${p.total} repos into the bundle`;
    case "completed":
      return `bundle ready: ${p.completed} of ${p.total} repos refreshed${p.failed ? `, ${p.failed} failed` : ""}`;
    case "training":
      return "bundle ready; training the model";
    case "trained":
      return `bundle ready; model trained${job.message ? `: ${clean(job.message)}` : ""}`;
    case "training_skipped":
      return `bundle ready; training skipped${job.message ? `: ${clean(job.message)}` : ""}`;
    case "training_failed":
      return `bundle ready; training failed${job.error ? `: ${clean(job.error)}` : ""}`;
    case "fresh":
      return "already fresh: nothing changed on GitHub";
    case "failed":
      return `failed${job.error ? `: ${clean(job.error)}` : ""}`;
  }
}

/**
 * Progress of one job on a stream. On a terminal: one bar redrawn in place
 * (`\r` + erase line). Elsewhere: plain lines, one per state change and one
 * per tenth of the repos done (and the last), so a log stays short.
 */
export class ProgressView {
  private eta = new Eta();
  private lastState = "";
  private lastTenth = -1;
  private drawn = false;
  constructor(private out: Stream, private tty: boolean, private width = 24) {}

  update(job: JobRecord): void {
    const eta = this.eta.update(job);
    const p = job.progress;
    const done = doneOf(job);
    if (this.tty) {
      const frac = p.total ? Math.min(1, done / p.total) : job.state === "syncing" ? 0 : 1;
      const fill = Math.round(frac * this.width);
      const bar = "█".repeat(fill) + "░".repeat(this.width - fill);
      const counts = p.total ? `${done}/${p.total} repos` : "";
      const pct = p.total ? `${(frac * 100).toFixed(0)}%` : "";
      const etaText = eta === null ? "" : `ETA ${formatDuration(eta)}`;
      const line = [job.state.padEnd(9), `[${bar}]`, counts, pct, etaText].filter(Boolean).join("  ");
      this.out.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const tenth = p.total ? Math.floor((done / p.total) * 10) : 0;
    const changed = job.state !== this.lastState;
    const stepped = job.state === "syncing" && tenth !== this.lastTenth;
    if (!changed && !stepped) return;
    this.lastState = job.state;
    this.lastTenth = job.state === "syncing" ? tenth : -1;
    const pct = p.total ? ` ${((done / p.total) * 100).toFixed(0)}%` : "";
    const counts = p.total ? ` ${done}/${p.total}` : "";
    const etaText = eta === null || job.state !== "syncing" ? "" : ` ETA ${formatDuration(eta)}`;
    this.out.write(`${job.state}${counts}${pct}${etaText} — ${describe(job)}\n`);
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (this.tty && this.drawn) this.out.write("\n");
    this.drawn = false;
  }
}

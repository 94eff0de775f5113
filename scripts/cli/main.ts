#!/usr/bin/env bun
/**
 * `bun run cli -- <command>` / `foliosync <command>`: the operator's CLI.
 *
 *   refresh <user> [--force] [--wait [--train]]   start a refresh; --wait draws a progress bar with ETA
 *   status <user> <job>                           one job's state and progress
 *   bundle <user>                                 the user's repositories
 *   ask <user> "<question>"                       ranked repositories and the answer
 *   dlq [list]|replay|depth [--queue Q]           the dead-letter queue (Redis); `npm run dlq` is this
 *   workers                                       queue depths, running workers, GitHub quota
 *   model list|rollback <user> [version]          model versions in storage
 *   keys create|revoke|list                       run-time API keys (scripts/keys.ts)
 *
 * Gateway commands use --url / FOLIOSYNC_URL (default http://127.0.0.1:8787)
 * and --key / FOLIOSYNC_API_KEY; the others read the workers' environment
 * (REDIS_URL, QUEUE_PREFIX, STORAGE_*, GITHUB_*). Every command takes
 * --json (machine-readable stdout). Exit codes: exit-codes.ts.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import type { AiResponse, BundleResponse, RefreshAccepted } from "../../shared/schemas/api.ts";
import { FINAL_STATES, JobRecord, TERMINAL_STATES } from "../../shared/schemas/job.ts";
import { Api } from "./api.ts";
import { CliError, EXIT, type ExitCode } from "./exit-codes.ts";
import {
  config,
  dlqDepths,
  dlqRows,
  githubQuota,
  listWorkers,
  modelVersions,
  queueDepths,
  requireQueue,
  requireUser,
  rollbackModel,
  withRedis,
  withStore,
} from "./ops.ts";
import { clean, describe, fancy, ProgressView, type Stream, table, truncate } from "./render.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Io {
  stdout: Stream;
  stderr: Stream;
  env: Record<string, string | undefined>;
}

interface Globals {
  url: string;
  key?: string;
  json?: boolean;
}

function print(io: Io, g: Globals, human: string, json: unknown) {
  io.stdout.write(g.json ? JSON.stringify(json, null, 2) + "\n" : human);
}

function positiveInt(name: string, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > max) {
      throw new CliError(`${name} must be a whole number from 1 to ${max}`, EXIT.USAGE);
    }
    return n;
  };
}

function jobExit(job: JobRecord, training: boolean): ExitCode {
  if (job.state === "failed") return EXIT.FAILED;
  if (training && job.state === "training_failed") return EXIT.FAILED;
  return EXIT.OK;
}

export function buildProgram(io: Io, setExit: (code: ExitCode) => void): Command {
  const program = new Command("foliosync")
    .description("Operate foliosync: refresh users, follow jobs, read bundles, ask questions, run the queues")
    .addOption(
      new Option("--url <url>", "gateway base URL").env("FOLIOSYNC_URL").default("http://127.0.0.1:8787"),
    )
    .addOption(new Option("--key <key>", "API key for refresh (Bearer)").env("FOLIOSYNC_API_KEY"))
    .option("--json", "machine-readable JSON on stdout")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 job or operation failed, 2 usage or bad input, 3 not found,
4 gateway/Redis/storage unreachable or 5xx, 5 API key missing or out of scope,
6 rate limited, 7 --wait timed out, 8 a concurrent change won (nothing changed).`,
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    });

  const globals = (cmd: Command): Globals => cmd.optsWithGlobals() as Globals;
  const api = (g: Globals) => new Api({ url: g.url, key: g.key });

  program
    .command("refresh")
    .description("start a refresh of a user's bundle (202 → job id); --wait follows it with a progress bar")
    .argument("<user>", "GitHub username")
    .option("-f, --force", "re-sync every repository, changed or not")
    .option("-w, --wait", "follow the job's event stream until it ends")
    .option("--train", "with --wait: also wait for the model training that follows")
    .addOption(
      new Option("--timeout <seconds>", "with --wait: give up after this long (exit 7)").default(900).argParser(
        positiveInt("--timeout", 86_400),
      ),
    )
    .action(async (user: string, o: { force?: boolean; wait?: boolean; train?: boolean; timeout: number }, cmd) => {
      const g = globals(cmd);
      requireUser(user);
      const a = api(g);
      const accepted = (await a.post(
        `/api/bundles/${encodeURIComponent(user)}/refresh`,
        { force_refresh: Boolean(o.force) },
        [202],
      )) as RefreshAccepted;
      if (typeof accepted?.job_id !== "string" || typeof accepted.events_url !== "string") {
        throw new CliError("the gateway's 202 lacks job_id/events_url", EXIT.UNAVAILABLE);
      }
      if (!o.wait) {
        print(io, g, `refresh of ${user} accepted: job ${clean(accepted.job_id)}\n`, accepted);
        return;
      }
      const tty = fancy(io.stderr, io.env);
      // Scripts asking for JSON get only the final object; a terminal still sees the bar.
      const view = !g.json || tty ? new ProgressView(io.stderr, tty) : null;
      if (!g.json && !tty) io.stderr.write(`job ${clean(accepted.job_id)}\n`);
      const stop = o.train ? TERMINAL_STATES : FINAL_STATES;
      const events = accepted.events_url + (o.train ? "&until=terminal" : "");
      let final: JobRecord;
      try {
        final = await a.follow(events, stop, (job) => view?.update(job), Date.now() + o.timeout * 1000);
      } finally {
        view?.finish();
      }
      print(io, g, `${clean(final.job_id)}: ${describe(final)}\n`, final);
      setExit(jobExit(final, Boolean(o.train)));
    });

  program
    .command("status")
    .description("a job's state and progress (exit 1 when it failed)")
    .argument("<user>", "GitHub username")
    .argument("<job>", "job id (from refresh)")
    .action(async (user: string, jobId: string, _o, cmd) => {
      const g = globals(cmd);
      requireUser(user);
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) throw new CliError("that is not a job id", EXIT.USAGE);
      const raw = await api(g).get(`/api/bundles/${encodeURIComponent(user)}/status?job_id=${jobId}`);
      const job = JobRecord.safeParse(raw);
      if (!job.success) throw new CliError("the gateway sent a malformed job", EXIT.UNAVAILABLE);
      const j = job.data;
      const p = j.progress;
      print(
        io,
        g,
        `${clean(j.job_id)}  ${j.state}  ${p.completed + p.failed}/${p.total} (${p.percentage}%)  updated ${
          clean(j.updated_at)
        }\n` +
          `${describe(j)}\n`,
        j,
      );
      setExit(jobExit(j, true));
    });

  program
    .command("bundle")
    .description("the user's current bundle: each repository's name, language, documentation and description")
    .argument("<user>", "GitHub username")
    .action(async (user: string, _o, cmd) => {
      const g = globals(cmd);
      requireUser(user);
      const b = (await api(g).get(`/api/bundles/${encodeURIComponent(user)}`)) as BundleResponse;
      if (!Array.isArray(b?.data)) throw new CliError("the gateway sent a malformed bundle", EXIT.UNAVAILABLE);
      const documented = b.data.filter((r) => r.has_documentation).length;
      const rows = b.data.map((r) => [
        r.name,
        r.metadata?.language ?? "-",
        r.has_documentation ? "yes" : "no",
        r.metadata?.description ?? "",
      ]);
      const width = io.stdout.isTTY ? io.stdout.columns ?? 100 : 120;
      print(
        io,
        g,
        `${clean(b.username)}: ${b.data.length} repositories, ${documented} documented, ` +
          `bundle ${clean(b.fingerprint).slice(0, 12)} of ${clean(b.last_modified)}\n\n` +
          table(["NAME", "LANGUAGE", "DOCS", "DESCRIPTION"], rows, width),
        b,
      );
    });

  program
    .command("ask")
    .description("ask a question about a user's repositories; prints the ranked repositories and the answer")
    .argument("<user>", "GitHub username")
    .argument("<question>", "the question, quoted")
    .addOption(new Option("-n, --limit <n>", "at most this many repositories").argParser(positiveInt("--limit", 50)))
    .action(async (user: string, question: string, o: { limit?: number }, cmd) => {
      const g = globals(cmd);
      requireUser(user);
      const body: Record<string, unknown> = { query: question, username: user };
      if (o.limit) body.limit = o.limit;
      const r = (await api(g).post("/api/ai", body)) as AiResponse;
      if (!Array.isArray(r?.repositories_used)) {
        throw new CliError("the gateway sent a malformed answer", EXIT.UNAVAILABLE);
      }
      const rows = r.repositories_used.map((x, i) => [String(i + 1), x.name, Number(x.relevance_score).toFixed(3)]);
      print(
        io,
        g,
        (rows.length ? table(["#", "REPOSITORY", "SCORE"], rows) : "no repository matched\n") +
          `\n${clean(r.response)}\n(${r.total_repositories} repositories searched; model ${clean(r.model)})\n`,
        r,
      );
    });

  const dlq = program.command("dlq").description("the dead-letter queue: jobs that failed for good (reads REDIS_URL)");
  const queueOpt = () =>
    new Option("-q, --queue <queue>", "only this queue").choices(["plan", "sync", "merge", "train", "notify"]);
  // `list` is the default, so `foliosync dlq` and `npm run dlq` with no command list the entries.
  dlq
    .command("list", { isDefault: true })
    .description("dead-lettered jobs, newest first, with their cause; INDEX is what replay takes (the default)")
    .addOption(queueOpt())
    .addOption(new Option("-n, --limit <n>", "at most this many").default(50).argParser(positiveInt("--limit", 10_000)))
    .action(async (o: { queue?: string; limit: number }, cmd) => {
      const g = globals(cmd);
      const cfg = config();
      await withRedis(cfg, async (_r, jobs) => {
        const { total, rows } = await dlqRows(jobs, requireQueue(o.queue), o.limit);
        const human = rows.length
          ? table(
            ["INDEX", "FAILED_AT", "QUEUE", "JOB", "ERROR"],
            rows.map((e) => [String(e.index), e.failed_at, e.queue, e.bee_job_id, e.error]),
            io.stdout.isTTY ? io.stdout.columns : 160,
          )
          : `the dead-letter queue is empty${o.queue ? ` for ${o.queue}` : ""}\n`;
        print(io, g, human, { total, entries: rows });
      });
    });
  dlq
    .command("replay")
    .description("put entries back on their queues: one INDEX from `dlq list`, or --all (with --queue: all of it)")
    .argument("[index]", "entry index from `dlq list`")
    .option("-a, --all", "every entry (of --queue, when given)")
    .addOption(queueOpt())
    .action(async (index: string | undefined, o: { all?: boolean; queue?: string }, cmd) => {
      const g = globals(cmd);
      if ((index === undefined) === !o.all) throw new CliError("give one INDEX or --all", EXIT.USAGE);
      if (index !== undefined && !/^\d{1,6}$/.test(index)) {
        throw new CliError("INDEX is a number from `dlq list`", EXIT.USAGE);
      }
      const queue = requireQueue(o.queue);
      const cfg = config();
      await withRedis(cfg, async (_r, jobs) => {
        const { entries } = await dlqRows(jobs, queue, Number.MAX_SAFE_INTEGER);
        const picked = o.all ? entries : entries.filter((x) => x.index === Number(index));
        if (!picked.length) {
          if (o.all) {
            print(io, g, "nothing to replay\n", { replayed: 0, of: 0 });
            return;
          }
          throw new CliError(
            `no entry ${index} in the dead-letter queue${queue ? ` for ${queue}` : ""}`,
            EXIT.NOT_FOUND,
          );
        }
        let n = 0;
        for (const { e } of picked) if (await jobs.dlqReplay(e)) n++;
        print(io, g, `replayed ${n} of ${picked.length}\n`, { replayed: n, of: picked.length });
        if (n < picked.length) setExit(EXIT.FAILED);
      });
    });
  dlq
    .command("depth")
    .description("how many dead-lettered entries (per queue with --json or --queue)")
    .addOption(queueOpt())
    .action(async (o: { queue?: string }, cmd) => {
      const g = globals(cmd);
      const queue = requireQueue(o.queue);
      const cfg = config();
      await withRedis(cfg, async (_r, jobs) => {
        const by = await dlqDepths(jobs);
        const total = Object.values(by).reduce((a, b) => a + b, 0);
        const n = queue ? by[queue] : total;
        print(io, g, `${n}\n`, queue ? { queue, depth: n } : { depth: total, by_queue: by });
      });
    });

  program
    .command("workers")
    .description("queue depths (waiting, active, delayed, dead), running worker processes and the GitHub quota")
    .action(async (_o, cmd) => {
      const g = globals(cmd);
      const cfg = config();
      const quota = githubQuota(cfg);
      await withRedis(cfg, async (redis, jobs) => {
        const [queues, workers] = await Promise.all([
          queueDepths(redis, jobs, cfg.QUEUE_PREFIX),
          listWorkers(redis, cfg.QUEUE_PREFIX),
        ]);
        const q = await quota;
        const human = table(
          ["QUEUE", "WAITING", "ACTIVE", "DELAYED", "DEAD"],
          queues.map((d) => [d.queue, String(d.waiting), String(d.active), String(d.delayed), String(d.dead)]),
        ) +
          `\n${workers.length} worker process${workers.length === 1 ? "" : "es"}\n` +
          (workers.length
            ? table(
              ["WORKER", "ROLES", "STARTED", "SEEN"],
              workers.map((w) => [clean(w.id), w.roles.map(clean).join(","), clean(w.started_at), clean(w.seen_at)]),
            )
            : "") +
          `\nGitHub quota: ${
            q ? `${q.remaining} of ${q.limit} left, resets ${q.reset}` : "unknown (GitHub did not answer)"
          }\n`;
        print(io, g, human, { queues, workers, github: q });
      });
    });

  const model = program.command("model").description("a user's model versions in storage (reads STORAGE_*)");
  model
    .command("list")
    .description("stored model versions, newest first; * marks the one answering questions")
    .argument("<user>", "GitHub username")
    .action(async (user: string, _o, cmd) => {
      const g = globals(cmd);
      requireUser(user);
      const cfg = config();
      await withStore(cfg, async (store) => {
        const versions = await modelVersions(store, user);
        const human = versions.length
          ? table(
            ["", "VERSION", "TRAINED_AT", "BACKEND", "MRR"],
            versions.map((v) => [v.current ? "*" : "", v.version, v.trained_at, v.backend, v.mrr?.toFixed(3) ?? "-"]),
          )
          : `no model for ${user} yet (answers use BM25)\n`;
        print(io, g, human, { username: user, versions });
      });
    });
  model
    .command("rollback")
    .description("point the user's current model at an earlier version (default: the one before the current)")
    .argument("<user>", "GitHub username")
    .argument("[version]", "a VERSION from `model list`")
    .action(async (user: string, version: string | undefined, _o, cmd) => {
      const g = globals(cmd);
      requireUser(user);
      const cfg = config();
      await withStore(cfg, async (store) => {
        const r = await rollbackModel(store, user, version);
        print(
          io,
          g,
          r.changed ? `${user}: model ${r.from ?? "(none)"} → ${r.to}\n` : `${user}: ${r.to} is already current\n`,
          { username: user, ...r },
        );
      });
    });

  // Run-time API keys: the trust layer's scripts/keys.ts does the work (one implementation);
  // its answers pass through, its exit codes are mapped onto this CLI's.
  const keys = program.command("keys").description("run-time API keys in Redis (hashes only; reads REDIS_URL)");
  const runKeys = (args: string[], cmd: Command) => {
    const g = globals(cmd);
    const r = spawnSync(process.execPath, [join(root, "scripts", "keys.ts"), ...args, ...(g.json ? ["--json"] : [])], {
      env: process.env,
      encoding: "utf8",
      timeout: 30_000,
    });
    io.stdout.write(r.stdout ?? "");
    io.stderr.write(r.stderr ?? "");
    if (r.status === 0) return;
    if (r.status === 2) return setExit(EXIT.USAGE);
    if (/could not reach Redis/.test(r.stderr ?? "")) return setExit(EXIT.UNAVAILABLE);
    if (args[0] === "revoke" && /no such key|"revoked":false/.test(r.stdout ?? "")) return setExit(EXIT.NOT_FOUND);
    setExit(EXIT.FAILED);
  };
  keys
    .command("create")
    .description("a new key for SCOPE (`*` or `alice|bob`); printed once, only its hash is kept")
    .argument("<scope>", "`*` or user names joined by |")
    .action((scope: string, _o, cmd) => runKeys(["create", scope], cmd));
  keys
    .command("revoke")
    .description("revoke a key, by the key itself or the id `keys list` shows (exit 3: no such key)")
    .argument("<key-or-id>")
    .action((k: string, _o, cmd) => runKeys(["revoke", k], cmd));
  keys
    .command("list")
    .description("id, scope and creation time of each run-time key (never a key)")
    .action((_o, cmd) => runKeys(["list"], cmd));

  return program;
}

/** Runs the CLI on `argv` (without the runtime and script); resolves to the exit code. */
export async function runCli(argv: string[], io: Io): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version end with 0; every parse error is a usage error.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof CliError) {
      io.stderr.write(`foliosync: ${err.message}\n`);
      return err.code;
    }
    io.stderr.write(`foliosync: ${truncate(clean((err as Error)?.message ?? err), 300)}\n`);
    return EXIT.FAILED;
  }
}

if (import.meta.main) {
  // A pipe takes large output asynchronously: exit only once every write that
  // was buffered has drained (process.exit would cut it short).
  const pending: Promise<unknown>[] = [];
  const stream = (s: NodeJS.WriteStream): Stream => ({
    get isTTY() {
      return s.isTTY;
    },
    get columns() {
      return s.columns;
    },
    write(text: string) {
      if (!s.write(text)) pending.push(new Promise((r) => s.once("drain", r)));
      return true;
    },
  });
  const code = await runCli(process.argv.slice(2), {
    stdout: stream(process.stdout),
    stderr: stream(process.stderr),
    env: process.env,
  });
  await Promise.all(pending);
  process.exit(code);
}

/**
 * The training worker (Deno: WebGPU lives there).
 *
 *   deno run -A workers/train/main.ts      (or `deno task train`)
 *
 * Consumes the bee-queue `train` queue (prefix QUEUE_PREFIX), one job at a
 * time; picks the TF.js backend once at start (webgpu → wasm → cpu, or
 * TFJS_BACKEND) and logs it; records job states through the JobStore.
 */
import * as tf from "@tensorflow/tfjs";
import { Redis } from "ioredis";
import { loadConfig, processEnv } from "../../shared/config.ts";
import { jobFailure, StalledError } from "../../shared/errors.ts";
import { JobStore, jobStoreOptions } from "../../shared/jobs/job-store.ts";
import { TrainMessage } from "../../shared/schemas/job.ts";
import { createStore } from "../../shared/storage/index.ts";
import { createLogger } from "../log.ts";
import { createQueue, guardDelivery, watchStalls } from "../queues.ts";
import { handleTrainMessage, type Publish } from "./handler.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import { Readiness, startHealthServer, waitForRedis } from "../health-server.ts";
import { instrumentStore, WorkerMetrics } from "../metrics.ts";
import { flushTelemetry, initTelemetry, inSpan, SpanKind, tracedStore, traceOf } from "../../shared/telemetry.ts";

/** The one place job states are written (JobStore.setState publishes the job). */
export function jobStatePublisher(jobs: JobStore): Publish {
  return async (msg, state, patch) => {
    await jobs.setState(msg.job_id, msg.username, state, patch);
  };
}

if (import.meta.main) {
  const cfg = loadConfig(processEnv());
  initTelemetry("foliosync-train");
  const log = createLogger(cfg.LOG_LEVEL, { role: "train" });
  const metrics = new WorkerMetrics();
  metrics.collectProcessMetrics();
  const readiness = new Readiness(cfg.REDIS_URL, ["train"]);
  const health = await startHealthServer({
    port: cfg.WORKER_METRICS_PORT,
    readiness,
    metrics,
    prefix: cfg.QUEUE_PREFIX,
    roles: ["train"],
    log,
  });
  const choice = await selectBackend(tf, { forced: cfg.TFJS_BACKEND || undefined, log: (m) => log.info(m) });
  log.info(`training backend: ${choice.backend}`, {
    backend: choice.backend,
    adapter: choice.adapter,
    tried: choice.tried,
  });
  const store = tracedStore(instrumentStore(await createStore(cfg), metrics));
  await waitForRedis(cfg.REDIS_URL, log);
  const redis = new Redis(cfg.REDIS_URL, { maxRetriesPerRequest: null });
  readiness.setRedis(redis);
  const jobs = new JobStore(redis, jobStoreOptions(cfg));
  const publish = jobStatePublisher(jobs);
  const queue = createQueue(cfg, "train", true);
  queue.process(1, async (job: { id: string; data: unknown }) => {
    const msg = TrainMessage.parse(job.data);
    return await guardDelivery(
      jobs,
      "train",
      String(job.id),
      cfg.MAX_STALLS,
      async (reason) => {
        log.info(`training dead-lettered: ${reason}`, { job_id: msg.job_id });
        await jobs.deadLetter({
          queue: "train",
          bee_job_id: String(job.id),
          data: job.data,
          error: reason,
          job_id: msg.job_id,
        });
        await publish(msg, "training_failed", {
          ...jobFailure(new StalledError(reason)),
          message: "training failed; the previous model keeps serving",
        });
      },
      async () => {
        // A held training is alive: the heartbeat keeps the watchdog off it.
        const beat = setInterval(
          () => jobs.heartbeat(msg.username, msg.job_id).catch(() => {}),
          Math.max(1000, cfg.LOCK_TTL_MS / 3),
        );
        try {
          const t0 = performance.now();
          const r = await inSpan("train", {
            parent: traceOf(job.data),
            jobId: msg.job_id,
            kind: SpanKind.CONSUMER,
            attributes: { "messaging.destination.name": "train" },
          }, () =>
            handleTrainMessage(
              {
                redis,
                store,
                prefix: cfg.QUEUE_PREFIX,
                publish,
                backend: choice.backend,
                log: (m, x) => log.info(m, x),
                deadLetter: (entry) => jobs.deadLetter(entry),
                lockToken: `train:${job.id}`,
              },
              msg,
            ));
          metrics.training(choice.backend, r.state, (performance.now() - t0) / 1000);
          return { state: r.state };
        } finally {
          clearInterval(beat);
        }
      },
    );
  });
  // Periodic stall detection: a training worker that died holding a job hands it back.
  watchStalls(queue);
  readiness.attach("train", queue);
  await queue.ready();
  console.log(`train worker ready (backend ${choice.backend})`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // A training in flight gets 30 s to finish; whatever then still waits (on an unreachable Redis)
    // does not hold the process: the job is redelivered by stall detection, as after a crash.
    setTimeout(() => {
      console.error("train worker: shutdown did not finish within 35 s; exiting (the job held is redelivered)");
      Deno.exit(1);
    }, 35_000);
    readiness.drain();
    await queue.close(30_000).catch(() => {});
    redis.disconnect();
    await store.close?.();
    await health?.close();
    await flushTelemetry();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

import { BundleTooLargeError, publishBundle, readPointer } from "../shared/bundle-store.ts";
import { jobFailure } from "../shared/errors.ts";
import { bundleFingerprint, bundleIdentity, byName, contentFingerprint } from "../shared/fingerprint.ts";
import { storageKeys } from "../shared/keys.ts";
import type { Bundle } from "../shared/schemas/bundle.ts";
import type { MergeMessage, TrainMessage } from "../shared/schemas/job.ts";
import { RepoRecord } from "../shared/schemas/repo.ts";
import { readModelPointer } from "../shared/ranking/model-store.ts";
import { getJson, StoredJsonError } from "../shared/storage/json.ts";
import type { WorkerContext } from "./context.ts";
import { limitNoteKey } from "./plan.ts";

/** Training is worth it only with this many documented repos. */
export const MIN_DOCUMENTED_FOR_TRAINING = 3;

/**
 * merge: build the bundle from the current records of all the user's repos
 * (fresh and unchanged; a repo whose sync failed keeps its previous record),
 * publish it atomically, and enqueue training when the searchable content
 * changed.
 */
export async function runMerge(ctx: WorkerContext, msg: MergeMessage): Promise<Bundle | null> {
  const { jobs, redis, store } = ctx;
  const user = msg.username;
  // The job, the user's fingerprints and plan's note are read in one round trip.
  const [job, fingerprints, limitNote] = await Promise.all([
    jobs.get(msg.job_id),
    redis.hgetall(jobs.keys.fingerprints(user)),
    redis.get(limitNoteKey(ctx.cfg.QUEUE_PREFIX, msg.job_id)),
  ]);
  if (!job || job.state !== "merging") return null; // duplicate delivery after the merge finished

  // The current pointer is read while the records are.
  const previousRead = readPointer(store, user);
  previousRead.catch(() => {}); // awaited below; a failed record read must not leave it unhandled
  const names = Object.keys(fingerprints);
  const read = await Promise.all(
    names.map((name) =>
      getJson(store, storageKeys.repo(user, name), RepoRecord).catch((err) => {
        // An unreadable record is treated like a missing one (below); other faults are retried.
        if (err instanceof StoredJsonError) return null;
        throw err;
      })
    ),
  );
  // A record that is gone or unreadable (lost storage, a torn write after an
  // OS crash): forget its fingerprint so the next refresh syncs it again.
  const lost = names.filter((_, i) => read[i] === null);
  if (lost.length) {
    await redis.hdel(jobs.keys.fingerprints(user), ...lost);
    ctx.log.warn(`merge: ${lost.length} records missing or unreadable; they will sync on the next refresh`, {
      user,
      lost,
    });
  }
  const records = read
    .filter((r): r is NonNullable<typeof r> => r !== null)
    .map((r) => r.value)
    .sort(byName);

  const previous = await previousRead;
  const githubFingerprint = bundleFingerprint(records);
  const content = contentFingerprint(records);
  const bundle: Bundle = {
    username: user.toLowerCase(),
    // The identity includes the content: a file changed while GitHub's fields did not is a new bundle.
    fingerprint: bundleIdentity(githubFingerprint, content),
    github_fingerprint: githubFingerprint,
    content_fingerprint: content,
    generated_at: new Date().toISOString(),
    repos: records,
  };
  let pointer;
  try {
    ({ pointer } = await publishBundle(store, bundle, { maxBytes: ctx.cfg.MAX_BUNDLE_BYTES, current: previous }));
  } catch (err) {
    if (!(err instanceof BundleTooLargeError)) throw err;
    // Not a fault to retry: the job fails with the reason; the current bundle keeps serving.
    await jobs.setState(msg.job_id, user, "failed", jobFailure(err), ["merging"]);
    return null;
  }
  const documented = records.filter((r) => r.has_documentation).length;
  // This very bundle already current: a redelivered merge (its first run died after publishing) or
  // a racing one. Training is then owed when no model serves this content yet.
  const republished = previous?.pointer.fingerprint === bundle.fingerprint;
  const contentChanged = republished
    ? (await readModelPointer(store, user))?.pointer.content_fingerprint !== bundle.content_fingerprint
    : previous?.pointer.content_fingerprint !== bundle.content_fingerprint;
  let message = `bundle of ${records.length} repos published`;
  // A limit plan applied stays in the final record: the job's message is what a user reads last.
  if (limitNote) message += `; ${limitNote}`;
  if (lost.length) message += ` (${lost.length} records unreadable, re-sync on the next refresh)`;
  let train = false;
  if (contentChanged && documented >= MIN_DOCUMENTED_FOR_TRAINING) {
    train = true;
    message += "; training queued";
  } else if (documented < MIN_DOCUMENTED_FOR_TRAINING) {
    message += `; no training (${documented} documented repos, ${MIN_DOCUMENTED_FOR_TRAINING} needed)`;
  } else {
    message += "; no training (searchable content unchanged)";
  }
  const trainMessage: TrainMessage | undefined = train
    ? { job_id: msg.job_id, username: user, content_fingerprint: bundle.content_fingerprint, bundle_key: pointer.key }
    : undefined;
  // One atomic step: completed, the merge counted, the training queued (single flight per user: the
  // newest content wins; a queued training for an older bundle sees it is superseded and skips).
  const done = await jobs.completeMerge(
    msg.job_id,
    user,
    { bundle_fingerprint: pointer.fingerprint, message },
    trainMessage && { beeJobId: `${user.toLowerCase()}:${bundle.content_fingerprint}`, message: trainMessage },
  );
  // Another delivery completed the job first, or the watchdog failed it: its merge took effect, not this one.
  if (!done) return null;
  return bundle;
}

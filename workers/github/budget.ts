import type { Redis } from "ioredis";
import { LimitExceededError } from "../../shared/errors.ts";
import type { RequestBudget } from "./github-client.ts";

/** How long a refresh's request count is kept (longer than any refresh runs). */
const BUDGET_TTL_MS = 24 * 60 * 60_000;

/**
 * The GitHub requests one refresh may spend (GITHUB_REQUEST_BUDGET), counted
 * in Redis so that every worker process working on the job draws on the same
 * allowance: one user's refresh cannot spend the quota every tenant shares.
 */
export class RefreshBudget implements RequestBudget {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    readonly limit: number,
  ) {}

  static forJob(redis: Redis, prefix: string, jobId: string, limit: number): RefreshBudget {
    return new RefreshBudget(redis, `${prefix}:github:budget:${jobId}`, limit);
  }

  async charge(requests: number): Promise<void> {
    const [[, spent]] = (await this.redis.multi().incrby(this.key, requests).pexpire(this.key, BUDGET_TTL_MS)
      .exec()) as [[Error | null, number], unknown];
    if (spent > this.limit) {
      throw new LimitExceededError(
        `GitHub request budget of this refresh spent (GITHUB_REQUEST_BUDGET=${this.limit}); ` +
          "what is left syncs on the next refresh",
      );
    }
  }

  /** Requests charged so far. */
  async spent(): Promise<number> {
    return Number(await this.redis.get(this.key)) || 0;
  }
}

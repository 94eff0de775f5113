/** A counting semaphore: at most `limit` holders at once, FIFO for waiters. */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  maxSeen = 0;
  constructor(readonly limit: number) {}

  acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      this.maxSeen = Math.max(this.maxSeen, this.active);
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.waiters.push(() => {
        this.active++;
        this.maxSeen = Math.max(this.maxSeen, this.active);
        resolve();
      })
    );
  }

  release(): void {
    this.active--;
    const next = this.waiters.shift();
    if (next) next();
  }
}

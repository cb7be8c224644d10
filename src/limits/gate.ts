/**
 * A first-come, first-served gate of a changing capacity: `take` resolves when the caller holds one of the places,
 * `release` gives it to the oldest waiter. One waiter is woken per free place, so thousands of waiters cost nothing
 * while the gate is full; a waiter that is cancelled leaves the queue. `takeEach` queues once for many places, so a
 * caller with many requests to start holds one place in the queue rather than one waiting call per request.
 */
interface Waiter {
  /** Hands the waiter one place; false when it no longer wants it (the place stays free). */
  give: () => boolean;
  /** Places it still wants. */
  left: number;
  gone: boolean;
}

export class Gate {
  private held = 0;
  private queue: Waiter[] = [];
  private head = 0;
  private pumping = false;

  /** @param capacity - asked again at every admission, so a capacity that grows lets waiters in at the next release. */
  constructor(private readonly capacity: () => number) {}

  /** Places held now. */
  get inUse(): number {
    return this.held;
  }

  /** Callers waiting for a place (a `takeEach` counts once; one cancelled counts until a place passes it). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Resolves (or returns at once) when a place is held; rejects with the signal's reason if it aborts first. */
  take(signal?: AbortSignal): Promise<void> | void {
    signal?.throwIfAborted();
    if (this.head === this.queue.length && this.held < this.capacity()) {
      this.held++;
      return;
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        waiter.gone = true;
        reject(signal?.reason ?? new Error('aborted'));
      };
      const waiter: Waiter = {
        left: 1,
        gone: false,
        give: () => {
          waiter.left = 0;
          signal?.removeEventListener('abort', onAbort);
          resolve();
          return true;
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /**
   * Queues once for up to `count` places, after the waiters already queued: `got` is called with each place as it
   * comes (synchronously, from `pump`), and returns false to decline it, which ends the wait without taking it.
   * Resolves once `count` places were given, one was declined, or `signal` aborted (never rejects: the caller
   * learns from its own state why it stopped). Each place given is the caller's to `release`.
   */
  takeEach(count: number, got: () => boolean, signal?: AbortSignal): Promise<void> {
    if (count <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const end = () => {
        waiter.gone = true;
        signal?.removeEventListener('abort', end);
        resolve();
      };
      const waiter: Waiter = {
        left: count,
        gone: false,
        give: () => {
          if (!got()) {
            end();
            return false;
          }
          if (--waiter.left === 0) end();
          return true;
        },
      };
      signal?.addEventListener('abort', end, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  release(): void {
    this.held--;
    this.pump();
  }

  /** Lets waiters in while there is room (call it when the capacity may have grown). */
  pump(): void {
    // A waiter's `give` may start work that releases or takes at once: the loop running already sees it.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.head < this.queue.length && this.held < this.capacity()) {
        const waiter = this.queue[this.head]!;
        if (!waiter.gone) {
          this.held++;
          if (!waiter.give()) this.held--;
        }
        if (waiter.gone || waiter.left === 0) this.head++;
      }
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    } finally {
      this.pumping = false;
    }
  }
}

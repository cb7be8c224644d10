/**
 * A first-come, first-served gate of a changing capacity: `take` resolves when the caller holds one of the places,
 * `release` gives it to the oldest waiter. One waiter is woken per free place, so thousands of waiters cost nothing
 * while the gate is full; a waiter that is cancelled leaves the queue.
 */
export class Gate {
  private held = 0;
  private queue: { resolve: () => void; gone: boolean }[] = [];
  private head = 0;

  /** @param capacity - asked again at every admission, so a capacity that grows lets waiters in at the next release. */
  constructor(private readonly capacity: () => number) {}

  /** Places held now. */
  get inUse(): number {
    return this.held;
  }

  /** Callers waiting for a place. */
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
      const waiter = {
        gone: false,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
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
    const capacity = this.capacity();
    while (this.held < capacity && this.head < this.queue.length) {
      const waiter = this.queue[this.head++]!;
      if (waiter.gone) continue;
      this.held++;
      waiter.resolve();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

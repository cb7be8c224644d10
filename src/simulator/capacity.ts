/**
 * A server of limited capacity, as vLLM, Ollama or llama.cpp are: at most `concurrent` requests are served at once,
 * up to `queue` more wait in arrival order, and any request beyond that is refused at once (the caller answers 503).
 */
export class CapacityGate {
  private serving = 0;
  private readonly waiting: Array<() => void> = [];
  /** The most requests served at once since the last reset. */
  maxServing = 0;

  constructor(
    private concurrent: number,
    private queue: number
  ) {}

  /** Changes the sizes; requests already serving or queued keep their place. */
  resize(concurrent: number, queue: number): void {
    this.concurrent = concurrent;
    this.queue = queue;
    this.drain();
  }

  /**
   * Resolves `true` once the request holds a serving slot (call `leave()` after answering), or `false` at once when
   * the serving slots and the queue are all taken.
   */
  enter(): Promise<boolean> {
    if (this.serving < this.concurrent) {
      this.take();
      return Promise.resolve(true);
    }
    if (this.waiting.length >= this.queue) return Promise.resolve(false);
    return new Promise((resolve) => this.waiting.push(() => resolve(true)));
  }

  leave(): void {
    this.serving--;
    this.drain();
  }

  resetStats(): void {
    this.maxServing = this.serving;
  }

  private drain(): void {
    while (this.serving < this.concurrent && this.waiting.length > 0) {
      this.take();
      (this.waiting.shift() as () => void)();
    }
  }

  private take(): void {
    this.serving++;
    if (this.serving > this.maxServing) this.maxServing = this.serving;
  }
}

/**
 * A stream's bounded outgoing buffer: the room pushes without waiting, one writer takes; a push beyond
 * `capacity` is refused and the owner ends the stream (README "Explanation: One stream, two loops").
 */
export class Outbox<T> {
  private items: T[] = [];
  private closed = false;
  private waiter: ((item: T | undefined) => void) | undefined;

  /** @param capacity items it holds at most (MAX_PENDING_EVENTS). */
  constructor(readonly capacity: number) {}

  /** Items waiting now. */
  get size(): number {
    return this.items.length;
  }

  /**
   * Adds an item for the writer.
   *
   * @returns false when the outbox is full (the item is not added); true otherwise, including
   *   after close (the item is dropped: the stream is ending).
   */
  push(item: T): boolean {
    if (this.closed) return true;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(item);
      return true;
    }
    if (this.items.length >= this.capacity) return false;
    this.items.push(item);
    return true;
  }

  /** The next item; `undefined` once the outbox is closed and empty. One taker at a time. */
  take(): Promise<T | undefined> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** No more pushes; the writer still takes what is here, then gets `undefined`. */
  close(): void {
    this.closed = true;
    if (this.waiter && this.items.length === 0) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(undefined);
    }
  }

  /** Drops what is here and closes (the client will never get it). */
  discard(): void {
    this.items = [];
    this.close();
  }
}

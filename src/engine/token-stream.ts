// A single-consumer async queue of TokenEvents fed by the native per-token callback, plus the
// generation's result promise. Events are buffered, so iterating late loses nothing.
import type { GenerationResult, TokenEvent, TokenStream } from './types.js';

export class TokenQueue implements TokenStream {
  readonly result: Promise<GenerationResult>;
  private readonly buffer: TokenEvent[] = [];
  private waiter: (() => void) | undefined;
  private finished = false;
  private failure: { error: unknown } | undefined;
  private iterated = false;

  /** `onReturn` runs when the consumer stops iterating early (break/return): it aborts. */
  constructor(result: Promise<GenerationResult>, private readonly onReturn: () => void) {
    // Marks the promise handled: a consumer that only iterates gets the error from the
    // iterator, and must not also crash the process with an unhandled rejection.
    result.catch(() => {});
    this.result = result;
    result.then(
      () => this.finish(undefined),
      (error: unknown) => this.finish({ error }),
    );
  }

  /** Producer side (main thread, in order). */
  push(event: TokenEvent): void {
    this.buffer.push(event);
    this.wake();
  }

  private finish(failure: { error: unknown } | undefined): void {
    this.finished = true;
    this.failure = failure;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<TokenEvent> {
    if (this.iterated) throw new TypeError('a TokenStream can be iterated only once');
    this.iterated = true;
    let read = 0;
    return {
      next: async (): Promise<IteratorResult<TokenEvent>> => {
        for (;;) {
          if (read < this.buffer.length) return { value: this.buffer[read++]!, done: false };
          if (this.finished) {
            if (this.failure) throw this.failure.error;
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => {
            this.waiter = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<TokenEvent>> => {
        if (!this.finished) this.onReturn();
        return { value: undefined, done: true };
      },
    };
  }
}

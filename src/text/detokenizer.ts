// Incremental detokenizer: turns a stream of generated token ids into text deltas.
//
// Invariants:
// - The concatenation of every delta equals the decoded text of the ids seen (up to a stop).
// - A character whose UTF-8 bytes are split over several byte-level tokens is emitted once,
//   whole: a window whose decoded text ends in U+FFFD is held until a later token completes
//   it (or until finish(), when genuinely invalid bytes are released as U+FFFD).
// - Text that could still be the start of a stop string is held back, so a stop string that
//   spans several tokens never leaks into the deltas; the text before it is kept.
// Decoding works on a small sliding window of ids (prefix/read offsets) so that decoders
// which depend on the previous token (Metaspace leading spaces) stay correct.

export interface TokenDecoder {
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
}

export interface StreamDecoderOptions {
  /** Ids that end the stream (eos); the id itself contributes no text. */
  eosIds?: Iterable<number>;
  /** Strings that end the stream; the match and anything after it are dropped. */
  stopStrings?: readonly string[];
  /** Default true. */
  skipSpecialTokens?: boolean;
}

export type StreamStopReason = 'eos' | 'stop_string' | 'end';

export interface DecodeStep {
  /** Text made final by this call ('' while bytes or a possible stop string are pending). */
  delta: string;
  stopped: boolean;
  stopReason?: StreamStopReason;
  /** The stop string that matched, and its UTF-16 offset in the full text. */
  stopString?: string;
  stopIndex?: number;
  /** The eos id that stopped the stream. */
  stopId?: number;
}

const REPLACEMENT = '\uFFFD';

export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private prefixText = '';
  /** Decoded, UTF-8-complete text (may include a held tail). */
  private full = '';
  /** Length of `full` already handed out as deltas. */
  private emitted = 0;
  /** Position in `full` below which no stop string can still start. */
  private scanFrom = 0;
  private readonly eos: ReadonlySet<number>;
  private readonly stops: readonly string[];
  private readonly maxStopLength: number;
  private readonly skipSpecial: boolean;
  private result: DecodeStep | undefined;

  constructor(private readonly tokenizer: TokenDecoder, options: StreamDecoderOptions = {}) {
    this.eos = new Set(options.eosIds ?? []);
    const stops = options.stopStrings ?? [];
    for (const s of stops) {
      if (typeof s !== 'string' || s.length === 0) throw new TypeError('stop strings must be non-empty strings');
    }
    this.stops = [...stops];
    this.maxStopLength = Math.max(0, ...this.stops.map((s) => s.length));
    this.skipSpecial = options.skipSpecialTokens ?? true;
  }

  /** Text handed out so far (the concatenation of all deltas). */
  get text(): string {
    return this.full.slice(0, this.emitted);
  }

  get stopped(): boolean {
    return this.result !== undefined;
  }

  /** Ids fed so far (eos ids excluded). */
  get tokenIds(): readonly number[] {
    return this.ids;
  }

  push(id: number): DecodeStep {
    if (this.result) throw new Error(`StreamDecoder: push(${id}) after the stream stopped (${this.result.stopReason})`);
    if (!Number.isInteger(id) || id < 0) throw new RangeError(`StreamDecoder: token id ${id} is not a non-negative integer`);
    if (this.eos.has(id)) {
      const flushed = this.flush();
      if (this.result) return flushed;
      return this.stop({ delta: flushed.delta, stopped: true, stopReason: 'eos', stopId: id });
    }
    this.ids.push(id);
    const windowText = this.decodeWindow(this.prefixOffset, this.ids.length);
    if (windowText.length > this.prefixText.length && !windowText.endsWith(REPLACEMENT)) {
      this.full += windowText.slice(this.prefixText.length);
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      this.prefixText = this.decodeWindow(this.prefixOffset, this.readOffset);
    }
    return this.advance(false);
  }

  /** Ends the stream: releases held bytes (as U+FFFD if invalid) and any held text. */
  finish(): DecodeStep {
    if (this.result) return { delta: '', stopped: true, stopReason: this.result.stopReason! };
    const flushed = this.flush();
    if (this.result) return flushed;
    return this.stop({ delta: flushed.delta, stopped: true, stopReason: 'end' });
  }

  private flush(): DecodeStep {
    if (this.readOffset < this.ids.length) {
      const windowText = this.decodeWindow(this.prefixOffset, this.ids.length);
      if (windowText.length > this.prefixText.length) this.full += windowText.slice(this.prefixText.length);
      this.prefixOffset = this.readOffset = this.ids.length;
      this.prefixText = '';
    }
    return this.advance(true);
  }

  private decodeWindow(from: number, to: number): string {
    return from >= to ? '' : this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: this.skipSpecial });
  }

  /** Emits what is safe from `full`; with `final`, nothing is held for a possible stop string. */
  private advance(final: boolean): DecodeStep {
    if (this.stops.length > 0) {
      const match = this.findStop();
      if (match) {
        const delta = this.full.slice(this.emitted, match.index);
        this.full = this.full.slice(0, match.index);
        this.emitted = match.index;
        return this.stop({ delta, stopped: true, stopReason: 'stop_string', stopString: match.stop, stopIndex: match.index });
      }
    }
    const safe = final ? this.full.length : this.full.length - this.heldForStop();
    const delta = safe > this.emitted ? this.full.slice(this.emitted, safe) : '';
    if (safe > this.emitted) this.emitted = safe;
    return { delta, stopped: false };
  }

  private findStop(): { index: number; stop: string } | undefined {
    let best: { index: number; stop: string } | undefined;
    for (const stop of this.stops) {
      const index = this.full.indexOf(stop, this.scanFrom);
      if (index >= 0 && (!best || index < best.index || (index === best.index && stop.length > best.stop.length))) {
        best = { index, stop };
      }
    }
    if (!best) this.scanFrom = Math.max(this.scanFrom, this.full.length - this.maxStopLength + 1, 0);
    return best;
  }

  /** Length of the longest tail of `full` that is a proper prefix of some stop string. */
  private heldForStop(): number {
    const limit = Math.min(this.maxStopLength - 1, this.full.length - this.emitted);
    for (let len = limit; len > 0; len--) {
      const tail = this.full.slice(this.full.length - len);
      if (this.stops.some((s) => s.startsWith(tail))) return len;
    }
    return 0;
  }

  private stop(step: DecodeStep): DecodeStep {
    this.result = step;
    return step;
  }
}

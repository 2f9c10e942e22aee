// Where a reasoning model's answer starts when its thinking arrives as plain text: the
// native engine's decoded tokens, or a server's `content` when it runs no reasoning parser.
// The answer starts at the first text with something visible after the end-of-thinking
// marker; the marker may be split across deltas. Shared by both backends so TTFO means the
// same thing for both.

export const END_OF_THINKING = '</think>';
const START_OF_THINKING = '<think>';

/** How a format's thinking opens and ends when it arrives as text. */
export interface ThinkMarkers {
  open: string;
  /** Any of these ends the thinking (models vary their phrasing). */
  close: readonly string[];
}

export const THINK_TAGS: ThinkMarkers = { open: START_OF_THINKING, close: [END_OF_THINKING] };

export type DeltaRole = 'thinking' | 'answer';

export class ThinkMarkerScanner {
  private readonly open: string;
  private readonly close: readonly string[];
  /** Longest close marker: the tail kept between deltas must hold all but its last character. */
  private readonly closeLength: number;

  constructor(markers: ThinkMarkers = THINK_TAGS) {
    if (markers.close.length === 0 || markers.close.some((m) => m.length === 0)) throw new TypeError('ThinkMarkerScanner: close markers must be non-empty');
    this.open = markers.open;
    this.close = markers.close;
    this.closeLength = Math.max(...markers.close.map((m) => m.length));
  }

  private markerEnd = -1;
  private answerStarted = false;
  /** Characters consumed before the current delta (to place the marker in the whole text). */
  private consumed = 0;
  /** End of the text seen so far, long enough to hold all but the last character of a split marker. */
  private tail = '';
  /** The text's start with leading whitespace dropped, up to the length of the open marker. */
  private head = '';
  /** Length of the close marker that was found. */
  private closeFound = 0;

  /** The text opened with the open marker: what follows is thinking until a close marker, however long. */
  get thinkingOpened(): boolean {
    return this.head === this.open;
  }

  /** Earliest close marker in `window`: its index and length, or null. */
  private findClose(window: string): { at: number; length: number } | null {
    let best: { at: number; length: number } | null = null;
    for (const m of this.close) {
      const at = window.indexOf(m);
      if (at >= 0 && (best === null || at < best.at)) best = { at, length: m.length };
    }
    return best;
  }

  /** The marker has been seen complete. */
  get markerSeen(): boolean {
    return this.markerEnd >= 0;
  }

  /** Feed the next delta, in order: 'thinking' until the marker and any whitespace after it, then 'answer'. */
  classify(delta: string): DeltaRole {
    if (this.head.length < this.open.length) this.head = (this.head + delta).trimStart().slice(0, this.open.length);
    if (this.answerStarted) return 'answer';
    let after = delta;
    if (this.markerEnd < 0) {
      const window = this.tail + delta;
      const found = this.findClose(window);
      if (found === null) {
        this.consumed += delta.length;
        this.tail = window.slice(-(this.closeLength - 1));
        return 'thinking';
      }
      this.markerEnd = this.consumed - this.tail.length + found.at + found.length;
      this.closeFound = found.length;
      this.tail = '';
      after = window.slice(found.at + found.length);
    }
    this.consumed += delta.length;
    if (after.trim() === '') return 'thinking';
    this.answerStarted = true;
    return 'answer';
  }

  /**
   * The thinking part of `text` (the concatenation of every delta fed): before the marker (all
   * of it when the text opened `<think>` and never closed it), the opening tag removed;
   * undefined when there was no thinking.
   */
  thinkingText(text: string): string | undefined {
    if (this.markerEnd < 0 && !this.thinkingOpened) return undefined;
    const thinking = this.markerEnd < 0 ? text : text.slice(0, this.markerEnd - this.closeFound);
    const open = thinking.trimStart();
    return open.startsWith(this.open) ? open.slice(this.open.length) : thinking;
  }
}

// Where a reasoning model's answer starts when its thinking arrives as plain text: the
// native engine's decoded tokens, or a server's `content` when it runs no reasoning parser.
// The answer starts at the first text with something visible after the end-of-thinking
// marker; the marker may be split across deltas. Shared by both backends so TTFO means the
// same thing for both.

export const END_OF_THINKING = '</think>';
const START_OF_THINKING = '<think>';

export type DeltaRole = 'thinking' | 'answer';

export class ThinkMarkerScanner {
  private markerEnd = -1;
  private answerStarted = false;
  /** Characters consumed before the current delta (to place the marker in the whole text). */
  private consumed = 0;
  /** End of the text seen so far, long enough to hold all but the last character of a split marker. */
  private tail = '';
  /** The text's start with leading whitespace dropped, up to the length of `<think>`. */
  private head = '';

  /** The text opened with `<think>`: what follows is thinking until the end marker, however long. */
  get thinkingOpened(): boolean {
    return this.head === START_OF_THINKING;
  }

  /** The marker has been seen complete. */
  get markerSeen(): boolean {
    return this.markerEnd >= 0;
  }

  /** Feed the next delta, in order: 'thinking' until the marker and any whitespace after it, then 'answer'. */
  classify(delta: string): DeltaRole {
    if (this.head.length < START_OF_THINKING.length) this.head = (this.head + delta).trimStart().slice(0, START_OF_THINKING.length);
    if (this.answerStarted) return 'answer';
    let after = delta;
    if (this.markerEnd < 0) {
      const window = this.tail + delta;
      const at = window.indexOf(END_OF_THINKING);
      if (at < 0) {
        this.consumed += delta.length;
        this.tail = window.slice(-(END_OF_THINKING.length - 1));
        return 'thinking';
      }
      this.markerEnd = this.consumed - this.tail.length + at + END_OF_THINKING.length;
      this.tail = '';
      after = window.slice(at + END_OF_THINKING.length);
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
    const thinking = this.markerEnd < 0 ? text : text.slice(0, this.markerEnd - END_OF_THINKING.length);
    const open = thinking.trimStart();
    return open.startsWith(START_OF_THINKING) ? open.slice(START_OF_THINKING.length) : thinking;
  }
}

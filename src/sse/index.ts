export { SseParser, SseError } from './parser.js';
export type { SseEvent, SseParserOptions } from './parser.js';

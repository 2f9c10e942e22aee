export * from './default-model.js';
export { buildByteTokenizer, byteToUnicode } from './byte-tokenizer.js';

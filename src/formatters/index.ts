export * from './reasoning-state.js';
export * from './registry.js';
export * from './prepare.js';
export { HARMONY_CHAT_TEMPLATE } from './harmony-template.js';

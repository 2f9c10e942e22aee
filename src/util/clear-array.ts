/**
 * Empties an array that is about to be filled again, keeping its backing store.
 *
 * `arr.length = 0` makes V8 drop the store, so the next push allocates a new one: on a path
 * run per network read that is an allocation per read per array, and more young-generation
 * GCs (scripts/bench-sse-alloc.mjs measures it). Popping releases every element but leaves
 * the capacity in place.
 */
export function clearKeepingCapacity(arr: unknown[]): void {
  for (let i = arr.length; i > 0; i--) arr.pop();
}

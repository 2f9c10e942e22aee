// Keeps the event loop polling (never sleeping) while at least one holder wants it: a chain
// of setImmediate callbacks makes libuv poll with a zero timeout, so a token the native thread
// hands over is picked up on the next loop turn instead of after the main thread is woken
// from its sleep (a wake-up costs ~0.25 ms at p99 on small VMs). The price is one core busy
// for as long as it is held. Stamps never depend on this: they are taken in C++.

let holders = 0;
let scheduled = false;

function turn(): void {
  scheduled = false;
  if (holders === 0) return;
  scheduled = true;
  setImmediate(turn);
}

/** Hold the loop hot; call the returned function (once) to let go. */
export function holdEventLoopHot(): () => void {
  holders++;
  if (!scheduled) turn();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    holders--;
  };
}

/** Holders right now (for tests). */
export function hotLoopHolders(): number {
  return holders;
}

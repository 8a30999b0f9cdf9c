// counter: logs `count 1` .. `count N` (N = the first argument, default
// 10), one line every 10 ms. The last count is kept in the key-value store
// under "count" (as decimal text), so a restarted copy goes on where it
// stopped.
import * as weft from "weft";

const DEFAULT_LIMIT: i64 = 10;

// A decimal number, or `fallback` if `text` is not one.
function parseCount(text: string, fallback: i64): i64 {
  if (text.length == 0) return fallback;
  let n: i64 = 0;
  for (let i = 0; i < text.length; i++) {
    let digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return fallback;
    n = n * 10 + digit;
  }
  return n;
}

function main(): void {
  let args = weft.args();
  let limit = args.length > 1 ? parseCount(args[1], DEFAULT_LIMIT) : DEFAULT_LIMIT;

  let count: i64 = 0;
  let stored = weft.kvGet("count");
  if (stored != null) count = parseCount(stored, 0);

  while (count < limit) {
    count++;
    weft.log("count " + count.toString());
    weft.kvSet("count", count.toString());
    if (count < limit) weft.sleepMs(10);
  }
}

main();

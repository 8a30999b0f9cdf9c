// timer: a periodic timer (every 20 ms, tag 7) logs `tick k`; a one-shot
// timer (after 110 ms, tag 99) logs `done after k ticks`, cancels the
// periodic one and ends the script.
import * as weft from "weft";

const TICK_TAG: i64 = 7;
const DONE_TAG: i64 = 99;

function main(): i32 {
  let ticker = weft.timerSet(20 * weft.MILLIS, 20 * weft.MILLIS, TICK_TAG);
  if (ticker < 0 || weft.timerSet(110 * weft.MILLIS, 0, DONE_TAG) < 0) {
    weft.log("timer: cannot set timers");
    return 1;
  }
  let ticks = 0;
  while (true) {
    let msg = weft.recv(weft.FOREVER);
    if (msg == null) {
      weft.log("timer: timed out");
      return 1;
    }
    if (!msg.isTimer) continue; // a message from another script
    let tag = msg.tag;
    if (tag == TICK_TAG) {
      ticks++;
      weft.log("tick " + ticks.toString());
    } else if (tag == DONE_TAG) {
      weft.log("done after " + ticks.toString() + " ticks");
      weft.timerCancel(ticker);
      return 0;
    } else {
      weft.log("timer: bad timer message");
      return 1;
    }
  }
}

const status = main();
if (status != 0) weft.exit(status);

// ping: sends `ping 1` .. `ping N` (N = the first argument, default 100) to
// the script `pong`, waiting (at most 5 s) for `pong i` before sending the
// next, then sends `stop`.
import * as weft from "weft";

const ROUNDS = 100;

// The first argument as a positive number, or the default.
function rounds(): i32 {
  let args = weft.args();
  if (args.length < 2 || args[1].length == 0) return ROUNDS;
  let n: i32 = 0;
  for (let i = 0; i < args[1].length; i++) {
    let digit = args[1].charCodeAt(i) - 48;
    if (digit < 0 || digit > 9 || n > 100_000_000) return ROUNDS;
    n = n * 10 + digit;
  }
  return n > 0 ? n : ROUNDS;
}

function main(): i32 {
  let limit = rounds();
  for (let i = 1; i <= limit; i++) {
    weft.send("pong", "ping " + i.toString());
    let msg = weft.recv(5 * weft.SECONDS);
    if (msg == null) {
      weft.log("ping: timed out");
      return 1;
    }
    if (msg.text != "pong " + i.toString()) {
      weft.log("ping: out of order");
      return 1;
    }
    weft.log("ping got pong " + i.toString());
  }
  weft.send("pong", "stop");
  weft.log("ping done");
  return 0;
}

const status = main();
if (status != 0) weft.exit(status);

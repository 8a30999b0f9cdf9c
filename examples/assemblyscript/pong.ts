// pong: answers every `ping i` with `pong i` to its sender; on `stop` logs
// how many pings it answered and exits. It waits for ever, so a ping that
// is stopped and resumed later does not make it fail.
import * as weft from "weft";

function main(): i32 {
  let answered = 0;
  while (true) {
    let msg = weft.recv(weft.FOREVER);
    if (msg == null) {
      weft.log("pong: timed out");
      return 1;
    }
    if (msg.isTimer) continue;
    let text = msg.text;
    if (text.startsWith("ping ")) {
      weft.send(msg.from, "pong " + text.substring(5));
      answered++;
    } else if (text == "stop") {
      weft.log("pong done after " + answered.toString());
      return 0;
    }
  }
}

const status = main();
if (status != 0) weft.exit(status);

// member: a chat member, spawned by `room`. Its first message comes from
// the room; it then says three lines, counts the lines relayed to it, says
// `bye` once it heard all 12 (3 from each of the 4 others) and ends on
// `stop`.
import * as weft from "weft";

const MEMBERS = 5;
const SAYS = 3;

function main(): i32 {
  let me = weft.id();
  let hello = weft.recv(weft.FOREVER);
  if (hello == null || hello.text != "hello") {
    weft.log("member: no hello");
    return 1;
  }
  let room = hello.from;
  for (let k = 1; k <= SAYS; k++) weft.send(room, "say " + me + " " + k.toString());

  let heard = 0;
  while (true) {
    let msg = weft.recv(weft.FOREVER);
    if (msg == null) {
      weft.log("member: timed out");
      return 1;
    }
    if (msg.from != room) continue;
    let text = msg.text;
    if (text.startsWith("relay ")) {
      heard++;
      if (heard == SAYS * (MEMBERS - 1)) {
        weft.log("member " + me + " heard " + heard.toString());
        weft.send(room, "bye " + me);
      }
    } else if (text == "stop") {
      return 0;
    }
  }
}

const status = main();
if (status != 0) weft.exit(status);

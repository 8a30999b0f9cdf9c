// room: the chat room. Spawns 5 `member` scripts, greets each with `hello`,
// relays every `say ...` line to all the other members as `relay say ...`,
// and once every member said `bye` sends `stop` to all and ends.
import * as weft from "weft";

const MEMBERS = 5;

function main(): i32 {
  let members = new Array<string>(0);
  for (let m = 0; m < MEMBERS; m++) {
    let member = weft.spawn("member");
    if (member == null) {
      weft.log("room: spawn failed: " + weft.errorName(weft.lastError()));
      return 1;
    }
    members.push(member);
  }
  for (let m = 0; m < MEMBERS; m++) weft.send(members[m], "hello");

  let said = 0;
  let delivered = 0;
  let gone = 0;
  while (gone < MEMBERS) {
    let msg = weft.recv(5 * weft.SECONDS);
    if (msg == null) {
      weft.log("room: timed out");
      return 1;
    }
    let text = msg.text;
    if (text.startsWith("say ")) {
      said++;
      for (let m = 0; m < MEMBERS; m++) {
        if (members[m] == msg.from) continue;
        weft.send(members[m], "relay " + text);
        delivered++;
      }
    } else if (text.startsWith("bye ")) {
      gone++;
    }
  }
  weft.log(
    "room done: " + MEMBERS.toString() + " members, " + said.toString() +
      " messages relayed to " + delivered.toString(),
  );
  for (let m = 0; m < MEMBERS; m++) weft.send(members[m], "stop");
  return 0;
}

const status = main();
if (status != 0) weft.exit(status);

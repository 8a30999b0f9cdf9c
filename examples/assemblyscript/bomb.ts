// bomb: a hostile script that grows its memory for ever, 1 MiB at a time,
// touching every byte. The host's memory limit stops its growth; it logs
// `bomb: out of memory after N MiB` once and keeps trying.
import * as weft from "weft";

const PAGES_PER_CHUNK = 16; // 16 pages of 64 KiB: 1 MiB

function main(): void {
  let mebibytes = 0;
  let reported = false;
  while (true) {
    let first = memory.grow(PAGES_PER_CHUNK);
    if (first < 0) {
      if (!reported) weft.log("bomb: out of memory after " + mebibytes.toString() + " MiB");
      reported = true;
      continue;
    }
    memory.fill(<usize>first << 16, 0xAB, <usize>PAGES_PER_CHUNK << 16);
    mebibytes++;
  }
}

main();

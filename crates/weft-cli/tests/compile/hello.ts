// weft.log through the SDK package.
import * as weft from "weft";

const words: string[] = ["hello", "from", "AssemblyScript"];
let sum = 0;
for (let i = 1; i <= 10; i++) sum += i;
weft.log(words.join(" ") + ", 1 + ... + 10 = " + sum.toString());

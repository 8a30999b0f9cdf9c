// spin: a hostile script that loops for ever without calling anything.
// The host preempts it; the scripts beside it must not notice.

// Nothing of weft is called; the import brings in the abort handler that
// `--use abort=...` names (see sdk/assemblyscript/weft.ts).
import "weft";

while (true) {}

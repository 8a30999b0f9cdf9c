//! spin: a hostile script that loops for ever without calling anything.
//! The host preempts it; the scripts beside it must not notice.

const weft = @import("weft");

/// Keeps std's panic handler (and the WASI functions it uses) out.
pub const panic = weft.panic;

pub fn main() void {
    while (true) {}
}

//! bomb: a hostile script that grows its memory for ever, 1 MiB at a time,
//! touching every byte. The host's memory limit stops its growth; it logs
//! `bomb: out of memory after N MiB` once and keeps trying.
//!
//! It grows the memory itself: std's WebAssembly allocator would round a
//! 1 MiB allocation up to 2 MiB.

const std = @import("std");
const weft = @import("weft");

pub const panic = weft.panic;

const page_len = 64 * 1024;
const pages_per_chunk = 16; // 1 MiB

pub fn main() void {
    var mebibytes: u32 = 0;
    var reported = false;
    while (true) {
        const first = @wasmMemoryGrow(0, pages_per_chunk);
        if (first < 0) {
            if (!reported) weft.print("bomb: out of memory after {d} MiB", .{mebibytes});
            reported = true;
            continue;
        }
        const chunk: [*]u8 = @ptrFromInt(@as(usize, @intCast(first)) * page_len);
        @memset(chunk[0 .. pages_per_chunk * page_len], 0xAB);
        mebibytes += 1;
    }
}

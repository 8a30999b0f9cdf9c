//! counter: logs `count 1` .. `count N` (N = the first argument, default
//! 10), one line every 10 ms. The last count is kept in the key-value store
//! under "count" (as decimal text), so a restarted copy goes on where it
//! stopped.

const std = @import("std");
const weft = @import("weft");

pub const panic = weft.panic;

const default_limit = 10;

pub fn main(init: std.process.Init.Minimal) void {
    const limit = limitFromArgs(init.args);

    var stored: [32]u8 = undefined;
    var count: u64 = if (weft.kvGet("count", &stored)) |text|
        std.fmt.parseInt(u64, text, 10) catch 0
    else |_|
        0;

    while (count < limit) {
        count += 1;
        weft.print("count {d}", .{count});
        var text: [20]u8 = undefined;
        weft.kvSet("count", std.mem.print(&text, "{d}", .{count}) catch unreachable) catch {};
        if (count < limit) weft.sleepMs(10);
    }
}

/// The first command-line argument as a number, or the default.
fn limitFromArgs(args: std.process.Args) u64 {
    var buf: [1024]u8 = undefined;
    var fba: std.heap.FixedBufferAllocator = .init(&buf);
    var it = args.iterateAllocator(fba.allocator()) catch return default_limit;
    _ = it.skip(); // the program name
    const arg = it.next() orelse return default_limit;
    return std.fmt.parseInt(u64, arg, 10) catch default_limit;
}

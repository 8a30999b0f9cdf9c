//! ping: sends `ping 1` .. `ping N` (N = the first argument, default 100)
//! to the script `pong`, waiting (at most 5 s) for `pong i` before sending
//! the next, then sends `stop`.

const std = @import("std");
const weft = @import("weft");

pub const panic = weft.panic;

const default_rounds = 100;

pub fn main(init: std.process.Init.Minimal) u8 {
    const rounds = roundsFromArgs(init.args);
    var i: u32 = 1;
    while (i <= rounds) : (i += 1) {
        weft.sendPrint("pong", "ping {d}", .{i}) catch |err| return fail(err);

        var buf: [64]u8 = undefined;
        var from: [weft.id_buf_len]u8 = undefined;
        const msg = weft.recv(5 * std.time.ns_per_s, &buf, &from) catch |err| return fail(err);
        const number = std.mem.cutPrefix(u8, msg.body, "pong ") orelse "";
        const got = std.fmt.parseInt(u32, number, 10) catch 0;
        if (got != i) {
            weft.log("ping: out of order");
            return 1;
        }
        weft.print("ping got pong {d}", .{got});
    }
    weft.send("pong", "stop") catch |err| return fail(err);
    weft.log("ping done");
    return 0;
}

fn fail(err: weft.Error) u8 {
    switch (err) {
        error.TimedOut => weft.log("ping: timed out"),
        else => weft.print("ping: {t}", .{err}),
    }
    return 1;
}

/// The first command-line argument as a number, or the default.
fn roundsFromArgs(args: std.process.Args) u32 {
    var buf: [1024]u8 = undefined;
    var fba: std.heap.FixedBufferAllocator = .init(&buf);
    var it = args.iterateAllocator(fba.allocator()) catch return default_rounds;
    _ = it.skip(); // the program name
    const arg = it.next() orelse return default_rounds;
    const n = std.fmt.parseInt(u32, arg, 10) catch return default_rounds;
    return if (n > 0) n else default_rounds;
}

//! timer: a periodic timer (every 20 ms, tag 7) logs `tick k`; a one-shot
//! timer (after 110 ms, tag 99) logs `done after k ticks`, cancels the
//! periodic one and ends the script.

const std = @import("std");
const weft = @import("weft");

pub const panic = weft.panic;

const tick_tag = 7;
const done_tag = 99;
const ms = std.time.ns_per_ms;

pub fn main() u8 {
    const ticker = weft.timerSet(20 * ms, 20 * ms, tick_tag) catch return cannotSet();
    _ = weft.timerSet(110 * ms, 0, done_tag) catch return cannotSet();

    var ticks: u32 = 0;
    while (true) {
        var buf: [16]u8 = undefined;
        var from: [weft.id_buf_len]u8 = undefined;
        const msg = weft.recv(weft.forever, &buf, &from) catch {
            weft.log("timer: timed out");
            return 1;
        };
        if (!msg.isTimer()) continue; // a message from another script
        switch (msg.timerTag() orelse -1) {
            tick_tag => {
                ticks += 1;
                weft.print("tick {d}", .{ticks});
            },
            done_tag => {
                weft.print("done after {d} ticks", .{ticks});
                ticker.cancel() catch {};
                return 0;
            },
            else => {
                weft.log("timer: bad timer message");
                return 1;
            },
        }
    }
}

fn cannotSet() u8 {
    weft.log("timer: cannot set timers");
    return 1;
}

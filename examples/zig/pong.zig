//! pong: answers every `ping i` with `pong i` to its sender; on `stop` logs
//! how many pings it answered and exits. It waits for ever, so a ping that
//! is stopped and resumed later does not make it fail.

const std = @import("std");
const weft = @import("weft");

pub const panic = weft.panic;

pub fn main() u8 {
    var answered: u32 = 0;
    while (true) {
        var buf: [64]u8 = undefined;
        var from: [weft.id_buf_len]u8 = undefined;
        const msg = weft.recv(weft.forever, &buf, &from) catch {
            weft.log("pong: timed out");
            return 1;
        };
        if (msg.isTimer()) continue;
        if (std.mem.cutPrefix(u8, msg.body, "ping ")) |number| {
            const i = std.fmt.parseInt(u32, number, 10) catch continue;
            weft.sendPrint(msg.from, "pong {d}", .{i}) catch {};
            answered += 1;
        } else if (std.mem.eql(u8, msg.body, "stop")) {
            weft.print("pong done after {d}", .{answered});
            return 0;
        }
    }
}

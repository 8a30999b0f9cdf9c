//! member: a chat member, spawned by `room`. Its first message comes from
//! the room; it then says three lines, counts the lines relayed to it, says
//! `bye` once it heard all 12 (3 from each of the 4 others) and ends on
//! `stop`.

const std = @import("std");
const weft = @import("weft");

pub const panic = weft.panic;

const member_count = 5;
const says = 3;

pub fn main() u8 {
    var me_buf: [weft.id_buf_len]u8 = undefined;
    const me = weft.id(&me_buf) catch "";

    var buf: [256]u8 = undefined;
    var room_buf: [weft.id_buf_len]u8 = undefined;
    const hello = weft.recv(weft.forever, &buf, &room_buf) catch return noHello();
    if (!std.mem.eql(u8, hello.body, "hello")) return noHello();
    const room = hello.from;

    for (1..says + 1) |k| weft.sendPrint(room, "say {s} {d}", .{ me, k }) catch {};

    var heard: u32 = 0;
    while (true) {
        var from: [weft.id_buf_len]u8 = undefined;
        const msg = weft.recv(weft.forever, &buf, &from) catch {
            weft.log("member: timed out");
            return 1;
        };
        if (!std.mem.eql(u8, msg.from, room)) continue;
        if (std.mem.startsWith(u8, msg.body, "relay ")) {
            heard += 1;
            if (heard == says * (member_count - 1)) {
                weft.print("member {s} heard {d}", .{ me, heard });
                weft.sendPrint(room, "bye {s}", .{me}) catch {};
            }
        } else if (std.mem.eql(u8, msg.body, "stop")) {
            return 0;
        }
    }
}

fn noHello() u8 {
    weft.log("member: no hello");
    return 1;
}

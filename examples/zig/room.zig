//! room: the chat room. Spawns 5 `member` scripts, greets each with
//! `hello`, relays every `say ...` line to all the other members as
//! `relay say ...`, and once every member said `bye` sends `stop` to all and
//! ends.

const std = @import("std");
const weft = @import("weft");

pub const panic = weft.panic;

const member_count = 5;

pub fn main() u8 {
    var id_bufs: [member_count][weft.id_buf_len]u8 = undefined;
    var members: [member_count][]const u8 = undefined;
    for (&members, &id_bufs) |*member, *buf| {
        member.* = weft.spawn("member", "", buf) catch |err| {
            weft.print("room: spawn failed: {t}", .{err});
            return 1;
        };
    }
    for (members) |member| weft.send(member, "hello") catch {};

    var said: u32 = 0;
    var delivered: u32 = 0;
    var gone: u32 = 0;
    while (gone < member_count) {
        var buf: [256]u8 = undefined;
        var from: [weft.id_buf_len]u8 = undefined;
        const msg = weft.recv(5 * std.time.ns_per_s, &buf, &from) catch {
            weft.log("room: timed out");
            return 1;
        };
        if (std.mem.startsWith(u8, msg.body, "say ")) {
            said += 1;
            for (members) |member| {
                if (std.mem.eql(u8, member, msg.from)) continue;
                weft.sendPrint(member, "relay {s}", .{msg.body}) catch {};
                delivered += 1;
            }
        } else if (std.mem.startsWith(u8, msg.body, "bye ")) {
            gone += 1;
        }
    }
    weft.print("room done: {d} members, {d} messages relayed to {d}", .{ member_count, said, delivered });
    for (members) |member| weft.send(member, "stop") catch {};
    return 0;
}

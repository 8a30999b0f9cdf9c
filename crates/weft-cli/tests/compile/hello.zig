//! weft.log through the SDK module.
const weft = @import("weft");

pub fn main() void {
    var sum: u32 = 0;
    for (1..11) |i| sum += @intCast(i);
    weft.print("hello from {s}, 1 + ... + 10 = {d}", .{ "Zig", sum });
}

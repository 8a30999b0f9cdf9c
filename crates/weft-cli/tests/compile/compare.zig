//! The same program built by `weft compile` and by plain `zig build-exe`
//! must print the same bytes and exit the same way (floats, loops, the
//! heap, sorting).
const std = @import("std");

pub fn main(init: std.process.Init) !void {
    var buffer: [4096]u8 = undefined;
    var stdout = std.Io.File.Writer.initStreaming(.stdout(), init.io, &buffer);
    const out = &stdout.interface;

    const gpa = std.heap.wasm_allocator;
    var values: std.ArrayList(f64) = .empty;
    defer values.deinit(gpa);
    var state: u32 = 12345;
    for (0..1000) |_| {
        state = state *% 1103515245 +% 12345;
        try values.append(gpa, @as(f64, @floatFromInt(state >> 8)) / 65536.0 - 128.0);
    }
    std.mem.sort(f64, values.items, {}, std.sort.asc(f64));
    var sum: f64 = 0;
    var squares: f64 = 0;
    for (values.items) |v| {
        sum += v;
        squares += v * v;
    }
    const n: f64 = @floatFromInt(values.items.len);
    const mean = sum / n;
    try out.print("min {d:.6} max {d:.6}\n", .{ values.items[0], values.items[values.items.len - 1] });
    try out.print("mean {d} stddev {d}\n", .{ mean, @sqrt(squares / n - mean * mean) });
    try out.print("exp {e} sin {d:.12}\n", .{ @exp(mean / 16), @sin(values.items[500]) });

    var text: std.ArrayList(u8) = .empty;
    defer text.deinit(gpa);
    for (1..41) |i| {
        try text.print(gpa, "{d}{s}", .{ i * i, if (i % 7 != 0) "," else ";\n" });
    }
    try out.print("{s}\n{d} bytes of squares\n", .{ text.items, text.items.len });
    try out.flush();
    std.process.exit(3);
}

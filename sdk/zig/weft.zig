//! Zig bindings for the weft host API (import module "weft").
//!
//! The ABI is described in docs/host-api.md. `raw` holds the imports exactly
//! as the host offers them; the functions of this file wrap them with slices
//! and error unions. Use it as a module named `weft`:
//!
//!     const weft = @import("weft");
//!
//!     pub fn main() void {
//!         weft.print("hello from {s}", .{"zig"});
//!     }
//!
//! and build with (Zig 0.17)
//!
//!     zig build-exe -target wasm32-wasi -O ReleaseSmall --stack 1048576 \
//!         --dep weft -Mroot=script.zig -Mweft=sdk/zig/weft.zig
//!
//! or let `weft compile script.zig` do it. Without `--stack`, Zig's 16 MiB
//! default stack makes a 16 MiB memory.
//!
//! Declare `pub const panic = weft.panic;` in the root file: std's default
//! panic handler, and a `main` that returns an error, pull in much of WASI
//! (files, stack traces).

const std = @import("std");

/// The imports of module "weft", one to one. Pointers are offsets into the
/// script's memory; negative results are the codes of `Error`.
pub const raw = struct {
    pub extern "weft" fn log(ptr: [*]const u8, len: usize) void;
    pub extern "weft" fn now() i64;
    pub extern "weft" fn sleep(nanos: i64) void;
    pub extern "weft" fn yield() void;
    pub extern "weft" fn id(buf: [*]u8, cap: usize) i32;
    pub extern "weft" fn send(to: [*]const u8, to_len: usize, msg: [*]const u8, len: usize) i32;
    pub extern "weft" fn recv(timeout_nanos: i64, buf: [*]u8, cap: usize, from: [*]u8, from_cap: usize) i32;
    pub extern "weft" fn timer_set(delay_nanos: i64, interval_nanos: i64, tag: i64) i32;
    pub extern "weft" fn timer_cancel(timer: i32) i32;
    pub extern "weft" fn spawn(module: [*]const u8, module_len: usize, args: [*]const u8, args_len: usize, id: [*]u8, id_cap: usize) i32;
    pub extern "weft" fn kv_get(key: [*]const u8, key_len: usize, buf: [*]u8, cap: usize) i32;
    pub extern "weft" fn kv_set(key: [*]const u8, key_len: usize, value: [*]const u8, value_len: usize) i32;
    pub extern "weft" fn kv_delete(key: [*]const u8, key_len: usize) i32;
};

/// The failures of the host API, one per negative result code.
pub const Error = error{
    /// `recv`: no message came within the timeout (-1).
    TimedOut,
    /// A pointer and length do not lie inside memory (-2).
    Fault,
    /// A bad argument: an empty or non-UTF-8 id, a negative length (-3).
    Invalid,
    /// A message, key or value over its size limit (-4).
    TooBig,
    /// A quota is reached: timers, key-value store, sends in one slice (-5).
    Full,
    /// No such key, timer or module (-6).
    NotFound,
    /// The host running the script does not offer this call (-7).
    NotSupported,
};

/// Largest message body, in bytes.
pub const max_message = 64 * 1024;
/// Longest script id, in bytes.
pub const max_id = 127;
/// Size of a buffer that holds any id and its 0 terminator (recv's `from`).
pub const id_buf_len = max_id + 1;
/// Messages sent in one slice and not yet delivered.
pub const max_pending_sends = 1024;
/// Messages a mailbox holds; a message to a full mailbox is dropped.
pub const max_mailbox = 4096;
/// Timers a script may have at once.
pub const max_timers = 64;
/// Shortest timer interval, in nanoseconds.
pub const min_interval_nanos = std.time.ns_per_ms;
/// Longest key, in bytes.
pub const max_key = 1024;
/// Longest value, in bytes.
pub const max_value = 64 * 1024;
/// Keys and values of the key-value store together, in bytes.
pub const max_kv_store = 1024 * 1024;

/// A `recv` timeout that waits for ever.
pub const forever: i64 = -1;

/// A panic handler that logs the message through `log` and traps. The
/// default handler of std pulls in much of WASI (files, stack traces); a
/// script declares this one in its root file:
///
///     pub const panic = weft.panic;
pub const panic = std.debug.FullPanic(logAndTrap);

fn logAndTrap(msg: []const u8, first_trace_addr: ?usize) noreturn {
    @branchHint(.cold);
    _ = first_trace_addr;
    print("panic: {s}", .{msg});
    @trap();
}

/// Turns a result of the host into its non-negative value or an error.
pub fn check(result: i32) Error!usize {
    if (result >= 0) return @intCast(result);
    return switch (result) {
        -1 => error.TimedOut,
        -2 => error.Fault,
        -4 => error.TooBig,
        -5 => error.Full,
        -6 => error.NotFound,
        -7 => error.NotSupported,
        // -3, and any code a newer host may add.
        else => error.Invalid,
    };
}

/// Writes `line` and a newline to the script's standard output.
pub fn log(line: []const u8) void {
    raw.log(line.ptr, line.len);
}

/// Logs one line formatted like `std.fmt` (cut at 1 KiB).
pub fn print(comptime format: []const u8, args: anytype) void {
    var buf: [1024]u8 = undefined;
    var w: std.Io.Writer = .fixed(&buf);
    w.print(format, args) catch {};
    log(w.buffered());
}

/// The script's monotonic clock in nanoseconds (WASI's CLOCK_MONOTONIC).
pub fn now() i64 {
    return raw.now();
}

/// Parks the script for `nanos` nanoseconds without using CPU.
pub fn sleep(nanos: i64) void {
    raw.sleep(nanos);
}

/// Parks the script for `millis` milliseconds.
pub fn sleepMs(millis: i64) void {
    raw.sleep(millis * std.time.ns_per_ms);
}

/// Gives up the rest of the current slice.
pub fn yield() void {
    raw.yield();
}

/// Writes the script's own id into `buf` and returns it (cut to `buf.len`).
pub fn id(buf: []u8) Error![]u8 {
    const len = try check(raw.id(buf.ptr, buf.len));
    return buf[0..@min(len, buf.len)];
}

/// Sends `msg` to the script `to`. A message to a script that does not
/// exist is dropped by the host, not reported.
pub fn send(to: []const u8, msg: []const u8) Error!void {
    _ = try check(raw.send(to.ptr, to.len, msg.ptr, msg.len));
}

/// Sends a message formatted like `std.fmt` (cut at 1 KiB) to `to`.
pub fn sendPrint(to: []const u8, comptime format: []const u8, args: anytype) Error!void {
    var buf: [1024]u8 = undefined;
    var w: std.Io.Writer = .fixed(&buf);
    w.print(format, args) catch {};
    return send(to, w.buffered());
}

/// A message taken from the mailbox. `body` and `from` point into the
/// buffers given to `recv`.
pub const Message = struct {
    /// The part of the body that fit into the buffer.
    body: []u8,
    /// The body's full length (more than `body.len` if it was cut).
    len: usize,
    /// The sender's id; empty for a timer firing.
    from: []const u8,

    /// Whether this message is a timer firing.
    pub fn isTimer(m: Message) bool {
        return m.from.len == 0;
    }

    /// The tag of a timer firing, or null if this is not one.
    pub fn timerTag(m: Message) ?i64 {
        if (!m.isTimer() or m.len != 8 or m.body.len < 8) return null;
        return std.mem.readInt(i64, m.body[0..8], .little);
    }
};

/// Takes the next message from the mailbox, waiting at most
/// `timeout_nanos` (`forever`, or 0 not to wait). The body is copied into
/// `buf` (cut to its length) and the sender's id into `from`.
pub fn recv(timeout_nanos: i64, buf: []u8, from: *[id_buf_len]u8) Error!Message {
    from[0] = 0;
    const len = try check(raw.recv(timeout_nanos, buf.ptr, buf.len, from, from.len));
    from[from.len - 1] = 0;
    return .{
        .body = buf[0..@min(len, buf.len)],
        .len = len,
        .from = std.mem.sliceTo(from, 0),
    };
}

/// A timer started by `timerSet`.
pub const Timer = enum(i32) {
    _,

    /// Stops the timer. A firing already in the mailbox stays there.
    pub fn cancel(t: Timer) Error!void {
        _ = try check(raw.timer_cancel(@intFromEnum(t)));
    }
};

/// Starts a timer that fires after `delay_nanos` and then, if
/// `interval_nanos` > 0, every `interval_nanos`, each time sending a
/// message whose body is `tag`.
pub fn timerSet(delay_nanos: i64, interval_nanos: i64, tag: i64) Error!Timer {
    const timer = try check(raw.timer_set(delay_nanos, interval_nanos, tag));
    return @enumFromInt(timer);
}

/// Starts a new script from the module named `module` with `args` (the
/// command-line arguments as NUL-separated strings, "" for none); writes
/// its id into `id_buf` and returns it.
pub fn spawn(module: []const u8, args: []const u8, id_buf: []u8) Error![]u8 {
    const len = try check(raw.spawn(module.ptr, module.len, args.ptr, args.len, id_buf.ptr, id_buf.len));
    return id_buf[0..@min(len, id_buf.len)];
}

/// Copies the value stored under `key` into `buf` and returns it (cut to
/// `buf.len`); `error.NotFound` if there is none.
pub fn kvGet(key: []const u8, buf: []u8) Error![]u8 {
    const len = try check(raw.kv_get(key.ptr, key.len, buf.ptr, buf.len));
    return buf[0..@min(len, buf.len)];
}

/// Stores `value` under `key`, replacing any.
pub fn kvSet(key: []const u8, value: []const u8) Error!void {
    _ = try check(raw.kv_set(key.ptr, key.len, value.ptr, value.len));
}

/// Removes `key`; `error.NotFound` if there is none.
pub fn kvDelete(key: []const u8) Error!void {
    _ = try check(raw.kv_delete(key.ptr, key.len));
}

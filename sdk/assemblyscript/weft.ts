// AssemblyScript bindings for the weft host API (import module "weft").
//
// The ABI is described in docs/host-api.md. `raw` holds the imports exactly
// as the host offers them; the functions of this file wrap them with
// strings (encoded as UTF-8) and ArrayBuffers. A script imports it as
//
//     import * as weft from "weft";
//
// AssemblyScript calls `env.abort` when an assertion or bounds check fails,
// and weft offers no `env` module: compile with this file's `abort`, which
// logs the message through weft.log and traps. asc 0.28 accepts either
//
//     asc script.ts -O3 --exportStart _start \
//         --lib <sdk>/assemblyscript/weft.ts --use abort=~lib/weft/abort
//
// or, with this file installed as <dir>/node_modules/weft/index.ts,
//
//     asc script.ts -O3 --exportStart _start \
//         --path <dir>/node_modules --use abort=~lib/weft/index/abort
//
// `--use abort=<file>/<function>` names the file as the compiler knows it.
// With `--path` the file is only loaded when the script imports "weft"
// (else: "Element '~lib/weft/index/abort' not found"); with `--lib` it
// always is, and its exports also become globals. Avoid `trace` and
// `Math.random`, which import `env.trace` and `env.seed`.
//
// Results: functions that can fail return an i32 that is zero or a length
// on success and one of the negative codes below on failure; the functions
// that return a value instead return null on failure and leave the code in
// `lastError()`.

// ---- Result codes ---------------------------------------------------------

/** Success. */
export const OK: i32 = 0;
/** `recv`: no message came within the timeout. */
export const TIMEDOUT: i32 = -1;
/** A pointer and length do not lie inside memory. */
export const FAULT: i32 = -2;
/** A bad argument: an empty or non-UTF-8 id, a negative length. */
export const INVAL: i32 = -3;
/** A message, key or value over its size limit. */
export const TOOBIG: i32 = -4;
/** A quota is reached: timers, key-value store, sends in one slice. */
export const FULL: i32 = -5;
/** No such key (kvGet, kvDelete), timer (timerCancel) or module (spawn). */
export const NOTFOUND: i32 = -6;
/** The host running the script does not offer this call. */
export const NOTSUP: i32 = -7;

// ---- Limits ---------------------------------------------------------------

/** Largest message body, in bytes. */
export const MAX_MESSAGE: i32 = 64 * 1024;
/** Longest script id, in bytes. */
export const MAX_ID: i32 = 127;
/** Messages sent in one slice and not yet delivered. */
export const MAX_PENDING_SENDS: i32 = 1024;
/** Messages a mailbox holds; a message to a full mailbox is dropped. */
export const MAX_MAILBOX: i32 = 4096;
/** Timers a script may have at once. */
export const MAX_TIMERS: i32 = 64;
/** Shortest timer interval, in nanoseconds (1 ms). */
export const MIN_INTERVAL_NANOS: i64 = 1_000_000;
/** Longest key, in bytes. */
export const MAX_KEY: i32 = 1024;
/** Longest value, in bytes. */
export const MAX_VALUE: i32 = 64 * 1024;
/** Keys and values of the key-value store together, in bytes. */
export const MAX_KV_STORE: i32 = 1024 * 1024;

/** Nanoseconds in a millisecond. */
export const MILLIS: i64 = 1_000_000;
/** Nanoseconds in a second. */
export const SECONDS: i64 = 1_000_000_000;
/** A `recv` timeout that waits for ever. */
export const FOREVER: i64 = -1;

// ---- Imports --------------------------------------------------------------

/** The imports of module "weft", one to one (pointers are offsets). */
export namespace raw {
  // @ts-ignore: decorator
  @external("weft", "log")
  export declare function log(ptr: usize, len: i32): void;
  // @ts-ignore: decorator
  @external("weft", "now")
  export declare function now(): i64;
  // @ts-ignore: decorator
  @external("weft", "sleep")
  export declare function sleep(nanos: i64): void;
  // @ts-ignore: decorator
  @external("weft", "yield")
  export declare function yield_(): void;
  // @ts-ignore: decorator
  @external("weft", "id")
  export declare function id(buf: usize, cap: i32): i32;
  // @ts-ignore: decorator
  @external("weft", "send")
  export declare function send(to: usize, toLen: i32, msg: usize, len: i32): i32;
  // @ts-ignore: decorator
  @external("weft", "recv")
  export declare function recv(timeoutNanos: i64, buf: usize, cap: i32, from: usize, fromCap: i32): i32;
  // @ts-ignore: decorator
  @external("weft", "timer_set")
  export declare function timer_set(delayNanos: i64, intervalNanos: i64, tag: i64): i32;
  // @ts-ignore: decorator
  @external("weft", "timer_cancel")
  export declare function timer_cancel(timer: i32): i32;
  // @ts-ignore: decorator
  @external("weft", "spawn")
  export declare function spawn(module: usize, moduleLen: i32, args: usize, argsLen: i32, id: usize, idCap: i32): i32;
  // @ts-ignore: decorator
  @external("weft", "kv_get")
  export declare function kv_get(key: usize, keyLen: i32, buf: usize, cap: i32): i32;
  // @ts-ignore: decorator
  @external("weft", "kv_set")
  export declare function kv_set(key: usize, keyLen: i32, value: usize, valueLen: i32): i32;
  // @ts-ignore: decorator
  @external("weft", "kv_delete")
  export declare function kv_delete(key: usize, keyLen: i32): i32;
}

// ---- Scratch space --------------------------------------------------------

// Static buffers, so that sending, logging and receiving allocate nothing
// (the stub runtime never frees). An id or key is encoded into `name`, a
// message or value into `body`; recv copies into `body` and `from`.
const NAME_CAP: i32 = 3 * 1024 + 4;
const name = memory.data(NAME_CAP);
const body = memory.data(MAX_MESSAGE);
const from = memory.data(MAX_ID + 1);

let lastCode: i32 = OK;

/** The result code of the last wrapper that returned null. */
export function lastError(): i32 {
  return lastCode;
}

/** The name of a result code ("TIMEDOUT", ...), "OK" or "?". */
export function errorName(code: i32): string {
  switch (code) {
    case TIMEDOUT: return "TIMEDOUT";
    case FAULT: return "FAULT";
    case INVAL: return "INVAL";
    case TOOBIG: return "TOOBIG";
    case FULL: return "FULL";
    case NOTFOUND: return "NOTFOUND";
    case NOTSUP: return "NOTSUP";
    default: return code >= 0 ? "OK" : "?";
  }
}

// Encodes `s` as UTF-8 into the buffer at `buf` of `cap` bytes; returns the
// length, or -1 if it does not fit.
function encodeInto(s: string, buf: usize, cap: i32): i32 {
  if (String.UTF8.byteLength(s) > cap) return -1;
  return <i32>String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, buf, false, String.UTF8.ErrorMode.REPLACE);
}

// ---- Functions ------------------------------------------------------------

/** Writes `line` and a newline to the script's standard output. */
export function log(line: string): void {
  let len = encodeInto(line, body, MAX_MESSAGE);
  if (len >= 0) {
    raw.log(body, len);
  } else {
    let buf = String.UTF8.encode(line, false, String.UTF8.ErrorMode.REPLACE);
    raw.log(changetype<usize>(buf), buf.byteLength);
  }
}

/** Writes the bytes of `line` and a newline to standard output. */
export function logBytes(line: ArrayBuffer): void {
  raw.log(changetype<usize>(line), line.byteLength);
}

/** The script's monotonic clock in nanoseconds (WASI's CLOCK_MONOTONIC). */
export function now(): i64 {
  return raw.now();
}

/** The monotonic clock in milliseconds. */
export function nowMs(): i64 {
  return raw.now() / MILLIS;
}

/** Parks the script for `nanos` nanoseconds without using CPU. */
export function sleep(nanos: i64): void {
  raw.sleep(nanos);
}

/** Parks the script for `millis` milliseconds. */
export function sleepMs(millis: i64): void {
  raw.sleep(millis * MILLIS);
}

/** Gives up the rest of the current slice (`yield` is a reserved word). */
export function yieldSlice(): void {
  raw.yield_();
}

/** The script's own id. */
export function id(): string {
  let len = raw.id(name, MAX_ID);
  if (len < 0) return "";
  return String.UTF8.decodeUnsafe(name, <usize>min(len, MAX_ID));
}

/** Sends the UTF-8 bytes of `msg` to the script `to`. Returns 0 or a
 *  negative code; a message to a script that does not exist is dropped by
 *  the host, not reported. */
export function send(to: string, msg: string): i32 {
  let toLen = encodeInto(to, name, NAME_CAP);
  if (toLen < 0) return TOOBIG;
  let len = encodeInto(msg, body, MAX_MESSAGE);
  if (len < 0) return TOOBIG;
  return raw.send(name, toLen, body, len);
}

/** Sends the bytes of `msg` to the script `to`. */
export function sendBytes(to: string, msg: ArrayBuffer): i32 {
  let toLen = encodeInto(to, name, NAME_CAP);
  if (toLen < 0) return TOOBIG;
  return raw.send(name, toLen, changetype<usize>(msg), msg.byteLength);
}

/** A message taken from the mailbox. */
export class Message {
  constructor(
    /** The sender's id; empty for a timer firing. */
    public from: string,
    /** The body (cut at MAX_MESSAGE bytes). */
    public body: ArrayBuffer,
  ) {}

  /** The body decoded as UTF-8. */
  get text(): string {
    return String.UTF8.decode(this.body);
  }

  /** Whether this message is a timer firing. */
  get isTimer(): bool {
    return this.from.length == 0;
  }

  /** The tag of a timer firing (its 8-byte little-endian body), or -1. */
  get tag(): i64 {
    if (!this.isTimer || this.body.byteLength != 8) return -1;
    return load<i64>(changetype<usize>(this.body));
  }
}

/** Takes the next message from the mailbox, waiting at most `timeoutNanos`
 *  (FOREVER, or 0 not to wait). Returns null if none came in time
 *  (lastError() is then TIMEDOUT). */
export function recv(timeoutNanos: i64 = FOREVER): Message | null {
  store<u8>(from, 0);
  let len = raw.recv(timeoutNanos, body, MAX_MESSAGE, from, MAX_ID + 1);
  if (len < 0) {
    lastCode = len;
    return null;
  }
  store<u8>(from + <usize>MAX_ID, 0);
  let sender = String.UTF8.decodeUnsafe(from, MAX_ID + 1, true);
  let n = min(len, MAX_MESSAGE);
  let copy = new ArrayBuffer(n);
  memory.copy(changetype<usize>(copy), body, <usize>n);
  return new Message(sender, copy);
}

/** Starts a timer that fires after `delayNanos` and then, if `intervalNanos`
 *  > 0, every `intervalNanos`, each time delivering a message whose body is
 *  `tag`. Returns the timer's id (>= 0) or FULL. */
export function timerSet(delayNanos: i64, intervalNanos: i64, tag: i64): i32 {
  return raw.timer_set(delayNanos, intervalNanos, tag);
}

/** Stops a timer. Returns 0 or NOTFOUND. A firing already in the mailbox
 *  stays there. */
export function timerCancel(timer: i32): i32 {
  return raw.timer_cancel(timer);
}

/** Starts a new script from the module named `module` with the
 *  command-line arguments `args`. Returns the new script's id, or null
 *  (lastError() is then NOTFOUND, NOTSUP, ...). */
export function spawn(module: string, args: string[] = []): string | null {
  let moduleLen = encodeInto(module, name, NAME_CAP);
  if (moduleLen < 0) {
    lastCode = NOTFOUND;
    return null;
  }
  // The arguments as NUL-separated strings.
  let packed = 0;
  for (let i = 0; i < args.length; i++) {
    let len = encodeInto(args[i], body + <usize>packed, MAX_MESSAGE - packed - 1);
    if (len < 0) {
      lastCode = TOOBIG;
      return null;
    }
    packed += len;
    store<u8>(body + <usize>packed, 0);
    packed += 1;
  }
  let idLen = raw.spawn(name, moduleLen, body, packed, from, MAX_ID);
  if (idLen < 0) {
    lastCode = idLen;
    return null;
  }
  return String.UTF8.decodeUnsafe(from, <usize>min(idLen, MAX_ID));
}

/** The bytes stored under `key`, or null (lastError() is then NOTFOUND). */
export function kvGetBytes(key: string): ArrayBuffer | null {
  let keyLen = encodeInto(key, name, NAME_CAP);
  if (keyLen < 0) {
    lastCode = TOOBIG;
    return null;
  }
  let len = raw.kv_get(name, keyLen, body, MAX_VALUE);
  if (len < 0) {
    lastCode = len;
    return null;
  }
  let n = min(len, MAX_VALUE);
  let copy = new ArrayBuffer(n);
  memory.copy(changetype<usize>(copy), body, <usize>n);
  return copy;
}

/** The value stored under `key` decoded as UTF-8, or null. */
export function kvGet(key: string): string | null {
  let value = kvGetBytes(key);
  if (value == null) return null;
  return String.UTF8.decode(value);
}

/** Stores the UTF-8 bytes of `value` under `key`. Returns 0, TOOBIG or
 *  FULL. */
export function kvSet(key: string, value: string): i32 {
  let keyLen = encodeInto(key, name, NAME_CAP);
  if (keyLen < 0) return TOOBIG;
  let len = encodeInto(value, body, MAX_VALUE);
  if (len < 0) return TOOBIG;
  return raw.kv_set(name, keyLen, body, len);
}

/** Stores the bytes of `value` under `key`. */
export function kvSetBytes(key: string, value: ArrayBuffer): i32 {
  let keyLen = encodeInto(key, name, NAME_CAP);
  if (keyLen < 0) return TOOBIG;
  return raw.kv_set(name, keyLen, changetype<usize>(value), value.byteLength);
}

/** Removes `key`. Returns 0 or NOTFOUND. */
export function kvDelete(key: string): i32 {
  let keyLen = encodeInto(key, name, NAME_CAP);
  if (keyLen < 0) return TOOBIG;
  return raw.kv_delete(name, keyLen);
}

// ---- WASI -----------------------------------------------------------------

// Two WASI preview1 functions scripts want beside the weft API; they are
// imported only by scripts that call args() or exit().

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_sizes_get")
declare function wasi_args_sizes_get(argc: usize, bufSize: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_get")
declare function wasi_args_get(argv: usize, buf: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "proc_exit")
declare function wasi_proc_exit(code: u32): void;

/** The command-line arguments, the program name first (WASI args_get). */
export function args(): string[] {
  let sizes = memory.data(8);
  if (wasi_args_sizes_get(sizes, sizes + 4) != 0) return [];
  let count = load<u32>(sizes);
  let argv = heap.alloc(<usize>count << alignof<usize>());
  let buf = heap.alloc(load<u32>(sizes, 4));
  let out = new Array<string>(0);
  if (wasi_args_get(argv, buf) == 0) {
    for (let i: u32 = 0; i < count; i++) {
      let arg = load<usize>(argv + (<usize>i << alignof<usize>()));
      let end = arg;
      while (load<u8>(end) != 0) end++;
      out.push(String.UTF8.decodeUnsafe(arg, end - arg));
    }
  }
  heap.free(buf);
  heap.free(argv);
  return out;
}

/** Ends the script with the exit status `code` (WASI proc_exit). */
export function exit(code: i32): void {
  wasi_proc_exit(<u32>code);
}

// ---- Abort ----------------------------------------------------------------

/** The abort handler to compile scripts with (`--use abort=...`, see the
 *  top of this file): logs `abort: <message> at <file>:<line>:<column>`
 *  and traps. */
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort: " + (message != null ? message : "");
  if (fileName != null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  log(text);
  unreachable();
}

//! Integration tests of the runtime: the control protocol, the script state
//! machine, the WASI subset, limits, deterministic mode, sleeps, snapshots,
//! the disk cache and interrupts.

mod api;
mod cache;
mod deterministic;
mod interrupt;
mod limits;
mod pooling;
mod preempt;
mod roundtrip;
mod script;
mod sleep;
mod snapshot;
mod wasi;

use std::sync::Arc;
use weft_runtime::{
    Budget, Runtime, RuntimeConfig, Script, ScriptModule, ScriptOptions, Status, Stdio,
};

/// The WebAssembly stack of the test runtimes: small enough for the
/// 2 MiB threads the test harness runs tests on.
pub const TEST_WASM_STACK: usize = 512 << 10;

/// The configuration of the test runtimes: fuel instrumentation, no disk
/// cache, [`TEST_WASM_STACK`].
pub fn config() -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: None,
        max_wasm_stack: TEST_WASM_STACK,
        ..RuntimeConfig::default()
    }
}

/// A runtime with [`config`].
pub fn runtime() -> Runtime {
    runtime_with(config())
}

/// A runtime with `config`.
pub fn runtime_with(config: RuntimeConfig) -> Runtime {
    Runtime::new(config).expect("runtime")
}

/// Parses and loads a text module.
pub fn load(runtime: &Runtime, wat: &str) -> Arc<ScriptModule> {
    runtime
        .load(&wat::parse_str(wat).expect("test module parses"))
        .expect("test module loads")
}

/// What a script printed and how it ended.
#[derive(Debug)]
pub struct Ended {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Spawns `module` with `options` and runs it to its end in one go.
pub fn run_to_end(runtime: &Runtime, module: &Arc<ScriptModule>, options: ScriptOptions) -> Ended {
    let (stdio, output) = Stdio::captured();
    let mut script = Script::spawn(runtime, module, options, stdio).expect("spawns");
    let status = script.run(Budget::Unlimited).expect("runs").clone();
    Ended {
        status,
        stdout: output.stdout(),
        stderr: output.stderr(),
    }
}

/// Little-endian `i64`s, as the test modules' `$record` writes them.
pub fn records(bytes: &[u8]) -> Vec<i64> {
    assert_eq!(bytes.len() % 8, 0, "records are 8 bytes each: {bytes:?}");
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Imports every WASI function the test modules use, and `$record` /
/// `$record64`, which append 8-byte little-endian values to a buffer that
/// `_start` writes to stderr when `body` is done. Memory layout: scratch
/// space below 0x7000, the record buffer from 0x8000.
pub fn wasi_module(body: &str) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $records (mut i32) (i32.const 0))
  (func $record64 (param $v i64)
    (i64.store (i32.add (i32.const 0x8000) (i32.mul (global.get $records) (i32.const 8)))
               (local.get $v))
    (global.set $records (i32.add (global.get $records) (i32.const 1))))
  (func $record (param $v i32)
    (call $record64 (i64.extend_i32_s (local.get $v))))
  ;; Writes `len` bytes at `ptr` to `fd` in one iovec.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0x7000) (local.get $ptr))
    (i32.store (i32.const 0x7004) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0x7000) (i32.const 1) (i32.const 0x7008)))
  (func $main (export "_start")
    {body}
    (drop (call $write (i32.const 2) (i32.const 0x8000)
                       (i32.mul (global.get $records) (i32.const 8))))))
"#
    )
}

/// Runs `f` on a thread whose native stack fits a runtime with
/// `wasm_stack` of WebAssembly stack.
pub fn on_big_stack<T: Send>(wasm_stack: usize, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(weft_runtime::thread_stack_size(wasm_stack))
            .spawn_scoped(scope, f)
            .expect("spawns a thread")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

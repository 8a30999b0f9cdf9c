//! `weft-runtime` runs WebAssembly scripts that can be paused anywhere,
//! saved, and resumed later — in the same process, in another one, or on
//! another machine.
//!
//! A [`Runtime`] owns the Wasmtime engine and caches modules: [`Runtime::load`]
//! instruments an original module with [`weft_instrument`], compiles it (or
//! finds its compiled code in the disk cache) and links it against the host
//! functions scripts may import (a WASI preview1 subset, see [`wasi`]).
//! [`Script::spawn`] makes one instance of it; [`Script::run`] runs it for a
//! [`Budget`] of fuel; [`Script::snapshot`] captures a paused script as a
//! [`weft_snapshot::Snapshot`] and [`Script::restore`] continues it in a
//! fresh instance.
//!
//! ```
//! use weft_runtime::{Budget, Runtime, RuntimeConfig, Script, ScriptOptions, Status, Stdio};
//!
//! let wasm = wat::parse_str(r#"
//!   (module
//!     (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
//!     (memory (export "memory") 1)
//!     (data (i32.const 16) "done\n")
//!     (func (export "_start") (local $i i32)
//!       (loop $spin                                   ;; a million iterations
//!         (br_if $spin (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
//!                                (i32.const 1000000))))
//!       (i32.store (i32.const 0) (i32.const 16))      ;; iovec: "done\n"
//!       (i32.store (i32.const 4) (i32.const 5))
//!       (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
//! "#)?;
//! let runtime = Runtime::new(RuntimeConfig { cache_dir: None, ..RuntimeConfig::default() })?;
//! let module = runtime.load(&wasm)?;
//! let (stdio, output) = Stdio::captured();
//! let mut script = Script::spawn(&runtime, &module, ScriptOptions::default(), stdio)?;
//!
//! // Run 100,000 units of fuel, then save the paused script...
//! assert_eq!(script.run(Budget::Fuel(100_000))?, &Status::Paused);
//! let bytes = weft_snapshot::encode(&script.snapshot()?)?;
//! drop(script);
//!
//! // ...and continue it in a fresh instance, to the end.
//! let snapshot = weft_snapshot::decode(&bytes, &Default::default())?;
//! let (stdio, resumed_output) = Stdio::captured();
//! let mut script = Script::restore(&runtime, &module, &snapshot, None, stdio)?;
//! assert_eq!(script.run(Budget::Unlimited)?, &Status::Exited(0));
//! assert_eq!(output.stdout(), b"");
//! assert_eq!(resumed_output.stdout(), b"done\n");
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! # Preemptible functions
//!
//! [`Runtime::launch`] calls one exported function with a time limit, on
//! the caller's thread, and returns its results or, when the time is up, a
//! [`Continuation`]: the paused call, which can be resumed (on any thread),
//! captured as a snapshot, or cancelled. Time limits need a module
//! instrumented in flag mode; one timer thread serves every call.
//!
//! ```
//! use std::time::Duration;
//! use wasmtime::Val;
//! use weft_runtime::{Outcome, Runtime, RuntimeConfig};
//!
//! let wasm = wat::parse_str(r#"
//!   (module
//!     (func (export "sum") (param $n i64) (result i64) (local $i i64) (local $acc i64)
//!       (block $done
//!         (loop $next
//!           (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
//!           (local.set $acc (i64.add (local.get $acc) (local.get $i)))
//!           (local.set $i (i64.add (local.get $i) (i64.const 1)))
//!           (br $next)))
//!       (local.get $acc)))
//! "#)?;
//! let runtime = Runtime::new(RuntimeConfig {
//!     instrumentation: weft_instrument::Config::flag(true), // flag checks, fuel counted
//!     cache_dir: None,
//!     ..RuntimeConfig::default()
//! })?;
//! let module = runtime.load(&wasm)?;
//!
//! let n = 200_000_000;
//! let mut outcome = runtime.launch(&module, "sum", &[Val::I64(n)], Duration::from_micros(400))?;
//! let mut pauses = 0;
//! let results = loop {
//!     match outcome {
//!         Outcome::Complete { results, .. } => break results,
//!         Outcome::Paused(continuation) => {
//!             pauses += 1;
//!             // Anything else may run here; the call holds no native stack.
//!             outcome = continuation.resume(Duration::from_micros(200))?;
//!         }
//!         other => panic!("{other:?}"),
//!     }
//! };
//! assert_eq!(results[0].unwrap_i64(), n * (n - 1) / 2);
//! assert!(pauses > 0);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! The lower layer, [`Controls`], drives one instrumented instance directly
//! through the protocol of [`weft_instrument::abi`].
#![deny(missing_docs)]

pub mod api;
mod controls;
mod durable;
mod engine;
mod error;
mod host;
mod module;
mod preempt;
mod script;
mod snapshot;
mod state;
mod untouched;
pub mod wasi;

pub use controls::{Controls, Step};
pub use durable::write_atomically;
pub use engine::{
    DEFAULT_MAX_WASM_STACK, POOLED_MEMORIES, POOLED_TABLE_ELEMENTS, POOLED_TABLES, Precompiled,
    Runtime, RuntimeConfig, default_cache_dir, instrumentation_name, module_hash,
    parse_instrumentation, thread_stack_size,
};
pub use error::{Error, Result};
pub use host::{
    Captured, DETERMINISTIC_EPOCH_NANOS, Deterministic, Host, HostState, NANOS_PER_FUEL, Pending,
    Spawnable, Stdio,
};
pub use module::ScriptModule;
pub use preempt::{Continuation, Outcome, Quantum};
pub use script::{
    BacktraceFrame, Budget, InterruptHandle, Script, ScriptOptions, Status, Trap, WASI_ENTRY, Wake,
};
pub use snapshot::{SavedFrame, carried_module, host_state, saved_frames};
pub use state::{FunctionsTable, InstanceState, RefDecoder, RefEncoder, RefValue, StateValue};

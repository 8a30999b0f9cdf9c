//! `weft-instrument` turns any WebAssembly module into one that can be
//! preempted, paused, saved and resumed.
//!
//! The pass inserts cheap checks (at loop headers and at the entry of
//! functions that call) that either count down a fuel counter or read an
//! interrupt flag. When a check fires, or when a host function asks to
//! suspend, every active frame saves its locals and its resume point into a
//! dedicated *state memory* and returns ("unwinds"). Calling the same export
//! again in the *rewinding* state rebuilds the frames and continues exactly
//! where execution stopped. Because the whole execution state is then plain
//! wasm state (memories, globals, tables and the state memory), it can be
//! copied to disk or to another machine and resumed there.
//!
//! The protocol between an instrumented module and its host is documented in
//! [`abi`]. With fuel at its maximum (the initial value), an instrumented
//! module behaves exactly like the original under any engine.
//!
//! ```
//! let wasm = wat::parse_str(r#"
//!     (module
//!       (func (export "sum") (param $n i32) (result i32) (local $acc i32)
//!         (loop $l
//!           (local.set $acc (i32.add (local.get $acc) (local.get $n)))
//!           (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
//!         (local.get $acc)))
//! "#)?;
//! let out = weft_instrument::instrument(&wasm, &weft_instrument::Config::default())?;
//! wasmparser::validate(&out.wasm)?;
//! assert!(out.info.functions[0].instrumented);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod abi;
mod analysis;
mod error;
mod features;
mod frame;
mod function;
mod liveness;
mod module;
mod split;

pub use error::{Error, Result};

/// How checks decide to yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Interrupt {
    /// Deterministic: every check charges the static cost of the code it
    /// guards and yields when the fuel counter goes negative.
    #[default]
    Fuel,
    /// Asynchronous: every check reads an interrupt flag in the state memory
    /// that another thread may set at any time.
    Flag,
}

/// Which code the pass gives a second copy, for normal running.
///
/// A rewind dispatch jumps from the entry of a function, loop or block to
/// the code holding the resume point. Each of its jumps ends at a point that
/// normal running passes too, and there the compiler merges the values of
/// every live local from both ways in, which slows the normal way down. A
/// copy of the code without the dispatches avoids that: a rewind runs the
/// dispatching copy up to its loop's next iteration or its function's
/// return (never longer), normal running uses the other one. The README's
/// "Overhead" section has the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Copies {
    /// One copy of everything: the smallest code, the slowest.
    None,
    /// A second copy of every loop that a rewind can enter in the middle,
    /// and of every function without loops that has a rewind dispatch.
    Loops,
    /// Also a second copy of every other function that has a rewind
    /// dispatch (its loops then have three): the fastest, the most code.
    #[default]
    All,
}

/// Configuration of the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Config {
    /// What makes a check yield.
    pub interrupt: Interrupt,
    /// With [`Interrupt::Flag`]: also count fuel exactly, for accounting,
    /// without ever yielding because of it. Always on with [`Interrupt::Fuel`].
    pub count_fuel: bool,
    /// Import the control state (globals, state memory, reference stacks)
    /// from [`abi::SHARED_STATE_MODULE`] instead of defining it, so that
    /// instances calling each other unwind and rewind together.
    pub shared_state: bool,
    /// Which code gets a second copy for normal running, without rewind
    /// dispatches: more code, less run time.
    pub copies: Copies,
}

impl Config {
    /// Deterministic fuel checks.
    pub fn fuel() -> Self {
        Config {
            interrupt: Interrupt::Fuel,
            count_fuel: true,
            shared_state: false,
            copies: Copies::All,
        }
    }

    /// Interrupt-flag checks, optionally counting fuel.
    pub fn flag(count_fuel: bool) -> Self {
        Config {
            interrupt: Interrupt::Flag,
            count_fuel,
            shared_state: false,
            copies: Copies::All,
        }
    }

    /// The same configuration with [`Config::shared_state`] set.
    pub fn with_shared_state(mut self) -> Self {
        self.shared_state = true;
        self
    }

    /// The same configuration with [`Config::copies`] set.
    pub fn with_copies(mut self, copies: Copies) -> Self {
        self.copies = copies;
        self
    }

    /// Whether checks yield on fuel.
    pub fn checks_fuel(&self) -> bool {
        self.interrupt == Interrupt::Fuel
    }

    /// Whether the instrumented code maintains the fuel counter.
    pub fn counts_fuel(&self) -> bool {
        self.checks_fuel() || self.count_fuel
    }
}

/// What the pass knows about one function of the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The name from the `name` section, if any.
    pub name: Option<String>,
    /// An import (never instrumented; it may suspend through the host).
    pub imported: bool,
    /// Whether the function was instrumented (it has loops or calls).
    pub instrumented: bool,
    /// The number of resume points in the function.
    pub resume_points: u32,
    /// The size of its frame in the state memory, header included.
    pub frame_size: u32,
}

/// What a host needs to know about an instrumented module, besides [`abi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The configuration the module was instrumented with.
    pub config: Config,
    /// Every function, imports first, by function index.
    pub functions: Vec<FunctionInfo>,
    /// The function index of each entry of [`abi::FUNCTIONS_TABLE`].
    pub referenceable_functions: Vec<u32>,
    /// The number of memories of the original module (exported as [`abi::memory_export`]).
    pub memories: u32,
    /// The indices of the original module's mutable globals (exported as [`abi::global_export`]).
    pub mutable_globals: Vec<u32>,
    /// The number of tables of the original module (exported as [`abi::table_export`]).
    pub tables: u32,
    /// The number of `i64` globals recording dropped segments (exported as
    /// [`abi::dropped_export`]).
    pub dropped_globals: u32,
    /// The number of data segments.
    pub data_segments: u32,
    /// The number of element segments.
    pub element_segments: u32,
    /// Whether the module had a `start` function (now [`abi::START_EXPORT`]).
    pub has_start: bool,
}

/// An instrumented module.
#[derive(Debug, Clone)]
pub struct Instrumented {
    /// The instrumented module's binary.
    pub wasm: Vec<u8>,
    /// What a host needs to drive it.
    pub info: ModuleInfo,
}

/// Instruments a core WebAssembly module (binary format).
///
/// Fails with a clear [`Error`] if the input is not WebAssembly, is invalid,
/// or uses a feature the pass does not support (threads, exception handling,
/// tail calls, garbage collection, typed function references, stack
/// switching, memory64, custom page sizes).
pub fn instrument(wasm: &[u8], config: &Config) -> Result<Instrumented> {
    module::instrument(wasm, config)
}

//! `weft-runtime` drives modules instrumented by [`weft_instrument`] on
//! Wasmtime: it calls them with a fuel slice or an interrupt flag, notices
//! when they unwind, rewinds them, and captures and restores their complete
//! execution state.
//!
//! ```
//! use wasmtime::{Engine, Instance, Module, Store};
//! use weft_runtime::{Controls, Step};
//!
//! let wasm = wat::parse_str(r#"
//!   (module (func (export "count") (param $n i32) (result i32) (local $i i32)
//!     (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
//!     (local.get $i)))"#)?;
//! let out = weft_instrument::instrument(&wasm, &weft_instrument::Config::fuel())?;
//! let engine = Engine::default();
//! let mut store = Store::new(&engine, ());
//! let instance = Instance::new(&mut store, &Module::new(&engine, &out.wasm)?, &[])?;
//! let controls = Controls::new(&mut store, &instance, &out.info)?;
//! let count = instance.get_func(&mut store, "count").unwrap();
//! let mut results = [wasmtime::Val::I32(0)];
//!
//! // Run 100 units of fuel at a time until the call finishes.
//! controls.set_fuel(&mut store, 100)?;
//! let mut step = controls.call(&mut store, &count, &[wasmtime::Val::I32(1000)], &mut results)?;
//! let mut slices = 1;
//! while step == Step::Unwound {
//!     controls.set_fuel(&mut store, 100)?;
//!     step = controls.resume(&mut store, &count, &mut results)?;
//!     slices += 1;
//! }
//! assert_eq!(results[0].unwrap_i32(), 1000);
//! assert!(slices > 10);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
#![deny(missing_docs)]

mod controls;
mod state;

pub use controls::{Controls, Step};
pub use state::{FunctionsTable, InstanceState, RefDecoder, RefEncoder, RefValue, StateValue};

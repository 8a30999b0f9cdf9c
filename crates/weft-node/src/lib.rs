//! The weft server node: HTTP API, durable store, checkpoints and migration
//! between nodes.
#![deny(missing_docs)]

mod task;
mod world;

pub use task::{FIRST_SLICE_FUEL, ScriptTask, StdioFactory};
pub use world::{Error as WorldError, NewScript, OutputFactory, SaveReport, ScriptInfo, World};

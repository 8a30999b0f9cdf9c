//! The weft server node: HTTP API, durable store, checkpoints and migration
//! between nodes.
#![deny(missing_docs)]

pub mod migrate;
pub mod node;
pub mod server;
pub mod source;
pub mod store;
mod task;
mod world;

pub use node::{Node, NodeConfig, Record};
pub use source::{Compiler, SourceFile};
pub use task::{FIRST_SLICE_FUEL, ScriptTask, StdioFactory};
pub use world::{
    CheckpointSink, Checkpoints, Error as WorldError, KILLED, NewScript, OutputFactory, SaveReport,
    ScriptInfo, World,
};

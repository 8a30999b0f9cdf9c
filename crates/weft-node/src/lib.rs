//! The weft server node: HTTP API, durable store, checkpoints and migration
//! between nodes.
#![deny(missing_docs)]

//! The synchronisation primitives of the run queue: std's, or loom's under
//! `--cfg loom` so that tests/loom.rs can model-check the queue's races.
//!
//! Only the run queue ([`crate::queue`]) goes through this shim; the threads
//! around it (workers, timer, heartbeat) use std directly and are not built
//! under loom.

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

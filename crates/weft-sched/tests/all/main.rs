//! The scheduler's integration tests: real threads, fake tasks.
//!
//! The tests measure CPU shares and progress, so they run one at a time
//! (see [`common::serial`]) to keep each other's threads out of the way.

mod common;
mod control;
mod fairness;
mod heartbeat;
mod hibernate;
mod parking;
mod shutdown;

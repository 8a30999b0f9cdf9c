//! The weft scheduler: fair preemptive scheduling of many scripts over a few
//! worker threads, with CPU accounting, parking and a heartbeat.
//!
//! It knows nothing of WebAssembly: the runtime plugs a script in by
//! implementing [`Task`], whose [`run`](Task::run) executes one *slice* and
//! says what comes next ([`Next`]): run again, park until a time or a
//! wake-up ([`Wake`]), or finish.
//!
//! # How it schedules
//!
//! - **Hierarchical fairness.** Each task has an *owner* (a tenant). Owners
//!   share the CPU by weight, then the tasks of an owner share the owner's
//!   part by weight, like CFS group scheduling: each owner and each task has
//!   a virtual runtime (its CPU time divided by its weight) and the runnable
//!   owner with the least virtual runtime runs its runnable task with the
//!   least. An owner with 9,000 tasks does not starve an owner with one: each
//!   gets half.
//! - **Slices.** A slice is meant to last [`Config::slice`] of CPU time
//!   (10 ms by default). It ends by fuel, deterministically: its fuel budget
//!   ([`Slice::fuel`]) is the task's measured fuel rate times the slice time.
//!   Until the rate is measured, and as a backstop, the timer interrupts the
//!   slice at its deadline through the task's [`Interrupt`]. The CPU time
//!   accounted is the worker thread's CPU clock around `run`. With
//!   [`Config::period`] slices are sized by share, as CFS does: each task's
//!   slice is its share of the period, so every active task runs about once
//!   per period, the tasks of small owners in fewer, longer slices.
//! - **Parking.** A parked task costs nothing. When it becomes runnable again
//!   it gets bounded credit ([`Config::wake_credit`]): a long sleeper runs
//!   about one slice ahead of the others, not for as long as it slept.
//! - **Blocking host calls.** Host code wraps blocking work in [`blocking`];
//!   a heartbeat thread (about 1 kHz) notices a worker stuck in it for more
//!   than [`Config::stuck_after`] and lets a spare worker serve the queue
//!   meanwhile. It parks after 20 beats with no worker inside [`blocking`],
//!   and the next worker to enter it wakes it. Better still, park the task
//!   and do the work elsewhere, then [`wake`](Scheduler::wake) it.
//! - **Control.** [`pause`](Scheduler::pause), [`resume`](Scheduler::resume),
//!   [`kill`](Scheduler::kill) and [`wake`](Scheduler::wake) any task by id
//!   from any thread, effective within one slice; a killed task is dropped
//!   at once, or as soon as its running slice returns.
//! - **Hibernation.** A task idle for [`Config::hibernate_after`] is asked to
//!   [`hibernate`](Task::hibernate) (drop what it can rebuild) and rebuilds
//!   itself transparently on its next slice. The hibernation's CPU time
//!   counts in the task's and its owner's accounting and against the owner's
//!   share, but not against the task's place among its siblings: being
//!   hibernated does not cost it its turn.
//! - **Accounting.** Every task and owner has CPU time, fuel and a decayed
//!   usage score ([`TaskStats`], [`OwnerStats`]); [`Scheduler::slice_lengths`]
//!   gives the distribution of slice lengths.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::time::Duration;
//! use weft_sched::{Config, Interrupt, Scheduler, Slice, SliceEnd, Task};
//!
//! /// Counts to a number, a bounded amount per slice.
//! struct Counter {
//!     at: u64,
//!     to: u64,
//!     stop: Arc<Flag>,
//! }
//!
//! struct Flag(AtomicBool);
//! impl Interrupt for Flag {
//!     fn interrupt(&self) { self.0.store(true, Ordering::Relaxed) }
//!     fn reset(&self) { self.0.store(false, Ordering::Relaxed) }
//! }
//!
//! impl Task for Counter {
//!     fn run(&mut self, slice: &Slice) -> SliceEnd {
//!         let budget = slice.fuel.unwrap_or(u64::MAX);
//!         let mut fuel = 0;
//!         while fuel < budget && !self.stop.0.load(Ordering::Relaxed) {
//!             if self.at == self.to {
//!                 return SliceEnd::finished(fuel, "done");
//!             }
//!             self.at += 1;
//!             fuel += 1;
//!         }
//!         SliceEnd::runnable(fuel)
//!     }
//!     fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
//!         Some(self.stop.clone())
//!     }
//! }
//!
//! let scheduler = Scheduler::new(Config { workers: 2, ..Config::default() })?;
//! let stop = Arc::new(Flag(AtomicBool::new(false)));
//! let id = scheduler.spawn("alice", 1, Counter { at: 0, to: 1_000_000, stop })?;
//! let exit = scheduler.wait_finished(id, Duration::from_secs(30));
//! assert_eq!(exit.as_deref(), Some("done"));
//! assert_eq!(scheduler.owners()[0].name, "alice");
//! assert!(scheduler.shutdown().is_empty());
//! # Ok::<(), weft_sched::Error>(())
//! ```
//!
//! # Testing the races
//!
//! The run queue's state machine is built on a small shim over std's
//! synchronisation primitives; under `--cfg loom` they are loom's, and
//! `tests/loom.rs` model-checks the races between pause, kill, park, wake and
//! a running slice:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p weft-sched --test loom --release
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod machine;
mod queue;
#[cfg(not(loom))]
mod scheduler;
mod stats;
mod sync;
mod task;
#[cfg(not(loom))]
mod worker;

pub use config::Config;
pub use error::Error;
#[cfg(not(loom))]
pub use scheduler::Scheduler;
pub use stats::{Counters, Histogram, OwnerStats, SliceLengths, TaskState, TaskStats};
pub use task::{Interrupt, Next, Slice, SliceEnd, Task, TaskId, Wake};
#[cfg(not(loom))]
pub use worker::blocking;

/// The run queue and its state machine, without the scheduler's threads:
/// public only under `--cfg loom`, for the model tests in tests/loom.rs.
#[cfg(loom)]
pub mod model {
    pub use crate::machine::{Job, Outcome, Report};
    pub use crate::queue::{Role, RunQueue};
}

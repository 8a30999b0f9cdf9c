//! What a worker takes from the run queue and what it reports back.

use std::time::Duration;

use crate::{Slice, SliceEnd, Task, TaskId};

/// Work for a worker thread, taken from the run queue with the task's value.
pub enum Job<T> {
    /// Run one slice of the task.
    Slice {
        /// The task's id.
        id: TaskId,
        /// The task.
        task: T,
        /// What the slice may use.
        slice: Slice,
    },
    /// Hibernate the task ([`Task::hibernate`]).
    Hibernate {
        /// The task's id.
        id: TaskId,
        /// The task.
        task: T,
    },
}

/// How a job ended, reported back to the run queue.
pub struct Report {
    /// The slice's end, or the panic message if `run` panicked; for a
    /// hibernation, its result.
    pub outcome: Outcome,
    /// CPU time the job used (the worker thread's CPU clock).
    pub cpu: Duration,
    /// Wall time the job took.
    pub wall: Duration,
    /// [`Task::memory_bytes`] after the job.
    pub memory_bytes: u64,
    /// [`Task::is_hibernated`] after the job.
    pub hibernated: bool,
}

/// The result of a job, in a [`Report`].
pub enum Outcome {
    /// A slice returned.
    Slice(SliceEnd),
    /// A slice panicked, with this message.
    Panicked(String),
    /// A hibernation returned.
    Hibernate(Result<(), String>),
}

impl Report {
    /// A report made of the job's outcome and the task's state after it.
    pub fn new<T: Task>(task: &T, outcome: Outcome, cpu: Duration, wall: Duration) -> Self {
        Self {
            outcome,
            cpu,
            wall,
            memory_bytes: task.memory_bytes(),
            hibernated: task.is_hibernated(),
        }
    }
}

//! The crate's error type.

use crate::TaskId;

/// What can go wrong when using a [`Scheduler`](crate::Scheduler).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No live task has this id: it never existed, finished or was killed.
    #[error("no live task {0} (it finished, was killed or never existed)")]
    UnknownTask(TaskId),
    /// A weight of 0 was given; weights are relative shares, at least 1.
    #[error("weight must be at least 1 (weights are relative shares)")]
    ZeroWeight,
    /// The scheduler is shutting down and takes no new tasks.
    #[error("the scheduler is shutting down")]
    ShutDown,
    /// A [`Config`](crate::Config) value is out of range.
    #[error("invalid scheduler config: {0}")]
    InvalidConfig(String),
    /// A scheduler thread could not be started.
    #[error("could not start a scheduler thread: {0}")]
    Thread(#[source] std::io::Error),
}

//! The scheduler's tunables.

use std::time::Duration;

use crate::Error;

/// How a [`Scheduler`](crate::Scheduler) runs. Build it from the defaults:
///
/// ```
/// use std::time::Duration;
/// let config = weft_sched::Config {
///     workers: 2,
///     slice: Duration::from_millis(5),
///     ..weft_sched::Config::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads that run slices. Default: the number of cores.
    pub workers: usize,
    /// The CPU time a slice is meant to last (the longest, when `period` is
    /// set). Default: 10 ms.
    pub slice: Duration,
    /// Sizes slices by share, as CFS does: a task's slice is its share of
    /// this period (its owner's share of the CPU among the owners with
    /// runnable or running tasks, times its share among those tasks of its
    /// owner, times `workers`), between `min_slice` and `slice`. Every
    /// active task then runs about once per period however many tasks its
    /// owner has, and the tasks of small owners run in fewer, longer slices
    /// than those of large ones. `None` (the default): every slice is
    /// `slice`.
    pub period: Option<Duration>,
    /// The shortest slice when `period` is set. Default: 50 µs.
    pub min_slice: Duration,
    /// Extra wall time given to a slice that has a fuel budget before the
    /// deadline interrupt ends it (a backstop for a wrong fuel estimate).
    /// Default: one `slice`.
    pub deadline_slack: Duration,
    /// The fuel budget of a task's first slice, before its fuel rate is
    /// measured. `None` (the default) runs the first slice without a budget,
    /// ended by the deadline interrupt; a fixed value keeps every slice
    /// boundary fuel-determined (deterministic mode).
    pub first_slice_fuel: Option<u64>,
    /// The bounded credit of a task (or an owner) that becomes runnable
    /// after being parked, paused or just spawned: it may run about this much
    /// CPU time ahead of the others in its queue (plus at most the slice its
    /// competitors are running when it wakes), never more however long it
    /// slept. Default: one `slice`.
    pub wake_credit: Duration,
    /// How often the heartbeat thread looks for workers stuck in
    /// [`blocking`](crate::blocking). `None` turns the heartbeat (and spare
    /// workers) off. Default: 1 ms.
    pub heartbeat: Option<Duration>,
    /// How long a worker must have been inside [`blocking`](crate::blocking)
    /// before the heartbeat lets a spare worker serve the queue in its place.
    /// Default: 500 µs.
    pub stuck_after: Duration,
    /// How many spare workers may run at once while others are stuck.
    /// Default: `workers`.
    pub spare_workers: usize,
    /// Hibernate a task that has been idle (parked or paused) this long.
    /// `None` (the default) never hibernates.
    pub hibernate_after: Option<Duration>,
    /// The time constant of the decayed usage scores. Default: 10 s.
    pub usage_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let slice = Duration::from_millis(10);
        Self {
            workers,
            slice,
            period: None,
            min_slice: Duration::from_micros(50),
            deadline_slack: slice,
            first_slice_fuel: None,
            wake_credit: slice,
            heartbeat: Some(Duration::from_millis(1)),
            stuck_after: Duration::from_micros(500),
            spare_workers: workers,
            hibernate_after: None,
            usage_window: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Checks that the values make sense.
    #[cfg_attr(
        loom,
        allow(dead_code, reason = "the scheduler is not built under loom")
    )]
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::InvalidConfig(what.to_string()));
        if self.workers == 0 {
            return bad("`workers` must be at least 1");
        }
        if self.slice.is_zero() {
            return bad("`slice` must be longer than zero");
        }
        if self.period.is_some_and(|p| p.is_zero()) || self.min_slice.is_zero() {
            return bad("`period` and `min_slice` must be longer than zero");
        }
        if self.usage_window.is_zero() {
            return bad("`usage_window` must be longer than zero");
        }
        if self.heartbeat.is_some_and(|h| h.is_zero()) {
            return bad("`heartbeat` must be longer than zero (or None to turn it off)");
        }
        Ok(())
    }
}

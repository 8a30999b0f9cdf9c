//! What the scheduler runs: the [`Task`] trait and the values exchanged with a
//! task at each slice.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A unit of work that the scheduler runs in slices: for weft, one script.
///
/// The scheduler owns the task from [`Scheduler::spawn`](crate::Scheduler::spawn)
/// on. Between slices it sits in the scheduler's table; during a slice it is
/// moved to the worker thread that runs it, so `run` gets `&mut self` without
/// any locking. It is dropped when it finishes, when it is killed (at once if
/// it is not running, else as soon as its slice returns) or with the scheduler;
/// [`Scheduler::shutdown`](crate::Scheduler::shutdown) hands every live task
/// back instead.
pub trait Task: Send + 'static {
    /// Runs one slice, on a worker thread.
    ///
    /// The task should stop by itself once it has spent `slice.fuel` (when
    /// `Some`): that is the deterministic way a slice ends. The scheduler
    /// also triggers the task's [`interrupter`](Task::interrupter) at
    /// `slice.deadline` and when the task is paused or killed, for tasks that
    /// stop on a flag; when `slice.fuel` is `None` (the task's fuel rate is not
    /// measured yet) the deadline interrupt is what ends the slice.
    ///
    /// Wrap blocking work done inside `run` in [`blocking`](crate::blocking)
    /// (or better, park the task with [`Wake::Message`] and do the work off the
    /// worker threads). A panic is caught: the task is then finished with a
    /// "panicked" exit and dropped.
    fn run(&mut self, slice: &Slice) -> SliceEnd;

    /// The handle that makes a running slice end soon, if the task has one.
    ///
    /// The scheduler asks for it under its lock when the task is spawned
    /// and each time a job of the task ends, for the task's next slice, so
    /// it must be cheap (typically an `Arc` clone) and must not call into
    /// the scheduler. See [`Interrupt`] for when it is triggered. A task without
    /// one must end its slices by itself (by fuel, and soon when
    /// `slice.fuel` is `None`): pause, kill and shutdown then take effect
    /// when the running slice returns.
    fn interrupter(&self) -> Option<Arc<dyn Interrupt>>;

    /// Drops what can be rebuilt, for a task idle (parked or paused) longer
    /// than [`Config::hibernate_after`](crate::Config::hibernate_after): for a
    /// script, snapshot the instance to compressed bytes and drop the
    /// instance. The next [`run`](Task::run) must rebuild it transparently.
    ///
    /// It runs on a worker thread, off the scheduler's lock, and its CPU time
    /// is charged to the task. It is tried at most once per idle period; an
    /// error leaves the task as it was (it is reported in
    /// [`Counters::hibernate_failures`](crate::Counters::hibernate_failures)).
    /// Default: does nothing.
    fn hibernate(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Whether the task is hibernated now (for reporting; read after each
    /// slice and after [`hibernate`](Task::hibernate)). Default: `false`.
    fn is_hibernated(&self) -> bool {
        false
    }

    /// The memory the task holds now, in bytes (for reporting; read after each
    /// slice and after [`hibernate`](Task::hibernate)). Default: 0.
    fn memory_bytes(&self) -> u64 {
        0
    }
}

/// Makes a running slice end soon: typically sets a flag that the task's code
/// checks (an epoch-style interrupt).
///
/// **When it is called.** The scheduler calls [`interrupt`](Interrupt::interrupt)
/// only between the start of a slice (after [`reset`](Interrupt::reset)) and
/// the moment the worker reports the slice's end, under the scheduler's lock:
/// at the slice's deadline, on pause, on kill and on shutdown. The slice may
/// have returned from [`Task::run`] just before (the worker has not reported
/// yet), so an interrupt can land while the task is not running. Such a stale
/// interrupt is cleared by [`reset`](Interrupt::reset) before the next slice;
/// an implementation that keeps the default (no-op) `reset` gets a next slice
/// that ends at once, which is harmless but wastes a slice.
pub trait Interrupt: Send + Sync {
    /// Asks the running slice to end soon. Called under the scheduler's lock:
    /// must be cheap and must not call into the scheduler.
    fn interrupt(&self);

    /// Clears a pending interrupt. Called under the scheduler's lock when
    /// the task is spawned and when each of its jobs ends, once no
    /// interrupt of that job can come any more: every slice starts without
    /// one. Default: does nothing.
    fn reset(&self) {}
}

/// The identity of a task, unique within one [`Scheduler`](crate::Scheduler)
/// (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task#{}", self.0)
    }
}

/// What one slice may use, handed to [`Task::run`].
#[derive(Clone, Debug)]
pub struct Slice {
    /// The fuel budget of this slice: the task's measured fuel rate (fuel per
    /// CPU second, an exponentially weighted average over its past slices)
    /// times [`time`](Slice::time). `None` until a first slice has measured
    /// the rate (unless [`Config::first_slice_fuel`](crate::Config::first_slice_fuel)
    /// is set); such a slice is ended by the deadline interrupt.
    pub fuel: Option<u64>,
    /// The CPU time this slice is meant to last ([`Config::slice`](crate::Config::slice)).
    pub time: Duration,
    /// When the scheduler interrupts the slice: `time` after its start when
    /// `fuel` is `None`, else `time` plus
    /// [`Config::deadline_slack`](crate::Config::deadline_slack) (a backstop
    /// for a wrong fuel estimate, late enough not to preempt fuel-ended
    /// slices, which keeps them deterministic).
    pub deadline: Instant,
}

/// How a slice ended, returned by [`Task::run`].
#[derive(Clone, Debug)]
pub struct SliceEnd {
    /// The fuel the slice consumed (used for accounting and to measure the
    /// task's fuel rate; 0 for a task that does not count fuel).
    pub fuel_used: u64,
    /// What the task does next.
    pub next: Next,
}

impl SliceEnd {
    /// A slice that used `fuel_used` and wants to run again.
    pub fn runnable(fuel_used: u64) -> Self {
        Self {
            fuel_used,
            next: Next::Runnable,
        }
    }

    /// A slice that used `fuel_used` and waits for `wake`.
    pub fn park(fuel_used: u64, wake: Wake) -> Self {
        Self {
            fuel_used,
            next: Next::Park(wake),
        }
    }

    /// A slice that used `fuel_used` and finished the task with `exit`.
    pub fn finished(fuel_used: u64, exit: impl Into<String>) -> Self {
        Self {
            fuel_used,
            next: Next::Finished(exit.into()),
        }
    }
}

/// What a task does after a slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// It wants more CPU: it goes back to the run queue.
    Runnable,
    /// It waits: it is parked, costs no CPU, and comes back (with bounded
    /// credit, see [`Config::wake_credit`](crate::Config::wake_credit)) on
    /// the event.
    Park(Wake),
    /// It is done: it is dropped and the exit (a short text for reporting: an
    /// exit code, a trap message) is kept for
    /// [`Scheduler::wait_finished`](crate::Scheduler::wait_finished) and
    /// [`Scheduler::take_exits`](crate::Scheduler::take_exits).
    Finished(String),
}

/// What a parked task waits for.
///
/// Wake-ups are never lost: a [`Scheduler::wake`](crate::Scheduler::wake)
/// that arrives while the task runs (or before it parks) makes its next
/// `Message` park return at once. The price is that wake-ups may be spurious:
/// a task woken for a message it already consumed must check its mailbox and
/// park again, as with a condition variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Until this time (a sleep or a timer); `wake(id)` does not end it.
    At(Instant),
    /// Until [`Scheduler::wake`](crate::Scheduler::wake) (a message arrived,
    /// or a host operation that runs off the worker threads completed).
    Message,
    /// Until `wake(id)` or this time, whichever comes first (a receive with a
    /// timeout).
    MessageOrAt(Instant),
}

impl Wake {
    /// Whether `wake(id)` ends this park.
    pub(crate) fn by_message(self) -> bool {
        matches!(self, Wake::Message | Wake::MessageOrAt(_))
    }

    /// The time that ends this park, if any.
    pub(crate) fn time(self) -> Option<Instant> {
        match self {
            Wake::At(t) | Wake::MessageOrAt(t) => Some(t),
            Wake::Message => None,
        }
    }
}

/// A boxed task is a task, so one scheduler can run tasks of several types
/// (`Scheduler<Box<dyn Task>>`).
impl<T: Task + ?Sized> Task for Box<T> {
    fn run(&mut self, slice: &Slice) -> SliceEnd {
        (**self).run(slice)
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        (**self).interrupter()
    }

    fn hibernate(&mut self) -> Result<(), String> {
        (**self).hibernate()
    }

    fn is_hibernated(&self) -> bool {
        (**self).is_hibernated()
    }

    fn memory_bytes(&self) -> u64 {
        (**self).memory_bytes()
    }
}

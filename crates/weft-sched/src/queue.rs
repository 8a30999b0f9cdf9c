//! The run queue: the [state machine](crate::machine) behind one mutex, with
//! the condition variables that the threads wait on.
//!
//! # Protocol
//!
//! Every change to a task happens under the one mutex, so the races of the
//! issue (pause, kill, park and wake against a running slice) are decided by
//! the order in which the threads take the lock; the state machine is written
//! so that every order is right (see its docs), and tests/loom.rs checks the
//! orders exhaustively with loom.
//!
//! Waiting, and who wakes whom:
//!
//! - **Workers** wait on `work` while there is no job. Every job made
//!   available by someone other than a worker that is about to pick again
//!   (spawn, wake, resume, a timer, a due hibernation) notifies `work` once;
//!   a worker that finishes a slice and requeues its task picks again itself.
//!   A spare that retires while jobs are waiting passes the notification on.
//! - **Spare workers** wait on `spare` while their index is at or above
//!   `spare_target` (set by the heartbeat); lowering the target wakes the
//!   spares waiting on `work` so that they retire.
//! - **The timer** sleeps on `timer` until the earliest timer, deadline or
//!   hibernation; whoever adds an earlier one notifies it (`timer_sleep`
//!   records what it sleeps until).
//! - **The heartbeat** waits on `heartbeat` while no job is out: an idle
//!   scheduler costs no CPU at all.
//! - **`wait_idle` / `wait_finished`** wait on `changed`, notified after every
//!   operation while someone waits.
//!
//! Tasks to drop (killed or finished) are dropped after the lock is
//! released.

use std::time::{Duration, Instant};

use crate::machine::{Core, Job, Report};
use crate::stats::{Counters, SliceLengths, TaskState, TaskStats};
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::{Config, Error, OwnerStats, Task, TaskId};

/// Which kind of worker asks for a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// One of the [`Config::workers`] regular workers: always serves.
    Worker,
    /// Spare worker number `n` (from 0): serves only while `n` is below the
    /// spare target set by the heartbeat.
    Spare(usize),
}

struct Inner<T> {
    core: Core<T>,
    /// How many spares should serve now.
    spare_target: usize,
    /// Which spares are serving.
    spares: Vec<bool>,
    spares_active: usize,
    /// What the timer sleeps until: `None` while it is awake, `Some(None)`
    /// while it sleeps with nothing due.
    timer_sleep: Option<Option<Instant>>,
    timer_exit: bool,
    heartbeat_parked: bool,
    /// Threads in `wait_idle` / `wait_finished`.
    waiters: usize,
}

/// The run queue shared by the scheduler's threads. See the module docs.
pub struct RunQueue<T> {
    inner: Mutex<Inner<T>>,
    work: Condvar,
    spare: Condvar,
    timer: Condvar,
    heartbeat: Condvar,
    changed: Condvar,
}

impl<T: Task> RunQueue<T> {
    /// An empty run queue for `config` (which must be valid; see
    /// [`Config`]'s fields).
    pub fn new(config: &Config) -> Self {
        Self {
            inner: Mutex::new(Inner {
                core: Core::new(config),
                spare_target: 0,
                spares: vec![false; config.spare_workers],
                spares_active: 0,
                timer_sleep: None,
                timer_exit: false,
                heartbeat_parked: false,
                waiters: 0,
            }),
            work: Condvar::new(),
            spare: Condvar::new(),
            timer: Condvar::new(),
            heartbeat: Condvar::new(),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic under the lock can only come from an `Interrupt` impl; the
        // state machine is consistent between its calls, so go on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes whoever must react to the operation just done under `inner`.
    fn kick(&self, inner: &mut Inner<T>) {
        match std::mem::take(&mut inner.core.new_jobs) {
            0 => {}
            1 => self.work.notify_one(),
            _ => self.work.notify_all(),
        }
        if let Some(until) = inner.timer_sleep {
            let earlier = match (inner.core.next_timer(), until) {
                (Some(next), Some(until)) => next < until,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if earlier {
                inner.timer_sleep = None;
                self.timer.notify_one();
            }
        }
        if inner.heartbeat_parked && inner.core.jobs_out() > 0 {
            inner.heartbeat_parked = false;
            self.heartbeat.notify_one();
        }
        if inner.waiters > 0 {
            self.changed.notify_all();
        }
    }

    /// Runs `f` on the state machine under the lock, then wakes whoever must
    /// react.
    fn with<R>(&self, f: impl FnOnce(&mut Core<T>) -> R) -> R {
        let mut inner = self.lock();
        let result = f(&mut inner.core);
        self.kick(&mut inner);
        result
    }

    /// Adds a task, queued (or paused if `paused`).
    pub fn spawn(&self, owner: &str, weight: u32, task: T, paused: bool) -> Result<TaskId, Error> {
        let now = Instant::now();
        self.with(|core| core.spawn(owner, weight, task, paused, now))
    }

    /// Takes a job if one is available now (regular worker), without waiting.
    #[cfg_attr(not(loom), allow(dead_code, reason = "for the loom models"))]
    pub fn try_next_job(&self) -> Option<Job<T>> {
        let now = Instant::now();
        self.with(|core| core.pick(now))
    }

    /// Waits for the next job for a worker of `role`; `None` once the queue
    /// is stopping.
    pub fn next_job(&self, role: Role) -> Option<Job<T>> {
        self.next_job_locked(self.lock(), role)
    }

    /// [`RunQueue::finish`] then [`RunQueue::next_job`], under one
    /// acquisition of the lock when the finished task stays.
    pub fn finish_and_next(
        &self,
        id: TaskId,
        task: T,
        report: Report,
        role: Role,
    ) -> Option<Job<T>> {
        let now = Instant::now();
        let mut inner = self.lock();
        let dropped = inner.core.finish(id, task, report, now);
        // Whoever must react to the end of the job (the timer, waiters)
        // hears of it now, even if this worker then waits for work.
        self.kick(&mut inner);
        if dropped.is_some() {
            // Dropped outside the lock (it may free a whole instance).
            drop(inner);
            drop(dropped);
            return self.next_job(role);
        }
        self.next_job_locked(inner, role)
    }

    fn next_job_locked(&self, mut inner: MutexGuard<'_, Inner<T>>, role: Role) -> Option<Job<T>> {
        loop {
            if inner.core.stopping {
                return None;
            }
            if let Role::Spare(n) = role {
                if n >= inner.spare_target {
                    if inner.spares.get(n).copied().unwrap_or(false) {
                        inner.spares[n] = false;
                        inner.spares_active -= 1;
                        if inner.core.has_job() {
                            self.work.notify_one();
                        }
                    }
                    inner = self.spare.wait(inner).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                if !inner.spares[n] {
                    inner.spares[n] = true;
                    inner.spares_active += 1;
                    inner.core.counters.spares_started += 1;
                }
            }
            if let Some(job) = inner.core.pick(Instant::now()) {
                self.kick(&mut inner);
                return Some(job);
            }
            inner = self.work.wait(inner).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes back a task after its job (see [`Core::finish`]); drops it
    /// (outside the lock) if it was killed or finished.
    #[cfg_attr(not(loom), allow(dead_code, reason = "for the loom models"))]
    pub fn finish(&self, id: TaskId, task: T, report: Report) {
        let now = Instant::now();
        let dropped = self.with(|core| core.finish(id, task, report, now));
        drop(dropped);
    }

    /// Pauses a task; a running slice is interrupted and not requeued.
    pub fn pause(&self, id: TaskId) -> Result<(), Error> {
        let now = Instant::now();
        self.with(|core| core.pause(id, now))
    }

    /// Resumes a paused task.
    pub fn resume(&self, id: TaskId) -> Result<(), Error> {
        self.with(|core| core.resume(id))
    }

    /// Resumes paused tasks under one acquisition of the lock.
    pub fn resume_all(&self, ids: &[TaskId]) -> Result<(), Error> {
        self.with(|core| ids.iter().try_for_each(|id| core.resume(*id)))
    }

    /// Kills a task: dropped here if it is not running, else interrupted and
    /// dropped by its worker when the slice returns.
    pub fn kill(&self, id: TaskId) -> Result<(), Error> {
        let dropped = self.with(|core| core.kill(id))?;
        drop(dropped);
        Ok(())
    }

    /// Wakes a task: a message arrived.
    pub fn wake(&self, id: TaskId) -> Result<(), Error> {
        self.with(|core| core.wake(id))
    }

    /// Sets a task's weight within its owner.
    pub fn set_weight(&self, id: TaskId, weight: u32) -> Result<(), Error> {
        self.with(|core| core.set_weight(id, weight))
    }

    /// Sets an owner's weight (creating the owner if new).
    pub fn set_owner_weight(&self, owner: &str, weight: u32) -> Result<(), Error> {
        let now = Instant::now();
        self.with(|core| core.set_owner_weight(owner, weight, now))
    }

    /// A live task's state.
    pub fn state(&self, id: TaskId) -> Option<TaskState> {
        self.lock().core.state(id)
    }

    /// The tasks running a slice now.
    pub fn running(&self) -> Vec<TaskId> {
        self.lock().core.running()
    }

    /// Tasks in the run queue now.
    #[cfg_attr(not(loom), allow(dead_code, reason = "for the loom models"))]
    pub fn queued(&self) -> usize {
        self.lock().core.queued()
    }

    /// A live task's accounting.
    pub fn stats(&self, id: TaskId) -> Option<TaskStats> {
        self.lock().core.stats(id, Instant::now())
    }

    /// Every live task's accounting, in id order.
    pub fn all_stats(&self) -> Vec<TaskStats> {
        self.lock().core.all_stats(Instant::now())
    }

    /// Every owner's accounting.
    pub fn owners(&self) -> Vec<OwnerStats> {
        self.lock().core.owners(Instant::now())
    }

    /// The scheduler-wide counters.
    pub fn counters(&self) -> Counters {
        let inner = self.lock();
        Counters {
            spares_active: inner.spares_active,
            ..inner.core.counters.clone()
        }
    }

    /// The slice length histograms.
    pub fn slice_lengths(&self) -> SliceLengths {
        self.lock().core.lengths.clone()
    }

    /// Clears the slice length histograms.
    pub fn reset_slice_lengths(&self) {
        self.lock().core.lengths = SliceLengths::default();
    }

    /// Every exit not taken yet.
    pub fn take_exits(&self) -> Vec<(TaskId, String)> {
        self.lock().core.take_exits()
    }

    /// Waits on `changed` until `done` returns `Some`, or `timeout`.
    fn wait_until<R>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&mut Core<T>) -> Option<R>,
    ) -> Option<R> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        inner.waiters += 1;
        let result = loop {
            if let Some(result) = done(&mut inner.core) {
                break Some(result);
            }
            let now = Instant::now();
            if now >= deadline {
                break None;
            }
            inner = self
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        inner.waiters -= 1;
        result
    }

    /// Waits until nothing is runnable or running; `false` on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |core| core.is_idle().then_some(()))
            .is_some()
    }

    /// Waits until task `id` finishes and takes its exit; `None` on timeout
    /// or if the task is gone without an exit (killed, or its exit was
    /// taken).
    pub fn wait_finished(&self, id: TaskId, timeout: Duration) -> Option<String> {
        self.wait_until(timeout, |core| match core.take_exit(id) {
            Some(exit) => Some(Some(exit)),
            None if core.state(id).is_none() => Some(None),
            None => None,
        })
        .flatten()
    }

    /// The timer thread's loop: fires due timers and sleeps until the next
    /// one, until [`stop`](Self::stop).
    pub fn run_timer(&self) {
        let mut inner = self.lock();
        while !inner.timer_exit {
            let now = Instant::now();
            let next = inner.core.expire(now);
            self.kick(&mut inner);
            inner.timer_sleep = Some(next);
            inner = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.timer
                        .wait_timeout(inner, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.timer.wait(inner).unwrap_or_else(|p| p.into_inner()),
            };
            inner.timer_sleep = None;
        }
    }

    /// Whether the queue is stopping.
    pub fn stopping(&self) -> bool {
        self.lock().core.stopping
    }

    /// For the heartbeat: waits while no job is out. `false` once stopping.
    pub fn wait_busy(&self) -> bool {
        let mut inner = self.lock();
        while !inner.core.stopping && inner.core.jobs_out() == 0 {
            inner.heartbeat_parked = true;
            inner = self
                .heartbeat
                .wait(inner)
                .unwrap_or_else(|p| p.into_inner());
        }
        inner.heartbeat_parked = false;
        !inner.core.stopping
    }

    /// For the heartbeat: how many spares should serve now.
    pub fn set_spare_target(&self, target: usize) {
        let mut inner = self.lock();
        let target = target.min(inner.spares.len());
        if target == inner.spare_target {
            return;
        }
        let lower = target < inner.spare_target;
        inner.spare_target = target;
        if lower {
            // Spares waiting for work must notice that they are retired.
            self.work.notify_all();
        } else {
            self.spare.notify_all();
        }
    }

    /// Stops the queue: no more jobs, running slices are interrupted, every
    /// waiting thread wakes up and returns.
    pub fn stop(&self) {
        let mut inner = self.lock();
        inner.core.begin_stop();
        inner.timer_exit = true;
        self.work.notify_all();
        self.spare.notify_all();
        self.timer.notify_all();
        self.heartbeat.notify_all();
        self.changed.notify_all();
    }

    /// Takes every task out, in id order (after [`stop`](Self::stop), once
    /// every worker has returned).
    pub fn drain(&self) -> Vec<(TaskId, String, T)> {
        self.lock().core.drain()
    }
}

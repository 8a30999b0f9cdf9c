//! The scheduler's state machine, without threads or locks: every task's
//! state, the fair queue, the timers, the accounting.
//! [`RunQueue`](crate::queue::RunQueue) puts it behind a mutex and the
//! threads drive it; every method takes the current time so that it can be
//! tested on its own.
//!
//! # A task's state
//!
//! A task has a *state*, what it wants, and a *place*, where its value is:
//!
//! - state `Runnable` (wants CPU) or `Parked(wake)` (waits);
//! - place `Home(task)` (in the table), `Slice` (a worker is running a slice
//!   of it) or `Hibernating` (a worker is hibernating it);
//! - flags: `paused`; `killed` (only while the task is out on a worker: a
//!   killed task at home is removed at once); `wake_pending`.
//!
//! It is **queued** (in the fair queue) iff it is `Runnable`, at `Home` and
//! not paused. Transitions:
//!
//! ```text
//!  spawn ──► Runnable/Home ──pick──► Slice ──finish──► Runnable/Home (requeued)
//!                ▲                     │  └──────────► Parked/Home ──wake/timer──┐
//!                └─────────────────────┼───────────────────────────────────────┘
//!                                      └─(killed or Finished)──► removed, dropped
//!  Parked/Home or paused ──idle timer──► Hibernating ──done──► Home (queued if woken meanwhile)
//! ```
//!
//! **Wake-ups are not lost.** `wake` of a task whose slice is running (or
//! that is runnable, or sleeping on a time) sets `wake_pending`; a slice that
//! ends in `Park(Message)` with `wake_pending` set is runnable at once.
//! `wake_pending` is cleared when a slice starts, because the message was
//! delivered before `wake` was called and that slice will see it.
//!
//! **Kill.** A task at home is removed and handed back to the caller to drop
//! (outside the lock). A task out on a worker is flagged `killed`, its slice
//! is interrupted, and the worker's report removes it and hands it back to be
//! dropped. Either way every lookup treats a killed task as gone, and it
//! never runs again.
//!
//! **Pause.** A queued task leaves the queue; a running one is interrupted
//! and not requeued. A paused task keeps its state (a wake-up that arrives
//! meanwhile makes it runnable, to run once resumed).

mod fair;
mod job;
mod query;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::{Counters, SliceLengths, TaskState, Usage};
use crate::{Config, Error, Interrupt, Next, Slice, SliceEnd, Task, TaskId, Wake};
use fair::{FairQueue, OwnerIdx};
pub use job::{Job, Outcome, Report};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Runnable,
    Parked(Wake),
}

enum Place<T> {
    Home(T),
    Slice,
    Hibernating,
}

struct Entry<T> {
    owner: OwnerIdx,
    weight: u32,
    vruntime: u128,
    /// The owner's provisional charge for the running slice.
    provisional: u128,
    state: State,
    place: Place<T>,
    queued: bool,
    paused: bool,
    killed: bool,
    wake_pending: bool,
    /// The running slice's interrupter.
    interrupter: Option<Arc<dyn Interrupt>>,
    /// The interrupter of the next slice, already reset: taken when the
    /// task spawns or comes back from a job, while its memory is still in
    /// this CPU's cache, rather than when the slice is picked.
    next_interrupter: Option<Arc<dyn Interrupt>>,
    /// Fuel per CPU second, averaged over slices.
    fuel_rate: Option<f64>,
    /// Key in `Core::timers` (parked until a time).
    timer_key: Option<Instant>,
    /// Key in `Core::deadlines` (running slice).
    deadline_key: Option<Instant>,
    /// Key in `Core::idle` (hibernation due).
    idle_key: Option<Instant>,
    /// Hibernation was tried in this idle period (or is due).
    hibernation_tried: bool,
    /// The task is in `Core::hibernate_due`.
    hibernation_due: bool,
    cpu: Duration,
    fuel: u64,
    usage: Usage,
    slices: u64,
    hibernated: bool,
    memory_bytes: u64,
}

impl<T> Entry<T> {
    fn at_home(&self) -> bool {
        matches!(self.place, Place::Home(_))
    }

    fn public_state(&self) -> TaskState {
        match (&self.place, self.paused, self.state) {
            (Place::Slice, _, _) => TaskState::Running,
            (Place::Hibernating, _, _) => TaskState::Hibernating,
            (Place::Home(_), true, _) => TaskState::Paused,
            (Place::Home(_), false, State::Runnable) => TaskState::Runnable,
            (Place::Home(_), false, State::Parked(_)) => TaskState::Parked,
        }
    }
}

/// How often a worker takes a due hibernation before a runnable task: one
/// pick in this many (and always when nothing is runnable).
const HIBERNATE_EVERY: u64 = 8;

/// Weight of a new sample in the fuel rate average.
const FUEL_RATE_ALPHA: f64 = 0.3;

/// Slices shorter than this do not measure the fuel rate (below the
/// resolution of some CPU clocks).
const FUEL_RATE_MIN_CPU: Duration = Duration::from_micros(1);

/// The scheduler's state; see the module docs.
pub struct Core<T> {
    slice: Duration,
    /// [`Config::period`]: slices sized by share when set.
    period: Option<Duration>,
    min_slice: Duration,
    workers: usize,
    deadline_slack: Duration,
    first_slice_fuel: Option<u64>,
    hibernate_after: Option<Duration>,
    window: Duration,
    tasks: HashMap<TaskId, Entry<T>>,
    fair: FairQueue,
    /// Parked tasks by wake-up time.
    timers: BTreeSet<(Instant, TaskId)>,
    /// Running slices by deadline.
    deadlines: BTreeSet<(Instant, TaskId)>,
    /// The tasks running a slice.
    pub(crate) running: BTreeSet<TaskId>,
    /// Idle tasks by the time they are due for hibernation.
    idle: BTreeSet<(Instant, TaskId)>,
    /// Tasks due for hibernation, in order.
    hibernate_due: VecDeque<TaskId>,
    next_id: u64,
    /// Running slices.
    slices_out: usize,
    /// Running slices and hibernations.
    jobs_out: usize,
    picks: u64,
    /// Fuel per CPU second over all tasks' slices: the budget of a task
    /// that has not measured its own rate yet.
    fuel_rate_prior: Option<f64>,
    exits: HashMap<TaskId, String>,
    pub(crate) counters: Counters,
    pub(crate) lengths: SliceLengths,
    pub(crate) stopping: bool,
    /// Jobs made available since the run queue last woke workers for them.
    pub(crate) new_jobs: usize,
}

/// `task`'s interrupter, with any pending interrupt cleared.
fn ready_interrupter<T: Task>(task: &T) -> Option<Arc<dyn Interrupt>> {
    let interrupter = task.interrupter();
    if let Some(interrupter) = &interrupter {
        interrupter.reset();
    }
    interrupter
}

/// The live (not killed) entry of `id` (a function of the table only, so
/// that the other fields of [`Core`] stay usable while it is borrowed).
fn live<T>(tasks: &mut HashMap<TaskId, Entry<T>>, id: TaskId) -> Result<&mut Entry<T>, Error> {
    tasks
        .get_mut(&id)
        .filter(|e| !e.killed)
        .ok_or(Error::UnknownTask(id))
}

impl<T: Task> Core<T> {
    /// An empty core for `config` (which must be valid).
    pub fn new(config: &Config) -> Self {
        Self {
            slice: config.slice,
            period: config.period,
            min_slice: config.min_slice.min(config.slice),
            workers: config.workers,
            deadline_slack: config.deadline_slack,
            first_slice_fuel: config.first_slice_fuel,
            hibernate_after: config.hibernate_after,
            window: config.usage_window,
            tasks: HashMap::new(),
            fair: FairQueue::new(config.slice, config.wake_credit),
            timers: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            running: BTreeSet::new(),
            idle: BTreeSet::new(),
            hibernate_due: VecDeque::new(),
            next_id: 1,
            slices_out: 0,
            jobs_out: 0,
            picks: 0,
            fuel_rate_prior: None,
            exits: HashMap::new(),
            counters: Counters::default(),
            lengths: SliceLengths::default(),
            stopping: false,
            new_jobs: 0,
        }
    }

    /// Adds a task: queued, or paused if `paused`.
    pub fn spawn(
        &mut self,
        owner: &str,
        weight: u32,
        task: T,
        paused: bool,
        now: Instant,
    ) -> Result<TaskId, Error> {
        if weight == 0 {
            return Err(Error::ZeroWeight);
        }
        if self.stopping {
            return Err(Error::ShutDown);
        }
        let owner = self.fair.owner_named(owner, now);
        self.fair.owner_mut(owner).live += 1;
        let id = TaskId(self.next_id);
        self.next_id += 1;
        let memory_bytes = task.memory_bytes();
        let hibernated = task.is_hibernated();
        let next_interrupter = ready_interrupter(&task);
        self.tasks.insert(
            id,
            Entry {
                owner,
                weight,
                vruntime: 0,
                provisional: 0,
                state: State::Runnable,
                place: Place::Home(task),
                queued: false,
                paused,
                killed: false,
                wake_pending: false,
                interrupter: None,
                next_interrupter,
                fuel_rate: None,
                timer_key: None,
                deadline_key: None,
                idle_key: None,
                hibernation_tried: false,
                hibernation_due: false,
                cpu: Duration::ZERO,
                fuel: 0,
                usage: Usage::new(now),
                slices: 0,
                hibernated,
                memory_bytes,
            },
        );
        if paused {
            self.became_idle(id, now);
        } else {
            self.enqueue_new(id);
        }
        Ok(id)
    }

    /// Queues an idle task at home that became runnable.
    fn enqueue_new(&mut self, id: TaskId) {
        let Some(entry) = self.tasks.get_mut(&id) else {
            return;
        };
        debug_assert!(
            entry.at_home() && entry.state == State::Runnable && !entry.paused && !entry.queued
        );
        if let Some(key) = entry.idle_key.take() {
            self.idle.remove(&(key, id));
        }
        entry.queued = true;
        self.fair
            .enqueue_new(entry.owner, id, &mut entry.vruntime, entry.weight);
        self.new_jobs += 1;
    }

    /// Starts the hibernation clock of a task that just became idle at home.
    fn became_idle(&mut self, id: TaskId, now: Instant) {
        let Some(after) = self.hibernate_after else {
            return;
        };
        let Some(entry) = self.tasks.get_mut(&id) else {
            return;
        };
        if entry.hibernation_tried || entry.idle_key.is_some() {
            return;
        }
        let due = now + after;
        entry.idle_key = Some(due);
        self.idle.insert((due, id));
    }

    /// Removes an entry and its keys; returns the task if it was at home.
    fn remove(&mut self, id: TaskId) -> Option<T> {
        let entry = self.tasks.remove(&id)?;
        if let Some(key) = entry.timer_key {
            self.timers.remove(&(key, id));
        }
        if let Some(key) = entry.idle_key {
            self.idle.remove(&(key, id));
        }
        if let Some(key) = entry.deadline_key {
            self.deadlines.remove(&(key, id));
        }
        if entry.queued {
            self.fair
                .remove_queued(entry.owner, id, entry.vruntime, entry.weight);
        }
        self.fair.owner_mut(entry.owner).live -= 1;
        match entry.place {
            Place::Home(task) => Some(task),
            Place::Slice | Place::Hibernating => None,
        }
    }

    /// Takes the next job for a worker: a due hibernation now and then (or
    /// when nothing is runnable), else a slice of the fairest task.
    pub fn pick(&mut self, now: Instant) -> Option<Job<T>> {
        if self.stopping {
            return None;
        }
        self.picks += 1;
        if !self.hibernate_due.is_empty()
            && (self.fair.queued() == 0 || self.picks.is_multiple_of(HIBERNATE_EVERY))
            && let Some(job) = self.pick_hibernation()
        {
            return Some(job);
        }
        let (owner, id, mut provisional) = self.fair.pick()?;
        let entry = self.tasks.get_mut(&id).expect("a queued task has an entry");
        let slice_time = match self.period {
            None => self.slice,
            Some(period) => {
                let share = self.fair.share(owner, entry.weight) * self.workers as f64;
                let slice = period
                    .mul_f64(share.min(1.0))
                    .clamp(self.min_slice, self.slice);
                self.fair.reprovision(owner, &mut provisional, slice);
                slice
            }
        };
        let Place::Home(task) = std::mem::replace(&mut entry.place, Place::Slice) else {
            unreachable!("a queued task is at home")
        };
        self.running.insert(id);
        debug_assert_eq!(entry.owner, owner);
        entry.queued = false;
        entry.provisional = provisional;
        entry.wake_pending = false;
        entry.hibernation_tried = false;
        // Without a rate of its own (a new task), the rate of the tasks
        // that ran before: the first slices of thousands of new tasks then
        // last about a slice too, not what `first_slice_fuel` happens to.
        let fuel = match entry.fuel_rate.or(self.fuel_rate_prior) {
            Some(rate) => Some(((rate * slice_time.as_secs_f64()).round() as u64).max(1)),
            None => self.first_slice_fuel,
        };
        let deadline = match fuel {
            Some(_) => now + slice_time + self.deadline_slack,
            None => now + slice_time,
        };
        entry.deadline_key = Some(deadline);
        self.deadlines.insert((deadline, id));
        entry.interrupter = entry
            .next_interrupter
            .take()
            .or_else(|| ready_interrupter(&task));
        self.slices_out += 1;
        self.jobs_out += 1;
        Some(Job::Slice {
            id,
            task,
            slice: Slice {
                fuel,
                time: slice_time,
                deadline,
            },
        })
    }

    fn pick_hibernation(&mut self) -> Option<Job<T>> {
        while let Some(id) = self.hibernate_due.pop_front() {
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            entry.hibernation_due = false;
            // It may have run or been queued since it was due.
            if entry.queued || !entry.at_home() || !entry.hibernation_tried {
                continue;
            }
            let Place::Home(task) = std::mem::replace(&mut entry.place, Place::Hibernating) else {
                unreachable!("checked at home")
            };
            self.jobs_out += 1;
            return Some(Job::Hibernate { id, task });
        }
        None
    }

    /// Takes back a task from a worker after its job; returns the task if it
    /// must now be dropped (killed or finished), to drop outside the lock.
    pub fn finish(&mut self, id: TaskId, task: T, report: Report, now: Instant) -> Option<T> {
        let window = self.window;
        let Some(entry) = self.tasks.get_mut(&id) else {
            debug_assert!(false, "{id} reported but has no entry");
            return Some(task);
        };
        let was_slice = matches!(entry.place, Place::Slice);
        self.jobs_out -= 1;
        if was_slice {
            self.slices_out -= 1;
            self.running.remove(&id);
            if let Some(key) = entry.deadline_key.take() {
                self.deadlines.remove(&(key, id));
            }
            entry.interrupter = None;
            entry.slices += 1;
            self.counters.slices += 1;
            self.lengths.cpu.record(report.cpu);
            self.lengths.wall.record(report.wall);
        }
        // No interrupt can reach the task any more (they are sent under the
        // lock, through `entry.interrupter`): clear one that came too late
        // to matter, so that the next slice does not end at once.
        entry.next_interrupter = ready_interrupter(&task);
        // Accounting.
        let fuel_used = match &report.outcome {
            Outcome::Slice(end) => end.fuel_used,
            Outcome::Panicked(_) | Outcome::Hibernate(_) => 0,
        };
        entry.cpu += report.cpu;
        entry.fuel += fuel_used;
        entry.usage.add(report.cpu, now, window);
        entry.memory_bytes = report.memory_bytes;
        entry.hibernated = report.hibernated;
        let provisional = std::mem::take(&mut entry.provisional);
        if was_slice {
            self.fair.charge(
                entry.owner,
                &mut entry.vruntime,
                entry.weight,
                provisional,
                report.cpu,
            );
        } else {
            // A hibernation is the scheduler's choice, not the task's: its
            // owner pays for it, but the task keeps its place among its
            // siblings (it would otherwise lose about a slice to them each
            // time it is hibernated).
            self.fair
                .replace_owner_charge(entry.owner, provisional, report.cpu);
        }
        let owner = self.fair.owner_mut(entry.owner);
        owner.cpu += report.cpu;
        owner.fuel += fuel_used;
        owner.usage.add(report.cpu, now, window);
        // Only a slice that ran until it was stopped measures the rate: one
        // that parked or finished by itself is mostly the cost of getting
        // there. Such a slice is a sample however short, or a task whose
        // budget came out too small would never correct it.
        let ran_out = matches!(
            &report.outcome,
            Outcome::Slice(SliceEnd {
                next: Next::Runnable,
                ..
            })
        );
        if was_slice && ran_out {
            update_fuel_rate(&mut entry.fuel_rate, fuel_used, report.cpu);
            update_fuel_rate(&mut self.fuel_rate_prior, fuel_used, report.cpu);
        }
        if was_slice {
            self.fair.stop_running(entry.owner, entry.weight);
        }

        if entry.killed {
            self.remove(id);
            return Some(task);
        }
        match report.outcome {
            Outcome::Slice(SliceEnd {
                next: Next::Finished(exit),
                ..
            }) => {
                self.remove(id);
                self.exits.insert(id, exit);
                Some(task)
            }
            Outcome::Panicked(message) => {
                self.remove(id);
                self.counters.panics += 1;
                self.exits.insert(id, format!("panicked: {message}"));
                Some(task)
            }
            Outcome::Slice(SliceEnd {
                next: Next::Runnable,
                ..
            }) => {
                entry.place = Place::Home(task);
                entry.state = State::Runnable;
                if entry.paused {
                    self.became_idle(id, now);
                } else {
                    // Still active: back at its own vruntime.
                    entry.queued = true;
                    self.fair
                        .requeue(entry.owner, id, entry.vruntime, entry.weight);
                }
                None
            }
            Outcome::Slice(SliceEnd {
                next: Next::Park(wake),
                ..
            }) => {
                entry.place = Place::Home(task);
                let woken = (wake.by_message() && entry.wake_pending)
                    || wake.time().is_some_and(|t| t <= now);
                if woken {
                    entry.state = State::Runnable;
                    if !entry.paused {
                        self.enqueue_new(id);
                        return None;
                    }
                } else {
                    entry.state = State::Parked(wake);
                    if let Some(at) = wake.time() {
                        entry.timer_key = Some(at);
                        self.timers.insert((at, id));
                    }
                }
                self.became_idle(id, now);
                None
            }
            Outcome::Hibernate(result) => {
                match result {
                    Ok(()) => self.counters.hibernations += 1,
                    Err(_) => self.counters.hibernate_failures += 1,
                }
                entry.place = Place::Home(task);
                if entry.state == State::Runnable && !entry.paused {
                    self.enqueue_new(id);
                }
                None
            }
        }
    }

    /// Pauses a task. Returns whether its running slice must be interrupted
    /// (the interrupter is called here).
    pub fn pause(&mut self, id: TaskId, now: Instant) -> Result<(), Error> {
        let entry = live(&mut self.tasks, id)?;
        if entry.paused {
            return Ok(());
        }
        entry.paused = true;
        match entry.place {
            Place::Home(_) => {
                if entry.queued {
                    entry.queued = false;
                    self.fair
                        .remove_queued(entry.owner, id, entry.vruntime, entry.weight);
                }
                self.became_idle(id, now);
            }
            Place::Slice => {
                if let Some(interrupter) = &entry.interrupter {
                    interrupter.interrupt();
                }
            }
            Place::Hibernating => {}
        }
        Ok(())
    }

    /// Resumes a paused task.
    pub fn resume(&mut self, id: TaskId) -> Result<(), Error> {
        let entry = live(&mut self.tasks, id)?;
        if !entry.paused {
            return Ok(());
        }
        entry.paused = false;
        if entry.at_home() && entry.state == State::Runnable {
            self.enqueue_new(id);
        }
        Ok(())
    }

    /// Kills a task. Returns it if it was at home (to drop outside the lock);
    /// a task out on a worker is interrupted and dropped when it comes back.
    pub fn kill(&mut self, id: TaskId) -> Result<Option<T>, Error> {
        let entry = live(&mut self.tasks, id)?;
        match entry.place {
            Place::Home(_) => Ok(self.remove(id)),
            Place::Slice => {
                entry.killed = true;
                if let Some(interrupter) = &entry.interrupter {
                    interrupter.interrupt();
                }
                Ok(None)
            }
            Place::Hibernating => {
                entry.killed = true;
                Ok(None)
            }
        }
    }

    /// Wakes a task: a message arrived (see the module docs).
    pub fn wake(&mut self, id: TaskId) -> Result<(), Error> {
        let entry = live(&mut self.tasks, id)?;
        match (&entry.place, entry.state) {
            (Place::Home(_) | Place::Hibernating, State::Parked(wake)) if wake.by_message() => {
                if let Some(key) = entry.timer_key.take() {
                    self.timers.remove(&(key, id));
                }
                entry.state = State::Runnable;
                if entry.at_home() && !entry.paused {
                    self.enqueue_new(id);
                }
            }
            _ => entry.wake_pending = true,
        }
        Ok(())
    }

    /// Sets a task's weight within its owner.
    pub fn set_weight(&mut self, id: TaskId, weight: u32) -> Result<(), Error> {
        if weight == 0 {
            return Err(Error::ZeroWeight);
        }
        let entry = live(&mut self.tasks, id)?;
        let active = entry.queued || matches!(entry.place, Place::Slice);
        if active {
            self.fair.reweigh_active(entry.owner, entry.weight, weight);
        }
        entry.weight = weight;
        Ok(())
    }

    /// Sets an owner's weight, creating the owner if it is new.
    pub fn set_owner_weight(
        &mut self,
        owner: &str,
        weight: u32,
        now: Instant,
    ) -> Result<(), Error> {
        if weight == 0 {
            return Err(Error::ZeroWeight);
        }
        let idx = self.fair.owner_named(owner, now);
        self.fair.set_owner_weight(idx, weight);
        Ok(())
    }

    /// Fires every timer due at `now`: wakes parked tasks, interrupts slices
    /// past their deadline, queues due hibernations. Returns the next time
    /// something is due.
    pub fn expire(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, id));
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            entry.timer_key = None;
            if matches!(entry.state, State::Parked(_)) {
                entry.state = State::Runnable;
                if entry.at_home() && !entry.paused {
                    self.enqueue_new(id);
                }
            }
        }
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, id));
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            entry.deadline_key = None;
            if let Some(interrupter) = &entry.interrupter {
                interrupter.interrupt();
                self.counters.deadline_interrupts += 1;
            }
        }
        while let Some(&(at, id)) = self.idle.first() {
            if at > now {
                break;
            }
            self.idle.remove(&(at, id));
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            entry.idle_key = None;
            if entry.at_home() && !entry.queued && !entry.hibernation_tried {
                entry.hibernation_tried = true;
                if !entry.hibernation_due {
                    entry.hibernation_due = true;
                    self.hibernate_due.push_back(id);
                    self.new_jobs += 1;
                }
            }
        }
        self.next_timer()
    }

    /// The next time [`expire`](Self::expire) has something to do.
    pub fn next_timer(&self) -> Option<Instant> {
        [
            self.timers.first(),
            self.deadlines.first(),
            self.idle.first(),
        ]
        .into_iter()
        .flatten()
        .map(|&(at, _)| at)
        .min()
    }

    /// Whether a worker would find a job now.
    pub fn has_job(&self) -> bool {
        !self.stopping && (self.fair.queued() > 0 || !self.hibernate_due.is_empty())
    }

    /// Whether nothing is runnable or running.
    pub fn is_idle(&self) -> bool {
        self.fair.queued() == 0 && self.slices_out == 0
    }

    /// Jobs (slices and hibernations) out on workers.
    pub fn jobs_out(&self) -> usize {
        self.jobs_out
    }

    /// Tasks in the run queue.
    pub fn queued(&self) -> usize {
        self.fair.queued()
    }

    /// Stops handing out jobs and interrupts every running slice.
    pub fn begin_stop(&mut self) {
        self.stopping = true;
        for entry in self.tasks.values() {
            if let Some(interrupter) = &entry.interrupter {
                interrupter.interrupt();
            }
        }
    }

    /// Takes every task out, in id order, with its owner's name. Call once
    /// no job is out.
    pub fn drain(&mut self) -> Vec<(TaskId, String, T)> {
        debug_assert_eq!(self.jobs_out, 0);
        let mut ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| {
                let owner = self.fair.owner(self.tasks.get(&id)?.owner).name.clone();
                self.remove(id).map(|task| (id, owner, task))
            })
            .collect()
    }
}

/// Folds one slice into a task's fuel rate (fuel per CPU second).
fn update_fuel_rate(rate: &mut Option<f64>, fuel: u64, cpu: Duration) {
    if fuel == 0 || cpu < FUEL_RATE_MIN_CPU {
        return;
    }
    let sample = fuel as f64 / cpu.as_secs_f64();
    *rate = Some(match *rate {
        None => sample,
        Some(old) => old + FUEL_RATE_ALPHA * (sample - old),
    });
}

#[cfg(test)]
mod tests;

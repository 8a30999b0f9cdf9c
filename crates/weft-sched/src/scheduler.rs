//! [`Scheduler`]: the run queue plus its threads (workers, spares, timer,
//! heartbeat), and the public API.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::queue::{Role, RunQueue};
use crate::worker::{Beat, WorkerSlot, serve};
use crate::{
    Config, Counters, Error, OwnerStats, SliceLengths, Task, TaskId, TaskState, TaskStats,
};

/// What the scheduler's threads share.
struct Shared<T> {
    queue: RunQueue<T>,
    config: Config,
    /// One slot per regular worker, then one per spare.
    slots: Vec<Arc<WorkerSlot>>,
    /// How the heartbeat sleeps while no worker is in `blocking`.
    beat: Arc<Beat>,
    /// Spare threads started so far (by the heartbeat).
    spares: Mutex<Vec<JoinHandle<()>>>,
}

/// Runs many [`Task`]s fairly over a few worker threads.
///
/// `Scheduler` is `Sync`: share it (e.g. in an `Arc`) and call any method from
/// any thread. Dropping it stops it like [`shutdown`](Self::shutdown) and
/// drops the tasks.
///
/// **Threads.** [`Config::workers`] workers run slices; a timer thread wakes
/// parked tasks at their time, ends slices at their deadline (through the
/// task's [`Interrupt`](crate::Interrupt)) and queues due hibernations; with
/// [`Config::heartbeat`] set, a heartbeat thread starts (and retires) spare
/// workers while workers are stuck in [`blocking`](crate::blocking) for more
/// than [`Config::stuck_after`]. No thread busy-waits: with nothing to do,
/// all of them sleep.
///
/// **Policy.** Owners share the CPU by weight, then each owner's tasks share
/// its part by weight, by virtual runtime as in CFS group scheduling (see
/// the crate docs). The CPU time accounted is the worker thread's CPU clock
/// around each slice.
pub struct Scheduler<T: Task> {
    shared: Arc<Shared<T>>,
    threads: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl<T: Task> Scheduler<T> {
    /// Starts a scheduler: its workers, its timer and (if configured) its
    /// heartbeat.
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let epoch = Instant::now();
        let beat = Arc::new(Beat::default());
        let slots = (0..config.workers + config.spare_workers)
            .map(|_| Arc::new(WorkerSlot::new(epoch, beat.clone())))
            .collect();
        let shared = Arc::new(Shared {
            queue: RunQueue::new(&config),
            config,
            slots,
            beat,
            spares: Mutex::new(Vec::new()),
        });
        let mut scheduler = Self {
            shared: shared.clone(),
            threads: Vec::new(),
            stopped: false,
        };
        for n in 0..shared.config.workers {
            let shared = shared.clone();
            scheduler.start(format!("weft-worker-{n}"), move || {
                serve(&shared.queue, Role::Worker, shared.slots[n].clone());
            })?;
        }
        let timer = shared.clone();
        scheduler.start("weft-timer".to_string(), move || timer.queue.run_timer())?;
        if let Some(period) = shared.config.heartbeat {
            let heartbeat = shared.clone();
            scheduler.start("weft-heartbeat".to_string(), move || {
                heartbeat_loop(&heartbeat, period)
            })?;
        }
        Ok(scheduler)
    }

    /// Starts one of the scheduler's threads; on failure stops the others.
    fn start(&mut self, name: String, body: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        match thread::Builder::new().name(name).spawn(body) {
            Ok(handle) => {
                self.threads.push(handle);
                Ok(())
            }
            Err(e) => {
                self.stop();
                Err(Error::Thread(e))
            }
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Adds a task for `owner` (created with weight 1 if new) with `weight`
    /// within the owner; it is runnable at once, with bounded credit.
    pub fn spawn(&self, owner: &str, weight: u32, task: T) -> Result<TaskId, Error> {
        self.shared.queue.spawn(owner, weight, task, false)
    }

    /// Adds a task that starts paused: it runs once [`resume`](Self::resume)d.
    pub fn spawn_paused(&self, owner: &str, weight: u32, task: T) -> Result<TaskId, Error> {
        self.shared.queue.spawn(owner, weight, task, true)
    }

    /// Sets an owner's weight among owners (creating the owner if new).
    pub fn set_owner_weight(&self, owner: &str, weight: u32) -> Result<(), Error> {
        self.shared.queue.set_owner_weight(owner, weight)
    }

    /// Sets a task's weight within its owner.
    pub fn set_weight(&self, id: TaskId, weight: u32) -> Result<(), Error> {
        self.shared.queue.set_weight(id, weight)
    }

    /// Pauses a task: it leaves the run queue, or, if running, its slice is
    /// interrupted and it is not requeued (effective within one slice).
    pub fn pause(&self, id: TaskId) -> Result<(), Error> {
        self.shared.queue.pause(id)
    }

    /// Resumes a paused task (runnable again with bounded credit, unless it
    /// is still parked).
    pub fn resume(&self, id: TaskId) -> Result<(), Error> {
        self.shared.queue.resume(id)
    }

    /// Resumes paused tasks together: none of them runs before all are
    /// queued, so that a batch spawned paused starts level (each task is
    /// placed as it would be by [`Scheduler::resume`]). Stops at the first
    /// unknown task, with the ones before it resumed.
    pub fn resume_all(&self, ids: &[TaskId]) -> Result<(), Error> {
        self.shared.queue.resume_all(ids)
    }

    /// Kills a task: it never runs again. If it is not running it is dropped
    /// before this returns; if it is, its slice is interrupted and it is
    /// dropped as soon as the slice returns.
    pub fn kill(&self, id: TaskId) -> Result<(), Error> {
        self.shared.queue.kill(id)
    }

    /// Wakes a task: a message arrived (or a host operation completed). A task
    /// parked on [`Wake::Message`](crate::Wake::Message) becomes runnable; a
    /// running (or runnable) one will not stay parked on its next message
    /// park, so no wake-up is lost.
    pub fn wake(&self, id: TaskId) -> Result<(), Error> {
        self.shared.queue.wake(id)
    }

    /// A live task's state, `None` for an unknown, finished or killed id.
    pub fn state(&self, id: TaskId) -> Option<TaskState> {
        self.shared.queue.state(id)
    }

    /// The tasks running a slice now (at most one per worker).
    pub fn running(&self) -> Vec<TaskId> {
        self.shared.queue.running()
    }

    /// A live task's accounting, `None` for an unknown, finished or killed
    /// id.
    pub fn stats(&self, id: TaskId) -> Option<TaskStats> {
        self.shared.queue.stats(id)
    }

    /// Every live task's accounting, in id order.
    pub fn tasks(&self) -> Vec<TaskStats> {
        self.shared.queue.all_stats()
    }

    /// Every owner's accounting (owners stay listed, with their totals, after
    /// their last task is gone).
    pub fn owners(&self) -> Vec<OwnerStats> {
        self.shared.queue.owners()
    }

    /// Scheduler-wide counters (slices, spares started, hibernations, ...).
    pub fn counters(&self) -> Counters {
        self.shared.queue.counters()
    }

    /// The distribution of slice lengths (CPU and wall time).
    pub fn slice_lengths(&self) -> SliceLengths {
        self.shared.queue.slice_lengths()
    }

    /// Clears the slice length histograms (e.g. after a warm-up).
    pub fn reset_slice_lengths(&self) {
        self.shared.queue.reset_slice_lengths()
    }

    /// Takes the exits of the tasks that finished and whose exit was not
    /// taken yet, in id order. Exits are kept until taken.
    pub fn take_exits(&self) -> Vec<(TaskId, String)> {
        self.shared.queue.take_exits()
    }

    /// Waits until no task is runnable or running (all parked, paused or
    /// gone); `false` on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.queue.wait_idle(timeout)
    }

    /// Waits until task `id` finishes and takes its exit. `None` on timeout,
    /// or if the task is gone without an exit (killed, or exit already
    /// taken).
    pub fn wait_finished(&self, id: TaskId, timeout: Duration) -> Option<String> {
        self.shared.queue.wait_finished(id, timeout)
    }

    /// Stops the scheduler at slice boundaries (running slices are
    /// interrupted and allowed to return; hibernations complete) and returns
    /// every live task exactly once, in id order, with its owner's name, so
    /// that the caller can snapshot them.
    pub fn shutdown(mut self) -> Vec<(TaskId, String, T)> {
        self.stop();
        self.shared.queue.drain()
    }

    /// Stops and joins every thread (once).
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.shared.queue.stop();
        self.shared.beat.wake();
        // Join the heartbeat (and everything) first so that no spare starts
        // after the spares are collected.
        for handle in self.threads.drain(..) {
            // A scheduler thread only panics on a bug; the tasks are still
            // consistent in the queue, so carry on.
            let _ = handle.join();
        }
        let spares = std::mem::take(
            &mut *self
                .shared
                .spares
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for handle in spares {
            let _ = handle.join();
        }
    }
}

impl<T: Task> Drop for Scheduler<T> {
    fn drop(&mut self) {
        self.stop();
        drop(self.shared.queue.drain());
    }
}

/// Beats without a worker inside [`blocking`](crate::blocking) after which
/// the heartbeat goes dormant.
const QUIET_BEATS: u32 = 20;

/// The heartbeat: every `period` while jobs are out, counts the workers
/// stuck in [`blocking`](crate::blocking) and sets how many spares serve.
///
/// After [`QUIET_BEATS`] beats in a row with no worker inside `blocking`,
/// it parks until one enters it.
fn heartbeat_loop<T: Task>(shared: &Arc<Shared<T>>, period: Duration) {
    let config = &shared.config;
    shared.beat.register();
    let mut target = 0;
    let mut quiet = 0;
    while shared.queue.wait_busy() {
        thread::sleep(period);
        if shared.slots.iter().any(|slot| slot.blocked()) {
            quiet = 0;
        } else {
            quiet += 1;
        }
        if quiet >= QUIET_BEATS && target == 0 {
            shared.beat.sleep(&shared.slots, || shared.queue.stopping());
            quiet = 0;
            continue;
        }
        let stuck = shared
            .slots
            .iter()
            .filter(|slot| slot.stuck(config.stuck_after))
            .count();
        let wanted = stuck.min(config.spare_workers);
        if wanted > target {
            start_spares(shared, wanted);
        }
        if wanted != target {
            target = wanted;
            shared.queue.set_spare_target(target);
        }
    }
    // Retire the spares so that no thread is waiting on an old target.
    shared.queue.set_spare_target(0);
}

/// Makes sure that spare threads `0..wanted` exist.
fn start_spares<T: Task>(shared: &Arc<Shared<T>>, wanted: usize) {
    let mut spares = shared.spares.lock().unwrap_or_else(PoisonError::into_inner);
    while spares.len() < wanted {
        let n = spares.len();
        let slot = shared.slots[shared.config.workers + n].clone();
        let thread_shared = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("weft-spare-{n}"))
            .spawn(move || serve(&thread_shared.queue, Role::Spare(n), slot));
        match spawned {
            Ok(handle) => spares.push(handle),
            // No thread to be had: serve with the ones there are.
            Err(_) => break,
        }
    }
}

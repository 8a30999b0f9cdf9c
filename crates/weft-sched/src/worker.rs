//! The threads that serve the run queue: workers (and spares), the CPU clock
//! they measure slices with, [`blocking`], and the heartbeat that starts
//! spares while workers are stuck in it.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::Task;
use crate::machine::{Job, Outcome, Report};
use crate::queue::{Role, RunQueue};

/// How the heartbeat sleeps while no worker calls [`blocking`]: it stops
/// waking up (each wake-up costs a little CPU on a busy machine) and the
/// first worker to enter [`blocking`] wakes it.
#[derive(Debug, Default)]
pub(crate) struct Beat {
    /// The heartbeat is parked until a worker enters [`blocking`].
    dormant: AtomicBool,
    /// The heartbeat thread, to unpark.
    thread: OnceLock<Thread>,
}

impl Beat {
    /// Called by the heartbeat thread before its first beat.
    pub(crate) fn register(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// For the heartbeat: parks until woken, unless a worker is in
    /// [`blocking`] already (in `slots`) or `stopping` says to go on.
    pub(crate) fn sleep(&self, slots: &[Arc<WorkerSlot>], stopping: impl Fn() -> bool) {
        self.dormant.store(true, Ordering::SeqCst);
        // A worker that entered `blocking` before it could see the flag is
        // seen here (both sides store, then load, sequentially consistent).
        if slots
            .iter()
            .any(|s| s.blocked_since.load(Ordering::SeqCst) != 0)
        {
            self.dormant.store(false, Ordering::SeqCst);
            return;
        }
        while self.dormant.load(Ordering::SeqCst) && !stopping() {
            std::thread::park();
        }
        self.dormant.store(false, Ordering::SeqCst);
    }

    /// Wakes a dormant heartbeat (from a worker entering [`blocking`], or on
    /// stop).
    pub(crate) fn wake(&self) {
        if self.dormant.load(Ordering::SeqCst)
            && self.dormant.swap(false, Ordering::SeqCst)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
    }
}

/// What the heartbeat can see of one worker thread.
#[derive(Debug)]
pub(crate) struct WorkerSlot {
    /// The scheduler's epoch, which `blocked_since` counts from.
    epoch: Instant,
    /// Shared by every slot of the scheduler.
    beat: Arc<Beat>,
    /// Nanoseconds since `epoch` plus one at which the worker entered
    /// [`blocking`]; 0 while it is not inside.
    blocked_since: AtomicU64,
    /// Nesting depth of [`blocking`] (only the worker's own thread changes
    /// it).
    depth: AtomicU32,
}

impl WorkerSlot {
    pub(crate) fn new(epoch: Instant, beat: Arc<Beat>) -> Self {
        Self {
            epoch,
            beat,
            blocked_since: AtomicU64::new(0),
            depth: AtomicU32::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Whether the worker is inside [`blocking`].
    pub(crate) fn blocked(&self) -> bool {
        self.blocked_since.load(Ordering::Acquire) != 0
    }

    /// Whether the worker has been inside [`blocking`] longer than `after`.
    pub(crate) fn stuck(&self, after: Duration) -> bool {
        match self.blocked_since.load(Ordering::Acquire) {
            0 => false,
            since => {
                let blocked = self.now().saturating_sub(since - 1);
                u128::from(blocked) > after.as_nanos()
            }
        }
    }
}

/// Leaves [`blocking`] when dropped, also on unwind.
struct BlockingGuard<'a>(&'a WorkerSlot);

impl Drop for BlockingGuard<'_> {
    fn drop(&mut self) {
        if self.0.depth.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.blocked_since.store(0, Ordering::Release);
        }
    }
}

thread_local! {
    /// The slot of the worker running on this thread, if it is one.
    static CURRENT: RefCell<Option<Arc<WorkerSlot>>> = const { RefCell::new(None) };
}

/// Runs blocking work `f` (a synchronous host call: file I/O, a lock, a
/// sleep) from inside [`Task::run`], marking this worker as blocked.
///
/// While it is blocked for more than [`Config::stuck_after`](crate::Config::stuck_after),
/// the heartbeat lets a spare worker serve the run queue in its place, so
/// the other tasks keep running. Outside a scheduler worker thread it just
/// calls `f`. Calls may nest. The time spent blocked costs the task no CPU
/// time (none is used), but the worker stays busy: for long waits prefer to
/// park the task ([`Wake::Message`](crate::Wake::Message)) and do the work
/// elsewhere.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let slot = CURRENT.with(|current| current.borrow().clone());
    let Some(slot) = slot else { return f() };
    if slot.depth.fetch_add(1, Ordering::Relaxed) == 0 {
        slot.blocked_since.store(slot.now() + 1, Ordering::SeqCst);
        slot.beat.wake();
    }
    let _guard = BlockingGuard(&slot);
    f()
}

/// Measures CPU time used by this thread (wall time where the thread CPU
/// clock is not available).
struct CpuClock {
    cpu: Option<Duration>,
    wall: Instant,
}

impl CpuClock {
    fn start() -> Self {
        Self {
            cpu: thread_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// `(cpu, wall)` since `start`.
    fn elapsed(&self) -> (Duration, Duration) {
        let wall = self.wall.elapsed();
        let cpu = match (self.cpu, thread_cpu_time()) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => wall,
        };
        (cpu, wall)
    }
}

/// The calling thread's CPU time, from `CLOCK_THREAD_CPUTIME_ID`.
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec` that outlives the call,
    // and `clock_gettime` writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(now.tv_sec).ok()?,
        u32::try_from(now.tv_nsec).ok()?,
    ))
}

/// No thread CPU clock here: slices are measured in wall time.
#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-string panic payload)".to_string()
    }
}

/// A worker's loop: takes jobs until the queue stops.
pub(crate) fn serve<T: Task>(queue: &RunQueue<T>, role: Role, slot: Arc<WorkerSlot>) {
    CURRENT.with(|current| *current.borrow_mut() = Some(slot));
    let mut next = queue.next_job(role);
    while let Some(job) = next {
        next = match job {
            Job::Slice {
                id,
                mut task,
                slice,
            } => {
                let clock = CpuClock::start();
                let result = catch_unwind(AssertUnwindSafe(|| task.run(&slice)));
                let (cpu, wall) = clock.elapsed();
                let outcome = match result {
                    Ok(end) => Outcome::Slice(end),
                    Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
                };
                let report = Report::new(&task, outcome, cpu, wall);
                queue.finish_and_next(id, task, report, role)
            }
            Job::Hibernate { id, mut task } => {
                let clock = CpuClock::start();
                let result =
                    catch_unwind(AssertUnwindSafe(|| task.hibernate())).unwrap_or_else(|payload| {
                        Err(format!("panicked: {}", panic_message(payload.as_ref())))
                    });
                let (cpu, wall) = clock.elapsed();
                let report = Report::new(&task, Outcome::Hibernate(result), cpu, wall);
                queue.finish_and_next(id, task, report, role)
            }
        };
    }
    CURRENT.with(|current| *current.borrow_mut() = None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_does_not_count_sleep() {
        let clock = CpuClock::start();
        std::thread::sleep(Duration::from_millis(30));
        let (cpu, wall) = clock.elapsed();
        assert!(wall >= Duration::from_millis(30));
        if thread_cpu_time().is_some() {
            assert!(cpu < Duration::from_millis(15), "{cpu:?}");
        }
    }

    #[test]
    fn blocking_marks_the_slot_and_nests() {
        let slot = Arc::new(WorkerSlot::new(Instant::now(), Arc::default()));
        CURRENT.with(|current| *current.borrow_mut() = Some(slot.clone()));
        blocking(|| {
            blocking(|| std::thread::sleep(Duration::from_millis(2)));
            assert!(
                slot.stuck(Duration::from_millis(1)),
                "still inside the outer call"
            );
        });
        assert!(!slot.stuck(Duration::ZERO));
        CURRENT.with(|current| *current.borrow_mut() = None);
        assert_eq!(blocking(|| 7), 7);
    }
}

//! Loom models of the run queue's races: every interleaving of the threads'
//! lock acquisitions (and condition variable wake-ups) is explored.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p weft-sched --test loom --release
//! ```
//!
//! Each model drives the real [`RunQueue`] (the scheduler's state machine
//! behind its mutex and condition variables, built on loom's primitives under
//! `--cfg loom`); the model's threads play the worker running a slice and the
//! other threads calling `pause`, `kill` and `wake`.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use weft_sched::model::{Job, Outcome, Report, Role, RunQueue};
use weft_sched::{Config, Error, Interrupt, Next, Slice, SliceEnd, Task, TaskId, TaskState, Wake};

/// What the models watch of a task.
#[derive(Default)]
struct Probe {
    drops: AtomicUsize,
    interrupts: AtomicUsize,
}

impl Interrupt for Probe {
    fn interrupt(&self) {
        self.interrupts.fetch_add(1, SeqCst);
    }
}

/// A task whose slices the models end by hand.
struct Fake(Arc<Probe>);

impl Drop for Fake {
    fn drop(&mut self) {
        self.0.drops.fetch_add(1, SeqCst);
    }
}

/// `Arc<Probe>` as the interrupter: loom's `Arc` does not coerce to
/// `Arc<dyn Interrupt>`, so wrap it in std's.
struct ProbeHandle(Arc<Probe>);

impl Interrupt for ProbeHandle {
    fn interrupt(&self) {
        self.0.interrupt();
    }
}

impl Task for Fake {
    fn run(&mut self, _: &Slice) -> SliceEnd {
        unreachable!("the models end slices by hand")
    }
    fn interrupter(&self) -> Option<std::sync::Arc<dyn Interrupt>> {
        Some(std::sync::Arc::new(ProbeHandle(self.0.clone())))
    }
}

/// The preemption bound of the larger models (`LOOM_MAX_PREEMPTIONS`
/// overrides it for a deeper run).
const PREEMPTIONS: usize = 4;

fn config() -> Config {
    Config {
        workers: 1,
        spare_workers: 0,
        ..Config::default()
    }
}

/// A queue with one task, spawned and (if `parked`) run once and parked on
/// a message.
fn queue_with_task(parked: bool) -> (Arc<RunQueue<Fake>>, TaskId, Arc<Probe>) {
    let queue = Arc::new(RunQueue::new(&config()));
    let probe = Arc::new(Probe::default());
    let id = queue
        .spawn("owner", 1, Fake(probe.clone()), false)
        .expect("spawn");
    if parked {
        let (got, task) = take_slice(&queue);
        assert_eq!(got, id);
        end_slice(&queue, id, task, Next::Park(Wake::Message));
        assert_eq!(queue.state(id), Some(TaskState::Parked));
    }
    (queue, id, probe)
}

/// Takes the next job, which must be a slice.
fn take_slice(queue: &RunQueue<Fake>) -> (TaskId, Fake) {
    match queue.try_next_job() {
        Some(Job::Slice { id, task, .. }) => (id, task),
        Some(Job::Hibernate { .. }) => panic!("no hibernation in these models"),
        None => panic!("expected a runnable task"),
    }
}

fn end_slice(queue: &RunQueue<Fake>, id: TaskId, task: Fake, next: Next) {
    let end = SliceEnd { fuel_used: 1, next };
    let report = Report::new(
        &task,
        Outcome::Slice(end),
        Duration::from_micros(10),
        Duration::from_micros(10),
    );
    queue.finish(id, task, report);
}

/// Kill races with the running slice's end, for each way a slice can end:
/// the task is dropped exactly once and never runs again.
#[test]
fn kill_vs_running_slice_ending() {
    for next in [
        Next::Runnable,
        Next::Park(Wake::Message),
        Next::Finished("done".into()),
    ] {
        loom::model(move || {
            let (queue, id, probe) = queue_with_task(false);
            let (_, task) = take_slice(&queue);
            let killer = {
                let queue = queue.clone();
                thread::spawn(move || queue.kill(id))
            };
            end_slice(&queue, id, task, next.clone());
            let killed = killer.join().expect("killer");
            match (&next, killed) {
                (_, Ok(())) => {}
                // A finished task may be gone before the kill.
                (Next::Finished(_), Err(Error::UnknownTask(_))) => {}
                (_, Err(e)) => panic!("kill failed: {e}"),
            }
            assert_eq!(probe.drops.load(SeqCst), 1, "dropped exactly once");
            assert!(probe.interrupts.load(SeqCst) <= 1);
            assert_eq!(queue.state(id), None);
            assert!(
                queue.try_next_job().is_none(),
                "a killed task never runs again"
            );
        });
    }
}

/// Pause and wake race on a parked task: it ends up paused, and the wake-up
/// is kept for when it is resumed.
#[test]
fn pause_vs_wake() {
    loom::model(|| {
        let (queue, id, probe) = queue_with_task(true);
        let pauser = {
            let queue = queue.clone();
            thread::spawn(move || queue.pause(id))
        };
        queue.wake(id).expect("live");
        pauser.join().expect("pauser").expect("live");
        assert_eq!(queue.state(id), Some(TaskState::Paused));
        assert!(queue.try_next_job().is_none(), "a paused task does not run");
        queue.resume(id).expect("live");
        let (_, task) = take_slice(&queue);
        assert_eq!(probe.interrupts.load(SeqCst), 0, "nothing was running");
        end_slice(&queue, id, task, Next::Park(Wake::Message));
        assert!(queue.try_next_job().is_none(), "woken once");
    });
}

/// Pause and wake race with a running slice that parks on a message: the
/// task is paused, and runs once resumed (the wake-up is not lost).
#[test]
fn pause_vs_wake_while_running() {
    loom::model(|| {
        let (queue, id, _probe) = queue_with_task(false);
        let (_, task) = take_slice(&queue);
        let pauser = {
            let queue = queue.clone();
            thread::spawn(move || queue.pause(id))
        };
        let waker = {
            let queue = queue.clone();
            thread::spawn(move || queue.wake(id))
        };
        end_slice(&queue, id, task, Next::Park(Wake::Message));
        pauser.join().expect("pauser").expect("live");
        waker.join().expect("waker").expect("live");
        assert_eq!(queue.state(id), Some(TaskState::Paused));
        assert!(queue.try_next_job().is_none());
        queue.resume(id).expect("live");
        let _ = take_slice(&queue);
    });
}

/// Takes the message out of the mailbox, if there is one. (A compare-exchange
/// rather than `swap`: loom reports impossible histories for a `swap` racing
/// with a store, tokio-rs/loom#254.)
fn take_message(mailbox: &AtomicBool) -> bool {
    mailbox
        .compare_exchange(true, false, SeqCst, SeqCst)
        .is_ok()
}

/// A message arrives (mailbox, then `wake`) while the worker runs the task,
/// which parks when its mailbox is empty: the message is either seen by that
/// slice or the task is runnable again. No wake-up is lost.
#[test]
fn wake_vs_park() {
    loom::model(|| {
        let (queue, id, _probe) = queue_with_task(false);
        let mailbox = Arc::new(AtomicBool::new(false));
        let sender = {
            let (queue, mailbox) = (queue.clone(), mailbox.clone());
            thread::spawn(move || {
                mailbox.store(true, SeqCst);
                queue.wake(id)
            })
        };
        // The worker: one slice that consumes the message or parks.
        let (_, task) = take_slice(&queue);
        let next = if take_message(&mailbox) {
            Next::Finished("got it".into())
        } else {
            Next::Park(Wake::Message)
        };
        let seen = matches!(next, Next::Finished(_));
        end_slice(&queue, id, task, next);
        let woke = sender.join().expect("sender");
        if seen {
            assert!(matches!(woke, Ok(()) | Err(Error::UnknownTask(_))));
        } else {
            woke.expect("the task was live");
            // It must run again, and then it finds the message.
            let (_, task) = take_slice(&queue);
            assert!(take_message(&mailbox), "the message is there");
            end_slice(&queue, id, task, Next::Finished("got it".into()));
        }
    });
}

/// An idle worker waiting for work is woken by `wake` of a parked task (no
/// lost notification: a lost one shows up as a deadlock in loom).
#[test]
fn wake_vs_idle_worker() {
    loom::model(|| {
        let (queue, id, probe) = queue_with_task(true);
        let worker = {
            let queue = queue.clone();
            thread::spawn(move || match queue.next_job(Role::Worker) {
                Some(Job::Slice { id, task, .. }) => {
                    end_slice(&queue, id, task, Next::Finished("ok".into()))
                }
                _ => panic!("expected a slice"),
            })
        };
        queue.wake(id).expect("live");
        worker.join().expect("worker");
        assert_eq!(probe.drops.load(SeqCst), 1);
    });
}

/// Kill and wake race on a parked task, and on a running one: dropped once,
/// never queued again.
#[test]
fn kill_vs_wake() {
    for running in [false, true] {
        loom::model(move || {
            let (queue, id, probe) = queue_with_task(!running);
            let slice = running.then(|| take_slice(&queue));
            let killer = {
                let queue = queue.clone();
                thread::spawn(move || queue.kill(id))
            };
            let woke = queue.wake(id);
            if let Some((_, task)) = slice {
                end_slice(&queue, id, task, Next::Park(Wake::Message));
            }
            killer.join().expect("killer").expect("kill of a live task");
            assert!(matches!(woke, Ok(()) | Err(Error::UnknownTask(_))));
            assert_eq!(probe.drops.load(SeqCst), 1);
            assert!(queue.try_next_job().is_none());
            assert_eq!(queue.queued(), 0);
        });
    }
}

/// Two wakes race (with each other, and with the slice parking): the task is
/// queued exactly once.
#[test]
fn double_wake_enqueues_once() {
    for running in [false, true] {
        loom::model(move || {
            let (queue, id, _probe) = queue_with_task(!running);
            let slice = running.then(|| take_slice(&queue));
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let queue = queue.clone();
                    thread::spawn(move || queue.wake(id))
                })
                .collect();
            if let Some((_, task)) = slice {
                end_slice(&queue, id, task, Next::Park(Wake::Message));
            }
            for waker in wakers {
                waker.join().expect("waker").expect("live");
            }
            assert_eq!(queue.queued(), 1);
            let _ = take_slice(&queue);
            assert!(queue.try_next_job().is_none(), "queued once");
        });
    }
}

/// Runs jobs for `role` until the queue stops, finishing every slice; the
/// first finished slice sets `done`.
fn serve(
    queue: Arc<RunQueue<Fake>>,
    role: Role,
    done: Arc<(loom::sync::Mutex<bool>, loom::sync::Condvar)>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while let Some(job) = queue.next_job(role) {
            let Job::Slice { id, task, .. } = job else {
                panic!("no hibernation in these models")
            };
            end_slice(&queue, id, task, Next::Finished("ok".into()));
            *done.0.lock().expect("not poisoned") = true;
            done.1.notify_all();
        }
    })
}

/// A spare worker retires (the heartbeat lowers the target) while a task is
/// woken: the job is run by the spare or by the regular worker, never lost
/// between them, and `stop` ends both.
///
/// Four threads with several waits each: exhaustive exploration takes about
/// a quarter of an hour, so this model bounds preemptions (as tokio's CI
/// does; [`PREEMPTIONS`] takes seconds), which still covers every
/// interleaving with up to that many forced switches.
#[test]
fn spare_retires_without_losing_work() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(PREEMPTIONS));
    builder.check(|| {
        let config = Config {
            workers: 1,
            spare_workers: 1,
            ..Config::default()
        };
        let queue = Arc::new(RunQueue::new(&config));
        let probe = Arc::new(Probe::default());
        let id = queue
            .spawn("owner", 1, Fake(probe.clone()), false)
            .expect("spawn");
        let (_, task) = take_slice(&queue);
        end_slice(&queue, id, task, Next::Park(Wake::Message));
        queue.set_spare_target(1);
        let done = Arc::new((loom::sync::Mutex::new(false), loom::sync::Condvar::new()));
        let spare = serve(queue.clone(), Role::Spare(0), done.clone());
        let worker = serve(queue.clone(), Role::Worker, done.clone());
        queue.set_spare_target(0);
        queue.wake(id).expect("live");
        let mut finished = done.0.lock().expect("not poisoned");
        while !*finished {
            finished = done.1.wait(finished).expect("not poisoned");
        }
        drop(finished);
        queue.stop();
        spare.join().expect("spare");
        worker.join().expect("worker");
        assert_eq!(probe.drops.load(SeqCst), 1);
    });
}

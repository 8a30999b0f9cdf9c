//! Pause, resume and kill by id from another thread, within one slice.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use weft_sched::{Config, Error, Scheduler, TaskId, TaskState};

use crate::common::{Probe, Spinner, config, eventually, serial};

/// Slices so long (and without a fuel budget: the first slice of a task has
/// none) that only an interrupt ends them within the test's waits.
fn long_slices() -> Config {
    let slice = Duration::from_secs(5);
    Config {
        slice,
        deadline_slack: slice,
        ..config(1)
    }
}

fn running(scheduler: &Scheduler<Spinner>, id: TaskId) -> bool {
    eventually(Duration::from_secs(5), || {
        scheduler.state(id) == Some(TaskState::Running)
    })
}

#[test]
fn pause_resume_and_kill_from_another_thread_end_the_running_slice() {
    let _serial = serial();
    let scheduler = Arc::new(Scheduler::new(long_slices()).expect("start"));
    let probe = Arc::new(Probe::default());
    let id = scheduler
        .spawn("o", 1, Spinner::with(probe.clone()))
        .expect("spawn");
    assert!(running(&scheduler, id));

    // Pause from another thread: the 5 s slice ends at once.
    let other = scheduler.clone();
    thread::spawn(move || other.pause(id))
        .join()
        .expect("thread")
        .expect("pause");
    assert!(
        eventually(Duration::from_secs(2), || scheduler.state(id)
            == Some(TaskState::Paused)),
        "the slice was not interrupted"
    );
    let runs = probe.runs.load(Ordering::Relaxed);
    let work = probe.work.load(Ordering::Relaxed);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        probe.runs.load(Ordering::Relaxed),
        runs,
        "a paused task does not run"
    );
    assert_eq!(probe.work.load(Ordering::Relaxed), work);

    // Resume, then kill from another thread: dropped as its slice returns.
    let other = scheduler.clone();
    thread::spawn(move || other.resume(id))
        .join()
        .expect("thread")
        .expect("resume");
    // (`Running` is reported from the moment a worker takes the task, a
    // little before `run` starts.)
    assert!(eventually(Duration::from_secs(5), || {
        probe.runs.load(Ordering::Relaxed) == runs + 1
    }));
    assert_eq!(scheduler.state(id), Some(TaskState::Running));
    let other = scheduler.clone();
    thread::spawn(move || other.kill(id))
        .join()
        .expect("thread")
        .expect("kill");
    assert!(
        scheduler.stats(id).is_none(),
        "a killed task is gone at once"
    );
    assert!(
        eventually(Duration::from_secs(2), || probe
            .drops
            .load(Ordering::Relaxed)
            == 1),
        "the killed task was not dropped when its slice returned"
    );
    thread::sleep(Duration::from_millis(20));
    assert_eq!(
        probe.runs.load(Ordering::Relaxed),
        runs + 1,
        "a killed task never runs again"
    );
    for result in [
        scheduler.pause(id),
        scheduler.resume(id),
        scheduler.kill(id),
        scheduler.wake(id),
    ] {
        assert!(matches!(result, Err(Error::UnknownTask(got)) if got == id));
    }
    let scheduler = Arc::into_inner(scheduler).expect("the threads are done");
    assert!(scheduler.shutdown().is_empty());
    assert_eq!(probe.drops.load(Ordering::Relaxed), 1);
}

#[test]
fn kill_of_a_task_that_is_not_running_drops_it_before_returning() {
    let _serial = serial();
    let scheduler = Scheduler::new(long_slices()).expect("start");
    let probe = Arc::new(Probe::default());
    let id = scheduler
        .spawn_paused("o", 1, Spinner::with(probe.clone()))
        .expect("spawn");
    assert_eq!(scheduler.state(id), Some(TaskState::Paused));
    scheduler.kill(id).expect("kill");
    assert_eq!(probe.drops.load(Ordering::Relaxed), 1);
    assert_eq!(probe.runs.load(Ordering::Relaxed), 0);
    assert!(matches!(
        scheduler.kill(TaskId(12345)),
        Err(Error::UnknownTask(_))
    ));
}

/// A task whose slice panics.
struct Panics;

impl weft_sched::Task for Panics {
    fn run(&mut self, _: &weft_sched::Slice) -> weft_sched::SliceEnd {
        panic!("boom")
    }
    fn interrupter(&self) -> Option<Arc<dyn weft_sched::Interrupt>> {
        None
    }
}

#[test]
fn a_panicking_task_finishes_and_the_workers_go_on() {
    let _serial = serial();
    // Keep the expected panic's message out of the test output.
    let default_hook = std::sync::Arc::new(std::panic::take_hook());
    let hook = default_hook.clone();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"boom") {
            hook(info);
        }
    }));
    let scheduler: Scheduler<Box<dyn weft_sched::Task>> = Scheduler::new(config(1)).expect("start");
    let bad = scheduler.spawn("o", 1, Box::new(Panics)).expect("spawn");
    let exit = scheduler.wait_finished(bad, Duration::from_secs(5));
    assert_eq!(exit.as_deref(), Some("panicked: boom"));
    let probe = Arc::new(Probe::default());
    scheduler
        .spawn("o", 1, Box::new(Spinner::with(probe.clone())))
        .expect("spawn");
    assert!(eventually(Duration::from_secs(5), || probe
        .runs
        .load(Ordering::Relaxed)
        > 2));
    assert_eq!(scheduler.counters().panics, 1);
    drop(scheduler);
    drop(std::panic::take_hook());
    std::panic::set_hook(Box::new(move |info| default_hook(info)));
}

//! A task stuck in a blocking host call does not stall the queue when the
//! heartbeat is on (a spare worker serves it meanwhile), and does when it is
//! off.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft_sched::{Config, Interrupt, Scheduler, Slice, SliceEnd, Task, blocking};

use crate::common::{Probe, Spinner, config, eventually, serial};

/// Makes `calls` blocking host calls of 50 ms, one per slice, and records how
/// many slices the spinner ran during each.
struct Blocker {
    calls: u64,
    spinner: Arc<Probe>,
    progress: Arc<Mutex<Vec<u64>>>,
}

impl Task for Blocker {
    fn run(&mut self, _: &Slice) -> SliceEnd {
        let before = self.spinner.runs.load(Ordering::Relaxed);
        blocking(|| std::thread::sleep(Duration::from_millis(50)));
        let during = self.spinner.runs.load(Ordering::Relaxed) - before;
        let mut progress = self.progress.lock().expect("not poisoned");
        progress.push(during);
        if progress.len() as u64 == self.calls {
            SliceEnd::finished(1, "done")
        } else {
            SliceEnd::runnable(1)
        }
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        None
    }
}

/// Runs a blocker and a spinner on one worker, the blocker spawned after
/// the spinner has run alone for `quiet`; returns the spinner's slices
/// during each blocking call, and the spares started.
fn spinner_progress_while_blocked(heartbeat: Option<Duration>, quiet: Duration) -> (Vec<u64>, u64) {
    let config = Config {
        heartbeat,
        ..config(1)
    };
    let scheduler: Scheduler<Box<dyn Task>> = Scheduler::new(config).expect("start");
    let spinner = Arc::new(Probe::default());
    let progress = Arc::new(Mutex::new(Vec::new()));
    scheduler
        .spawn("s", 1, Box::new(Spinner::with(spinner.clone())))
        .expect("spawn");
    // Let the spinner's first slice (no fuel budget yet) pass.
    assert!(eventually(Duration::from_secs(5), || spinner
        .runs
        .load(Ordering::Relaxed)
        >= 2));
    std::thread::sleep(quiet);
    let blocker = Blocker {
        calls: 4,
        spinner: spinner.clone(),
        progress: progress.clone(),
    };
    let id = scheduler.spawn("b", 1, Box::new(blocker)).expect("spawn");
    assert_eq!(
        scheduler
            .wait_finished(id, Duration::from_secs(20))
            .as_deref(),
        Some("done")
    );
    let counters = scheduler.counters();
    if heartbeat.is_some() {
        assert!(
            eventually(Duration::from_secs(5), || scheduler
                .counters()
                .spares_active
                == 0),
            "the spare retires once no worker is stuck"
        );
    }
    let progress = progress.lock().expect("not poisoned").clone();
    (progress, counters.spares_started)
}

#[test]
fn a_blocking_call_does_not_stall_the_queue_with_the_heartbeat() {
    let _serial = serial();
    let (progress, spares) =
        spinner_progress_while_blocked(Some(Duration::from_millis(1)), Duration::ZERO);
    eprintln!(
        "heartbeat on: spinner slices during each 50 ms blocking call: {progress:?}, {spares} spare start(s)"
    );
    assert!(spares >= 1);
    assert!(progress.iter().sum::<u64>() >= 2, "{progress:?}");
}

/// After a quiet time without blocking calls the heartbeat stops beating;
/// the first blocking call wakes it, and it starts a spare as before.
#[test]
fn a_dormant_heartbeat_wakes_for_a_blocking_call() {
    let _serial = serial();
    let (progress, spares) =
        spinner_progress_while_blocked(Some(Duration::from_millis(1)), Duration::from_millis(300));
    eprintln!(
        "heartbeat woken: spinner slices during each 50 ms blocking call: {progress:?}, {spares} spare start(s)"
    );
    assert!(spares >= 1);
    assert!(progress.iter().sum::<u64>() >= 2, "{progress:?}");
}

#[test]
fn a_blocking_call_stalls_the_queue_without_the_heartbeat() {
    let _serial = serial();
    let (progress, spares) = spinner_progress_while_blocked(None, Duration::ZERO);
    eprintln!("heartbeat off: spinner slices during each 50 ms blocking call: {progress:?}");
    assert_eq!(spares, 0);
    // One worker, blocked: nothing else can run.
    assert_eq!(progress, vec![0; 4]);
}

/// How many spares there may be is bounded by `spare_workers`.
#[test]
fn blocking_outside_a_worker_just_runs() {
    let calls = AtomicU64::new(0);
    assert_eq!(blocking(|| calls.fetch_add(1, Ordering::Relaxed) + 1), 1);
}

//! Parked tasks cost nothing, wake up on their event, and come back with
//! bounded credit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use weft_sched::{Interrupt, Scheduler, Slice, SliceEnd, Task, TaskState, Wake};

use crate::common::{Flag, Probe, Spinner, config, eventually, serial, spin};

/// Sleeps `sleep` on its first slice, then spins; on waking it notes how
/// much work the spinner it competes with had done.
struct Sleeper {
    sleep: Duration,
    flag: Arc<Flag>,
    /// The competitor's work, read when the sleeper woke.
    rival: Arc<Probe>,
    rival_at_wake: Arc<AtomicU64>,
    mine: Arc<Probe>,
}

impl Task for Sleeper {
    fn run(&mut self, slice: &Slice) -> SliceEnd {
        let runs = self.mine.runs.fetch_add(1, Ordering::Relaxed);
        if runs == 0 {
            return SliceEnd::park(0, Wake::At(Instant::now() + self.sleep));
        }
        if runs == 1 {
            self.rival_at_wake
                .store(self.rival.work.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let fuel = spin(slice, &self.flag);
        self.mine.work.fetch_add(fuel, Ordering::Relaxed);
        SliceEnd::runnable(fuel)
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        Some(self.flag.clone())
    }
}

/// A sleeper that was away 400 ms competes with a spinner on one worker:
/// after it wakes, it must not run much more than its credit (one 5 ms
/// slice) ahead of the spinner.
fn sleeper_gets_bounded_credit(sleeper_owner: &str) {
    let _serial = serial();
    let scheduler: Scheduler<Box<dyn Task>> = Scheduler::new(config(1)).expect("start");
    let rival = Arc::new(Probe::default());
    let mine = Arc::new(Probe::default());
    let rival_at_wake = Arc::new(AtomicU64::new(0));
    scheduler
        .spawn("spinner", 1, Box::new(Spinner::with(rival.clone())))
        .expect("spawn");
    let sleeper = Sleeper {
        sleep: Duration::from_millis(400),
        flag: Arc::default(),
        rival: rival.clone(),
        rival_at_wake: rival_at_wake.clone(),
        mine: mine.clone(),
    };
    let id = scheduler
        .spawn(sleeper_owner, 1, Box::new(sleeper))
        .expect("spawn");
    // It has woken once it has run twice; then wait for 60 ms of its CPU.
    assert!(eventually(Duration::from_secs(20), || mine
        .runs
        .load(Ordering::Relaxed)
        >= 2));
    let woke_cpu = scheduler.stats(id).expect("live").cpu;
    assert!(eventually(Duration::from_secs(20), || {
        scheduler.stats(id).expect("live").cpu >= woke_cpu + Duration::from_millis(60)
    }));
    let its_work = mine.work.load(Ordering::Relaxed) as f64;
    let rival_work =
        (rival.work.load(Ordering::Relaxed) - rival_at_wake.load(Ordering::Relaxed)) as f64;
    eprintln!(
        "after a 400 ms sleep ({sleeper_owner}): the sleeper did {its_work} units, the spinner {rival_work} meanwhile"
    );
    // Unbounded credit would let the sleeper run for ~400 ms alone: the
    // spinner would have done nothing by now.
    assert!(
        rival_work >= its_work / 3.0,
        "sleeper {its_work}, spinner {rival_work}"
    );
}

#[test]
fn a_task_woken_after_a_long_sleep_gets_bounded_credit() {
    sleeper_gets_bounded_credit("spinner");
}

#[test]
fn an_owner_woken_after_a_long_sleep_gets_bounded_credit() {
    sleeper_gets_bounded_credit("sleepy");
}

/// Waits for messages: parks until `wake`, finishes after `want` of them.
struct Receiver {
    mailbox: Arc<AtomicU64>,
    seen: u64,
    want: u64,
    runs: Arc<AtomicU64>,
}

impl Task for Receiver {
    fn run(&mut self, _: &Slice) -> SliceEnd {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.seen = self.mailbox.load(Ordering::Acquire);
        if self.seen >= self.want {
            SliceEnd::finished(1, format!("got {}", self.seen))
        } else {
            SliceEnd::park(1, Wake::Message)
        }
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        None
    }
}

fn cpu_of_process() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[test]
fn parked_tasks_cost_no_cpu_and_wake_on_messages() {
    let _serial = serial();
    let scheduler = Scheduler::new(config(2)).expect("start");
    let mut receivers = Vec::new();
    for _ in 0..200 {
        let mailbox = Arc::new(AtomicU64::new(0));
        let runs = Arc::new(AtomicU64::new(0));
        let task = Receiver {
            mailbox: mailbox.clone(),
            seen: 0,
            want: 3,
            runs: runs.clone(),
        };
        let id = scheduler.spawn("o", 1, task).expect("spawn");
        receivers.push((id, mailbox, runs));
    }
    assert!(scheduler.wait_idle(Duration::from_secs(10)));
    // Everything is parked: the scheduler's threads all sleep.
    let before = cpu_of_process();
    std::thread::sleep(Duration::from_millis(300));
    let used = cpu_of_process() - before;
    eprintln!("200 parked tasks: the process used {used:?} of CPU in 300 ms");
    assert!(used < Duration::from_millis(30), "{used:?}");
    for (id, _, runs) in &receivers {
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        assert_eq!(scheduler.state(*id), Some(TaskState::Parked));
    }
    // Three messages each: the third one finishes it.
    for round in 1..=3 {
        for (id, mailbox, _) in &receivers {
            mailbox.store(round, Ordering::Release);
            match scheduler.wake(*id) {
                Ok(()) => {}
                // Woken by the previous message, it may have seen this one
                // already and finished.
                Err(weft_sched::Error::UnknownTask(_)) if round == 3 => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    for (id, _, runs) in &receivers {
        let exit = scheduler.wait_finished(*id, Duration::from_secs(10));
        assert_eq!(exit.as_deref(), Some("got 3"));
        // Woken at most once per message, never lost.
        assert!((2..=4).contains(&runs.load(Ordering::Relaxed)));
    }
    assert!(scheduler.tasks().is_empty());
}

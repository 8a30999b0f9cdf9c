//! Fake tasks and helpers shared by the tests.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use weft_sched::{Config, Interrupt, Slice, SliceEnd, Task};

/// Makes the tests of this binary run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A test config: `workers` workers, 5 ms slices.
pub fn config(workers: usize) -> Config {
    let slice = Duration::from_millis(5);
    Config {
        workers,
        slice,
        deadline_slack: slice,
        wake_credit: slice,
        ..Config::default()
    }
}

/// An interrupt flag.
#[derive(Default)]
pub struct Flag(AtomicBool);

impl Flag {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Interrupt for Flag {
    fn interrupt(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Burns CPU until the slice's fuel is spent or `flag` is set; one fuel per
/// small unit of work. Returns the fuel used.
pub fn spin(slice: &Slice, flag: &Flag) -> u64 {
    let budget = slice.fuel.unwrap_or(u64::MAX);
    let mut fuel = 0;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while fuel < budget && !flag.is_set() {
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        black_box(x);
        fuel += 1;
    }
    fuel
}

/// What a test can watch of a [`Spinner`] from outside.
#[derive(Default)]
pub struct Probe {
    /// Slices started.
    pub runs: AtomicU64,
    /// Fuel spent.
    pub work: AtomicU64,
    /// Times the task was dropped.
    pub drops: AtomicUsize,
}

/// A task that spins forever, slice after slice.
pub struct Spinner {
    pub flag: Arc<Flag>,
    pub probe: Arc<Probe>,
}

impl Spinner {
    pub fn new() -> Self {
        Self::with(Arc::default())
    }

    pub fn with(probe: Arc<Probe>) -> Self {
        Self {
            flag: Arc::default(),
            probe,
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.probe.drops.fetch_add(1, Ordering::Relaxed);
    }
}

impl Task for Spinner {
    fn run(&mut self, slice: &Slice) -> SliceEnd {
        self.probe.runs.fetch_add(1, Ordering::Relaxed);
        let fuel = spin(slice, &self.flag);
        self.probe.work.fetch_add(fuel, Ordering::Relaxed);
        SliceEnd::runnable(fuel)
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        Some(self.flag.clone())
    }
}

/// Polls `done` every millisecond until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

//! Interrupt flags set from another thread at arbitrary moments, the way a
//! scheduler preempts an instrumented program.
//!
//! One background thread sets the flag of every registered instance every
//! few tens of microseconds. Runs that use it are not reproducible: the
//! yields fall wherever the other thread happens to strike.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The flags the poker thread sets: addresses of interrupt flags in the
/// state memories of live instances.
#[derive(Debug, Default)]
struct Targets {
    next_id: u64,
    flags: Vec<(u64, usize)>,
}

/// A background thread that keeps setting registered interrupt flags.
#[derive(Debug)]
pub struct Poker {
    targets: Arc<Mutex<Targets>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A registration; the flag is no longer touched once it is dropped.
#[derive(Debug)]
pub struct Registration {
    targets: Arc<Mutex<Targets>>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.flags.retain(|(id, _)| *id != self.id);
    }
}

impl Poker {
    /// Starts the thread; it sets every registered flag every `interval`.
    pub fn start(interval: Duration) -> Poker {
        let targets = Arc::new(Mutex::new(Targets::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let targets = Arc::clone(&targets);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("fuzz-flag-poker".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(interval);
                        let targets = targets.lock().unwrap_or_else(|e| e.into_inner());
                        for (_, address) in &targets.flags {
                            // SAFETY: the address is the 4-aligned interrupt flag
                            // of a state memory that stays mapped and in place
                            // while it is registered (`Registration` removes it,
                            // under this lock, before the instance goes away),
                            // and the instrumented code only ever reads it.
                            let flag = unsafe { AtomicU32::from_ptr(*address as *mut u32) };
                            flag.store(1, Ordering::Relaxed);
                        }
                    }
                })
                .ok()
        };
        Poker {
            targets,
            stop,
            thread,
        }
    }

    /// Registers the interrupt flag at `address`. It must stay valid until
    /// the registration is dropped.
    pub fn register(&self, address: *mut u32) -> Registration {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.next_id += 1;
        let id = targets.next_id;
        targets.flags.push((id, address as usize));
        Registration {
            targets: Arc::clone(&self.targets),
            id,
        }
    }
}

impl Drop for Poker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

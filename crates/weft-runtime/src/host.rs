//! The host side of one script: what its store holds besides the instance.
//!
//! [`HostState`] is the part that belongs to the script's execution state
//! and goes into its snapshot (arguments, environment, clocks, the random
//! generator's position, a host call waiting to complete, where in its entry
//! points it is). The rest — the output streams, the resource limiter, the
//! handles to the instance's exports — is rebuilt when a script is restored.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::{Global, Memory, ResourceLimiter};
use weft_snapshot::Limits;

use crate::api::ApiState;

/// Tells whether a module name can be spawned (see [`crate::Script::set_spawnable`]).
pub type Spawnable = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Nanoseconds of virtual time per unit of fuel in deterministic mode.
pub const NANOS_PER_FUEL: u64 = 1;

/// The wall-clock time at which a deterministic script's virtual clock
/// starts: 2026-01-01T00:00:00Z, in nanoseconds since the Unix epoch.
pub const DETERMINISTIC_EPOCH_NANOS: u64 = 1_767_225_600 * 1_000_000_000;

/// Where a script's standard streams go.
pub struct Stdio {
    /// Standard output.
    pub stdout: Box<dyn Write + Send>,
    /// Standard error.
    pub stderr: Box<dyn Write + Send>,
    /// Standard input.
    pub stdin: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Stdio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stdio").finish_non_exhaustive()
    }
}

impl Stdio {
    /// The process's own standard output and error; empty input.
    pub fn inherit() -> Stdio {
        Stdio {
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
            stdin: Box::new(std::io::empty()),
        }
    }

    /// Output discarded, empty input.
    pub fn null() -> Stdio {
        Stdio {
            stdout: Box::new(std::io::sink()),
            stderr: Box::new(std::io::sink()),
            stdin: Box::new(std::io::empty()),
        }
    }

    /// Output captured in memory, empty input.
    pub fn captured() -> (Stdio, Captured) {
        let captured = Captured::default();
        let stdio = Stdio {
            stdout: Box::new(captured.stdout_writer()),
            stderr: Box::new(captured.stderr_writer()),
            stdin: Box::new(std::io::empty()),
        };
        (stdio, captured)
    }
}

/// Output captured by [`Stdio::captured`]; clones share the buffers.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    /// Everything written to standard output so far.
    pub fn stdout(&self) -> Vec<u8> {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything written to standard error so far.
    pub fn stderr(&self) -> Vec<u8> {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A writer appending to the captured standard output.
    pub fn stdout_writer(&self) -> impl Write + Send + 'static {
        SharedBuffer(self.stdout.clone())
    }

    /// A writer appending to the captured standard error.
    pub fn stderr_writer(&self) -> impl Write + Send + 'static {
        SharedBuffer(self.stderr.clone())
    }
}

struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A host call that suspended the script and completes when it is resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pending {
    /// `sched_yield`.
    Yield,
    /// `poll_oneoff` sleeping until `deadline` (nanoseconds on the script's
    /// monotonic clock); `subscription` is the one that fires.
    Sleep {
        /// When the sleep ends.
        deadline: u64,
        /// The index of the clock subscription that fires then.
        subscription: u32,
    },
    /// The API's `sleep`, until `deadline` (nanoseconds on the script's
    /// monotonic clock).
    Nap {
        /// When the sleep ends.
        deadline: u64,
    },
    /// The API's `recv` waiting for a message until `deadline` (for ever
    /// if `None`); a timer firing before then also ends the wait.
    Receive {
        /// When the wait times out.
        deadline: Option<u64>,
    },
    /// A host call that completed (its effects and outputs are done) and
    /// then paused the script because an interrupt was asked for while it
    /// ran; resumed, the call returns this errno without running again.
    Done(i32),
}

/// The state of a deterministic script's virtual clock and random generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deterministic {
    /// The seed of the random generator.
    pub seed: u64,
    /// How many 32-bit words the generator has produced.
    pub rng_word_pos: u128,
    /// Virtual nanoseconds spent asleep.
    pub slept: u64,
}

/// The host's part of a script's execution state (see the module docs),
/// as a snapshot stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// The command line.
    pub args: Vec<String>,
    /// The environment.
    pub env: Vec<(String, String)>,
    /// Deterministic mode's clock and generator, if the script runs in it.
    pub deterministic: Option<Deterministic>,
    /// The script's monotonic clock, in nanoseconds, when the state was captured.
    pub monotonic: u64,
    /// A host call waiting to complete.
    pub pending: Option<Pending>,
    /// The export the script runs (after the deferred `start` function).
    pub entry_name: String,
    /// The entry point being run, an index into the script's entry list.
    pub entry: u32,
    /// Whether a call of that entry point is under way (its frames are in
    /// the state memory).
    pub in_call: bool,
    /// Whether the entry point is a function launched with arguments for
    /// its results ([`crate::Runtime::launch`]) rather than a command's
    /// `() -> ()` entry point.
    pub call: bool,
    /// Which of stdin, stdout, stderr the script closed.
    pub closed: [bool; 3],
    /// Bytes written to standard output.
    pub stdout_bytes: u64,
    /// Bytes written to standard error.
    pub stderr_bytes: u64,
    /// The wall-clock time of the capture, in nanoseconds since the Unix
    /// epoch (0 for a script never captured, and in deterministic mode).
    /// A restored script's monotonic clock counts the time since, so that
    /// a sleep goes on in real time while the script is on disk.
    pub captured_at: u64,
    /// What the weft host API keeps: mailbox, outbox, timers, key-value
    /// store.
    pub api: ApiState,
}

/// The random generator of a script.
pub(crate) enum Rng {
    /// Deterministic mode; its position is saved in [`Deterministic`].
    Seeded(Box<ChaCha8Rng>),
    /// The operating system's generator.
    Os,
}

/// Enforces a script's [`Limits`] on memory and table growth.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limiter {
    pub limits: Limits,
    /// Bytes of linear memory the instance has, all memories together
    /// (the state memory, which holds the paused call stack, included).
    pub memory_bytes: u64,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self
            .memory_bytes
            .saturating_sub(current as u64)
            .saturating_add(desired as u64);
        if self.limits.memory_bytes.is_some_and(|limit| after > limit) {
            return Ok(false);
        }
        self.memory_bytes = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self
            .limits
            .table_elements
            .is_none_or(|limit| desired as u64 <= limit))
    }
}

/// The data of a script's store.
pub struct Host {
    pub(crate) state: HostState,
    pub(crate) stdio: Stdio,
    pub(crate) limiter: Limiter,
    pub(crate) rng: Rng,
    /// The guest's `memory` export, through which WASI passes pointers.
    pub(crate) memory: Option<Memory>,
    /// The control state global, which a host call sets to suspend.
    pub(crate) control_state: Option<Global>,
    /// The state memory, whose interrupt flag a slow host call checks.
    pub(crate) state_memory: Option<Memory>,
    /// The fuel counter, read for the virtual clock.
    pub(crate) fuel: Option<Global>,
    /// Fuel used before the current slice.
    pub(crate) fuel_base: u64,
    /// The fuel the current slice started with.
    pub(crate) slice_fuel: i64,
    /// When the monotonic clock read `state.monotonic`.
    pub(crate) anchor: Instant,
    /// The script's id, for the API's `id` and `send`.
    pub(crate) id: String,
    /// The modules the API's `spawn` may start, if the embedder offers it.
    pub(crate) spawnable: Option<Spawnable>,
    /// The bytes of the key-value store, keys and values together.
    pub(crate) store_bytes: usize,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Host {
    pub(crate) fn new(state: HostState, stdio: Stdio, limits: Limits) -> Host {
        let rng = match &state.deterministic {
            Some(d) => {
                let mut rng = ChaCha8Rng::seed_from_u64(d.seed);
                rng.set_word_pos(d.rng_word_pos);
                Rng::Seeded(Box::new(rng))
            }
            None => Rng::Os,
        };
        let mut state = state;
        if state.deterministic.is_none() && state.captured_at > 0 {
            // Never backwards, even if the wall clock is behind the
            // capturing machine's.
            let away = wall_clock_nanos().saturating_sub(state.captured_at);
            state.monotonic = state.monotonic.saturating_add(away);
            state.captured_at = 0;
        }
        let store_bytes = state.api.store_bytes();
        Host {
            state,
            stdio,
            limiter: Limiter {
                limits,
                memory_bytes: 0,
            },
            rng,
            memory: None,
            control_state: None,
            state_memory: None,
            fuel: None,
            fuel_base: 0,
            slice_fuel: 0,
            anchor: Instant::now(),
            id: String::new(),
            spawnable: None,
            store_bytes,
        }
    }

    /// Fills `buf` with random bytes.
    pub(crate) fn random(&mut self, buf: &mut [u8]) {
        match &mut self.rng {
            Rng::Seeded(rng) => rng.fill_bytes(buf),
            Rng::Os => rand::rng().fill_bytes(buf),
        }
    }

    /// The state to put into a snapshot, with the clock and generator
    /// positions brought up to date. `fuel_used` is the script's total.
    pub(crate) fn capture(&self, fuel_used: u64) -> HostState {
        let mut state = self.state.clone();
        state.monotonic = self.monotonic(fuel_used);
        if state.deterministic.is_none() {
            state.captured_at = wall_clock_nanos();
        }
        if let (Some(d), Rng::Seeded(rng)) = (&mut state.deterministic, &self.rng) {
            d.rng_word_pos = rng.get_word_pos();
        }
        state
    }

    /// The script's monotonic clock, given the fuel it has used: virtual
    /// time in deterministic mode, real time otherwise (continuing from
    /// where it was when the script was captured, plus the wall-clock time
    /// since, even on another machine).
    pub(crate) fn monotonic(&self, fuel_used: u64) -> u64 {
        match &self.state.deterministic {
            Some(d) => fuel_used
                .saturating_mul(NANOS_PER_FUEL)
                .saturating_add(d.slept),
            None => self
                .state
                .monotonic
                .saturating_add(self.anchor.elapsed().as_nanos() as u64),
        }
    }

    /// The wall clock, in nanoseconds since the Unix epoch.
    pub(crate) fn realtime(&self, fuel_used: u64) -> u64 {
        match &self.state.deterministic {
            Some(_) => DETERMINISTIC_EPOCH_NANOS.saturating_add(self.monotonic(fuel_used)),
            None => wall_clock_nanos(),
        }
    }

    /// Advances a deterministic script's virtual clock by `nanos` of sleep.
    pub(crate) fn sleep_virtually(&mut self, nanos: u64) {
        if let Some(d) = &mut self.state.deterministic {
            d.slept = d.slept.saturating_add(nanos);
        }
    }
}

/// Nanoseconds since the Unix epoch, 0 if the clock is before it.
fn wall_clock_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos() as u64
}

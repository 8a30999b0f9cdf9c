//! Preemptible functions: call an exported function with a time limit and
//! get back either its results or a [`Continuation`] that resumes it.
//!
//! [`Runtime::launch`] instantiates the module, calls the function on the
//! caller's thread and pauses it when its quantum is over. A wall-clock
//! quantum ([`Quantum::Time`]) is enforced by the interrupt flag of a
//! module instrumented in flag mode, set by one timer thread that the
//! runtime shares between all calls; a fuel quantum ([`Quantum::Fuel`])
//! pauses deterministically at the first fuel check after the fuel is
//! spent. A paused call holds no native stack: its frames are in the
//! instance's state memory, so the continuation can be resumed on another
//! thread, captured as a snapshot, or cancelled, which frees the instance
//! at once.
//!
//! Modules instrumented with `weft_instrument::Config::flag(true)`
//! count fuel exactly for accounting while only the flag interrupts them.

use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::host::Stdio;
use crate::module::ScriptModule;
use crate::script::{Budget, InterruptHandle, Script, ScriptOptions, Status, Trap};
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasmtime::Val;
use weft_snapshot::{Accounting, Snapshot};

/// How long a launched or resumed function may run before it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantum {
    /// Wall-clock time, enforced through the interrupt flag (the module
    /// must be instrumented in flag mode).
    Time(Duration),
    /// About this many units of fuel: the call pauses at the first check
    /// after they are spent (the module must be instrumented with fuel
    /// checks). Deterministic.
    Fuel(u64),
}

impl From<Duration> for Quantum {
    fn from(time: Duration) -> Quantum {
        Quantum::Time(time)
    }
}

/// How a launched or resumed function call stopped.
#[derive(Debug)]
pub enum Outcome {
    /// The function returned.
    Complete {
        /// What it returned.
        results: Vec<Val>,
        /// The fuel (if the module counts it) and time of the whole call.
        accounting: Accounting,
    },
    /// Its quantum ran out, or it yielded or went to sleep: it continues
    /// with [`Continuation::resume`].
    Paused(Continuation),
    /// It trapped.
    Trapped(Trap),
    /// It called WASI `proc_exit` with this status.
    Exited(i32),
}

impl Outcome {
    /// The results, if the function returned.
    pub fn complete(self) -> Option<Vec<Val>> {
        match self {
            Outcome::Complete { results, .. } => Some(results),
            _ => None,
        }
    }

    /// The continuation, if the call was paused.
    pub fn paused(self) -> Option<Continuation> {
        match self {
            Outcome::Paused(c) => Some(c),
            _ => None,
        }
    }
}

/// A paused function call.
///
/// It owns its instance; dropping it (or [`Continuation::cancel`]) frees
/// the instance. It is [`Send`]: it can be resumed on any thread.
pub struct Continuation {
    // Boxed: a continuation is moved around whole, and an `Outcome` that
    // holds one stays small.
    script: Box<Script>,
    timer: Arc<Timer>,
}

impl std::fmt::Debug for Continuation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Continuation")
            .field("script", &self.script)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Calls `function` of a fresh instance of `module` with `args`, on this
    /// thread, for at most `quantum`.
    ///
    /// The function's parameters and results must be numbers or vectors.
    /// For a WASI module, the instance has no arguments or environment and
    /// discards its output; [`Runtime::launch_with`] sets them.
    pub fn launch(
        &self,
        module: &Arc<ScriptModule>,
        function: &str,
        args: &[Val],
        quantum: impl Into<Quantum>,
    ) -> Result<Outcome> {
        self.launch_with(
            module,
            function,
            args,
            quantum,
            ScriptOptions::default(),
            Stdio::null(),
        )
    }

    /// [`Runtime::launch`] with the instance's options (arguments,
    /// environment, limits, deterministic mode; `options.entry` is ignored)
    /// and standard streams.
    pub fn launch_with(
        &self,
        module: &Arc<ScriptModule>,
        function: &str,
        args: &[Val],
        quantum: impl Into<Quantum>,
        options: ScriptOptions,
        stdio: Stdio,
    ) -> Result<Outcome> {
        let quantum = quantum.into();
        check_quantum(module, quantum)?;
        let options = ScriptOptions {
            entry: function.to_string(),
            ..options
        };
        let mut script = Box::new(Script::spawn_call(self, module, options, args, stdio)?);
        let timer = self.timer().clone();
        run(&mut script, &timer, quantum)?;
        Ok(outcome(script, timer))
    }

    /// Continues a call paused in a snapshot ([`Continuation::snapshot`])
    /// in a fresh instance of `module`.
    pub fn restore_continuation(
        &self,
        module: &Arc<ScriptModule>,
        snapshot: &Snapshot,
        stdio: Stdio,
    ) -> Result<Continuation> {
        let script = Script::restore(self, module, snapshot, None, stdio)?;
        if script.call.is_none() {
            return Err(Error::State(
                "the snapshot is of a script, not of a launched function".into(),
            ));
        }
        Ok(Continuation {
            script: Box::new(script),
            timer: self.timer().clone(),
        })
    }
}

impl Continuation {
    /// Runs the call on for at most `quantum`, on this thread.
    pub fn resume(mut self, quantum: impl Into<Quantum>) -> Result<Outcome> {
        let quantum = quantum.into();
        check_quantum(&self.script.module, quantum)?;
        run(&mut self.script, &self.timer, quantum)?;
        Ok(outcome(self.script, self.timer))
    }

    /// Abandons the call and frees its instance.
    pub fn cancel(self) {
        drop(self);
    }

    /// Captures the paused call; [`Runtime::restore_continuation`] continues
    /// it. The snapshot does not carry the module.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        self.script.snapshot()
    }

    /// Fuel used (if the module counts it) and time spent so far.
    pub fn accounting(&self) -> Accounting {
        self.script.accounting()
    }

    /// A handle that pauses the call from another thread while it runs
    /// (flag-instrumented modules).
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.script.interrupt_handle()
    }

    /// The instance running the call.
    pub fn script(&self) -> &Script {
        &self.script
    }
}

fn check_quantum(module: &ScriptModule, quantum: Quantum) -> Result<()> {
    let config = &module.info().config;
    match quantum {
        Quantum::Time(_) if config.checks_fuel() => Err(Error::State(
            "a time quantum needs a module instrumented in flag mode; this one checks fuel \
             (use Quantum::Fuel, or load it with Config::flag)"
                .into(),
        )),
        Quantum::Fuel(_) if !config.checks_fuel() => Err(Error::State(
            "a fuel quantum needs a module instrumented with fuel checks".into(),
        )),
        _ => Ok(()),
    }
}

/// Runs one quantum of a call.
fn run(script: &mut Script, timer: &Timer, quantum: Quantum) -> Result<()> {
    match quantum {
        Quantum::Fuel(fuel) => {
            script.run(Budget::Fuel(fuel))?;
        }
        Quantum::Time(time) => {
            // A flag left over from an interrupt that came after the call
            // had already paused for another reason would end this
            // quantum at its first check.
            script.clear_interrupt();
            let alarm = timer.arm(Instant::now() + time, script.interrupt_handle());
            let ran = script.run(Budget::Unlimited).map(|_| ());
            timer.disarm(alarm);
            ran?;
        }
    }
    Ok(())
}

fn outcome(mut script: Box<Script>, timer: Arc<Timer>) -> Outcome {
    match script.status().clone() {
        Status::Exited(code) => match script.take_results() {
            Some(results) => Outcome::Complete {
                results,
                accounting: script.accounting(),
            },
            None => Outcome::Exited(code),
        },
        Status::Trapped(trap) => Outcome::Trapped(trap),
        // `Script::run` never leaves a script created, running or killed.
        _ => Outcome::Paused(Continuation { script, timer }),
    }
}

/// The runtime's timer thread: sets the interrupt flags of calls whose
/// quantum is over. One thread serves every call of a runtime.
pub(crate) struct Timer {
    shared: Arc<TimerShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// An armed deadline, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alarm(u64);

struct TimerShared {
    state: Mutex<TimerState>,
    changed: Condvar,
    /// Counts disarms, so that the timer thread spinning towards a deadline
    /// without the lock stops when that alarm may be gone.
    disarms: AtomicU64,
}

#[derive(Default)]
struct TimerState {
    /// Deadlines, earliest first; entries whose alarm was disarmed stay
    /// until they come up.
    deadlines: BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
    armed: HashMap<u64, InterruptHandle>,
    next: u64,
    /// When the timer thread wakes up next by itself (`None`: only when
    /// notified).
    wakes_at: Option<Instant>,
    stop: bool,
}

impl TimerShared {
    fn lock(&self) -> MutexGuard<'_, TimerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Timer {
    pub(crate) fn start() -> Result<Timer> {
        let shared = Arc::new(TimerShared {
            state: Mutex::new(TimerState::default()),
            changed: Condvar::new(),
            disarms: AtomicU64::new(0),
        });
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("weft-timer".into())
            .spawn(move || serve(&serving))
            .map_err(|e| Error::State(format!("cannot start the timer thread: {e}")))?;
        Ok(Timer {
            shared,
            thread: Some(thread),
        })
    }

    /// Interrupts `handle` at `deadline`, unless disarmed first.
    pub(crate) fn arm(&self, deadline: Instant, handle: InterruptHandle) -> Alarm {
        let mut state = self.shared.lock();
        let id = state.next;
        state.next += 1;
        state.deadlines.push(std::cmp::Reverse((deadline, id)));
        state.armed.insert(id, handle);
        // The timer thread needs waking only if it would sleep past this
        // deadline: a run of calls that end early wakes it once per
        // quantum, not once per call.
        let wake = state.wakes_at.is_none_or(|at| deadline < at);
        drop(state);
        if wake {
            self.shared.changed.notify_one();
        }
        Alarm(id)
    }

    /// Cancels an alarm. Once this returns, the alarm's interrupt has
    /// either happened or never will.
    pub(crate) fn disarm(&self, alarm: Alarm) {
        let mut state = self.shared.lock();
        if state.armed.remove(&alarm.0).is_some() {
            self.shared.disarms.fetch_add(1, Ordering::Relaxed);
        }
        if state.armed.is_empty() {
            state.deadlines.clear();
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How much earlier than a deadline the timer thread asks to be woken at
/// least; it spins the rest of the way.
const WAKE_EARLY_FLOOR: Duration = Duration::from_micros(10);
/// How much earlier at most, as a part of the wait and as an amount (the
/// larger of the two): on a machine whose sleeps end very late the thread
/// would otherwise spin through most of every quantum, taking a core from
/// the calls it times.
const WAKE_EARLY_CAP: Duration = Duration::from_micros(200);
const WAKE_EARLY_CAP_PART: u32 = 20;

/// How late the timer thread's sleeps end: a running estimate of a high
/// percentile of the lateness (about the 99.75th), for each order of
/// magnitude of the sleep. Waking that early (and a margin) makes a late
/// sleep rarer than the stalls of the machine itself, so that the tail of
/// the timeouts is theirs.
///
/// Sleeps end late by a few tens of microseconds whatever their length, but
/// the long ones, after which a virtual CPU has been idle and halted, have
/// a longer tail.
struct Lateness {
    high: [Duration; LATENESS_BUCKETS],
}

/// Sleeps under 128 µs, under 256 µs, ..., and of 8 ms or more.
const LATENESS_BUCKETS: usize = 8;
/// How much a sleep that ends no later than the estimate lowers it.
const LATENESS_DECAY: f64 = 0.001;

impl Lateness {
    fn new() -> Self {
        Self {
            high: [Duration::from_micros(50); LATENESS_BUCKETS],
        }
    }

    fn bucket(sleep: Duration) -> usize {
        let units = u64::try_from(sleep.as_micros() >> 7).unwrap_or(u64::MAX);
        units
            .checked_ilog2()
            .map_or(0, |b| b as usize + 1)
            .min(LATENESS_BUCKETS - 1)
    }

    /// How much earlier than `deadline` to ask to be woken after a wait of
    /// `wait`.
    fn early(&self, wait: Duration) -> Duration {
        let cap = WAKE_EARLY_CAP.max(wait / WAKE_EARLY_CAP_PART).min(wait / 2);
        (WAKE_EARLY_FLOOR + self.high[Self::bucket(wait)]).min(cap)
    }

    /// Learns from the sleep of a wait of `wait` that ended `late`. A sleep
    /// later than the estimate raises it by half, any other lowers it by
    /// [`LATENESS_DECAY`]. It settles where the two balance: a share `p` of
    /// later sleeps with `p * ln(1.5) = (1 - p) * decay`, about one sleep in
    /// four hundred.
    fn record(&mut self, wait: Duration, late: Duration) {
        let high = &mut self.high[Self::bucket(wait)];
        *high = match late > *high {
            true => (high.mul_f64(1.5) + Duration::from_micros(1)).min(wait),
            false => high.mul_f64(1.0 - LATENESS_DECAY),
        };
    }
}

fn serve(shared: &TimerShared) {
    // Wake-ups are late by the thread's timer slack, 50 µs by default on
    // Linux: ask for none.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only the
    // calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    // Even without slack, a sleep ends late, by more on a virtual machine.
    // The thread learns by how much, asks to be woken that much (and a
    // margin) early, and spins to the deadline.
    let mut lateness = Lateness::new();
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        let now = Instant::now();
        while let Some(std::cmp::Reverse((deadline, id))) = state.deadlines.peek().copied() {
            if deadline > now {
                break;
            }
            state.deadlines.pop();
            // Interrupted under the lock, so that `disarm` returning means
            // no interrupt is on its way.
            if let Some(handle) = state.armed.remove(&id) {
                handle.interrupt();
            }
        }
        // Deadlines of disarmed alarms are dropped here rather than woken
        // (and spun) for.
        while let Some(std::cmp::Reverse((_, id))) = state.deadlines.peek().copied() {
            if state.armed.contains_key(&id) {
                break;
            }
            state.deadlines.pop();
        }
        state.wakes_at = state.deadlines.peek().map(|d| d.0.0);
        let Some(deadline) = state.wakes_at else {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let wait = deadline.saturating_duration_since(now);
        let early = lateness.early(wait);
        if wait > early {
            let asked = wait - early;
            let (guard, result) = shared
                .changed
                .wait_timeout(state, asked)
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            if !result.timed_out() {
                continue;
            }
            lateness.record(wait, now.elapsed().saturating_sub(asked));
            // The alarm may have been disarmed during the sleep.
            let armed = matches!(
                state.deadlines.peek(),
                Some(std::cmp::Reverse((at, id))) if *at == deadline && state.armed.contains_key(id)
            );
            if !armed {
                continue;
            }
        }
        // Spin the last stretch without the lock, so that calls can arm
        // and disarm meanwhile (a deadline armed meanwhile that is earlier
        // still fires at this one). A disarm ends the spin: the alarm may
        // be gone, and the next deadline is found again under the lock.
        drop(state);
        let disarms = shared.disarms.load(Ordering::Relaxed);
        while Instant::now() < deadline && shared.disarms.load(Ordering::Relaxed) == disarms {
            std::hint::spin_loop();
        }
        state = shared.lock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn lateness_buckets_are_orders_of_magnitude_of_the_sleep() {
        let bucket = |us| Lateness::bucket(us * US);
        assert_eq!([bucket(0), bucket(127)], [0, 0]);
        assert_eq!([bucket(128), bucket(255), bucket(256)], [1, 1, 2]);
        assert_eq!(bucket(1_000), 3);
        assert_eq!([bucket(8_191), bucket(8_192)], [6, 7]);
        assert_eq!(bucket(10_000_000), LATENESS_BUCKETS - 1);
    }

    #[test]
    fn lateness_settles_near_a_high_percentile() {
        let mut lateness = Lateness::new();
        let wait = 10_000 * US;
        // Sleeps late by 30 µs, one in 20 by 300 µs: the 99th percentile
        // is 300 µs, the median 30.
        for n in 0..20_000 {
            let late = if n % 20 == 0 { 300 * US } else { 30 * US };
            lateness.record(wait, late);
        }
        let high = lateness.high[Lateness::bucket(wait)];
        assert!(high > 200 * US && high < 500 * US, "{high:?}");
        // Sleeps of another magnitude are learned apart.
        assert_eq!(lateness.high[Lateness::bucket(100 * US)], 50 * US);
        assert_eq!(lateness.early(wait), WAKE_EARLY_FLOOR + high);
        // Sleeps that are always 30 µs late bring it down to about that.
        for _ in 0..20_000 {
            lateness.record(wait, 30 * US);
        }
        let high = lateness.high[Lateness::bucket(wait)];
        assert!(high > 25 * US && high < 50 * US, "{high:?}");
        assert_eq!(lateness.early(wait), WAKE_EARLY_FLOOR + high);
        // Asking early is capped, here at a twentieth of the wait, however
        // late the sleeps end.
        for _ in 0..100 {
            lateness.record(wait, 3_000 * US);
        }
        assert_eq!(lateness.early(wait), 500 * US);
        // A short wait never asks to be woken more than half of it early.
        assert_eq!(lateness.early(60 * US), 30 * US);
    }

    #[test]
    fn lateness_leaves_fewer_than_one_timeout_in_two_hundred_late() {
        // A tail of one sleep in 50, 100 or 200 that ends 300 µs late, the
        // rest 30 µs late: a timeout is late when its sleep ends later than
        // the thread asked to wake early. Waking at the 99th percentile
        // would leave one in a hundred late, which is the whole of the
        // 99th percentile of the timeouts.
        for every in [50, 100, 200] {
            let mut lateness = Lateness::new();
            let wait = 10_000 * US;
            let (mut sleeps, mut late_timeouts) = (0, 0);
            for n in 0..20_000 {
                let late = if n % every == 0 { 300 * US } else { 30 * US };
                if n >= 2_000 {
                    sleeps += 1;
                    late_timeouts += usize::from(late > lateness.early(wait));
                }
                lateness.record(wait, late);
            }
            assert!(
                late_timeouts * 200 < sleeps,
                "one in {every}: {late_timeouts} of {sleeps} late"
            );
        }
    }
}

//! What a preemptible function costs: launch, resume and cancel, against
//! starting a native thread and forking a process, and how close a
//! timeout is to what was asked.
//!
//! | figure | measured |
//! |---|---|
//! | launch | [`Runtime::launch`] of a function that returns at once, from a loaded module: a fresh instance, the call, the instance dropped; with instances from a pool ([`RuntimeConfig::pooled_instances`]) and with Wasmtime's default allocator |
//! | resume | [`Continuation::resume`] of a call that yields (WASI `sched_yield`) in a loop: rewind, one iteration, unwind, with its timer armed and disarmed |
//! | cancel | [`Continuation::cancel`] of a call paused in a C-shaped module (1 MiB of linear memory), pooled and not |
//! | pthread | `std::thread::spawn` of a closure that returns at once, and `join` |
//! | fork | `fork`, the child exiting at once, and `waitpid` |
//! | timeout | [`Continuation::resume`] of a call spinning in `while (true)` with a quantum of 100 µs, 1 ms and 10 ms: the time until it is paused, against the quantum |
//! | stalls | a native thread spinning on the clock for [`STALL_WINDOW`]: how often the machine stops it for longer than the overshoot goal, the floor under any timeout's tail |

use crate::bench::stats::quantile;
use crate::bench::table::Table;
use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Val;
use weft_runtime::{Continuation, Outcome, Runtime, RuntimeConfig, ScriptModule};

/// Operations timed per figure.
const LAUNCHES: usize = 20_000;
const RESUMES: usize = 20_000;
const CANCELS: usize = 2_000;
const THREADS: usize = 2_000;
const FORKS: usize = 500;
/// The quanta of the timeout figures, with how many timeouts each.
pub(super) const TIMEOUTS: [(Duration, usize); 3] = [
    (Duration::from_micros(100), 2_000),
    (Duration::from_millis(1), 2_000),
    (Duration::from_millis(10), 1_000),
];

/// How long the stall baseline spins.
const STALL_WINDOW: Duration = Duration::from_secs(2);
/// A gap between two clock readings of a spinning thread longer than this
/// is a stall: the timeout overshoot goal.
const STALL: Duration = Duration::from_micros(50);

/// The progress steps of [`measure`].
pub(super) fn progress_steps() -> u64 {
    8 + TIMEOUTS.len() as u64
}

/// The slots of the pooled runtime.
const POOL: u32 = 64;

/// Published figures of libinger (Boucher et al., "Lightweight Preemptible
/// Functions", USENIX ATC 2020), in microseconds: launch, resume, cancel.
const LIBINGER_US: [f64; 3] = [5.0, 5.0, 4800.0];

/// The functions the figures call. `memory` has 17 pages, like a small
/// C program's (1 MiB of stack and some data).
const FUNCTIONS: &str = r#"(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 17)
  (global $counter (mut i64) (i64.const 0))
  (data (i32.const 1048576) "data")
  (func (export "nop"))
  (func (export "yielding")
    (loop $again
      (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
      (drop (call $yield))
      (br $again)))
  (func (export "spin") (param $n i64) (result i64)
    (loop $again
      (local.set $n (i64.add (local.get $n) (i64.const 1)))
      (i64.store (i32.const 1048000) (local.get $n))
      (br $again))
    (unreachable)))"#;

/// Percentiles of one figure, in microseconds.
#[derive(Serialize, Clone, Copy)]
pub(super) struct Micros {
    pub p50: f64,
    pub p99: f64,
}

impl Micros {
    fn of(samples: &mut [Duration]) -> Micros {
        samples.sort_unstable();
        let at = |q| quantile(samples, q).map_or(0.0, |d| d.as_secs_f64() * 1e6);
        Micros {
            p50: at(0.5),
            p99: at(0.99),
        }
    }
}

/// The timeout figures of one quantum.
#[derive(Serialize)]
pub(super) struct Timeout {
    pub requested_us: f64,
    /// The time until paused.
    pub actual_us: Micros,
    /// `actual - requested`.
    pub overshoot_us: Micros,
    pub timeouts: usize,
}

#[derive(Serialize)]
pub(super) struct Figures {
    /// With instances from a pool.
    pub launch_us: Micros,
    pub resume_us: Micros,
    /// With instances from a pool.
    pub cancel_us: Micros,
    /// With Wasmtime's default allocator.
    pub unpooled_launch_us: Micros,
    pub unpooled_cancel_us: Micros,
    pub pthread_create_join_us: Micros,
    pub fork_wait_us: Micros,
    pub timeouts: Vec<Timeout>,
    pub stalls: Stalls,
}

/// How often the machine stops a spinning native thread for longer than
/// [`STALL`] (a virtual machine's host running something else, interrupts).
/// A timeout whose deadline falls in such a stall, of the thread that sets
/// the flag or of the one that runs the call, overshoots by it whatever the
/// mechanism.
#[derive(Serialize)]
pub(super) struct Stalls {
    pub seconds: f64,
    pub threshold_us: f64,
    pub per_second: f64,
    /// The share of 10 ms windows with at least one stall.
    pub windows_10ms_with_stall: f64,
    pub longest_us: f64,
}

impl Stalls {
    fn measure() -> Stalls {
        let window = Duration::from_millis(10);
        let started = Instant::now();
        let (mut stalls, mut windows, mut stalled_windows) = (0u64, 0u64, 0u64);
        let mut longest = Duration::ZERO;
        let (mut last, mut window_start, mut window_stalled) = (started, started, false);
        loop {
            let now = Instant::now();
            let gap = now - last;
            last = now;
            if gap > STALL {
                stalls += 1;
                window_stalled = true;
                longest = longest.max(gap);
            }
            if now - window_start >= window {
                windows += 1;
                stalled_windows += u64::from(window_stalled);
                (window_start, window_stalled) = (now, false);
            }
            if now - started >= STALL_WINDOW {
                break;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        Stalls {
            seconds,
            threshold_us: STALL.as_secs_f64() * 1e6,
            per_second: stalls as f64 / seconds,
            windows_10ms_with_stall: stalled_windows as f64 / windows.max(1) as f64,
            longest_us: longest.as_secs_f64() * 1e6,
        }
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "this machine stops a thread spinning on the clock alone for more than {:.0} µs {:.0} \
             times a second (in {:.0} % of 10 ms windows; longest {:.0} µs, over {:.0} s): a \
             timeout whose deadline meets such a stall overshoots by it",
            self.threshold_us,
            self.per_second,
            self.windows_10ms_with_stall * 100.0,
            self.longest_us,
            self.seconds
        )
    }
}

impl Figures {
    /// The worst p99 overshoot over the quanta.
    pub(super) fn timeout_overshoot_p99_us(&self) -> f64 {
        self.timeouts
            .iter()
            .map(|t| t.overshoot_us.p99)
            .fold(0.0, f64::max)
    }
}

/// `runtime` uses Wasmtime's default allocator; the figures are also taken
/// with a runtime of the same configuration taking instances from a pool.
pub(super) fn measure(default: &Runtime, progress: &ProgressBar) -> Result<Figures> {
    let wasm = wat::parse_str(FUNCTIONS).context("assemble the functions")?;
    let pooled = Runtime::new(RuntimeConfig {
        pooled_instances: Some(POOL),
        ..default.config().clone()
    })
    .context("cannot create a pooled runtime")?;
    let long = Duration::from_secs(60);

    let mut launch = Vec::new();
    let mut cancel = Vec::new();
    for runtime in [default, &pooled] {
        let module = runtime.load(&wasm).context("load the functions")?;
        progress.set_message("launch");
        let mut samples = Vec::with_capacity(LAUNCHES);
        for _ in 0..LAUNCHES {
            let started = Instant::now();
            let outcome = runtime.launch(&module, "nop", &[], long)?;
            drop(outcome);
            samples.push(started.elapsed());
        }
        launch.push(Micros::of(&mut samples));
        progress.inc(1);

        progress.set_message("cancel");
        samples.clear();
        for _ in 0..CANCELS {
            let paused = launch_paused(
                runtime,
                &module,
                "spin",
                &[Val::I64(0)],
                Duration::from_micros(20),
            )?;
            let started = Instant::now();
            paused.cancel();
            samples.push(started.elapsed());
        }
        cancel.push(Micros::of(&mut samples));
        progress.inc(1);
    }
    let runtime = &pooled;
    let module = runtime.load(&wasm).context("load the functions")?;
    let mut samples = Vec::new();

    progress.set_message("resume");
    let mut paused = launch_paused(runtime, &module, "yielding", &[], long)?;
    samples.clear();
    for _ in 0..RESUMES {
        let started = Instant::now();
        let outcome = paused.resume(long)?;
        samples.push(started.elapsed());
        paused = expect_paused(outcome)?;
    }
    drop(paused);
    let resume_us = Micros::of(&mut samples);
    progress.inc(1);

    progress.set_message("pthread_create + join");
    samples.clear();
    for _ in 0..THREADS {
        let started = Instant::now();
        std::thread::spawn(|| std::hint::black_box(1))
            .join()
            .map_err(|_| anyhow::anyhow!("the thread panicked"))?;
        samples.push(started.elapsed());
    }
    let pthread_create_join_us = Micros::of(&mut samples);
    progress.inc(1);

    progress.set_message("fork + wait");
    samples.clear();
    for _ in 0..FORKS {
        let started = Instant::now();
        fork_and_wait()?;
        samples.push(started.elapsed());
    }
    let fork_wait_us = Micros::of(&mut samples);
    progress.inc(1);

    let mut timeouts = Vec::new();
    for (quantum, count) in TIMEOUTS {
        progress.set_message(format!("timeouts of {quantum:?}"));
        let mut paused = launch_paused(runtime, &module, "spin", &[Val::I64(0)], quantum)?;
        let mut actual = Vec::with_capacity(count);
        let mut over = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            let outcome = paused.resume(quantum)?;
            let took = started.elapsed();
            actual.push(took);
            over.push(took.saturating_sub(quantum));
            paused = expect_paused(outcome)?;
        }
        timeouts.push(Timeout {
            requested_us: quantum.as_secs_f64() * 1e6,
            actual_us: Micros::of(&mut actual),
            overshoot_us: Micros::of(&mut over),
            timeouts: count,
        });
        progress.inc(1);
    }
    progress.set_message("stalls of a spinning thread");
    let stalls = Stalls::measure();
    progress.inc(1);
    Ok(Figures {
        launch_us: launch[1],
        resume_us,
        cancel_us: cancel[1],
        unpooled_launch_us: launch[0],
        unpooled_cancel_us: cancel[0],
        pthread_create_join_us,
        fork_wait_us,
        timeouts,
        stalls,
    })
}

fn launch_paused(
    runtime: &Runtime,
    module: &Arc<ScriptModule>,
    function: &str,
    args: &[Val],
    quantum: Duration,
) -> Result<Continuation> {
    expect_paused(runtime.launch(module, function, args, quantum)?)
}

fn expect_paused(outcome: Outcome) -> Result<Continuation> {
    match outcome {
        Outcome::Paused(c) => Ok(c),
        other => bail!("the call did not pause: {other:?}"),
    }
}

/// Forks a child that exits at once, and waits for it.
fn fork_and_wait() -> Result<()> {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe, so
    // forking this multithreaded process is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork failed: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        bail!("waitpid failed: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

impl Figures {
    pub(super) fn table(&self) -> Table {
        let mut t = Table::default();
        t.header(
            [
                "operation",
                "p50 µs",
                "p99 µs",
                "goal µs",
                "libinger µs (published)",
            ]
            .map(str::to_owned)
            .to_vec(),
        );
        let rows = [
            ("launch (pooled)", self.launch_us, "5", Some(LIBINGER_US[0])),
            (
                "launch (default allocator)",
                self.unpooled_launch_us,
                "",
                None,
            ),
            ("resume", self.resume_us, "2", Some(LIBINGER_US[1])),
            (
                "cancel (pooled)",
                self.cancel_us,
                "10",
                Some(LIBINGER_US[2]),
            ),
            (
                "cancel (default allocator)",
                self.unpooled_cancel_us,
                "",
                None,
            ),
            (
                "pthread_create + join",
                self.pthread_create_join_us,
                "",
                None,
            ),
            ("fork + wait", self.fork_wait_us, "", None),
        ];
        for (name, m, goal, published) in rows {
            t.row(vec![
                name.to_owned(),
                us(m.p50),
                us(m.p99),
                goal.to_owned(),
                published.map_or(String::new(), us),
            ]);
        }
        t
    }

    pub(super) fn timeout_table(&self) -> Table {
        let mut t = Table::default();
        t.header(
            [
                "timeout",
                "actual p50 µs",
                "actual p99 µs",
                "overshoot p50 µs",
                "overshoot p99 µs",
                "timeouts",
            ]
            .map(str::to_owned)
            .to_vec(),
        );
        for timeout in &self.timeouts {
            t.row(vec![
                format!("{:?}", Duration::from_secs_f64(timeout.requested_us / 1e6)),
                us(timeout.actual_us.p50),
                us(timeout.actual_us.p99),
                us(timeout.overshoot_us.p50),
                us(timeout.overshoot_us.p99),
                timeout.timeouts.to_string(),
            ]);
        }
        t.footer(vec![
            "goal: overshoot p99 <= 50 µs".to_owned(),
            String::new(),
            String::new(),
            String::new(),
            us(self.timeout_overshoot_p99_us()),
            String::new(),
        ]);
        t
    }
}

//! Time from a pause request to paused, for a flag-mode script spinning in
//! `while (true) {}`, against a native thread spinning on an `AtomicBool`.
//!
//! Both go through the same protocol, in interleaved rounds (so that both
//! see the same machine): a runner thread tells the requesting thread it
//! is about to run, runs until paused and notes the time; the requesting
//! thread waits 1 to 5 ms, notes the time and sets the flag. Each round
//! starts a fresh runner thread (and script), whose first request, which
//! pays for first-run costs, is left out.

use super::{expect_paused, human_ms, runtime, strings};
use crate::bench::table::Table;
use anyhow::{Context, Result, anyhow, ensure};
use indicatif::ProgressBar;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use weft_runtime::{
    Budget, DEFAULT_MAX_WASM_STACK, Runtime, Script, ScriptModule, ScriptOptions, Stdio,
    thread_stack_size,
};

/// Rounds; each makes [`ROUND_REQUESTS`] timed requests to the native
/// baseline, then as many to weft.
const ROUNDS: usize = 10;
const ROUND_REQUESTS: usize = 20;
/// Requests made, warm-ups included, for the progress bar.
pub(super) const PROGRESS_STEPS: u64 = (2 * ROUNDS * (ROUND_REQUESTS + 1)) as u64;

/// A script that never returns: `while (true) {}`.
const SPIN_FOREVER: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") (loop $spin (br $spin))))"#;

#[derive(Serialize)]
pub(super) struct Figures {
    requests: usize,
    pause_p50_us: f64,
    pause_p99_us: f64,
    pause_max_us: f64,
    native_p50_us: f64,
    native_p99_us: f64,
    native_max_us: f64,
}

pub(super) fn measure(progress: &ProgressBar) -> Result<Figures> {
    let runtime = runtime(None, weft_instrument::Config::flag(false))?;
    let wasm = wat::parse_str(SPIN_FOREVER).context("assemble")?;
    let module = runtime.load(&wasm).context("load")?;
    let flag = AtomicBool::new(false);
    let native_spinner = || {
        let flag = &flag;
        let spin = move || {
            while !flag.load(Ordering::Relaxed) {}
            flag.store(false, Ordering::Relaxed);
            Ok(())
        };
        Ok((move || flag.store(true, Ordering::Relaxed), spin))
    };
    let (mut native, mut weft) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        native.extend(latencies(progress, native_spinner).context("native baseline")?);
        weft.extend(latencies(progress, || spinning_script(&runtime, &module))?);
    }
    let [pause_p50_us, pause_p99_us, pause_max_us] = percentiles_us(weft)?;
    let [native_p50_us, native_p99_us, native_max_us] = percentiles_us(native)?;
    Ok(Figures {
        requests: ROUNDS * ROUND_REQUESTS,
        pause_p50_us,
        pause_p99_us,
        pause_max_us,
        native_p50_us,
        native_p99_us,
        native_max_us,
    })
}

/// p50, p99 and the maximum, in microseconds.
fn percentiles_us(mut samples: Vec<Duration>) -> Result<[f64; 3]> {
    ensure!(!samples.is_empty(), "no pause was measured");
    samples.sort_unstable();
    Ok([0.5, 0.99, 1.0]
        .map(|q| crate::bench::stats::quantile(&samples, q).map_or(0.0, |d| d.as_secs_f64() * 1e6)))
}

/// A spinning flag-mode script, as an interrupt and a run-until-paused.
fn spinning_script(
    runtime: &Runtime,
    module: &Arc<ScriptModule>,
) -> Result<(impl Fn() + Send + use<>, impl FnMut() -> Result<()>)> {
    let mut script = Script::spawn(runtime, module, ScriptOptions::default(), Stdio::null())?;
    let handle = script.interrupt_handle();
    let run = move || expect_paused(script.run(Budget::Unlimited)?);
    Ok((move || handle.interrupt(), run))
}

/// Makes one round of requests and returns the latencies of all but the
/// first.
///
/// `start` runs on a new thread with a stack for scripts and returns
/// `interrupt`, which this thread calls, and `run_until_paused`, which
/// stays on that thread.
fn latencies<Interrupt, RunUntilPaused>(
    progress: &ProgressBar,
    start: impl FnOnce() -> Result<(Interrupt, RunUntilPaused)> + Send,
) -> Result<Vec<Duration>>
where
    Interrupt: Fn() + Send,
    RunUntilPaused: FnMut() -> Result<()>,
{
    let requests = ROUND_REQUESTS + 1;
    let (interrupt_tx, interrupt_rx) = mpsc::channel::<Interrupt>();
    let (running_tx, running_rx) = mpsc::channel::<()>();
    let gone = || anyhow!("the requesting thread is gone");
    std::thread::scope(|scope| {
        let runner = std::thread::Builder::new()
            .name("pause-runner".into())
            .stack_size(thread_stack_size(DEFAULT_MAX_WASM_STACK))
            .spawn_scoped(scope, move || -> Result<Vec<Instant>> {
                let (interrupt, mut run_until_paused) = start()?;
                interrupt_tx.send(interrupt).map_err(|_| gone())?;
                let mut paused = Vec::with_capacity(requests);
                for _ in 0..requests {
                    running_tx.send(()).map_err(|_| gone())?;
                    run_until_paused()?;
                    paused.push(Instant::now());
                }
                Ok(paused)
            })
            .context("cannot start a thread to run WebAssembly")?;
        // If the runner fails, its channels close and this loop ends.
        let mut requested = Vec::with_capacity(requests);
        if let Ok(interrupt) = interrupt_rx.recv() {
            let mut random = XorShift::seeded();
            while requested.len() < requests && running_rx.recv().is_ok() {
                std::thread::sleep(Duration::from_micros(1000 + random.next() % 4001));
                requested.push(Instant::now());
                interrupt();
                progress.inc(1);
            }
        }
        let paused = runner
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok(paused
            .iter()
            .zip(&requested)
            .skip(1)
            .map(|(paused, requested)| paused.saturating_duration_since(*requested))
            .collect())
    })
}

/// xorshift64, for the random waits between requests.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        XorShift(u64::from(nanos) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl Figures {
    pub(super) fn table(&self) -> Table {
        let mut table = Table::default();
        let title = format!("interrupt to paused, {} requests", self.requests);
        table.header(strings([&title, "p50", "p99", "max", "p50 ratio"]));
        let native = [self.native_p50_us, self.native_p99_us, self.native_max_us];
        let weft = [self.pause_p50_us, self.pause_p99_us, self.pause_max_us];
        for (label, [p50, p99, max]) in [
            ("native thread polling an AtomicBool (baseline)", native),
            ("weft flag mode, while (true) {}", weft),
        ] {
            let mut row = vec![label.to_owned()];
            row.extend([p50, p99, max].map(|us| human_ms(us / 1e3)));
            row.push(format!("{:.2}x", p50 / self.native_p50_us));
            table.row(row);
        }
        table
    }
}

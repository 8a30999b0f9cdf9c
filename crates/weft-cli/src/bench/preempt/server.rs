//! The seed paper's server experiment (libturquoise's hyper benchmark in
//! "Lightweight Preemptible Functions"): short (~0.5 ms) and long (~50 ms)
//! compute-bound requests served by a fixed set of workers, the share of
//! long ones growing from 0 % to 50 %. With preemptible functions the
//! short requests' p99 latency stays close to their run time; run to
//! completion, it grows to the length of a long request.
//!
//! # One experiment
//!
//! A request is one [`Runtime::launch`] of `work(iterations)` of
//! [`WORK`], a loop of integer arithmetic whose iteration counts are
//! calibrated at the start ([`Calibration`]) so that a short request runs
//! [`SHORT_TARGET`] and a long one [`LONG_TARGET`] uninterrupted. Every
//! request's result is checked against the result of an uninterrupted
//! call of the same size, computed at calibration: preemption must not
//! change what a request computes.
//!
//! For each long share, a seeded generator draws one open-loop arrival
//! sequence: Poisson arrivals over `--server-seconds` at
//! [`OFFERED_LOAD`] of the workers' capacity for that mix (the arrival
//! rate is `load × capacity / mean run time`, from the calibrated run
//! times, where the capacity is what the workers deliver running side by
//! side: see [`side_by_side`]), each request long with probability the
//! share. Both policies
//! serve the same sequence, one after the other, with one worker thread
//! per core. Latency is completion time − arrival time, so it includes
//! the time a request waits for a worker. Every request of the sequence is
//! served before the point ends.
//!
//! # The policies
//!
//! Both run the same scheduler ([`scheduler`], which states its
//! invariants); only the quantum differs.
//!
//! - **Run to completion**: every request is launched with a quantum of an
//!   hour and runs to its end; requests start in arrival order (FIFO).
//! - **Preemptive**: every request is launched with a quantum of
//!   [`QUANTUM`]. A paused call's [`weft_runtime::Continuation`] goes to
//!   a second queue; a worker that looks for work takes new arrivals
//!   first, in arrival order, and only when there are none resumes the
//!   paused calls in turn (round robin), each for another quantum.
//!
//! New arrivals go first because a new request has had no service yet and
//! every paused one has had at least a quantum: it is the two-level
//! feedback queue that approximates "least attained service first", which
//! is what keeps short requests from waiting behind long ones when their
//! lengths are not known in advance. A short request (shorter than a
//! quantum) then waits at most for the rest of the quantum running on a
//! worker, plus the new requests before it. Paused calls share the
//! workers round robin so that none starves behind another; at a load
//! below 1, the queue of new arrivals empties often enough for them to
//! progress. Putting a paused call back behind new arrivals in one FIFO
//! queue would be simpler, but would make a short request wait for a
//! quantum of every long call paused before it arrived.

use crate::bench::table::Table;
use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use plotters::prelude::*;
use scheduler::{Arrival, Kind, Served, Server};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Val;
use weft_runtime::{Outcome, Runtime, ScriptModule};

mod scheduler;

/// The requests: `work(n)` runs `n` iterations of xorshift64 mixed into a
/// rotated accumulator, a serial chain that cannot be folded away.
const WORK: &str = r#"(module
  (func (export "work") (param $n i64) (result i64) (local $x i64) (local $acc i64)
    (local.set $x (i64.const 0x2545F4914F6CDD1D))
    (block $done
      (loop $next
        (br_if $done (i64.le_s (local.get $n) (i64.const 0)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (local.set $acc
          (i64.add (i64.rotl (local.get $acc) (i64.const 5))
                   (i64.mul (local.get $x) (local.get $n))))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc)))"#;

/// How long a short and a long request run uninterrupted.
const SHORT_TARGET: Duration = Duration::from_micros(500);
const LONG_TARGET: Duration = Duration::from_millis(50);
/// The preemptive policy's quantum.
const QUANTUM: Duration = Duration::from_millis(1);
/// The run-to-completion policy's quantum: never reached.
const UNINTERRUPTED: Duration = Duration::from_secs(3600);
/// Offered load, as a share of the workers' capacity.
const OFFERED_LOAD: f64 = 0.7;
/// The shares of long requests, in percent.
const LONG_PERCENTS: [f64; 6] = [0.0, 1.0, 5.0, 10.0, 25.0, 50.0];
/// The seed of the arrival sequences.
const SEED: u64 = 0x5EED_CAFE_F00D_0001;
/// Uninterrupted calls timed at calibration, per size.
const SHORT_CALIBRATION_RUNS: usize = 200;
const LONG_CALIBRATION_RUNS: usize = 10;
/// How long after the last arrival the last completion may come before
/// a point is reported as overloaded.
const BEHIND_S: f64 = 1.0;
/// Rounds of fitting the iterations to the targets; the last one's run
/// times are the ones reported.
const CALIBRATION_ROUNDS: usize = 3;

/// The progress steps of [`measure`]: the calibration, then one per point
/// and policy.
pub(super) fn progress_steps() -> u64 {
    1 + 2 * LONG_PERCENTS.len() as u64
}

/// The 50th and 99th percentiles of a figure, in milliseconds.
#[derive(Serialize, Clone, Copy)]
pub(super) struct Millis {
    pub p50: f64,
    pub p99: f64,
}

impl Millis {
    /// Nearest-rank percentiles; `None` without samples.
    fn of(samples: &mut [Duration]) -> Option<Millis> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at =
            |q| crate::bench::stats::quantile(samples, q).map_or(0.0, |d| d.as_secs_f64() * 1e3);
        Some(Millis {
            p50: at(0.5),
            p99: at(0.99),
        })
    }
}

/// The request sizes, and what an uninterrupted call of each takes and
/// returns.
#[derive(Serialize)]
pub(super) struct Calibration {
    pub short_iterations: u64,
    pub long_iterations: u64,
    /// Run time of an uninterrupted launch, from a loaded module.
    pub short_run_ms: Millis,
    pub long_run_ms: Millis,
    /// The fastest of those runs, which the iterations are fitted to.
    pub short_fastest_ms: f64,
    pub long_fastest_ms: f64,
    #[serde(skip)]
    short_result: i64,
    #[serde(skip)]
    long_result: i64,
}

/// How one policy served one arrival sequence.
#[derive(Serialize)]
pub(super) struct Policy {
    /// Completion − arrival; `None` when no request was of the kind.
    pub short_latency_ms: Option<Millis>,
    pub long_latency_ms: Option<Millis>,
    /// Time spent running each short request (its launch and resumes), for
    /// reference.
    pub short_run_ms: Option<Millis>,
    pub short_served: usize,
    pub long_served: usize,
    /// Pauses at the end of a quantum, over all requests.
    pub preemptions: u64,
    /// When the last request completed, after the first arrival could:
    /// much later than `--server-seconds` means the workers fell behind
    /// (other processes competing for the cores).
    pub last_completion_s: f64,
}

/// One long share.
#[derive(Serialize)]
pub(super) struct Point {
    pub long_percent: f64,
    pub arrivals_per_s: f64,
    pub run_to_completion: Policy,
    pub preemptive: Policy,
}

#[derive(Serialize)]
pub(super) struct Figures {
    pub workers: usize,
    /// Run time of an uninterrupted long request while every worker runs
    /// one.
    pub side_by_side_long_run_ms: Millis,
    /// What the workers deliver together, in requests run alone at a time:
    /// `workers × alone / side by side` (at most `workers`). The arrival
    /// rates are `offered_load × capacity / mean run time`.
    pub capacity: f64,
    pub offered_load: f64,
    pub quantum_ms: f64,
    pub seconds_per_point: f64,
    pub calibration: Calibration,
    pub points: Vec<Point>,
}

/// Parses `--server-seconds`: a positive number of seconds.
pub(super) fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(seconds),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

pub(super) fn measure(
    runtime: &Runtime,
    progress: &ProgressBar,
    seconds_per_point: f64,
) -> Result<Figures> {
    let window = Duration::from_secs_f64(seconds_per_point);
    let wasm = wat::parse_str(WORK).context("assemble the request function")?;
    let module = runtime.load(&wasm).context("load the request function")?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());

    progress.set_message("calibration");
    let calibration = on_wasm_thread(|| calibrate(runtime, &module))?;
    let side_by_side_ms = side_by_side(runtime, &module, &calibration, workers)?;
    // Never taken as faster together than alone.
    let capacity = workers as f64 / (side_by_side_ms.p50 / calibration.long_run_ms.p50).max(1.0);
    progress.inc(1);

    let short = calibration.short_run_ms.p50 / 1e3;
    let long = calibration.long_run_ms.p50 / 1e3;
    let mut points = Vec::new();
    for (index, percent) in LONG_PERCENTS.into_iter().enumerate() {
        let share = percent / 100.0;
        let mean_run = (1.0 - share) * short + share * long;
        let arrivals_per_s = OFFERED_LOAD * capacity / mean_run;
        let arrivals = arrivals(share, arrivals_per_s, window, SEED + index as u64);
        let serve = |name: &str, quantum: Duration| -> Result<Policy> {
            progress.set_message(format!("server: {percent} % long, {name}"));
            let server = Server::new(runtime, &module, &calibration, &arrivals, quantum);
            let served = server.run(workers)?;
            progress.inc(1);
            Ok(summarise(&served))
        };
        let run_to_completion = serve("run to completion", UNINTERRUPTED)?;
        let preemptive = serve("preemptive", QUANTUM)?;
        points.push(Point {
            long_percent: percent,
            arrivals_per_s,
            run_to_completion,
            preemptive,
        });
    }
    Ok(Figures {
        workers,
        side_by_side_long_run_ms: side_by_side_ms,
        capacity,
        offered_load: OFFERED_LOAD,
        quantum_ms: QUANTUM.as_secs_f64() * 1e3,
        seconds_per_point,
        calibration,
        points,
    })
}

/// Runs `f` on a thread whose stack can hold WebAssembly's.
fn on_wasm_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        let thread = wasm_thread("server-calibration")
            .spawn_scoped(scope, f)
            .context("cannot start a thread to run WebAssembly")?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn wasm_thread(name: &str) -> std::thread::Builder {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(weft_runtime::thread_stack_size(
            weft_runtime::DEFAULT_MAX_WASM_STACK,
        ))
}

/// Times uninterrupted long requests run on every worker at once: the
/// cores of a virtual machine may deliver less than one core's speed each
/// when all are busy (hyperthreads of one physical core, or a host that
/// caps the machine), and the offered load is a share of what they
/// deliver.
fn side_by_side(
    runtime: &Runtime,
    module: &Arc<ScriptModule>,
    calibration: &Calibration,
    workers: usize,
) -> Result<Millis> {
    let mut samples = Vec::new();
    std::thread::scope(|scope| -> Result<()> {
        let threads = (0..workers)
            .map(|i| {
                let run = move || -> Result<Vec<Duration>> {
                    (0..LONG_CALIBRATION_RUNS)
                        .map(|_| {
                            let (took, got) =
                                uninterrupted(runtime, module, calibration.long_iterations)?;
                            if got != calibration.long_result {
                                bail!(
                                    "a long request returned {got}, then {}",
                                    calibration.long_result
                                );
                            }
                            Ok(took)
                        })
                        .collect()
                };
                wasm_thread(&format!("server-calibration-{i}"))
                    .spawn_scoped(scope, run)
                    .context("cannot start a thread to run WebAssembly")
            })
            .collect::<Result<Vec<_>>>()?;
        for thread in threads {
            let took = thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            samples.extend(took);
        }
        Ok(())
    })?;
    Millis::of(&mut samples).context("no side-by-side runs")
}

/// One uninterrupted request of `iterations`: its run time and result.
fn uninterrupted(
    runtime: &Runtime,
    module: &Arc<ScriptModule>,
    iterations: u64,
) -> Result<(Duration, i64)> {
    let arg = i64::try_from(iterations).context("too many iterations")?;
    let started = Instant::now();
    let outcome = runtime.launch(module, "work", &[Val::I64(arg)], UNINTERRUPTED)?;
    let took = started.elapsed();
    match outcome {
        Outcome::Complete { results, .. } => Ok((took, result(&results)?)),
        other => bail!("an uninterrupted request did not complete: {other:?}"),
    }
}

fn result(results: &[Val]) -> Result<i64> {
    match results {
        [Val::I64(v)] => Ok(*v),
        other => bail!("`work` returned {other:?}, not one i64"),
    }
}

/// Finds the iterations of a short and a long request, times uninterrupted
/// calls of each and keeps their result.
fn calibrate(runtime: &Runtime, module: &Arc<ScriptModule>) -> Result<Calibration> {
    // A first guess by doubling, then each size rescaled by the fastest run
    // of the last round: other processes can only slow a run down, so the
    // fastest is the steadiest estimate of the request's own time.
    let mut iterations = 1u64 << 10;
    while uninterrupted(runtime, module, iterations)?.0 < Duration::from_millis(2) {
        iterations *= 2;
    }
    let guess = iterations as f64 / uninterrupted(runtime, module, iterations)?.0.as_secs_f64();
    let fit = |target: Duration, runs: usize| -> Result<(u64, Millis, f64, i64)> {
        let mut iterations = (guess * target.as_secs_f64()).round().max(1.0) as u64;
        let mut round = 1;
        loop {
            let (run, fastest, result) = time(runtime, module, iterations, runs)?;
            if round == CALIBRATION_ROUNDS {
                return Ok((iterations, run, fastest, result));
            }
            round += 1;
            let scale = target.as_secs_f64() * 1e3 / fastest;
            iterations = (iterations as f64 * scale).round().max(1.0) as u64;
        }
    };
    let (short_iterations, short_run_ms, short_fastest_ms, short_result) =
        fit(SHORT_TARGET, SHORT_CALIBRATION_RUNS)?;
    let (long_iterations, long_run_ms, long_fastest_ms, long_result) =
        fit(LONG_TARGET, LONG_CALIBRATION_RUNS)?;
    Ok(Calibration {
        short_iterations,
        long_iterations,
        short_run_ms,
        long_run_ms,
        short_fastest_ms,
        long_fastest_ms,
        short_result,
        long_result,
    })
}

/// Times `runs` uninterrupted calls of `iterations`, which must all return
/// the same value; returns their run times, the fastest in milliseconds,
/// and that value.
fn time(
    runtime: &Runtime,
    module: &Arc<ScriptModule>,
    iterations: u64,
    runs: usize,
) -> Result<(Millis, f64, i64)> {
    let (_, expected) = uninterrupted(runtime, module, iterations)?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (took, got) = uninterrupted(runtime, module, iterations)?;
        if got != expected {
            bail!("work({iterations}) returned {expected}, then {got}");
        }
        samples.push(took);
    }
    let run = Millis::of(&mut samples).context("no calibration runs")?;
    // `Millis::of` sorted the samples.
    Ok((run, samples[0].as_secs_f64() * 1e3, expected))
}

/// SplitMix64: a seeded generator, so that both policies and every run
/// see the same arrivals.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// Poisson arrivals at `per_s` during `window`, each long with probability
/// `long_share`.
fn arrivals(long_share: f64, per_s: f64, window: Duration, seed: u64) -> Vec<Arrival> {
    let mut rng = SplitMix64(seed);
    let mut at = 0.0;
    let mut sequence = Vec::new();
    loop {
        at += -rng.unit().ln() / per_s;
        if at >= window.as_secs_f64() {
            return sequence;
        }
        let kind = match rng.unit() <= long_share {
            true => Kind::Long,
            false => Kind::Short,
        };
        sequence.push(Arrival {
            at: Duration::from_secs_f64(at),
            kind,
        });
    }
}

fn summarise(served: &[Served]) -> Policy {
    let of = |kind: Kind, figure: fn(&Served) -> Duration| {
        let mut samples: Vec<Duration> = served
            .iter()
            .filter(|s| s.kind == kind)
            .map(figure)
            .collect();
        Millis::of(&mut samples)
    };
    let count = |kind: Kind| served.iter().filter(|s| s.kind == kind).count();
    Policy {
        short_latency_ms: of(Kind::Short, |s| s.latency),
        long_latency_ms: of(Kind::Long, |s| s.latency),
        short_run_ms: of(Kind::Short, |s| s.run),
        short_served: count(Kind::Short),
        long_served: count(Kind::Long),
        preemptions: served.iter().map(|s| u64::from(s.pauses)).sum(),
        last_completion_s: served
            .iter()
            .map(|s| s.completed.as_secs_f64())
            .fold(0.0, f64::max),
    }
}

fn ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn p99(latency: Option<Millis>) -> String {
    latency.map_or("-".to_owned(), |m| ms(m.p99))
}

impl Figures {
    /// What the experiment ran with, as one paragraph.
    pub(super) fn describe(&self) -> String {
        let c = &self.calibration;
        let mut text = format!(
            "short request: {} iterations, {} ms uninterrupted (p50; p99 {}); long: {} iterations, \
             {} ms (p50; p99 {}), {} ms with every worker running one\n{} workers delivering {:.2} \
             workers' worth, offered load {:.0} % of that, quantum {} ms, {} s of Poisson arrivals \
             per point; × run = short p99 / short run time (p50)\n",
            c.short_iterations,
            ms(c.short_run_ms.p50),
            ms(c.short_run_ms.p99),
            c.long_iterations,
            ms(c.long_run_ms.p50),
            ms(c.long_run_ms.p99),
            ms(self.side_by_side_long_run_ms.p50),
            self.workers,
            self.capacity,
            self.offered_load * 100.0,
            self.quantum_ms,
            self.seconds_per_point,
        );
        let behind: Vec<String> = self
            .points
            .iter()
            .filter(|p| {
                [&p.run_to_completion, &p.preemptive]
                    .iter()
                    .any(|policy| policy.last_completion_s > self.seconds_per_point + BEHIND_S)
            })
            .map(|p| format!("{} %", p.long_percent))
            .collect();
        if !behind.is_empty() {
            text.push_str(&format!(
                "warning: the workers fell behind the arrivals at {} long (last completion more \
                 than {BEHIND_S} s after the last arrival): other processes took CPU time, and \
                 those points are overloaded\n",
                behind.join(", ")
            ));
        }
        text
    }

    pub(super) fn table(&self) -> Table {
        let short_run = self.calibration.short_run_ms.p50;
        let ratio = |latency: Option<Millis>| {
            latency.map_or("-".to_owned(), |m| format!("{:.1}×", m.p99 / short_run))
        };
        let mut t = Table::default();
        t.header(
            [
                "long share",
                "requests",
                "short p99 ms, run to completion",
                "× run",
                "short p99 ms, preemptive",
                "× run",
                "long p99 ms, run to completion",
                "long p99 ms, preemptive",
            ]
            .map(str::to_owned)
            .to_vec(),
        );
        for point in &self.points {
            let (rtc, pre) = (&point.run_to_completion, &point.preemptive);
            t.row(vec![
                format!("{} %", point.long_percent),
                (rtc.short_served + rtc.long_served).to_string(),
                p99(rtc.short_latency_ms),
                ratio(rtc.short_latency_ms),
                p99(pre.short_latency_ms),
                ratio(pre.short_latency_ms),
                p99(rtc.long_latency_ms),
                p99(pre.long_latency_ms),
            ]);
        }
        t
    }

    /// Writes an SVG plot of the short requests' p99 latency against the
    /// share of long requests, one line per policy.
    pub(super) fn plot(&self, path: &Path) -> Result<()> {
        let mut svg = String::new();
        self.draw(SVGBackend::with_string(&mut svg, (860, 520)).into_drawing_area())
            .context("cannot draw the server plot")?;
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
    }

    fn draw(
        &self,
        root: DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    ) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
        let run = self.calibration.short_run_ms.p50;
        let series = |policy: fn(&Point) -> &Policy| {
            self.points
                .iter()
                .enumerate()
                .filter_map(move |(i, point)| {
                    let p99 = policy(point).short_latency_ms?.p99;
                    Some((SegmentValue::CenterOf(i), p99))
                })
                .collect::<Vec<_>>()
        };
        let rtc = series(|p| &p.run_to_completion);
        let pre = series(|p| &p.preemptive);
        let values = rtc.iter().chain(&pre).map(|(_, v)| *v);
        let (lo, hi) = values.fold((run, run), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let last = self.points.len().saturating_sub(1);
        let percents: Vec<f64> = self.points.iter().map(|p| p.long_percent).collect();

        root.fill(&WHITE)?;
        let caption = format!(
            "Short requests' p99 latency ({} workers, {:.0} % load, {} ms quantum)",
            self.workers,
            self.offered_load * 100.0,
            self.quantum_ms
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((0..last).into_segmented(), (lo * 0.6..hi * 6.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("long requests (~50 ms), share of all requests")
            .y_desc("short requests' (~0.5 ms) p99 latency, ms (log scale)")
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => {
                    percents.get(*i).map_or(String::new(), |p| format!("{p} %"))
                }
                _ => String::new(),
            })
            .y_label_formatter(&|v| format!("{v}"))
            .draw()?;
        let policies = [
            ("run to completion", rtc, RGBColor(200, 40, 40)),
            ("preemptive", pre, RGBColor(30, 90, 200)),
        ];
        for (name, points, color) in policies {
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 24, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )?;
        }
        let grey = RGBColor(110, 110, 110);
        chart
            .draw_series(DashedLineSeries::new(
                [
                    (SegmentValue::CenterOf(0), run),
                    (SegmentValue::CenterOf(last), run),
                ],
                6,
                4,
                grey.stroke_width(1),
            ))?
            .label(format!("short request's run time, {} ms", ms(run)))
            .legend(move |(x, y)| {
                plotters::element::DashedPathElement::new(
                    [(x, y), (x + 24, y)],
                    6,
                    4,
                    grey.stroke_width(1),
                )
            });
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
        root.present()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_seeded_poisson_with_the_asked_mix() {
        let window = Duration::from_secs(100);
        let sequence = arrivals(0.25, 200.0, window, 7);
        assert!(sequence.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(sequence.iter().all(|a| a.at < window));
        // 20,000 expected; a Poisson count is within 5 % far beyond 3 σ.
        let count = sequence.len() as f64;
        assert!((count - 20_000.0).abs() < 1_000.0, "{count} arrivals");
        let long = sequence.iter().filter(|a| a.kind == Kind::Long).count() as f64;
        assert!((long / count - 0.25).abs() < 0.02, "{long} long of {count}");
        let again = arrivals(0.25, 200.0, window, 7);
        assert!(
            sequence
                .iter()
                .zip(&again)
                .all(|(a, b)| a.at == b.at && a.kind == b.kind)
        );
        let none_long = arrivals(0.0, 200.0, window, 7);
        assert!(none_long.iter().all(|a| a.kind == Kind::Short));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let m = Millis::of(&mut samples).expect("samples");
        assert_eq!((m.p50, m.p99), (51.0, 99.0));
        assert!(Millis::of(&mut []).is_none());
    }

    #[test]
    fn server_seconds_must_be_positive() {
        assert_eq!(parse_seconds("2.5"), Ok(2.5));
        for bad in ["0", "-1", "NaN", "inf", "soon"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}

//! `weft bench fairness`: thousands of scripts spinning in `while (true)`
//! under the scheduler, one owner holding most of them.
//!
//! N scripts (fuel mode: every slice ends deterministically by fuel, its
//! budget derived from the script's measured fuel rate) are spread over M
//! owners of equal weight: the first owner holds 90 % of them, the others
//! share the rest. They are spawned paused and all started at once; after
//! S seconds the benchmark reports, for that whole window:
//!
//! - the CPU share of every owner against its target (1 / M);
//! - Jain's fairness index `(Σx)² / (n Σx²)` over the owners (x = CPU time
//!   / target) and over all scripts (x = CPU time / the script's target:
//!   its owner's share divided among the owner's scripts), and within each
//!   owner;
//! - scheduler overhead: the process's CPU time not spent inside the
//!   scripts' slices, as a fraction of the process's CPU time;
//! - the distribution of slice lengths (CPU time);
//! - the time from a pause request for a running script to the script
//!   being paused, p50 / p99 / max;
//! - resident memory per script (growth of the process's RSS from before
//!   spawning to the end, divided by N).
//!
//! Slices are sized by share by default ([`Config::period`]): every script
//! runs about once per period of S / 8 seconds, its slice its share of the
//! period, at least 0.1 ms. A script of an owner with 333 scripts gets
//! slices of about 2 ms, one of an owner with 9,000 the shortest (with more
//! scripts than a slice each can serve in S seconds, a fair share cannot be
//! seen). `--slice-ms` gives every slice one length instead.

use crate::bench::table::Table;
use anyhow::{Context, Result, bail, ensure};
use indicatif::ProgressBar;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weft_node::ScriptTask;
use weft_runtime::{Runtime, RuntimeConfig, Script, ScriptOptions, Stdio};
use weft_sched::{Config, Scheduler, TaskId, TaskState};

/// A script that never returns: `while (true) counter++`.
const SPINNER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "_start") (local $n i64)
    (loop $spin
      (local.set $n (i64.add (local.get $n) (i64.const 1)))
      (i64.store (i32.const 0) (local.get $n))
      (br $spin))))"#;

/// The share of the scripts the first owner holds.
const BIG_OWNER_SHARE: f64 = 0.9;
/// How far past its end a fuel-budgeted slice is interrupted.
const DEADLINE_SLACK: Duration = Duration::from_millis(20);
/// Slices each script should get in the run, with slices sized by share.
const SLICES_PER_SCRIPT: f64 = 8.0;
/// The longest and shortest slice, with slices sized by share.
const MAX_SLICE: Duration = Duration::from_millis(10);
const MIN_SLICE: Duration = Duration::from_micros(100);

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Scripts to spawn.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    scripts: u32,
    /// Owners (tenants) to spread them over; the first holds 90 %.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    owners: u32,
    /// How long to run them.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// One slice length for every script, in milliseconds (default: slices
    /// sized by share, about 8 per script in the run).
    #[arg(long)]
    slice_ms: Option<f64>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Also register this many scripts that sleep for an hour: they park,
    /// are hibernated (snapshotted and dropped from memory) and stay so
    /// while the spinning scripts run.
    #[arg(long, default_value_t = 0)]
    hibernated: u32,
    /// Also run this many scripts that write to a slow standard output:
    /// every write is a synchronous host call that takes `--write-ms`.
    #[arg(long, default_value_t = 0)]
    slow_writers: u32,
    /// How long one write of a slow writer takes, in milliseconds.
    #[arg(long, default_value_t = 5.0)]
    write_ms: f64,
    /// Turn the scheduler's heartbeat off (no spare worker takes over from
    /// one stuck in a slow host call).
    #[arg(long)]
    no_heartbeat: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// Writes a line to its standard output, again and again.
const WRITER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "a line\n")
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 7))
    (loop $forever
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br $forever))))"#;

/// A standard output that takes a while for every write, as a synchronous
/// host call would (a slow disk, a remote log): the wait is marked with
/// [`weft_sched::blocking`].
struct SlowOutput {
    delay: Duration,
    writes: Arc<std::sync::atomic::AtomicU64>,
}

impl std::io::Write for SlowOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        weft_sched::blocking(|| std::thread::sleep(self.delay));
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sleeps for an hour, again and again.
const SLEEPER: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 3600000000000))
    (loop $forever
      (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 8)))
      (br $forever))))"#;

/// How long a parked (or paused) script stays in memory before it is
/// hibernated.
const HIBERNATE_AFTER: Duration = Duration::from_millis(50);
/// The hibernated scripts are registered in batches of this many, each
/// hibernated before the next comes: a live instance reserves 8 GiB of
/// address space, and 16,000 of them fill it.
const HIBERNATE_BATCH: usize = 2000;

#[derive(Serialize)]
struct OwnerFigures {
    name: String,
    scripts: usize,
    cpu_s: f64,
    share: f64,
    target: f64,
    jain_scripts: f64,
}

#[derive(Serialize)]
struct SliceFigures {
    count: u64,
    mean_us: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    max_us: f64,
}

#[derive(Serialize)]
struct Report {
    scripts: usize,
    owners: Vec<OwnerFigures>,
    workers: usize,
    seconds: f64,
    /// The one slice length, or the longest with slices sized by share.
    slice_ms: f64,
    /// The period slices are sized by share of, if they are.
    period_ms: Option<f64>,
    scripts_that_ran: usize,
    jain_scripts: f64,
    jain_owners: f64,
    overhead: f64,
    process_cpu_s: f64,
    script_cpu_s: f64,
    slices: SliceFigures,
    pause_requests: usize,
    pause_p50_us: f64,
    pause_p99_us: f64,
    pause_max_us: f64,
    rss_per_script_bytes: f64,
    hibernated: Option<HibernatedFigures>,
    slow_writers: Option<SlowWriterFigures>,
}

#[derive(Serialize)]
struct SlowWriterFigures {
    scripts: usize,
    write_ms: f64,
    heartbeat: bool,
    writes: u64,
    /// CPU seconds the spinning scripts got per second of the run.
    spinner_cpu_per_second: f64,
    spares_started: u64,
}

#[derive(Serialize)]
struct HibernatedFigures {
    scripts: usize,
    /// Growth of the resident memory per hibernated script.
    rss_per_script_bytes: f64,
    /// The mean size of their compressed snapshots.
    snapshot_bytes: f64,
    /// `rss_per_script_bytes - snapshot_bytes`.
    overhead_bytes: f64,
    seconds_to_hibernate: f64,
}

/// Jain's fairness index of `x`: 1 when all are equal, 1/n when one has all.
fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let squares: f64 = x.iter().map(|v| v * v).sum();
    if squares == 0.0 {
        return 0.0;
    }
    sum * sum / (x.len() as f64 * squares)
}

/// The process's CPU time (user + system).
fn process_cpu() -> Duration {
    // SAFETY: `usage` is a valid out-pointer for getrusage.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The process's resident memory, from `/proc/self/statm`, after giving
/// the allocator's free memory back to the kernel (so that what dropped
/// instances left behind is not counted).
fn rss_bytes() -> Result<u64> {
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let statm = std::fs::read_to_string("/proc/self/statm").context("read /proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("no RSS in /proc/self/statm")?
        .parse()
        .context("bad RSS in /proc/self/statm")?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * u64::try_from(page).unwrap_or(4096))
}

/// Which owner each script belongs to: the first holds [`BIG_OWNER_SHARE`],
/// the others share the rest (at least one each).
fn owner_counts(scripts: usize, owners: usize) -> Result<Vec<usize>> {
    ensure!(
        scripts >= owners,
        "{scripts} scripts cannot fill {owners} owners"
    );
    if owners == 1 {
        return Ok(vec![scripts]);
    }
    let rest = ((scripts as f64 * (1.0 - BIG_OWNER_SHARE)).round() as usize)
        .clamp(owners - 1, scripts - 1);
    let mut counts = vec![scripts - rest];
    for k in 0..owners - 1 {
        counts.push(rest / (owners - 1) + usize::from(k < rest % (owners - 1)));
    }
    Ok(counts)
}

pub(crate) fn run(args: Args) -> Result<()> {
    ensure!(args.seconds > 0.0, "--seconds must be positive");
    let scripts = args.scripts as usize;
    let counts = owner_counts(scripts, args.owners as usize)?;
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (slice, period) = match args.slice_ms {
        Some(ms) if ms > 0.0 => (Duration::from_secs_f64(ms / 1e3), None),
        Some(_) => bail!("--slice-ms must be positive"),
        None => (
            MAX_SLICE,
            Some(Duration::from_secs_f64(args.seconds / SLICES_PER_SCRIPT)),
        ),
    };

    let progress = super::progress_bar(scripts as u64, 10, args.json)?;

    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            instrumentation: weft_instrument::Config::fuel(),
            cache_dir: None,
            ..RuntimeConfig::default()
        })
        .context("cannot create a runtime")?,
    );
    let module = runtime
        .load(&wat::parse_str(SPINNER).context("assemble the spinner")?)
        .context("load the spinner")?;
    let scheduler: Scheduler<ScriptTask> = Scheduler::new(Config {
        workers,
        slice,
        period,
        min_slice: MIN_SLICE,
        first_slice_fuel: Some(weft_node::FIRST_SLICE_FUEL),
        hibernate_after: (args.hibernated > 0).then_some(HIBERNATE_AFTER),
        heartbeat: match args.no_heartbeat {
            true => None,
            false => Config::default().heartbeat,
        },
        // Slices end by fuel; the deadline is only a backstop, and a late
        // one keeps the timer thread from waking at every slice.
        deadline_slack: DEADLINE_SLACK.max(slice),
        ..Config::default()
    })
    .context("cannot start the scheduler")?;

    // The hibernated scripts first: the spinning ones must not stay paused
    // long enough to be hibernated too.
    let hibernated = match args.hibernated {
        0 => None,
        n => Some(hibernate(&runtime, &scheduler, n as usize, &progress)?),
    };
    progress.set_length(scripts as u64);
    progress.set_position(0);
    let rss_before = rss_bytes()?;

    // Spawned paused, so that none runs before all exist.
    progress.set_prefix("spawning");
    let stdio: weft_node::StdioFactory = Arc::new(Stdio::null);
    let mut ids: Vec<(TaskId, usize)> = Vec::with_capacity(scripts);
    for (owner, &count) in counts.iter().enumerate() {
        let name = format!("owner-{owner}");
        for k in 0..count {
            let options = ScriptOptions {
                id: format!("{name}/{k}"),
                owner: name.clone(),
                ..ScriptOptions::default()
            };
            let script = Script::spawn(&runtime, &module, options, Stdio::null())
                .with_context(|| format!("spawn script {} of {scripts}", ids.len() + 1))?;
            let task = ScriptTask::new(runtime.clone(), script, stdio.clone());
            let id = scheduler
                .spawn_paused(&name, 1, task)
                .context("add a script to the scheduler")?;
            ids.push((id, owner));
            progress.inc(1);
        }
    }

    progress.set_prefix("running");
    progress.set_length((args.seconds * 10.0).ceil() as u64);
    progress.set_position(0);
    progress.set_message(format!(
        "{scripts} scripts, {} owners, {workers} workers, {}",
        counts.len(),
        match period {
            Some(period) => format!("slices by share of {period:?}"),
            None => format!("slices of {slice:?}"),
        }
    ));
    let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    if args.slow_writers > 0 {
        let module = runtime
            .load(&wat::parse_str(WRITER).context("assemble the writer")?)
            .context("load the writer")?;
        let delay = Duration::from_secs_f64(args.write_ms.max(0.0) / 1e3);
        let slow: weft_node::StdioFactory = {
            let writes = writes.clone();
            Arc::new(move || Stdio {
                stdout: Box::new(SlowOutput {
                    delay,
                    writes: writes.clone(),
                }),
                stderr: Box::new(std::io::sink()),
                stdin: Box::new(std::io::empty()),
            })
        };
        for k in 0..args.slow_writers {
            let options = ScriptOptions {
                id: format!("writer/{k}"),
                owner: "writers".into(),
                ..ScriptOptions::default()
            };
            let script = Script::spawn(&runtime, &module, options, slow())?;
            let task = ScriptTask::new(runtime.clone(), script, slow.clone());
            scheduler.spawn_paused("writers", 1, task)?;
        }
    }
    let writer_ids: Vec<TaskId> = scheduler
        .tasks()
        .into_iter()
        .filter(|t| t.owner == "writers")
        .map(|t| t.id)
        .collect();
    // All start together, level: slices sized by share would otherwise give
    // the first ones long slices while few others exist, and the window is
    // the whole run, so every script's CPU time counts from zero.
    let spinner_ids: Vec<TaskId> = ids.iter().map(|(id, _)| *id).collect();
    // None has run a slice, but with `--hibernated` the first spawned have
    // been hibernated while they waited (paused) for the others: that CPU
    // time is not the window's.
    let baseline: std::collections::HashMap<TaskId, Duration> = scheduler
        .tasks()
        .into_iter()
        .map(|t| (t.id, t.cpu))
        .collect();
    let spares_before = scheduler.counters().spares_started;
    scheduler.reset_slice_lengths();
    let cpu_before = process_cpu();
    let started = Instant::now();
    scheduler
        .resume_all(&spinner_ids)
        .context("start the scripts")?;
    for id in &writer_ids {
        scheduler.resume(*id).context("start a writer")?;
    }
    let stop = AtomicBool::new(false);
    let pauses = std::thread::scope(|scope| {
        let pauser = scope.spawn(|| measure_pauses(&scheduler, &stop));
        let end = started + Duration::from_secs_f64(args.seconds);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100).min(end - Instant::now()));
            progress.inc(1);
        }
        stop.store(true, Ordering::Relaxed);
        pauser.join().expect("the pause thread panicked")
    })?;
    for (id, _) in &ids {
        scheduler.pause(*id).context("stop a script")?;
    }
    for id in &writer_ids {
        scheduler.pause(*id).context("stop a writer")?;
    }
    let wall = started.elapsed();
    let process_cpu_s = (process_cpu() - cpu_before).as_secs_f64();
    progress.finish_and_clear();

    let rss_after = rss_bytes()?;
    let spinners: std::collections::HashSet<TaskId> = spinner_ids.iter().copied().collect();
    let stats: Vec<_> = scheduler
        .tasks()
        .into_iter()
        .filter(|s| spinners.contains(&s.id))
        .map(|mut s| {
            s.cpu = s
                .cpu
                .saturating_sub(baseline.get(&s.id).copied().unwrap_or_default());
            s
        })
        .collect();
    let slice_lengths = scheduler.slice_lengths();
    ensure!(
        stats.len() == scripts,
        "{} of {scripts} scripts are still live",
        stats.len()
    );
    let by_id: std::collections::HashMap<TaskId, &weft_sched::TaskStats> =
        stats.iter().map(|s| (s.id, s)).collect();
    let target_owner = 1.0 / counts.len() as f64;
    let script_cpu_s: f64 = stats.iter().map(|s| s.cpu.as_secs_f64()).sum();
    let mut owners = Vec::new();
    let mut normalized_scripts = Vec::with_capacity(scripts);
    let mut normalized_owners = Vec::new();
    for (owner, &count) in counts.iter().enumerate() {
        let cpu: Vec<f64> = ids
            .iter()
            .filter(|(_, o)| *o == owner)
            .map(|(id, _)| by_id[id].cpu.as_secs_f64())
            .collect();
        let owner_cpu: f64 = cpu.iter().sum();
        let share = owner_cpu / script_cpu_s;
        let script_target = target_owner / count as f64;
        normalized_scripts.extend(cpu.iter().map(|c| c / script_cpu_s / script_target));
        normalized_owners.push(share / target_owner);
        owners.push(OwnerFigures {
            name: format!("owner-{owner}"),
            scripts: count,
            cpu_s: owner_cpu,
            share,
            target: target_owner,
            jain_scripts: jain(&cpu),
        });
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let cpu = &slice_lengths.cpu;
    let mut pause_samples = pauses;
    pause_samples.sort_unstable();
    let pause_at = |q| crate::bench::stats::quantile(&pause_samples, q).map_or(0.0, us);
    let report = Report {
        scripts,
        owners,
        workers,
        seconds: wall.as_secs_f64(),
        slice_ms: slice.as_secs_f64() * 1e3,
        period_ms: period.map(|p| p.as_secs_f64() * 1e3),
        scripts_that_ran: stats.iter().filter(|s| s.slices > 0).count(),
        jain_scripts: jain(&normalized_scripts),
        jain_owners: jain(&normalized_owners),
        overhead: 1.0 - script_cpu_s / process_cpu_s,
        process_cpu_s,
        script_cpu_s,
        slices: SliceFigures {
            count: cpu.count(),
            mean_us: us(cpu.mean()),
            p50_us: us(cpu.quantile(0.5)),
            p90_us: us(cpu.quantile(0.9)),
            p99_us: us(cpu.quantile(0.99)),
            max_us: us(cpu.max()),
        },
        pause_requests: pause_samples.len(),
        pause_p50_us: pause_at(0.5),
        pause_p99_us: pause_at(0.99),
        pause_max_us: pause_samples.last().map_or(0.0, |d| us(*d)),
        rss_per_script_bytes: rss_after.saturating_sub(rss_before) as f64 / scripts as f64,
        hibernated,
        slow_writers: (!writer_ids.is_empty()).then(|| SlowWriterFigures {
            scripts: writer_ids.len(),
            write_ms: args.write_ms,
            heartbeat: !args.no_heartbeat,
            writes: writes.load(Ordering::Relaxed),
            spinner_cpu_per_second: script_cpu_s / wall.as_secs_f64(),
            spares_started: scheduler.counters().spares_started - spares_before,
        }),
    };
    drop(scheduler);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// Registers `count` sleeping scripts and waits until every one of them is
/// hibernated; measures what they cost in memory.
fn hibernate(
    runtime: &Arc<Runtime>,
    scheduler: &Scheduler<ScriptTask>,
    count: usize,
    progress: &ProgressBar,
) -> Result<HibernatedFigures> {
    let module = runtime
        .load(&wat::parse_str(SLEEPER).context("assemble the sleeper")?)
        .context("load the sleeper")?;
    progress.set_prefix("hibernating");
    progress.set_length(count as u64);
    progress.set_position(0);
    let stdio: weft_node::StdioFactory = Arc::new(Stdio::null);
    let before = rss_bytes()?;
    let started = Instant::now();
    let mut ids = std::collections::HashSet::with_capacity(count);
    for k in 0..count {
        let options = ScriptOptions {
            id: format!("sleeper/{k}"),
            owner: "sleepers".into(),
            ..ScriptOptions::default()
        };
        let script = Script::spawn(runtime, &module, options, Stdio::null())
            .with_context(|| format!("spawn sleeping script {} of {count}", k + 1))?;
        let task = ScriptTask::new(runtime.clone(), script, stdio.clone());
        ids.insert(scheduler.spawn("sleepers", 1, task)?);
        if ids.len() % HIBERNATE_BATCH == 0 || ids.len() == count {
            wait_hibernated(scheduler, &ids, started, progress)?;
        }
    }
    let seconds_to_hibernate = started.elapsed().as_secs_f64();
    let after = rss_bytes()?;
    let sizes: Vec<u64> = scheduler
        .tasks()
        .into_iter()
        .filter(|s| ids.contains(&s.id))
        .map(|s| {
            ensure!(s.hibernated, "a sleeping script is not hibernated");
            Ok(s.memory_bytes)
        })
        .collect::<Result<_>>()?;
    let snapshot_bytes = sizes.iter().sum::<u64>() as f64 / sizes.len().max(1) as f64;
    let rss_per_script_bytes = after.saturating_sub(before) as f64 / count as f64;
    Ok(HibernatedFigures {
        scripts: count,
        rss_per_script_bytes,
        snapshot_bytes,
        overhead_bytes: rss_per_script_bytes - snapshot_bytes,
        seconds_to_hibernate,
    })
}

/// Waits until every script of `ids` is hibernated.
fn wait_hibernated(
    scheduler: &Scheduler<ScriptTask>,
    ids: &std::collections::HashSet<TaskId>,
    started: Instant,
    progress: &ProgressBar,
) -> Result<()> {
    let count = ids.len();
    loop {
        let done = scheduler
            .tasks()
            .iter()
            .filter(|s| s.hibernated && ids.contains(&s.id))
            .count() as u64;
        progress.set_position(done);
        if done >= count as u64 {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} of {count} scripts hibernated in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Pauses a running script now and then, and measures how long it takes
/// to be paused, until `stop`.
fn measure_pauses(scheduler: &Scheduler<ScriptTask>, stop: &AtomicBool) -> Result<Vec<Duration>> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        let Some(id) = scheduler.running().into_iter().next() else {
            continue;
        };
        let asked = Instant::now();
        scheduler.pause(id).context("pause a running script")?;
        loop {
            match scheduler.state(id) {
                Some(TaskState::Paused) => break,
                None => bail!("a paused script disappeared"),
                _ => std::thread::sleep(Duration::from_micros(100)),
            }
        }
        samples.push(asked.elapsed());
        scheduler.resume(id).context("resume a paused script")?;
    }
    Ok(samples)
}

fn text(r: &Report) -> String {
    let slices = match r.period_ms {
        Some(period) => format!(
            "slices by share of a {:.2} s period, {:.2} ms at most",
            period / 1e3,
            r.slice_ms
        ),
        None => format!("slices of {:.2} ms", r.slice_ms),
    };
    let mut out = format!(
        "weft bench fairness: {} scripts spinning in while (true), {} owners, {} workers, \
         {:.1} s, {slices} (fuel, from each script's measured rate)\n\n",
        r.scripts,
        r.owners.len(),
        r.workers,
        r.seconds,
    );
    let mut owners = Table::default();
    owners.header(
        [
            "owner",
            "scripts",
            "CPU s",
            "share",
            "target",
            "share / target",
            "Jain within",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    for o in &r.owners {
        owners.row(vec![
            o.name.clone(),
            o.scripts.to_string(),
            format!("{:.2}", o.cpu_s),
            format!("{:.1} %", o.share * 100.0),
            format!("{:.1} %", o.target * 100.0),
            format!("{:.3}", o.share / o.target),
            format!("{:.4}", o.jain_scripts),
        ]);
    }
    out.push_str(&owners.render());
    out.push('\n');
    let mut figures = Table::default();
    figures.header(vec!["figure".into(), "value".into(), "goal".into()]);
    let rows = [
        (
            "scripts that ran".to_owned(),
            format!("{} of {}", r.scripts_that_ran, r.scripts),
            "all".to_owned(),
        ),
        (
            "Jain, all scripts".into(),
            format!("{:.4}", r.jain_scripts),
            ">= 0.99".into(),
        ),
        (
            "Jain, owners".into(),
            format!("{:.4}", r.jain_owners),
            ">= 0.99".into(),
        ),
        (
            "overhead (CPU outside slices)".into(),
            format!(
                "{:.2} % ({:.2} of {:.2} CPU s)",
                r.overhead * 100.0,
                r.process_cpu_s - r.script_cpu_s,
                r.process_cpu_s
            ),
            "<= 2 %".into(),
        ),
        (
            "slice CPU time p50 / p90 / p99 / max".into(),
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} µs ({} slices)",
                r.slices.p50_us, r.slices.p90_us, r.slices.p99_us, r.slices.max_us, r.slices.count
            ),
            String::new(),
        ),
        (
            "pause request to paused p50 / p99 / max".into(),
            format!(
                "{:.0} / {:.0} / {:.0} µs ({} requests)",
                r.pause_p50_us, r.pause_p99_us, r.pause_max_us, r.pause_requests
            ),
            "p99 <= 20000 µs".into(),
        ),
        (
            "resident memory per script".into(),
            format!("{:.1} KiB", r.rss_per_script_bytes / 1024.0),
            String::new(),
        ),
    ];
    for (a, b, c) in rows {
        figures.row(vec![a, b, c]);
    }
    if let Some(w) = &r.slow_writers {
        figures.row(vec![
            format!(
                "{} slow writers ({} ms a write), heartbeat {}",
                w.scripts,
                w.write_ms,
                if w.heartbeat { "on" } else { "off" }
            ),
            format!(
                "spinning scripts got {:.2} CPU s per s; {} writes; {} spare workers started",
                w.spinner_cpu_per_second, w.writes, w.spares_started
            ),
            format!("{} workers", r.workers),
        ]);
    }
    if let Some(h) = &r.hibernated {
        figures.row(vec![
            format!("hibernated scripts (registered besides: {})", h.scripts),
            format!(
                "{:.0} B resident each, {:.0} B of it snapshot ({:.1} s to hibernate all)",
                h.rss_per_script_bytes, h.snapshot_bytes, h.seconds_to_hibernate
            ),
            format!("<= 4096 B + snapshot ({:.0} B)", h.overhead_bytes),
        ]);
    }
    out.push_str(&figures.render());
    out
}

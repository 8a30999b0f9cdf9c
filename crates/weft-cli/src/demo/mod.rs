//! `weft demo`: thousands of scripts share the CPU under the scheduler —
//! some spin in `while (true)`, some sleep, some talk — then every one of
//! them is snapshotted to disk, everything is dropped, and they are
//! restored into a fresh runtime and scheduler, where they continue where
//! they were.
//!
//! Every script keeps a counter in the first word of its memory (primes
//! found, wake-ups, messages said). The counters read from the snapshots
//! are compared with the counters of the restored scripts before they run
//! again, and again after they have run on.

use anyhow::{Context, Result, bail, ensure};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_node::{ScriptTask, StdioFactory};
use weft_runtime::{Runtime, RuntimeConfig, Script, ScriptOptions, Stdio};
use weft_sched::{Config, Scheduler, TaskState};

/// Counts primes by trial division, forever.
const SPINNER: &str = include_str!("primes.wat");
/// Wakes up every 50 ms, forever.
const SLEEPER: &str = include_str!("sleeper.wat");
/// Says something on its standard output every 200 ms, forever.
const TALKER: &str = include_str!("talker.wat");

#[derive(clap::Args)]
pub(crate) struct Args {
    /// How many scripts to run (70 % spin, 20 % sleep, 10 % talk).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(10..))]
    scripts: u32,
    /// How long they run before the snapshot, and again after the restore.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Where the snapshots go (default: a temporary directory, removed at
    /// the end).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Spinner,
    Sleeper,
    Talker,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Spinner => "spinning (primes found)",
            Kind::Sleeper => "sleeping (wake-ups)",
            Kind::Talker => "talking (messages said)",
        }
    }
}

/// Who runs what: the owner and the kind of each script, in spawn order.
/// "alice" runs most spinners, "bob" a few spinners and the talkers,
/// "carol" the sleepers: owners share the CPU equally however many scripts
/// each has.
fn plan(scripts: usize) -> Vec<(&'static str, Kind)> {
    let talkers = scripts / 10;
    let sleepers = scripts / 5;
    let spinners = scripts - talkers - sleepers;
    let bob_spinners = (spinners / 20).max(1);
    let mut plan = Vec::with_capacity(scripts);
    plan.extend(std::iter::repeat_n(
        ("alice", Kind::Spinner),
        spinners - bob_spinners,
    ));
    plan.extend(std::iter::repeat_n(("bob", Kind::Spinner), bob_spinners));
    plan.extend(std::iter::repeat_n(("bob", Kind::Talker), talkers));
    plan.extend(std::iter::repeat_n(("carol", Kind::Sleeper), sleepers));
    plan
}

fn new_runtime() -> Result<Arc<Runtime>> {
    Ok(Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: None,
            ..RuntimeConfig::default()
        })
        .context("cannot create a runtime")?,
    ))
}

fn new_scheduler() -> Result<Scheduler<ScriptTask>> {
    Scheduler::new(Config {
        slice: Duration::from_millis(2),
        first_slice_fuel: Some(weft_node::FIRST_SLICE_FUEL),
        ..Config::default()
    })
    .context("cannot start the scheduler")
}

/// The first word of a script's memory.
fn counter_of(snapshot: &weft_snapshot::Snapshot) -> Result<u32> {
    let memory = snapshot
        .memories
        .first()
        .context("the script has no memory")?
        .to_bytes()?;
    let word = memory.get(..4).context("the memory is empty")?;
    Ok(u32::from_le_bytes(word.try_into().expect("4 bytes")))
}

/// Standard output of the talkers: lines counted, the last one kept.
#[derive(Default)]
struct Chatter {
    lines: std::sync::atomic::AtomicU64,
    last: std::sync::Mutex<String>,
}

struct ChatterWriter(Arc<Chatter>);

impl std::io::Write for ChatterWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let lines = text.matches('\n').count() as u64;
        self.0
            .lines
            .fetch_add(lines, std::sync::atomic::Ordering::Relaxed);
        if let Some(line) = text.lines().last() {
            *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = line.to_owned();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn stdio_factory(kind: Kind, chatter: &Arc<Chatter>) -> StdioFactory {
    match kind {
        Kind::Talker => {
            let chatter = chatter.clone();
            Arc::new(move || Stdio {
                stdout: Box::new(ChatterWriter(chatter.clone())),
                stderr: Box::new(std::io::sink()),
                stdin: Box::new(std::io::empty()),
            })
        }
        _ => Arc::new(Stdio::null),
    }
}

pub(crate) fn run(args: Args) -> Result<()> {
    ensure!(args.seconds > 0.0, "--seconds must be positive");
    let scripts = args.scripts as usize;
    let plan = plan(scripts);
    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("weft-demo-")
                .tempdir()
                .context("create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let chatter = Arc::new(Chatter::default());
    println!(
        "weft demo: {scripts} scripts — {} spinning in while (true), {} sleeping, {} talking — \
         owned by alice, bob and carol, on {} workers",
        plan.iter().filter(|p| p.1 == Kind::Spinner).count(),
        plan.iter().filter(|p| p.1 == Kind::Sleeper).count(),
        plan.iter().filter(|p| p.1 == Kind::Talker).count(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // 1. Spawn and run.
    let runtime = new_runtime()?;
    let modules: HashMap<Kind, _> = [
        (Kind::Spinner, SPINNER),
        (Kind::Sleeper, SLEEPER),
        (Kind::Talker, TALKER),
    ]
    .into_iter()
    .map(|(kind, wat)| {
        let wasm = wat::parse_str(wat).context("assemble a demo script")?;
        Ok((kind, runtime.load(&wasm).context("load a demo script")?))
    })
    .collect::<Result<_>>()?;
    let scheduler = new_scheduler()?;
    let spawning = bar(scripts as u64, "spawning")?;
    let mut kinds = HashMap::new();
    for (i, (owner, kind)) in plan.iter().enumerate() {
        let options = ScriptOptions {
            id: format!("{owner}-{i}"),
            owner: owner.to_string(),
            args: vec![format!("{owner}-{i}")],
            ..ScriptOptions::default()
        };
        let stdio = stdio_factory(*kind, &chatter);
        let script = Script::spawn(&runtime, &modules[kind], options, stdio())?;
        let id = scheduler.spawn(owner, 1, ScriptTask::new(runtime.clone(), script, stdio))?;
        kinds.insert(id, (*kind, options_id(owner, i)));
        spawning.inc(1);
    }
    spawning.finish_and_clear();
    watch(&scheduler, &chatter, args.seconds, "sharing the CPU")?;

    // 2. Snapshot everything to disk, and drop it all.
    let tasks = scheduler.shutdown();
    ensure!(
        tasks.len() == scripts,
        "{} of {scripts} scripts are live",
        tasks.len()
    );
    let saving = bar(scripts as u64, "saving")?;
    let started = Instant::now();
    let mut saved: HashMap<String, (Kind, u32)> = HashMap::new();
    let mut bytes_written = 0u64;
    for (id, _owner, task) in tasks {
        let (kind, name) = kinds.get(&id).cloned().context("an unknown script")?;
        let mut script = task.into_script().map_err(anyhow::Error::msg)?;
        script.flush();
        let mut snapshot = script.snapshot()?;
        snapshot.wasm = Some(script.module().original().to_vec());
        saved.insert(name.clone(), (kind, counter_of(&snapshot)?));
        let bytes = weft_snapshot::encode(&snapshot)?;
        bytes_written += bytes.len() as u64;
        weft_runtime::write_atomically(&dir.join(format!("{name}.snap")), &bytes, false)?;
        saving.inc(1);
    }
    saving.finish_and_clear();
    drop((modules, runtime));
    println!(
        "saved {scripts} paused scripts to {} in {:.2} s ({:.1} MiB, {:.1} KiB per script); \
         dropped every instance, the runtime and the scheduler",
        dir.display(),
        started.elapsed().as_secs_f64(),
        bytes_written as f64 / (1 << 20) as f64,
        bytes_written as f64 / 1024.0 / scripts as f64
    );

    // 3. Restore into a fresh runtime and scheduler.
    let runtime = new_runtime()?;
    let scheduler = new_scheduler()?;
    let restoring = bar(scripts as u64, "restoring")?;
    let started = Instant::now();
    let mut restored = HashMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("list {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = snapshot_name(&path) else {
            continue;
        };
        let Some(&(kind, at_save)) = saved.get(&name) else {
            continue;
        };
        let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        let snapshot = weft_snapshot::decode(&bytes, &Default::default())
            .with_context(|| format!("decode {}", path.display()))?;
        let module = runtime.load_snapshot_module(&snapshot)?;
        let stdio = stdio_factory(kind, &chatter);
        let mut script = Script::restore(&runtime, &module, &snapshot, None, stdio())?;
        let now = counter_of(&script.snapshot()?)?;
        if now != at_save {
            bail!("{name} came back with counter {now}, it was saved at {at_save}");
        }
        let owner = script.metadata().owner.clone();
        let id = scheduler.spawn(&owner, 1, ScriptTask::new(runtime.clone(), script, stdio))?;
        restored.insert(id, (kind, name, at_save, now));
        restoring.inc(1);
    }
    restoring.finish_and_clear();
    ensure!(
        restored.len() == scripts,
        "restored {} of {scripts} scripts",
        restored.len()
    );
    println!(
        "restored all {scripts} into a fresh runtime in {:.2} s; every counter is what was saved",
        started.elapsed().as_secs_f64()
    );
    watch(&scheduler, &chatter, args.seconds, "continuing")?;

    // 4. They went on from where they were.
    let tasks = scheduler.shutdown();
    let mut by_kind: HashMap<Kind, (usize, u64, u64, u64, usize)> = HashMap::new();
    for (id, _owner, task) in tasks {
        let (kind, _name, at_save, at_restore) =
            restored.get(&id).cloned().context("an unknown script")?;
        let mut script = task.into_script().map_err(anyhow::Error::msg)?;
        let now = counter_of(&script.snapshot()?)?;
        ensure!(now >= at_save, "a script went back from {at_save} to {now}");
        let entry = by_kind.entry(kind).or_default();
        entry.0 += 1;
        entry.1 += u64::from(at_save);
        entry.2 += u64::from(at_restore);
        entry.3 += u64::from(now);
        entry.4 += usize::from(now > at_save);
    }
    let mut table = crate::bench::table::Table::default();
    table.header(
        [
            "scripts",
            "count",
            "counters at save",
            "at restore",
            "now",
            "moved on",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    for kind in [Kind::Spinner, Kind::Sleeper, Kind::Talker] {
        if let Some((count, at_save, at_restore, now, moved)) = by_kind.get(&kind) {
            table.row(vec![
                kind.label().to_owned(),
                count.to_string(),
                at_save.to_string(),
                at_restore.to_string(),
                now.to_string(),
                format!("{moved} of {count}"),
            ]);
        }
    }
    print!("\n{}", table.render());
    println!("every script continued exactly where it was saved");
    Ok(())
}

fn options_id(owner: &str, i: usize) -> String {
    format!("{owner}-{i}")
}

fn snapshot_name(path: &Path) -> Option<String> {
    (path.extension()? == "snap").then(|| path.file_stem()?.to_str().map(str::to_owned))?
}

fn bar(len: u64, prefix: &'static str) -> Result<ProgressBar> {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10.bold} [{bar:30}] {pos}/{len}")
            .context("invalid progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    Ok(bar)
}

/// Shows the owners' CPU shares and the scripts' states live for `seconds`.
fn watch(
    scheduler: &Scheduler<ScriptTask>,
    chatter: &Chatter,
    seconds: f64,
    what: &str,
) -> Result<()> {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>8.bold} [{bar:40}] {msg}")
        .context("invalid progress bar template")?
        .progress_chars("#  ");
    let mut owners: Vec<(String, ProgressBar)> = Vec::new();
    let status = multi.add(ProgressBar::new_spinner());
    let talk = multi.add(ProgressBar::new_spinner());
    let started = Instant::now();
    let cpu_at_start: HashMap<String, Duration> = scheduler
        .owners()
        .into_iter()
        .map(|o| (o.name, o.cpu))
        .collect();
    let slices_at_start = scheduler.counters().slices;
    let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut next_line = Duration::from_secs(1);
    while started.elapsed().as_secs_f64() < seconds {
        std::thread::sleep(Duration::from_millis(250));
        let stats = scheduler.owners();
        let total: f64 = stats
            .iter()
            .map(|o| (o.cpu - cpu_at_start.get(&o.name).copied().unwrap_or_default()).as_secs_f64())
            .sum();
        for o in &stats {
            let bar = match owners.iter().find(|(name, _)| *name == o.name) {
                Some((_, bar)) => bar.clone(),
                None => {
                    let bar = multi.insert_before(&status, ProgressBar::new(1000));
                    bar.set_style(style.clone());
                    bar.set_prefix(o.name.clone());
                    owners.push((o.name.clone(), bar.clone()));
                    bar
                }
            };
            let cpu =
                (o.cpu - cpu_at_start.get(&o.name).copied().unwrap_or_default()).as_secs_f64();
            let share = if total > 0.0 { cpu / total } else { 0.0 };
            bar.set_position((share * 1000.0) as u64);
            bar.set_message(format!(
                "{:5.1} % of the CPU, {} scripts ({} runnable)",
                share * 100.0,
                o.tasks,
                o.runnable
            ));
        }
        let tasks = scheduler.tasks();
        let count = |state| tasks.iter().filter(|t| t.state == state).count();
        status.set_message(format!(
            "{what}: {:.1} s, {} running, {} runnable, {} parked, {} slices",
            started.elapsed().as_secs_f64(),
            count(TaskState::Running),
            count(TaskState::Runnable),
            count(TaskState::Parked),
            scheduler.counters().slices - slices_at_start
        ));
        let said = chatter.lines.load(std::sync::atomic::Ordering::Relaxed);
        let last = chatter
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        talk.set_message(format!("talkers said {said} lines; the last: {last:?}"));
        if !live && started.elapsed() >= next_line {
            // Not a terminal: a line a second instead of the live view.
            next_line += Duration::from_secs(1);
            let shares: Vec<String> = owners
                .iter()
                .map(|(name, bar)| format!("{name} {:.1} %", bar.position() as f64 / 10.0))
                .collect();
            eprintln!(
                "{} | {} | talkers said {said} lines",
                status.message(),
                shares.join(", ")
            );
        }
    }
    for (_, bar) in &owners {
        bar.abandon();
    }
    status.abandon();
    talk.abandon();
    Ok(())
}

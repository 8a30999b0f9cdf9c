//! `weft up`: several scripts run together under the scheduler and talk to
//! each other through the weft host API (messages, timers, spawn); the
//! whole world can be saved to a directory and continued from it.
//!
//! Every line a script writes is printed with its id in front (`ping: ...`
//! on standard output, `ping! ...` on standard error), so that the output
//! of scripts running side by side stays readable.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft_node::{NewScript, OutputFactory, ScriptInfo, World};
use weft_runtime::{Runtime, RuntimeConfig, Stdio};
use weft_sched::Config;
use weft_snapshot::Limits;

/// `weft up`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The scripts to start: .wasm, .wat or source files (compiled as by
    /// `weft compile`). Each is named after its file: `ping.c` is `ping`, a
    /// second `ping.c` is `ping-2`.
    #[arg(required_unless_present = "resume")]
    scripts: Vec<PathBuf>,
    /// A module the scripts may start with `spawn`, known by its file name
    /// without the extension, not started itself (repeatable).
    #[arg(long = "module", value_name = "FILE")]
    modules: Vec<PathBuf>,
    /// Continue the world saved in this directory by `--save`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["scripts", "modules"])]
    resume: Option<PathBuf>,
    /// Stop after this many seconds, if the scripts have not all ended.
    #[arg(long, value_name = "SECONDS")]
    seconds: Option<f64>,
    /// Stop once this script has ended, even if others still run
    /// (repeatable: once all of them have ended).
    #[arg(long, value_name = "ID")]
    wait_for: Vec<String>,
    /// When stopping early (after `--seconds`, or on SIGTERM or Ctrl-C),
    /// save the world into this directory instead of killing the scripts
    /// that still run.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// The most linear memory each script may have (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = crate::script::parse_bytes)]
    max_memory: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Print a summary of how every script ended, as JSON, on standard
    /// output at the end.
    #[arg(long)]
    json: bool,
}

/// How a world's run ended, for `--json`.
#[derive(serde::Serialize)]
struct Summary {
    /// `ended` (every script ended, or those of `--wait-for`), `saved` or
    /// `stopped`.
    outcome: &'static str,
    seconds: f64,
    scripts: Vec<ScriptSummary>,
    dropped_messages: u64,
    spawn_failures: Vec<String>,
}

#[derive(serde::Serialize)]
struct ScriptSummary {
    id: String,
    owner: String,
    module: String,
    /// How it ended; `null` for one still running when the world stopped.
    exit: Option<String>,
}

/// Runs `weft up` and returns the exit status: 0 if every script that
/// ended exited with status 0, 1 otherwise.
pub(crate) fn run(args: Args) -> Result<i32> {
    let runtime =
        Arc::new(Runtime::new(RuntimeConfig::default()).context("cannot create a runtime")?);
    let config = Config {
        workers: args.workers.unwrap_or(Config::default().workers),
        slice: Duration::from_millis(2),
        first_slice_fuel: Some(weft_node::FIRST_SLICE_FUEL),
        ..Config::default()
    };
    let limits = Limits {
        memory_bytes: Some(args.max_memory),
        ..Limits::default()
    };
    let console = Console::default();
    let output = console.factory();
    stop::install();
    let started = Instant::now();
    let world = match &args.resume {
        Some(dir) => World::load(runtime, config, limits, output, dir)
            .with_context(|| format!("cannot continue the world saved in {}", dir.display()))?,
        None => start(&args, runtime, config, limits, output)?,
    };
    // `--seconds` counts from when the scripts start.
    let deadline = args
        .seconds
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let ended = wait(&world, &args.wait_for, deadline);
    let scripts = world.scripts();
    let dropped = world.dropped_messages();
    let spawn_failures = world.spawn_failures();
    let outcome = match (&args.save, ended) {
        (_, true) => {
            drop(world);
            "ended"
        }
        (Some(dir), false) => {
            let report = world
                .save(dir)
                .with_context(|| format!("cannot save the world into {}", dir.display()))?;
            eprintln!(
                "weft: saved {} running scripts ({} bytes) into {}; continue with `weft up --resume {}`",
                report.scripts,
                report.bytes,
                dir.display(),
                dir.display()
            );
            "saved"
        }
        (None, false) => {
            drop(world);
            "stopped"
        }
    };
    // The world is gone (`save` consumed it), so no script writes after
    // this point: the summary comes last.
    console.flush_all();
    let failed = scripts.iter().any(|s| {
        s.exit
            .as_deref()
            .is_some_and(|e| e != "exited with status 0")
    });
    if args.json {
        let summary = Summary {
            outcome,
            seconds: started.elapsed().as_secs_f64(),
            scripts: scripts.into_iter().map(ScriptSummary::from).collect(),
            dropped_messages: dropped,
            spawn_failures,
        };
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        for s in &scripts {
            let exit = s.exit.as_deref().unwrap_or(match outcome {
                "saved" => "saved",
                _ => "still running; stopped",
            });
            eprintln!("weft: {}: {exit}", s.id);
        }
        for note in &spawn_failures {
            eprintln!("weft: {note}");
        }
        if dropped > 0 {
            eprintln!("weft: {dropped} messages dropped (no such script, or a full mailbox)");
        }
    }
    Ok(i32::from(failed))
}

/// Waits until every script has ended (or those of `wait_for`, if given),
/// or `deadline` passes; `false` on the deadline.
fn wait(world: &World, wait_for: &[String], deadline: Option<Instant>) -> bool {
    loop {
        let scripts = world.scripts();
        let watched = |s: &&ScriptInfo| wait_for.is_empty() || wait_for.contains(&s.id);
        let unknown = wait_for
            .iter()
            .any(|id| !scripts.iter().any(|s| &s.id == id));
        if !unknown && scripts.iter().filter(watched).all(|s| s.task.is_none()) {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) || stop::asked() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl From<ScriptInfo> for ScriptSummary {
    fn from(s: ScriptInfo) -> Self {
        ScriptSummary {
            id: s.id,
            owner: s.owner,
            module: s.module,
            exit: s.exit,
        }
    }
}

/// Loads the modules and starts one script per file.
fn start(
    args: &Args,
    runtime: Arc<Runtime>,
    config: Config,
    limits: Limits,
    output: OutputFactory,
) -> Result<World> {
    let world = World::new(runtime.clone(), config, limits, output)?;
    let mut ids: Vec<(String, String)> = Vec::new();
    for (path, starts) in args
        .modules
        .iter()
        .map(|p| (p, false))
        .chain(args.scripts.iter().map(|p| (p, true)))
    {
        let name = module_name(path)?;
        let wasm = crate::read_module(path)?;
        let module = runtime
            .load(&wasm)
            .with_context(|| format!("cannot load {}", path.display()))?;
        world.add_module(&name, module);
        if starts {
            let taken = ids.iter().filter(|(_, module)| *module == name).count();
            let id = match taken {
                0 => name.clone(),
                n => format!("{name}-{}", n + 1),
            };
            ids.push((id, name));
        }
    }
    let scripts = ids
        .into_iter()
        .map(|(id, module)| NewScript {
            id,
            args: vec![module.clone()],
            module,
            owner: "user".into(),
        })
        .collect();
    world
        .spawn_all(scripts)
        .context("cannot start the scripts")?;
    Ok(world)
}

/// A file's name without its extension, as a module and script name.
fn module_name(path: &Path) -> Result<String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("{}: no usable file name", path.display()))?;
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        bail!("{}: no usable file name", path.display());
    }
    Ok(name)
}

/// The process's standard streams, shared by every script's lines.
#[derive(Clone, Default)]
struct Console {
    /// Every script's unfinished last line, flushed at the end.
    pending: Arc<Mutex<Vec<Arc<Mutex<LineWriter>>>>>,
}

impl Console {
    fn factory(&self) -> OutputFactory {
        let console = self.clone();
        Arc::new(move |id: &str| Stdio {
            stdout: Box::new(console.writer(format!("{id}: "), false)),
            stderr: Box::new(console.writer(format!("{id}! "), true)),
            stdin: Box::new(std::io::empty()),
        })
    }

    fn writer(&self, prefix: String, stderr: bool) -> Shared {
        let writer = Arc::new(Mutex::new(LineWriter {
            prefix,
            stderr,
            partial: Vec::new(),
        }));
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the writers of instances that are gone (a script restored
        // from hibernation gets new ones) once their lines are out.
        pending.retain(|w| {
            Arc::strong_count(w) > 1
                || !w
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .partial
                    .is_empty()
        });
        pending.push(writer.clone());
        Shared(writer)
    }

    /// Prints every unfinished line.
    fn flush_all(&self) {
        for writer in self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            if !w.partial.is_empty() {
                w.partial.push(b'\n');
                w.emit_lines();
            }
        }
    }
}

/// Prefixes each complete line with the script's id.
struct LineWriter {
    prefix: String,
    stderr: bool,
    partial: Vec<u8>,
}

impl LineWriter {
    fn emit_lines(&mut self) {
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let mut out = Vec::new();
        for line in self.partial[..end].split(|&b| b == b'\n') {
            out.extend_from_slice(self.prefix.as_bytes());
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        self.partial.drain(..=end);
        // The console is best effort: a closed pipe must not stop the scripts.
        let _ = if self.stderr {
            std::io::stderr().lock().write_all(&out)
        } else {
            std::io::stdout().lock().write_all(&out)
        };
    }
}

struct Shared(Arc<Mutex<LineWriter>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        w.partial.extend_from_slice(buf);
        w.emit_lines();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SIGTERM and SIGINT end the wait (and save the world with `--save`)
/// instead of killing the process.
mod stop {
    use std::sync::atomic::{AtomicBool, Ordering};

    static ASKED: AtomicBool = AtomicBool::new(false);

    /// Whether a stop signal came.
    pub(super) fn asked() -> bool {
        ASKED.load(Ordering::Relaxed)
    }

    #[cfg(unix)]
    extern "C" fn on_signal(_: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        ASKED.store(true, Ordering::Relaxed);
    }

    /// Installs the handlers.
    pub(super) fn install() {
        #[cfg(unix)]
        // SAFETY: `on_signal` only does an atomic store, which is
        // async-signal-safe; the handler stays valid for the whole process.
        unsafe {
            let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::signal(libc::SIGTERM, handler);
            libc::signal(libc::SIGINT, handler);
        }
    }
}

//! `weft run`, `weft resume` and `weft inspect`.
//!
//! Standard output carries only the script's own output; weft's messages
//! go to standard error. The exit status is the script's, 0 when it was
//! stopped and saved, [`TRAP_STATUS`] after a trap, 1 when weft itself
//! failed.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_runtime::{
    Budget, Runtime, RuntimeConfig, Script, ScriptModule, ScriptOptions, Status, Stdio,
};
use weft_snapshot::{DecodeLimits, Limits, Snapshot};

/// The exit status after a trap (128 + SIGABRT, as a native crash would).
pub const TRAP_STATUS: i32 = 134;

/// How a script is driven, for both `run` and `resume`.
#[derive(Args, Debug, Clone)]
pub struct Drive {
    /// Preempt the script every FUEL units of fuel (and resume it at once).
    #[arg(long, value_name = "FUEL", value_parser = clap::value_parser!(u64).range(1..))]
    slice: Option<u64>,
    /// At every slice boundary, encode a full snapshot (uncompressed, as it
    /// is decoded again at once), decode it, and continue in a fresh
    /// instance restored from it.
    #[arg(long)]
    roundtrip: bool,
    /// Pause once FUEL units of fuel have run in this process, save the
    /// script to `--save` and exit 0.
    #[arg(long, value_name = "FUEL", requires = "save")]
    stop_after: Option<u64>,
    /// Where `--stop-after` writes the snapshot.
    #[arg(long, value_name = "PATH", requires = "stop_after")]
    save: Option<PathBuf>,
    /// When the script ends or is saved, print the fuel it used, the slices
    /// and round trips, and the time taken to standard error (one line of
    /// JSON with `--stats-json`).
    #[arg(long)]
    stats: bool,
    /// Like `--stats`, as one line of JSON.
    #[arg(long)]
    stats_json: bool,
}

/// What `--stats` reports.
#[derive(Debug, Default, serde::Serialize)]
struct Stats {
    /// How the run ended: `exited`, `trapped` or `saved`.
    outcome: &'static str,
    exit_status: i32,
    /// Fuel used in this process.
    fuel: u64,
    /// Fuel used over the script's whole life.
    total_fuel: u64,
    slices: u64,
    roundtrips: u64,
    seconds: f64,
    #[serde(skip)]
    warned_unsent: bool,
}

impl Stats {
    fn print(&self, drive: &Drive) {
        if drive.stats_json {
            if let Ok(line) = serde_json::to_string(self) {
                eprintln!("{line}");
            }
        } else if drive.stats {
            eprintln!(
                "weft: {} (status {}) after {} units of fuel ({} in all), {} slices, {} round trips, {:.3} s",
                self.outcome,
                self.exit_status,
                self.fuel,
                self.total_fuel,
                self.slices,
                self.roundtrips,
                self.seconds
            );
        }
    }
}

/// `weft run`'s own options.
#[derive(Args, Debug, Clone)]
pub struct RunOptions {
    /// The module to run (.wasm or .wat, not instrumented).
    module: PathBuf,
    #[command(flatten)]
    drive: Drive,
    /// Deterministic mode: a virtual clock driven by fuel, a seeded random
    /// generator, canonical NaNs; the output is the same however the run is
    /// stopped and resumed.
    #[arg(long)]
    deterministic: bool,
    /// The seed of the random generator in deterministic mode.
    #[arg(long, default_value_t = 0, requires = "deterministic")]
    seed: u64,
    /// An environment variable for the script (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// The most linear memory the script may have, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_memory: Option<u64>,
    /// The most fuel the script may use over its whole life.
    #[arg(long, value_name = "FUEL")]
    max_fuel: Option<u64>,
    /// The script's arguments.
    #[arg(last = true)]
    args: Vec<String>,
}

/// `weft resume`'s own options.
#[derive(Args, Debug, Clone)]
pub struct ResumeOptions {
    /// The snapshot written by `--stop-after ... --save`.
    snapshot: PathBuf,
    /// Resume with this module instead of the one the snapshot carries (it
    /// must be the module the snapshot was taken from).
    #[arg(long)]
    module: Option<PathBuf>,
    #[command(flatten)]
    drive: Drive,
}

pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size in bytes"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        other => return Err(format!("unknown size unit `{other}` (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

fn runtime(deterministic: bool) -> Result<Arc<Runtime>> {
    let config = RuntimeConfig {
        canonical_nans: deterministic,
        ..RuntimeConfig::default()
    };
    Ok(Arc::new(Runtime::new(config)?))
}

/// Runs `work` on a thread with a native stack large enough for the
/// runtime's WebAssembly stack, and returns the exit status it chose.
fn on_script_thread(work: impl FnOnce() -> Result<i32> + Send + 'static) -> Result<i32> {
    let stack = weft_runtime::thread_stack_size(weft_runtime::DEFAULT_MAX_WASM_STACK);
    std::thread::Builder::new()
        .name("weft-script".into())
        .stack_size(stack)
        .spawn(work)
        .context("cannot start the script thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the script thread panicked"))?
}

fn stdio(deterministic: bool) -> Stdio {
    let mut stdio = Stdio::inherit();
    if !deterministic {
        stdio.stdin = Box::new(std::io::stdin());
    }
    stdio
}

/// `weft run`.
pub fn run(options: RunOptions) -> Result<i32> {
    let wasm = crate::read_module(&options.module)?;
    let runtime = runtime(options.deterministic)?;
    let module = runtime
        .load(&wasm)
        .with_context(|| format!("cannot load {}", options.module.display()))?;
    let program = options
        .module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "script".into());
    let mut env = Vec::new();
    for pair in &options.env {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("--env {pair}: expected NAME=VALUE");
        };
        env.push((name.to_string(), value.to_string()));
    }
    let script_options = ScriptOptions {
        args: std::iter::once(program).chain(options.args).collect(),
        env,
        deterministic: options.deterministic.then_some(options.seed),
        limits: Limits {
            memory_bytes: options.max_memory,
            table_elements: None,
            fuel: options.max_fuel,
        },
        ..ScriptOptions::default()
    };
    let deterministic = options.deterministic;
    let drive = options.drive;
    on_script_thread(move || {
        let script = Script::spawn(&runtime, &module, script_options, stdio(deterministic))?;
        drive_script(&runtime, &module, script, &drive)
    })
}

/// `weft resume`.
pub fn resume(options: ResumeOptions) -> Result<i32> {
    let snapshot = read_snapshot(&options.snapshot)?;
    let host = weft_runtime::host_state(&snapshot)
        .with_context(|| format!("cannot resume {}", options.snapshot.display()))?;
    let deterministic = host.deterministic.is_some();
    let runtime = runtime(deterministic)?;
    let module = match &options.module {
        Some(path) => {
            let wasm = crate::read_module(path)?;
            let hash = weft_runtime::module_hash(&wasm);
            if hash != snapshot.module.hash {
                bail!(
                    "{} was taken from module sha256:{}, but {} is sha256:{}",
                    options.snapshot.display(),
                    hex::encode(snapshot.module.hash),
                    path.display(),
                    hex::encode(hash)
                );
            }
            let config = weft_runtime::parse_instrumentation(&snapshot.module.instrumentation)?;
            runtime.load_with(&wasm, &config)?
        }
        None => runtime
            .load_snapshot_module(&snapshot)
            .with_context(|| format!("cannot resume {}", options.snapshot.display()))?,
    };
    let path = options.snapshot.clone();
    let drive = options.drive;
    on_script_thread(move || {
        let script = Script::restore(&runtime, &module, &snapshot, None, stdio(deterministic))
            .with_context(|| format!("cannot resume {}", path.display()))?;
        if !script.status().is_runnable() {
            bail!("{} holds a script that cannot run", path.display());
        }
        drive_script(&runtime, &module, script, &drive)
    })
}

fn read_snapshot(path: &Path) -> Result<Snapshot> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    weft_snapshot::decode(&bytes, &DecodeLimits::default())
        .with_context(|| format!("{} is not a usable snapshot", path.display()))
}

/// Runs a script as `drive` says and returns the exit status.
fn drive_script(
    runtime: &Runtime,
    module: &Arc<ScriptModule>,
    mut script: Script,
    drive: &Drive,
) -> Result<i32> {
    let mut left = drive.stop_after;
    let started = std::time::Instant::now();
    let first_fuel = script.accounting().fuel_used;
    let mut stats = Stats::default();
    let finish = |mut stats: Stats, script: &Script, outcome, status| {
        stats.outcome = outcome;
        stats.exit_status = status;
        stats.total_fuel = script.accounting().fuel_used;
        stats.fuel = stats.total_fuel - first_fuel;
        stats.seconds = started.elapsed().as_secs_f64();
        stats.print(drive);
        status
    };
    loop {
        let budget = match (drive.slice, left) {
            (Some(slice), Some(left)) => Budget::Fuel(slice.min(left)),
            (Some(slice), None) => Budget::Fuel(slice),
            (None, Some(left)) => Budget::Fuel(left),
            (None, None) => Budget::Unlimited,
        };
        let before = script.accounting().fuel_used;
        let status = script.run(budget)?.clone();
        stats.slices += 1;
        let used = script.accounting().fuel_used - before;
        left = left.map(|l| l.saturating_sub(used));
        match status {
            Status::Exited(code) => return Ok(finish(stats, &script, "exited", code)),
            Status::Trapped(trap) => {
                eprintln!("weft: error: the script trapped: {trap}");
                return Ok(finish(stats, &script, "trapped", TRAP_STATUS));
            }
            Status::Killed | Status::Created | Status::Running => {
                bail!("the script stopped unexpectedly ({status:?})")
            }
            Status::Parked(weft_runtime::Wake::Message { deadline: None })
                if !script.has_mail() =>
            {
                bail!(
                    "the script waits for a message with no timeout, and under `weft run` \
                     no other script can send it one (run scripts that talk with `weft up`)"
                )
            }
            Status::Paused | Status::Parked(_) => {}
        }
        let unsent = script.take_outbox().len();
        if unsent > 0 && !stats.warned_unsent {
            stats.warned_unsent = true;
            eprintln!(
                "weft: the script sends messages or spawns scripts; under `weft run` there is no \
                 other script to receive them and they are dropped (use `weft up`)"
            );
        }
        if left == Some(0) {
            let path = drive.save.as_ref().context("--stop-after needs --save")?;
            save(&mut script, path)?;
            eprintln!(
                "weft: paused after {} units of fuel ({} in all); saved to {}",
                drive.stop_after.unwrap_or_default(),
                script.accounting().fuel_used,
                path.display()
            );
            return Ok(finish(stats, &script, "saved", 0));
        }
        if let Some(wait) = script.park_remaining()
            && !wait.is_zero()
        {
            std::thread::sleep(wait);
        }
        if drive.roundtrip {
            script = roundtrip(runtime, module, script)?;
            stats.roundtrips += 1;
        }
    }
}

/// Encodes the script, decodes it and restores it into a fresh instance.
fn roundtrip(runtime: &Runtime, module: &Arc<ScriptModule>, mut script: Script) -> Result<Script> {
    // Decoded again at once: compressing would only cost time.
    let bytes = weft_snapshot::encode_with(&script.snapshot()?, weft_snapshot::Compression::None)?;
    let stdio = script.take_stdio();
    drop(script);
    let snapshot = weft_snapshot::decode(&bytes, &DecodeLimits::default())?;
    Ok(Script::restore(runtime, module, &snapshot, None, stdio)?)
}

/// Writes a snapshot that carries its module, durably.
fn save(script: &mut Script, path: &Path) -> Result<()> {
    script.flush();
    let mut snapshot = script.snapshot()?;
    snapshot.wasm = Some(script.module().original().to_vec());
    let bytes = weft_snapshot::encode(&snapshot)?;
    weft_runtime::write_atomically(path, &bytes, true)?;
    Ok(())
}

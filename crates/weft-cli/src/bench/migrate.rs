//! `weft bench migrate`: moving running scripts between two `weft serve`
//! nodes on 127.0.0.1, and checkpointing many of them.
//!
//! | section | measured | baseline |
//! |---|---|---|
//! | [`measure_moves`] | `POST /v1/scripts/{id}/migrate` of a script holding 64 KiB, 1 MiB and 16 MiB of incompressible linear memory, A→B→A..., each call returning once the receiver has committed it | `GET /v1/scripts/{id}/snapshot` of the same script on the node holding it (capture, encode and transfer to the client), interleaved with the moves |
//! | [`measure_checkpoints`] | checkpoints per second and the mean capture + encode time per checkpoint of 1,000 small scripts under `--checkpoint-every 2`, from `GET /metrics` 5 s apart; the time from a SIGTERM to the node's exit, every script checkpointed | 1,000 scripts / 2 s, the rate the checkpoint period asks for |
//!
//! The snapshot GET is what the node does for a migration up to the
//! transfer: it takes the script out at a slice boundary, encodes it with
//! its module, and puts it back; a move adds the two-phase handoff of
//! `weft_node::migrate` (validation, instrumentation and compilation on
//! the receiver, both stores written durably).
//!
//! Both nodes are child processes of this one (the current executable,
//! `weft serve`), each with its own store in a temporary directory and a
//! peers file naming the other; they are killed when the benchmark ends,
//! on error too. Times are wall-clock, measured by the client, so they
//! include HTTP over loopback. p99 over `--runs` moves is their maximum
//! when there are fewer than 100.

use crate::bench::stats::{quantile, ratio};
use crate::bench::table::Table;
use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The scripts moved: a label and their linear memory in 64 KiB pages.
const SIZES: [(&str, u32); 3] = [("64KiB", 1), ("1MiB", 16), ("16MiB", 256)];
/// Scripts of the checkpoint section.
const SCRIPTS: usize = 1000;
/// The nodes' `--checkpoint-every`, in seconds.
const CHECKPOINT_EVERY: u64 = 2;
/// Seconds between the two readings of `/metrics`.
const METRICS_WINDOW: u64 = 5;
/// The longest anything the benchmark waits for may take.
const PATIENCE: Duration = Duration::from_secs(120);
/// How long a script may take to be found running on exactly one node
/// after a move.
const SETTLE: Duration = Duration::from_secs(10);
/// Lines of a node's standard error kept for error messages.
const STDERR_KEPT: usize = 200;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print one JSON object with every figure instead of tables.
    #[arg(long)]
    json: bool,
    /// Moves of each script (A→B, B→A, ... alternately), each beside a
    /// local snapshot.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Everything measured; the JSON output.
#[derive(Serialize)]
struct Report {
    runs: u32,
    migrate_p50_ms: BySize<f64>,
    migrate_p99_ms: BySize<f64>,
    snapshot_p50_ms: BySize<f64>,
    migrate_to_snapshot_ratio: BySize<f64>,
    snapshot_bytes: BySize<u64>,
    /// Moves that failed: the node said no, or said yes and the script
    /// was not (only) on the receiver.
    migrate_failures: BySize<usize>,
    /// What each failed move answered, and where its script ended up.
    failures: Vec<String>,
    scripts: usize,
    checkpoint_every_seconds: u64,
    checkpoints_per_second: f64,
    checkpoint_mean_us: f64,
    stop_checkpoint_seconds: f64,
    /// What the node itself said when it stopped: scripts checkpointed.
    stop_checkpointed: Option<u64>,
    /// The scripts node A listed right before its stop besides the
    /// counters (those of the moves that ended there, killed), with their
    /// states.
    others_on_node_a: Vec<String>,
    #[serde(skip)]
    moves: Vec<Moves>,
}

/// One figure per script size, serialized as an object keyed by size
/// (`null` where there is none: no move succeeded).
struct BySize<T>(Vec<(&'static str, Option<T>)>);

impl<T> BySize<T> {
    fn of(moves: &[Moves], figure: impl Fn(&Moves) -> Option<T>) -> Self {
        BySize(moves.iter().map(|m| (m.label, figure(m))).collect())
    }
}

impl<T: Serialize> Serialize for BySize<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The moves of one script.
struct Moves {
    label: &'static str,
    memory_bytes: u64,
    snapshot_bytes: u64,
    snapshot: Vec<Duration>,
    /// The moves that succeeded.
    migrate: Vec<Duration>,
    /// Those that did not, described.
    failures: Vec<String>,
}

impl Moves {
    /// The `q` quantile of the snapshots and of the successful moves;
    /// `None` without samples.
    fn quantiles(&self, q: f64) -> (Option<Duration>, Option<Duration>) {
        let at = |samples: &[Duration]| {
            let mut sorted = samples.to_vec();
            sorted.sort_unstable();
            quantile(&sorted, q)
        };
        (at(&self.snapshot), at(&self.migrate))
    }

    /// Moves per snapshot at the median.
    fn ratio(&self) -> Option<f64> {
        match self.quantiles(0.5) {
            (Some(snapshot), Some(migrate)) => Some(ratio(migrate, snapshot)),
            _ => None,
        }
    }
}

/// The checkpoint section's figures.
struct Checkpoints {
    per_second: f64,
    mean: Duration,
    stop: Duration,
    stop_checkpointed: Option<u64>,
    others_on_a: Vec<String>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let steps = SIZES.len() as u64 * u64::from(args.runs) + SCRIPTS as u64 + METRICS_WINDOW + 1;
    let progress = super::progress_bar(steps, 14, args.json)?;
    let report = measure(args.runs, &progress);
    progress.finish_and_clear();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "weft bench migrate: two `weft serve` nodes on 127.0.0.1, {} moves per script \
         (A→B→A...); baseline = a local snapshot GET on the node holding the script, \
         in the same run\n",
        report.runs
    );
    print!("{}", moves_table(&report.moves).render());
    if !report.failures.is_empty() {
        println!(
            "\n{} moves failed (not timed above; the script moved on from where it was):",
            report.failures.len()
        );
        for failure in &report.failures {
            println!("  {failure}");
        }
    }
    println!();
    print!("{}", checkpoints_table(&report).render());
    if !report.others_on_node_a.is_empty() {
        println!(
            "node A also listed, before its stop: {}",
            report.others_on_node_a.join(", ")
        );
    }
    let listed = SCRIPTS
        + report
            .others_on_node_a
            .iter()
            .filter(|s| s.ends_with("(running)"))
            .count();
    if let Some(n) = report.stop_checkpointed.filter(|&n| n != listed as u64) {
        println!(
            "node A checkpointed {n} scripts on its stop, but listed {listed} running \
             right before it"
        );
    }
    Ok(())
}

fn measure(runs: u32, progress: &ProgressBar) -> Result<Report> {
    // Declared first, dropped last: the nodes are killed before their
    // stores are removed.
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    progress.set_prefix("start");
    let (a, b) = start_nodes(dir.path(), progress)?;
    let moves = SIZES
        .iter()
        .map(|&(label, pages)| {
            progress.set_prefix(format!("migrate {label}"));
            measure_moves(&a, &b, label, pages, runs, progress)
                .with_context(|| format!("moving the {label} script"))
        })
        .collect::<Result<Vec<_>>>()?;
    let checkpoints = measure_checkpoints(a, b, progress).context("checkpointing")?;
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    Ok(Report {
        runs,
        migrate_p50_ms: BySize::of(&moves, |m| ms(m.quantiles(0.5).1)),
        migrate_p99_ms: BySize::of(&moves, |m| ms(m.quantiles(0.99).1)),
        snapshot_p50_ms: BySize::of(&moves, |m| ms(m.quantiles(0.5).0)),
        migrate_to_snapshot_ratio: BySize::of(&moves, Moves::ratio),
        snapshot_bytes: BySize::of(&moves, |m| Some(m.snapshot_bytes)),
        migrate_failures: BySize::of(&moves, |m| Some(m.failures.len())),
        failures: moves
            .iter()
            .flat_map(|m| m.failures.iter().map(|f| format!("{}: {f}", m.label)))
            .collect(),
        scripts: SCRIPTS,
        checkpoint_every_seconds: CHECKPOINT_EVERY,
        checkpoints_per_second: checkpoints.per_second,
        checkpoint_mean_us: checkpoints.mean.as_secs_f64() * 1e6,
        stop_checkpoint_seconds: checkpoints.stop.as_secs_f64(),
        stop_checkpointed: checkpoints.stop_checkpointed,
        others_on_node_a: checkpoints.others_on_a,
        moves,
    })
}

/// Starts node B, then node A, each with a peers file naming the other.
///
/// A peers file is read once, at start, and must hold the other node's URL,
/// which is only known once that node listens. So A's port is reserved
/// first: bind 127.0.0.1:0, read the port, drop the listener; B starts
/// naming A at that port, then A is told to listen on it. Another process
/// could take the port in between (unlikely: the kernel hands out
/// ephemeral ports in turn); A then fails to listen, and the pair is
/// started again on a fresh port, at most three times.
fn start_nodes(dir: &Path, progress: &ProgressBar) -> Result<(Node, Node)> {
    let exe = std::env::current_exe().context("cannot find the weft executable")?;
    let secret = format!(
        "weft-bench-{:016x}",
        std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::process::id()
        )
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot reserve a port on 127.0.0.1")?
            .port();
        let a_url = format!("http://127.0.0.1:{port}");
        let b_peers = dir.join(format!("b{attempt}-peers.json"));
        let b_peers = peers_file(b_peers, "b", "a", &a_url, &secret)?;
        let b = Node::start(
            &exe,
            "B",
            &dir.join(format!("b{attempt}")),
            &b_peers,
            "127.0.0.1:0",
        )?;
        let a_peers = dir.join(format!("a{attempt}-peers.json"));
        let a_peers = peers_file(a_peers, "a", "b", &b.url, &secret)?;
        let listen = format!("127.0.0.1:{port}");
        match Node::start(
            &exe,
            "A",
            &dir.join(format!("a{attempt}")),
            &a_peers,
            &listen,
        ) {
            Ok(a) => {
                ensure!(
                    a.url == a_url,
                    "node A serves on {}, not on {a_url} as B's peers file says",
                    a.url
                );
                return Ok((a, b));
            }
            Err(e) if attempt < 3 => progress.suspend(|| {
                eprintln!("weft bench migrate: node A did not start on {listen} ({e:#}); again");
            }),
            Err(e) => return Err(e.context(format!("node A did not start on {listen}"))),
        }
    }
}

/// Writes `path`: the peers file of node `node`, whose one peer is `peer`
/// at `peer_url`.
fn peers_file(
    path: PathBuf,
    node: &str,
    peer: &str,
    peer_url: &str,
    secret: &str,
) -> Result<PathBuf> {
    let peers = json!({
        "node": node,
        "peers": [{"name": peer, "url": peer_url, "secret": secret}],
    });
    std::fs::write(&path, peers.to_string())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A `weft serve` child process; killed when dropped.
struct Node {
    name: &'static str,
    child: Child,
    url: String,
    agent: ureq::Agent,
    /// The last lines of its standard error.
    stderr: Arc<Mutex<VecDeque<String>>>,
    drain: Option<JoinHandle<()>>,
}

impl Node {
    fn start(
        exe: &Path,
        name: &'static str,
        data: &Path,
        peers: &Path,
        listen: &str,
    ) -> Result<Node> {
        let mut child = Command::new(exe)
            .args(["serve", "--listen", listen, "--checkpoint-every"])
            .arg(CHECKPOINT_EVERY.to_string())
            .arg("--data")
            .arg(data)
            .arg("--peers")
            .arg(peers)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start `{} serve`", exe.display()))?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let pipe = child
            .stderr
            .take()
            .context("no pipe from the node's stderr")?;
        let (serving, url) = mpsc::channel();
        let kept = stderr.clone();
        // Reads every line, so that the node never blocks on a full pipe;
        // the first `serving on` line says where it listens.
        let drain = std::thread::spawn(move || {
            let mut serving = Some(serving);
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("weft: serving on ") {
                    let url = rest.split(' ').next().unwrap_or_default().to_string();
                    if let Some(serving) = serving.take() {
                        let _ = serving.send(url);
                    }
                }
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                if kept.len() == STDERR_KEPT {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(PATIENCE))
            .build()
            .into();
        let mut node = Node {
            name,
            child,
            url: String::new(),
            agent,
            stderr,
            drain: Some(drain),
        };
        match url.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => node.url = url,
            Err(_) => {
                let status = match node.child.try_wait() {
                    Ok(Some(status)) => format!("it exited ({status})"),
                    _ => "it did not say where it serves within 60 s".into(),
                };
                bail!("node {name} did not start: {status}{}", node.stderr_tail());
            }
        }
        Ok(node)
    }

    /// The last lines of its standard error, for an error message.
    fn stderr_tail(&self) -> String {
        let kept = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let lines: Vec<&str> = kept
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(String::as_str)
            .collect();
        match lines.is_empty() {
            true => String::new(),
            false => format!(
                "\nnode {}'s last lines on stderr:\n  {}",
                self.name,
                lines.join("\n  ")
            ),
        }
    }

    /// A request; the status and the body, whatever the status.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.url);
        let sent = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, Some((content_type, body))) => self
                .agent
                .post(&url)
                .header("content-type", content_type)
                .send(body),
            (_, None) => self.agent.post(&url).send_empty(),
        };
        let mut response = sent.with_context(|| {
            format!(
                "node {} did not answer {method} {path}{}",
                self.name,
                self.stderr_tail()
            )
        })?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .with_context(|| {
                format!("cannot read node {}'s answer to {method} {path}", self.name)
            })?;
        Ok((status, bytes))
    }

    /// A request that must answer `expected`; its body.
    fn expect(
        &self,
        expected: u16,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Vec<u8>> {
        let (status, bytes) = self.call(method, path, body)?;
        if status != expected {
            bail!(
                "node {} answered {method} {path} with HTTP {status}: {}{}",
                self.name,
                error_of(&bytes),
                self.stderr_tail()
            );
        }
        Ok(bytes)
    }

    fn get_json(&self, path: &str) -> Result<Value> {
        let bytes = self.expect(200, "GET", path, None)?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("node {}'s answer to GET {path} is not JSON", self.name))
    }

    fn post_json(&self, expected: u16, path: &str, body: &Value) -> Result<Value> {
        let body = body.to_string();
        let bytes = self.expect(
            expected,
            "POST",
            path,
            Some(("application/json", body.as_bytes())),
        )?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("node {}'s answer to POST {path} is not JSON", self.name))
    }

    /// Deploys `wasm` as `name`; its id.
    fn deploy(&self, wasm: &[u8], name: &str) -> Result<String> {
        let body = json!({
            "wasm": base64::engine::general_purpose::STANDARD.encode(wasm),
            "name": name,
        });
        let record = self.post_json(201, "/v1/scripts", &body)?;
        record["id"].as_str().map(str::to_string).with_context(|| {
            format!(
                "node {} deployed a script without an id: {record}",
                self.name
            )
        })
    }

    /// The values of the metrics `names` (ones without labels), from one
    /// reading of `/metrics`.
    fn metrics<const N: usize>(&self, names: [&str; N]) -> Result<[f64; N]> {
        let bytes = self.expect(200, "GET", "/metrics", None)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut values = [0.0; N];
        for (value, name) in values.iter_mut().zip(names) {
            *value = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    let (key, value) = l.split_once(' ')?;
                    (key == name).then(|| value.trim().parse::<f64>().ok())?
                })
                .with_context(|| format!("node {}'s /metrics has no `{name}`", self.name))?;
        }
        Ok(values)
    }

    /// SIGTERM, then waits for the exit: how long it took, and the number
    /// of scripts the node says it checkpointed.
    fn stop(&mut self) -> Result<(Duration, Option<u64>)> {
        let pid = libc::pid_t::try_from(self.child.id()).context("a process id out of range")?;
        let started = Instant::now();
        // SAFETY: sending a signal to our own child, which has not been
        // waited for, so its pid is still its own.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        ensure!(sent == 0, "cannot send SIGTERM to node {}", self.name);
        let status = loop {
            if let Some(status) = self.child.try_wait().context("cannot wait for the node")? {
                break status;
            }
            ensure!(
                started.elapsed() < PATIENCE,
                "node {} did not exit within {} s of SIGTERM{}",
                self.name,
                PATIENCE.as_secs(),
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let took = started.elapsed();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        ensure!(
            status.success(),
            "node {} exited with {status} on SIGTERM{}",
            self.name,
            self.stderr_tail()
        );
        let kept = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let checkpointed = kept.iter().find_map(|l| {
            l.strip_prefix("weft: stopped; ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        });
        Ok((took, checkpointed))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A script that fills `pages` of memory with xorshift64 output (which
/// zstd cannot shrink), logs `filled`, then sleeps 10 ms at a time for
/// ever.
fn filler(pages: u32) -> Result<Vec<u8>> {
    let bytes = u64::from(pages) * 65536;
    let wat = format!(
        r#"(module
  (import "weft" "log" (func $log (param i32 i32)))
  (import "weft" "sleep" (func $sleep (param i64)))
  (memory (export "memory") {pages} {pages})
  (func (export "_start") (local $at i32) (local $x i64)
    (local.set $x (i64.const 0x2545F4914F6CDD1D))
    (loop $fill
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
      (i64.store (local.get $at) (local.get $x))
      (local.set $at (i32.add (local.get $at) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $at) (i32.const {bytes}))))
    ;; "filled", little-endian, over the first random bytes.
    (i64.store (i32.const 0) (i64.const 0x64656c6c6966))
    (call $log (i32.const 0) (i32.const 6))
    (loop $forever
      (call $sleep (i64.const 10000000))
      (br $forever))))"#
    );
    wat::parse_str(wat).context("the filler script does not assemble")
}

/// A script that increments a counter in memory every 5 ms, for ever.
fn counter() -> Result<Vec<u8>> {
    wat::parse_str(
        r#"(module
  (import "weft" "sleep" (func $sleep (param i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (call $sleep (i64.const 5000000))
      (br $forever))))"#,
    )
    .context("the counter script does not assemble")
}

/// Deploys a filler of `pages` on A, waits until it has filled its memory,
/// then alternates a local snapshot and a move to the other node, `runs`
/// times; finally kills it.
fn measure_moves(
    a: &Node,
    b: &Node,
    label: &'static str,
    pages: u32,
    runs: u32,
    progress: &ProgressBar,
) -> Result<Moves> {
    let id = a.deploy(&filler(pages)?, &format!("mem{label}"))?;
    progress.set_message(format!("{id}: filling its memory"));
    let started = Instant::now();
    loop {
        let page = a.get_json(&format!("/v1/scripts/{id}/logs?wait=5"))?;
        if page["lines"].as_array().is_some_and(|l| !l.is_empty()) {
            break;
        }
        ensure!(
            page["ended"] != true,
            "the script ended before filling its memory: {}",
            a.get_json(&format!("/v1/scripts/{id}"))?
        );
        ensure!(
            started.elapsed() < PATIENCE,
            "the script did not fill its memory within {} s",
            PATIENCE.as_secs()
        );
    }
    let mut moves = Moves {
        label,
        memory_bytes: u64::from(pages) * 65536,
        snapshot_bytes: 0,
        snapshot: Vec::new(),
        migrate: Vec::new(),
        failures: Vec::new(),
    };
    let nodes = [a, b];
    let mut holder = 0;
    for run in 1..=runs {
        let (from, to) = (nodes[holder], nodes[1 - holder]);
        progress.set_message(format!("{id}: {} → {}", from.name, to.name));
        let path = format!("/v1/scripts/{id}/snapshot");
        let started = Instant::now();
        let snapshot = from.expect(200, "GET", &path, None)?;
        moves.snapshot.push(started.elapsed());
        moves.snapshot_bytes = snapshot.len() as u64;

        let path = format!("/v1/scripts/{id}/migrate");
        let body = json!({ "to": to.url }).to_string();
        let started = Instant::now();
        let (status, answer) =
            from.call("POST", &path, Some(("application/json", body.as_bytes())))?;
        let took = started.elapsed();

        // Outside the timing: where the script runs now. A move counts only
        // if the node said yes and the script runs on the receiver alone;
        // anything else is reported as a failure, with what the node said
        // and where the script ended up, and the moves go on from there.
        let now = locate(&nodes, &id)
            .with_context(|| format!("after move {run} of `{id}`, {} → {}", from.name, to.name))?;
        if status == 200 && now == 1 - holder {
            moves.migrate.push(took);
        } else {
            moves.failures.push(format!(
                "move {run} of {runs}, {} → {}: HTTP {status} after {}: {}; the script runs on node {}",
                from.name,
                to.name,
                human_time(took),
                error_of(&answer),
                nodes[now].name
            ));
        }
        holder = now;
        progress.inc(1);
    }
    nodes[holder].expect(200, "POST", &format!("/v1/scripts/{id}/kill"), None)?;
    Ok(moves)
}

/// Which of `nodes` runs the script `id`, once exactly one of them has it
/// and it is running there (a node may still be resolving a transfer).
fn locate(nodes: &[&Node; 2], id: &str) -> Result<usize> {
    let path = format!("/v1/scripts/{id}");
    let started = Instant::now();
    loop {
        let mut seen = Vec::new();
        for node in nodes {
            let (status, body) = node.call("GET", &path, None)?;
            let state = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["state"].as_str().map(str::to_string));
            seen.push((status, state));
        }
        let running: Vec<usize> = (0..2)
            .filter(|&i| seen[i].0 == 200 && seen[i].1.as_deref() == Some("running"))
            .collect();
        let elsewhere = (0..2).all(|i| running.contains(&i) || seen[i].0 == 404);
        if let ([one], true) = (running.as_slice(), elsewhere) {
            return Ok(*one);
        }
        if started.elapsed() > SETTLE {
            let describe = |i: usize| match &seen[i] {
                (200, Some(state)) => format!("node {} has it, {state}", nodes[i].name),
                (status, _) => format!("node {} answers HTTP {status}", nodes[i].name),
            };
            bail!(
                "`{id}` did not settle on one node within {} s: {}; {}",
                SETTLE.as_secs(),
                describe(0),
                describe(1)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `error` of a JSON error answer, else the start of the body.
fn error_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// Deploys [`SCRIPTS`] counters on A, waits until each has run and been
/// checkpointed, reads the checkpoint counters [`METRICS_WINDOW`] seconds
/// apart, then kills B and times A's stop.
fn measure_checkpoints(mut a: Node, b: Node, progress: &ProgressBar) -> Result<Checkpoints> {
    progress.set_prefix("deploy");
    let wasm = counter()?;
    for i in 0..SCRIPTS {
        progress.set_message(format!("{} of {SCRIPTS} on node A", i + 1));
        a.deploy(&wasm, "counter")?;
        progress.inc(1);
    }
    progress.set_prefix("warm up");
    progress.set_message("until every script has run and been checkpointed");
    let started = Instant::now();
    loop {
        let list = a.get_json("/v1/scripts")?;
        let scripts = list["scripts"]
            .as_array()
            .context("no `scripts` in the list")?;
        let counters: Vec<&Value> = scripts.iter().filter(|s| s["name"] == "counter").collect();
        ensure!(
            counters.len() == SCRIPTS,
            "node A lists {} counters, not {SCRIPTS}",
            counters.len()
        );
        if let Some(ended) = counters.iter().find(|s| s["state"] != "running") {
            bail!("a counter is not running: {ended}");
        }
        let ready = counters
            .iter()
            .filter(|s| {
                s["fuel"].as_u64().is_some_and(|f| f > 0) && !s["checkpointed_at"].is_null()
            })
            .count();
        if ready == SCRIPTS {
            break;
        }
        progress.set_message(format!(
            "{ready} of {SCRIPTS} have run and been checkpointed"
        ));
        ensure!(
            started.elapsed() < PATIENCE,
            "only {ready} of {SCRIPTS} counters ran and were checkpointed within {} s",
            PATIENCE.as_secs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // One more period, so that the window sees the steady state.
    std::thread::sleep(Duration::from_secs(CHECKPOINT_EVERY));

    progress.set_prefix("checkpoints");
    progress.set_message(format!("/metrics {METRICS_WINDOW} s apart"));
    let read = |a: &Node| -> Result<(f64, f64, Instant)> {
        let [count, seconds] =
            a.metrics(["weft_checkpoints_total", "weft_checkpoint_seconds_total"])?;
        Ok((count, seconds, Instant::now()))
    };
    let (count0, seconds0, at0) = read(&a)?;
    for _ in 0..METRICS_WINDOW {
        std::thread::sleep(Duration::from_secs(1));
        progress.inc(1);
    }
    let (count1, seconds1, at1) = read(&a)?;
    let checkpoints = count1 - count0;
    ensure!(
        checkpoints > 0.0,
        "node A took no checkpoint in {METRICS_WINDOW} s (weft_checkpoints_total stayed {count0})"
    );
    let per_second = checkpoints / (at1 - at0).as_secs_f64();
    let mean = Duration::from_secs_f64((seconds1 - seconds0).max(0.0) / checkpoints);

    progress.set_prefix("stop");
    progress.set_message(format!("SIGTERM to node A: checkpoint all {SCRIPTS}"));
    let list = a.get_json("/v1/scripts")?;
    let others_on_a = list["scripts"]
        .as_array()
        .context("no `scripts` in the list")?
        .iter()
        .filter(|s| s["name"] != "counter")
        .map(|s| {
            format!(
                "{} ({})",
                s["id"].as_str().unwrap_or("?"),
                s["state"].as_str().unwrap_or("?")
            )
        })
        .collect();
    drop(b);
    let (stop, stop_checkpointed) = a.stop()?;
    progress.inc(1);
    Ok(Checkpoints {
        per_second,
        mean,
        stop,
        stop_checkpointed,
        others_on_a,
    })
}

fn moves_table(moves: &[Moves]) -> Table {
    let mut table = Table::default();
    table.header(strings(&[
        "memory",
        "snapshot",
        "size/memory",
        "local snapshot p50",
        "migrate p50",
        "migrate p99",
        "ratio p50",
        "moves",
    ]));
    table.header(strings(&[
        "",
        "bytes",
        "",
        "(baseline)",
        "",
        "",
        "migrate/snapshot",
        "ok/all",
    ]));
    let time = |d: Option<Duration>| d.map_or_else(|| "-".to_string(), human_time);
    for m in moves {
        let (snapshot50, migrate50) = m.quantiles(0.5);
        let (_, migrate99) = m.quantiles(0.99);
        table.row(vec![
            m.label.into(),
            human_bytes(m.snapshot_bytes),
            format!("{:.3}", m.snapshot_bytes as f64 / m.memory_bytes as f64),
            time(snapshot50),
            time(migrate50),
            time(migrate99),
            m.ratio()
                .map_or_else(|| "-".to_string(), |r| format!("{r:.2}x")),
            format!("{}/{}", m.migrate.len(), m.migrate.len() + m.failures.len()),
        ]);
    }
    table
}

fn checkpoints_table(report: &Report) -> Table {
    let target = SCRIPTS as f64 / CHECKPOINT_EVERY as f64;
    let mut table = Table::default();
    table.header(strings(&[
        &format!(
            "{} scripts on node A, --checkpoint-every {CHECKPOINT_EVERY}",
            thousands(SCRIPTS)
        ),
        "measured",
        "baseline",
        "ratio",
    ]));
    table.row(vec![
        format!("checkpoints per second ({METRICS_WINDOW} s of /metrics)"),
        format!("{:.1}", report.checkpoints_per_second),
        format!("{target:.1} (asked)"),
        format!("{:.2}x", report.checkpoints_per_second / target),
    ]);
    table.row(vec![
        "mean capture + encode per checkpoint".into(),
        human_time(Duration::from_secs_f64(report.checkpoint_mean_us / 1e6)),
        String::new(),
        String::new(),
    ]);
    let checkpointed = report
        .stop_checkpointed
        .map_or_else(|| "?".to_string(), |n| n.to_string());
    table.row(vec![
        format!(
            "checkpoint all {} on stop (SIGTERM to exit; node: {checkpointed})",
            thousands(SCRIPTS)
        ),
        human_time(Duration::from_secs_f64(report.stop_checkpoint_seconds)),
        String::new(),
        String::new(),
    ]);
    table
}

/// `n` with a comma every three digits.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn strings(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// A duration with a unit that keeps about three digits.
fn human_time(d: Duration) -> String {
    match d.as_secs_f64() * 1e3 {
        ms if ms < 1.0 => format!("{:.1} µs", ms * 1e3),
        ms if ms < 1e3 => format!("{ms:.2} ms"),
        ms => format!("{:.2} s", ms / 1e3),
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b < 10 << 10 => format!("{b} B"),
        b if b < 10 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
    }
}

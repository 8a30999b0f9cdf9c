//! `weft bench migrate`: moving running scripts between two `weft serve`
//! nodes on 127.0.0.1, and checkpointing many of them.
//!
//! | section | measured | baseline |
//! |---|---|---|
//! | [`measure_moves`] | `POST /v1/scripts/{id}/migrate` of a script holding 64 KiB, 1 MiB and 16 MiB of incompressible linear memory, A→B→A..., each call returning once the receiver has committed it | `GET /v1/scripts/{id}/snapshot` of the same script on the node holding it (capture, encode and transfer to the client), interleaved with the moves |
//! | [`measure_checkpoints`] | checkpoints per second and the mean capture + encode time per checkpoint of 1,000 small scripts under `--checkpoint-every 2`, from `GET /metrics` 5 s apart; the time from a SIGTERM to the node's exit, every script checkpointed | 1,000 scripts / 2 s, the rate the checkpoint period asks for |
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
use indicatif::{ProgressBar, ProgressStyle};
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
    migrate_p50_ms: BySize,
    migrate_p99_ms: BySize,
    snapshot_p50_ms: BySize,
    migrate_to_snapshot_ratio: BySize,
    snapshot_bytes: BySize,
    scripts: usize,
    checkpoint_every_seconds: u64,
    checkpoints_per_second: f64,
    checkpoint_mean_us: f64,
    stop_checkpoint_seconds: f64,
    /// What the node itself said when it stopped: scripts checkpointed.
    stop_checkpointed: Option<u64>,
    #[serde(skip)]
    moves: Vec<Moves>,
}

/// One figure per script size, serialized as an object keyed by size.
struct BySize(Vec<(&'static str, f64)>);

impl Serialize for BySize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (*k, *v)))
    }
}

/// The moves of one script.
struct Moves {
    label: &'static str,
    memory_bytes: u64,
    snapshot_bytes: u64,
    snapshot: Vec<Duration>,
    migrate: Vec<Duration>,
}

impl Moves {
    /// The `q` quantile of the snapshots and of the moves.
    fn quantiles(&self, q: f64) -> (Duration, Duration) {
        let at = |samples: &[Duration]| {
            let mut sorted = samples.to_vec();
            sorted.sort_unstable();
            quantile(&sorted, q).unwrap_or_default()
        };
        (at(&self.snapshot), at(&self.migrate))
    }
}

/// The checkpoint section's figures.
struct Checkpoints {
    per_second: f64,
    mean: Duration,
    stop: Duration,
    stop_checkpointed: Option<u64>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let steps = SIZES.len() as u64 * u64::from(args.runs) + SCRIPTS as u64 + METRICS_WINDOW + 1;
    let progress = match args.json {
        true => ProgressBar::hidden(),
        false => ProgressBar::new(steps),
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{prefix:>14.bold} [{bar:30}] {pos}/{len}, {elapsed} {wide_msg}",
        )
        .context("invalid progress bar template")?
        .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
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
    println!("{}", moves_table(&report.moves).render());
    print!("{}", checkpoints_table(&report).render());
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
    let by_size =
        |f: &dyn Fn(&Moves) -> f64| BySize(moves.iter().map(|m| (m.label, f(m))).collect());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(Report {
        runs,
        migrate_p50_ms: by_size(&|m| ms(m.quantiles(0.5).1)),
        migrate_p99_ms: by_size(&|m| ms(m.quantiles(0.99).1)),
        snapshot_p50_ms: by_size(&|m| ms(m.quantiles(0.5).0)),
        migrate_to_snapshot_ratio: by_size(&|m| {
            let (snapshot, migrate) = m.quantiles(0.5);
            ratio(migrate, snapshot)
        }),
        snapshot_bytes: by_size(&|m| m.snapshot_bytes as f64),
        scripts: SCRIPTS,
        checkpoint_every_seconds: CHECKPOINT_EVERY,
        checkpoints_per_second: checkpoints.per_second,
        checkpoint_mean_us: checkpoints.mean.as_secs_f64() * 1e6,
        stop_checkpoint_seconds: checkpoints.stop.as_secs_f64(),
        stop_checkpointed: checkpoints.stop_checkpointed,
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
        let b_peers = peers_file(dir, &format!("b{attempt}"), "a", &a_url, &secret)?;
        let b = Node::start(
            &exe,
            "B",
            &dir.join(format!("b{attempt}")),
            &b_peers,
            "127.0.0.1:0",
        )?;
        let a_peers = peers_file(dir, &format!("a{attempt}"), "b", &b.url, &secret)?;
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

/// Writes the peers file of node `node` (`a` or `b`, the other being
/// `peer` at `peer_url`).
fn peers_file(dir: &Path, stem: &str, peer: &str, peer_url: &str, secret: &str) -> Result<PathBuf> {
    let node = if peer == "a" { "b" } else { "a" };
    let path = dir.join(format!("{stem}-peers.json"));
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
            let text = String::from_utf8_lossy(&bytes);
            let why = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(300).collect());
            bail!(
                "node {} answered {method} {path} with HTTP {status}: {why}{}",
                self.name,
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

    /// The value of the metric `name` (one without labels) in `/metrics`.
    fn metric(&self, name: &str) -> Result<f64> {
        let bytes = self.expect(200, "GET", "/metrics", None)?;
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (key, value) = l.split_once(' ')?;
                (key == name)
                    .then(|| value.trim().parse::<f64>().ok())
                    .flatten()
            })
            .with_context(|| format!("node {}'s /metrics has no `{name}`", self.name))
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
    };
    let nodes = [a, b];
    for run in 0..runs as usize {
        let (from, to) = (nodes[run % 2], nodes[(run + 1) % 2]);
        progress.set_message(format!("{id}: {} → {}", from.name, to.name));
        let path = format!("/v1/scripts/{id}/snapshot");
        let started = Instant::now();
        let snapshot = from.expect(200, "GET", &path, None)?;
        moves.snapshot.push(started.elapsed());
        moves.snapshot_bytes = snapshot.len() as u64;

        let path = format!("/v1/scripts/{id}/migrate");
        let body = json!({ "to": to.url }).to_string();
        let started = Instant::now();
        from.expect(
            200,
            "POST",
            &path,
            Some(("application/json", body.as_bytes())),
        )
        .with_context(|| format!("move {} of {runs}, {} → {}", run + 1, from.name, to.name))?;
        moves.migrate.push(started.elapsed());

        // Outside the timings: exactly one node has it, and it runs there.
        let (status, _) = from.call("GET", &format!("/v1/scripts/{id}"), None)?;
        ensure!(
            status == 404,
            "after moving `{id}` to node {}, node {} still answers HTTP {status} for it",
            to.name,
            from.name
        );
        let record = to.get_json(&format!("/v1/scripts/{id}"))?;
        ensure!(
            record["state"] == "running",
            "after its move, `{id}` is not running on node {}: {record}",
            to.name
        );
        progress.inc(1);
    }
    let holder = nodes[runs as usize % 2];
    holder.expect(200, "POST", &format!("/v1/scripts/{id}/kill"), None)?;
    Ok(moves)
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
        let count = a.metric("weft_checkpoints_total")?;
        let seconds = a.metric("weft_checkpoint_seconds_total")?;
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
    drop(b);
    let (stop, stop_checkpointed) = a.stop()?;
    progress.inc(1);
    Ok(Checkpoints {
        per_second,
        mean,
        stop,
        stop_checkpointed,
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
    ]));
    table.header(strings(&[
        "",
        "bytes",
        "",
        "(baseline)",
        "",
        "",
        "migrate/snapshot",
    ]));
    for m in moves {
        let (snapshot50, migrate50) = m.quantiles(0.5);
        let (_, migrate99) = m.quantiles(0.99);
        table.row(vec![
            m.label.into(),
            human_bytes(m.snapshot_bytes),
            format!("{:.3}", m.snapshot_bytes as f64 / m.memory_bytes as f64),
            human_time(snapshot50),
            human_time(migrate50),
            human_time(migrate99),
            format!("{:.2}x", ratio(migrate50, snapshot50)),
        ]);
    }
    table
}

fn checkpoints_table(report: &Report) -> Table {
    let target = SCRIPTS as f64 / CHECKPOINT_EVERY as f64;
    let mut table = Table::default();
    table.header(strings(&[
        &format!("{SCRIPTS} scripts on node A, --checkpoint-every {CHECKPOINT_EVERY}"),
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
        format!("checkpoint all {SCRIPTS} on stop (SIGTERM to exit; node: {checkpointed})"),
        human_time(Duration::from_secs_f64(report.stop_checkpoint_seconds)),
        String::new(),
        String::new(),
    ]);
    table
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

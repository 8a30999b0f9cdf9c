//! A node: the scripts `weft serve` hosts, made durable.
//!
//! A [`Node`] runs a [`World`] and keeps in its [`Store`] everything needed
//! to bring the scripts back after a restart or a crash: each script's
//! record, its module, its output, and a recent checkpoint.
//!
//! # Durability
//!
//! * Output: every line a script prints gets the next sequence number of
//!   that script and is written to the store within a few milliseconds.
//! * Checkpoints: a script that ran is captured at a slice boundary at
//!   most every [`NodeConfig::checkpoint_every`] (a script waiting for a
//!   message is woken for it; a sleeping one is captured when it wakes).
//!   A checkpoint records how many lines the script had printed. The
//!   writer thread commits a script's lines before its checkpoint, so a
//!   checkpoint never refers to lines the store does not have.
//! * A clean stop ([`Node::shutdown`], on SIGTERM) pauses every script at
//!   a slice boundary and checkpoints all of them: after the restart each
//!   continues exactly where it was.
//! * After a crash (kill -9) each script is restored from its last
//!   checkpoint, and the lines it printed after it are dropped from the
//!   store, since it prints them again. A script that never reached a
//!   checkpoint starts again from the beginning. Messages a script sent
//!   after its last checkpoint may be sent again after a crash (they are
//!   not after a clean stop).

use crate::store::{self, Checkpoint, LogLine, ScriptRecord, ScriptState, Store, Stream};
use crate::world::{Checkpoints, NewScript, OutputFactory, World};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use weft_runtime::{Runtime, Script, Stdio};
use weft_snapshot::{DecodeLimits, Limits, Snapshot};

/// How a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the store lives.
    pub data: PathBuf,
    /// How often a running script is checkpointed (at most).
    pub checkpoint_every: Duration,
    /// What each script may use.
    pub limits: Limits,
    /// The scheduler's configuration.
    pub scheduler: weft_sched::Config,
    /// The peers it exchanges scripts with (none: it neither sends nor
    /// accepts any).
    pub peers: Option<crate::migrate::Peers>,
    /// The largest request body it reads (a module, a snapshot, a
    /// transfer); more is refused with 413.
    pub max_body: usize,
    /// Compiles the source that `source` peers send (none: their
    /// transfers are refused).
    pub compiler: Option<crate::source::Compiler>,
}

impl NodeConfig {
    /// The defaults, with the store in `data`: checkpoints every 2 s, 256 MiB
    /// of memory per script, 2 ms slices.
    pub fn new(data: PathBuf) -> NodeConfig {
        NodeConfig {
            data,
            checkpoint_every: Duration::from_secs(2),
            limits: Limits {
                memory_bytes: Some(256 << 20),
                ..Limits::default()
            },
            scheduler: weft_sched::Config {
                slice: Duration::from_millis(2),
                first_slice_fuel: Some(crate::FIRST_SLICE_FUEL),
                ..weft_sched::Config::default()
            },
            peers: None,
            max_body: 256 << 20,
            compiler: None,
        }
    }
}

/// What can go wrong on a node, with the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed, or its module or snapshot invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such script (404).
    #[error("no script `{0}`")]
    NotFound(String),
    /// The script exists already, or is not in a state that allows it (409).
    #[error("{0}")]
    Conflict(String),
    /// The node failed (500).
    #[error("{0}")]
    Internal(String),
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        Error::Internal(format!("store: {e}"))
    }
}

impl From<crate::world::Error> for Error {
    fn from(e: crate::world::Error) -> Self {
        use crate::world::Error as W;
        match e {
            W::UnknownScript(id) => Error::NotFound(id),
            W::Duplicate(_) | W::NotRunning(_) | W::Timeout(..) => Error::Conflict(e.to_string()),
            W::UnknownModule(..) | W::BadId(_) | W::Runtime(_) | W::Saved(_) => {
                Error::BadRequest(e.to_string())
            }
            W::Scheduler(_) | W::Io(..) => Error::Internal(e.to_string()),
        }
    }
}

/// The result of node operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A script as the API shows it (see docs/node-api.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Its id.
    pub id: String,
    /// The name it was deployed under (its module's name).
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// The SHA-256 of its original module, in hex.
    pub module: String,
    /// `running`, `paused`, `exited` or `killed`.
    pub state: String,
    /// How it ended.
    pub exit: Option<String>,
    /// Fuel used in this process.
    pub fuel: u64,
    /// CPU time used in this process.
    pub cpu_seconds: f64,
    /// Memory held now.
    pub memory_bytes: u64,
    /// The Unix time of its last durable checkpoint.
    pub checkpointed_at: Option<f64>,
}

/// A page of a script's output.
#[derive(Debug, Clone)]
pub struct Logs {
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
    /// The `since` of the next page.
    pub next: u64,
    /// Whether the script has ended and every line is out.
    pub ended: bool,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Checkpoints committed to the store.
    pub checkpoints: AtomicU64,
    /// Nanoseconds spent capturing and encoding checkpoints.
    pub checkpoint_nanos: AtomicU64,
    /// Store commits.
    pub commits: AtomicU64,
    /// Modules of incoming transfers that came with precompiled code this
    /// node could run.
    pub modules_precompiled: AtomicU64,
    /// Modules of incoming transfers this node instrumented and compiled.
    pub modules_compiled: AtomicU64,
    /// Modules of incoming transfers this node compiled from their source.
    pub modules_from_source: AtomicU64,
}

/// Lines and checkpoints on their way to the store.
#[derive(Default)]
struct Pending {
    lines: Vec<LogLine>,
    checkpoints: Vec<Checkpoint>,
}

/// What the output writers, the checkpoint sink and the writer thread share.
struct Shared {
    store: Store,
    /// The next line number of each script.
    next_line: Mutex<HashMap<String, u64>>,
    pending: Mutex<Pending>,
    /// Signalled when the writer has committed (log readers wait on it).
    committed: Condvar,
    committed_lock: Mutex<u64>,
    /// The sequence number of each script's next checkpoint.
    next_checkpoint: Mutex<HashMap<String, u64>>,
    /// When each script's last checkpoint was committed.
    checkpointed: Mutex<HashMap<String, f64>>,
    metrics: Metrics,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Shared {
    fn push_line(&self, script: &str, stream: Stream, text: String) {
        let seq = {
            let mut next = lock(&self.next_line);
            let n = next.entry(script.to_string()).or_insert(0);
            let seq = *n;
            *n += 1;
            seq
        };
        lock(&self.pending).lines.push(LogLine {
            script: script.to_string(),
            seq,
            stream,
            text,
        });
    }

    fn next_line(&self, script: &str) -> u64 {
        lock(&self.next_line).get(script).copied().unwrap_or(0)
    }

    /// Captures `script` as a checkpoint and queues it for the writer.
    fn checkpoint(&self, id: &str, script: &mut Script) {
        let started = Instant::now();
        script.flush();
        let log_next = self.next_line(id);
        let Ok(snapshot) = script.snapshot() else {
            return;
        };
        let Ok(bytes) = weft_snapshot::encode(&snapshot) else {
            return;
        };
        let seq = {
            let mut next = lock(&self.next_checkpoint);
            let n = next.entry(id.to_string()).or_insert(1);
            let seq = *n;
            *n += 1;
            seq
        };
        lock(&self.pending).checkpoints.push(Checkpoint {
            script: id.to_string(),
            seq,
            snapshot: bytes,
            log_next,
            taken_at: unix_now(),
        });
        self.metrics
            .checkpoint_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// Commits what is pending: the lines first, then the checkpoints that
    /// count them.
    fn commit(&self) -> Result<()> {
        let (lines, checkpoints) = {
            let mut pending = lock(&self.pending);
            let checkpoints = std::mem::take(&mut pending.checkpoints);
            (std::mem::take(&mut pending.lines), checkpoints)
        };
        if lines.is_empty() && checkpoints.is_empty() {
            return Ok(());
        }
        self.store.append_logs(&lines)?;
        let stored = self.store.save_checkpoints(&checkpoints)?;
        self.metrics
            .checkpoints
            .fetch_add(stored as u64, Ordering::Relaxed);
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        {
            let mut times = lock(&self.checkpointed);
            for c in &checkpoints {
                times.insert(c.script.clone(), c.taken_at);
            }
        }
        *lock(&self.committed_lock) += 1;
        self.committed.notify_all();
        Ok(())
    }
}

/// Splits a script's output into lines for the store.
struct LineWriter {
    shared: Arc<Shared>,
    script: String,
    stream: Stream,
    partial: Vec<u8>,
}

/// The longest line kept whole; longer ones are split.
const MAX_LINE: usize = 64 * 1024;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self
            .partial
            .iter()
            .position(|&b| b == b'\n')
            .or((self.partial.len() >= MAX_LINE).then_some(MAX_LINE))
        {
            let line: Vec<u8> = self.partial.drain(..end).collect();
            if self.partial.first() == Some(&b'\n') {
                self.partial.remove(0);
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            self.shared.push_line(&self.script, self.stream, text);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The scripts of one `weft serve`; see the module docs.
pub struct Node {
    runtime: Arc<Runtime>,
    world: World,
    shared: Arc<Shared>,
    config: NodeConfig,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// What the store says of each script, as last written.
    records: Mutex<HashMap<String, ScriptRecord>>,
    /// Module hashes by the names scripts spawn them by.
    names: Mutex<HashMap<String, [u8; 32]>>,
    down: AtomicBool,
    /// Outgoing transfers a `migrate` call or the resolver is running.
    busy_transfers: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Held while a peer's transfer step runs: one at a time.
    incoming: Mutex<()>,
}

/// Marks an outgoing transfer as being run, until dropped.
pub(crate) struct BusyTransfer {
    set: Arc<Mutex<std::collections::HashSet<String>>>,
    id: String,
}

impl Drop for BusyTransfer {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.id);
    }
}

fn hash_hex(hash: &[u8; 32]) -> String {
    hex::encode(hash)
}

impl Node {
    /// Opens the store in `config.data` and brings back every script it
    /// holds (see the module docs), then starts the writer thread.
    pub fn open(runtime: Arc<Runtime>, config: NodeConfig) -> Result<Arc<Node>> {
        let store = Store::open(&config.data)?;
        let shared = Arc::new(Shared {
            store,
            next_line: Mutex::default(),
            pending: Mutex::default(),
            committed: Condvar::new(),
            committed_lock: Mutex::new(0),
            next_checkpoint: Mutex::default(),
            checkpointed: Mutex::default(),
            metrics: Metrics::default(),
            stop: AtomicBool::new(false),
        });
        let output: OutputFactory = {
            let shared = shared.clone();
            Arc::new(move |id: &str| {
                let writer = |stream| LineWriter {
                    shared: shared.clone(),
                    script: id.to_string(),
                    stream,
                    partial: Vec::new(),
                };
                Stdio {
                    stdout: Box::new(writer(Stream::Out)),
                    stderr: Box::new(writer(Stream::Err)),
                    stdin: Box::new(std::io::empty()),
                }
            })
        };
        let world = World::new(
            runtime.clone(),
            config.scheduler.clone(),
            config.limits,
            output,
        )?;
        let sink = {
            let shared = shared.clone();
            Arc::new(move |id: &str, script: &mut Script| shared.checkpoint(id, script))
        };
        world.set_checkpoints(Checkpoints {
            every: config.checkpoint_every,
            sink,
        });
        let node = Arc::new(Node {
            runtime,
            world,
            shared,
            config,
            writer: Mutex::new(None),
            records: Mutex::default(),
            names: Mutex::default(),
            down: AtomicBool::new(false),
            busy_transfers: Arc::default(),
            incoming: Mutex::new(()),
        });
        node.recover()?;
        let writer = {
            let node = Arc::downgrade(&node);
            std::thread::Builder::new()
                .name("weft-node-writer".into())
                .spawn(move || writer_loop(&node))
                .map_err(|e| Error::Internal(format!("cannot start the writer thread: {e}")))?
        };
        *lock(&node.writer) = Some(writer);
        if node.config.peers.is_some() {
            let weak = Arc::downgrade(&node);
            std::thread::Builder::new()
                .name("weft-node-transfers".into())
                .spawn(move || {
                    while let Some(node) = weak.upgrade() {
                        if node.down.load(Ordering::Relaxed) {
                            return;
                        }
                        node.resolve_transfers();
                        drop(node);
                        std::thread::sleep(Duration::from_secs(1));
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start the transfer thread: {e}")))?;
        }
        Ok(node)
    }

    /// Marks `id` as run by the caller (see [`BusyTransfer`]).
    pub(crate) fn busy_transfer(&self, id: &str) -> BusyTransfer {
        lock(&self.busy_transfers).insert(id.to_string());
        BusyTransfer {
            set: self.busy_transfers.clone(),
            id: id.to_string(),
        }
    }

    /// Like [`Node::busy_transfer`], unless someone runs it already.
    pub(crate) fn try_busy_transfer(&self, id: &str) -> Option<BusyTransfer> {
        if !lock(&self.busy_transfers).insert(id.to_string()) {
            return None;
        }
        Some(BusyTransfer {
            set: self.busy_transfers.clone(),
            id: id.to_string(),
        })
    }

    /// Serialises the steps peers ask of this node.
    pub(crate) fn incoming_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.incoming)
    }

    pub(crate) fn peers_config(&self) -> Option<&crate::migrate::Peers> {
        self.config.peers.as_ref()
    }

    pub(crate) fn world(&self) -> &World {
        &self.world
    }

    pub(crate) fn store(&self) -> &Store {
        &self.shared.store
    }

    pub(crate) fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Commits the pending output and checkpoints now.
    pub(crate) fn commit_pending(&self) -> Result<()> {
        self.shared.commit()
    }

    /// The stored record of a running or paused script.
    pub(crate) fn live_record(&self, id: &str) -> Result<ScriptRecord> {
        self.live(id)?;
        lock(&self.records)
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    pub(crate) fn has_script(&self, id: &str) -> bool {
        lock(&self.records).contains_key(id)
    }

    pub(crate) fn set_cached_state(&self, id: &str, state: ScriptState) {
        if let Some(record) = lock(&self.records).get_mut(id) {
            record.state = state;
        }
    }

    /// Forgets a script that moved to another node.
    pub(crate) fn forget(&self, id: &str) {
        lock(&self.records).remove(id);
        lock(&self.shared.next_line).remove(id);
        lock(&self.shared.checkpointed).remove(id);
        self.world.forget(id);
    }

    /// Continues here a script stopped for a transfer, from `bytes` (a
    /// snapshot carrying its module).
    pub(crate) fn continue_here(&self, id: &str, bytes: &[u8]) -> Result<()> {
        let snapshot = weft_snapshot::decode(bytes, &DecodeLimits::default()).map_err(|e| {
            Error::Internal(format!("the transfer's snapshot does not decode: {e}"))
        })?;
        let record = lock(&self.records)
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        self.load_module(&record.module, &record.name)?;
        self.world.restore(&snapshot, &hash_hex(&record.module))?;
        self.set_state(id, ScriptState::Running)
    }

    /// Runs a script that came from a peer (its record, output and first
    /// checkpoint are in the store already).
    pub(crate) fn adopt(
        &self,
        record: ScriptRecord,
        snapshot: &Snapshot,
        log_next: u64,
    ) -> Result<()> {
        self.load_module(&record.module, &record.name)?;
        let id = record.id.clone();
        lock(&self.shared.next_line).insert(id.clone(), log_next);
        lock(&self.shared.next_checkpoint).insert(id.clone(), 2);
        lock(&self.records).insert(id.clone(), record.clone());
        self.world.restore(snapshot, &hash_hex(&record.module))?;
        Ok(())
    }

    /// The store's scripts, brought back.
    fn recover(&self) -> Result<()> {
        let store = &self.shared.store;
        for record in store.scripts()? {
            let live = matches!(record.state, ScriptState::Running | ScriptState::Paused);
            if live {
                self.load_module(&record.module, &record.name)?;
                let module = hash_hex(&record.module);
                let paused = record.state == ScriptState::Paused;
                match store.checkpoint(&record.id)? {
                    Some(checkpoint) => {
                        store.truncate_logs(&record.id, checkpoint.log_next)?;
                        let snapshot =
                            weft_snapshot::decode(&checkpoint.snapshot, &DecodeLimits::default())
                                .map_err(|e| {
                                Error::Internal(format!(
                                    "the checkpoint of {} does not decode: {e}",
                                    record.id
                                ))
                            })?;
                        lock(&self.shared.next_line).insert(record.id.clone(), checkpoint.log_next);
                        lock(&self.shared.next_checkpoint)
                            .insert(record.id.clone(), checkpoint.seq + 1);
                        lock(&self.shared.checkpointed)
                            .insert(record.id.clone(), checkpoint.taken_at);
                        self.world.restore_with(&snapshot, &module, paused)?;
                    }
                    None => {
                        store.truncate_logs(&record.id, 0)?;
                        self.world.spawn_all(vec![NewScript {
                            id: record.id.clone(),
                            module,
                            owner: record.owner.clone(),
                            args: record.args.clone(),
                        }])?;
                        if paused {
                            self.world.pause(&record.id)?;
                        }
                    }
                }
            } else {
                let next = store.next_log_seq(&record.id)?;
                lock(&self.shared.next_line).insert(record.id.clone(), next);
            }
            lock(&self.records).insert(record.id.clone(), record);
        }
        Ok(())
    }

    /// Makes the module `hash` known to the world, under its hash and
    /// under `name` (the name scripts spawn it by).
    fn load_module(&self, hash: &[u8; 32], name: &str) -> Result<()> {
        let hex = hash_hex(hash);
        let known = self.world.has_module(&hex);
        if !known {
            let wasm = self
                .shared
                .store
                .module(hash)?
                .ok_or_else(|| Error::Internal(format!("the store has no module {hex}")))?;
            let module = self
                .runtime
                .load(&wasm)
                .map_err(|e| Error::BadRequest(format!("the module does not load: {e}")))?;
            self.world.add_module(&hex, module.clone());
            self.world.add_module(name, module);
        }
        lock(&self.names).insert(name.to_string(), *hash);
        Ok(())
    }

    /// Starts a new script from `wasm` (validated, instrumented, compiled).
    pub fn deploy(
        &self,
        wasm: &[u8],
        name: &str,
        owner: &str,
        args: Vec<String>,
        source: Option<&crate::source::SourceFile>,
    ) -> Result<Record> {
        self.check_up()?;
        if let Some(source) = source {
            source.check().map_err(Error::BadRequest)?;
        }
        if !valid_name(name) {
            return Err(Error::BadRequest(format!(
                "`{name}` is not a script name: 1 to 64 letters, digits, `_` or `-`"
            )));
        }
        let module = self
            .runtime
            .load(wasm)
            .map_err(|e| Error::BadRequest(format!("the module is refused: {e}")))?;
        let hash = weft_runtime::module_hash(wasm);
        self.shared.store.put_module(&hash, wasm)?;
        if let Some(source) = source {
            self.shared.store.put_source(&hash, source)?;
        }
        let hex = hash_hex(&hash);
        self.world.add_module(&hex, module.clone());
        self.world.add_module(name, module);
        lock(&self.names).insert(name.to_string(), hash);
        let id = self.new_id(name);
        let args = if args.is_empty() {
            vec![name.to_string()]
        } else {
            args
        };
        let record = ScriptRecord {
            id: id.clone(),
            name: name.into(),
            owner: owner.into(),
            module: hash,
            args: args.clone(),
            state: ScriptState::Running,
            exit: None,
            created_at: unix_now(),
        };
        self.shared.store.insert_script(&record)?;
        lock(&self.records).insert(id.clone(), record);
        self.world.spawn_all(vec![NewScript {
            id: id.clone(),
            module: hex,
            owner: owner.into(),
            args,
        }])?;
        self.record(&id)
    }

    /// An id `<name>-<4 hex digits>` no script on the node has.
    fn new_id(&self, name: &str) -> String {
        let records = lock(&self.records);
        for attempt in 0u32.. {
            // Four hex digits while they last, then eight, then more.
            let id = match attempt {
                0..64 => format!("{name}-{:04x}", rand::random::<u16>()),
                64..128 => format!("{name}-{:08x}", rand::random::<u32>()),
                _ => format!("{name}-{:016x}", rand::random::<u64>()),
            };
            if !records.contains_key(&id) {
                return id;
            }
        }
        unreachable!("an unused id is found")
    }

    fn check_up(&self) -> Result<()> {
        if self.down.load(Ordering::Relaxed) {
            return Err(Error::Conflict("the node is shutting down".into()));
        }
        Ok(())
    }

    /// A script's record.
    pub fn record(&self, id: &str) -> Result<Record> {
        self.sync();
        let records = lock(&self.records);
        let stored = records
            .get(id)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(self.to_record(stored))
    }

    fn to_record(&self, stored: &ScriptRecord) -> Record {
        let stats = self.world.stats(&stored.id);
        Record {
            id: stored.id.clone(),
            name: stored.name.clone(),
            owner: stored.owner.clone(),
            module: hash_hex(&stored.module),
            state: stored.state.as_str().into(),
            exit: stored.exit.clone(),
            fuel: stats.as_ref().map_or(0, |s| s.fuel),
            cpu_seconds: stats.as_ref().map_or(0.0, |s| s.cpu.as_secs_f64()),
            memory_bytes: stats.as_ref().map_or(0, |s| s.memory_bytes),
            checkpointed_at: lock(&self.shared.checkpointed).get(&stored.id).copied(),
        }
    }

    /// Every script's record, in id order.
    pub fn records(&self) -> Vec<Record> {
        self.sync();
        let records = lock(&self.records);
        let mut all: Vec<Record> = records.values().map(|r| self.to_record(r)).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Brings the store up to date with the world: scripts spawned by
    /// scripts get a record, ended ones their exit.
    fn sync(&self) {
        let scripts = self.world.scripts();
        let mut records = lock(&self.records);
        for info in scripts {
            match records.get_mut(&info.id) {
                Some(record) => {
                    let ended = info.task.is_none()
                        && info.exit.is_some()
                        && matches!(record.state, ScriptState::Running | ScriptState::Paused);
                    if ended {
                        let state = if info.exit.as_deref() == Some(crate::world::KILLED) {
                            ScriptState::Killed
                        } else {
                            ScriptState::Exited
                        };
                        if self
                            .shared
                            .store
                            .set_state(&info.id, state, info.exit.as_deref())
                            .is_ok()
                        {
                            record.state = state;
                            record.exit = info.exit.clone();
                        }
                    }
                }
                None => {
                    let Some(hash) = lock(&self.names).get(&info.module).copied() else {
                        continue;
                    };
                    let record = ScriptRecord {
                        id: info.id.clone(),
                        name: info.module.clone(),
                        owner: info.owner.clone(),
                        module: hash,
                        args: vec![info.module.clone()],
                        state: ScriptState::Running,
                        exit: None,
                        created_at: unix_now(),
                    };
                    if self.shared.store.insert_script(&record).is_ok() {
                        records.insert(info.id.clone(), record);
                    }
                }
            }
        }
    }

    fn set_state(&self, id: &str, state: ScriptState) -> Result<()> {
        self.shared.store.set_state(id, state, None)?;
        if let Some(record) = lock(&self.records).get_mut(id) {
            record.state = state;
        }
        Ok(())
    }

    fn live(&self, id: &str) -> Result<()> {
        self.sync();
        let records = lock(&self.records);
        let record = records
            .get(id)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        match record.state {
            ScriptState::Running | ScriptState::Paused => Ok(()),
            _ => Err(Error::Conflict(format!(
                "the script `{id}` has ended ({})",
                record.exit.as_deref().unwrap_or("no exit recorded")
            ))),
        }
    }

    /// Pauses a script.
    pub fn pause(&self, id: &str) -> Result<Record> {
        self.live(id)?;
        self.world.pause(id)?;
        self.set_state(id, ScriptState::Paused)?;
        self.record(id)
    }

    /// Resumes a paused script.
    pub fn resume(&self, id: &str) -> Result<Record> {
        self.live(id)?;
        self.world.resume(id)?;
        self.set_state(id, ScriptState::Running)?;
        self.record(id)
    }

    /// Kills a script.
    pub fn kill(&self, id: &str) -> Result<Record> {
        self.live(id)?;
        self.world.kill(id)?;
        self.shared
            .store
            .set_state(id, ScriptState::Killed, Some(crate::world::KILLED))?;
        if let Some(record) = lock(&self.records).get_mut(id) {
            record.state = ScriptState::Killed;
            record.exit = Some(crate::world::KILLED.into());
        }
        self.record(id)
    }

    /// A snapshot of a running script that carries its module; the script
    /// goes on.
    pub fn snapshot(&self, id: &str) -> Result<Vec<u8>> {
        self.live(id)?;
        let module = {
            let records = lock(&self.records);
            hash_hex(&records[id].module)
        };
        let mut snapshot = self.world.evict(id, Duration::from_secs(10))?;
        let bytes = self.carrying_module(&mut snapshot, id);
        // Back where it was, with the mail that came meanwhile.
        let paused = lock(&self.records)
            .get(id)
            .is_some_and(|r| r.state == ScriptState::Paused);
        self.world.restore_with(&snapshot, &module, paused)?;
        bytes
    }

    pub(crate) fn carrying_module(&self, snapshot: &mut Snapshot, id: &str) -> Result<Vec<u8>> {
        let hash = lock(&self.records)[id].module;
        let wasm = self
            .shared
            .store
            .module(&hash)?
            .ok_or_else(|| Error::Internal(format!("the store has no module for `{id}`")))?;
        snapshot.wasm = Some(wasm);
        let bytes = weft_snapshot::encode(snapshot)
            .map_err(|e| Error::Internal(format!("cannot encode the snapshot: {e}")));
        snapshot.wasm = None;
        bytes
    }

    /// Continues a script from a snapshot that carries its module, under
    /// its own id.
    pub fn restore(&self, bytes: &[u8]) -> Result<Record> {
        self.check_up()?;
        let mut snapshot = weft_snapshot::decode(bytes, &DecodeLimits::default())
            .map_err(|e| Error::BadRequest(format!("not a usable snapshot: {e}")))?;
        let wasm = snapshot
            .wasm
            .take()
            .ok_or_else(|| Error::BadRequest("the snapshot does not carry its module".into()))?;
        let id = snapshot.meta.script_id.clone();
        if lock(&self.records).contains_key(&id) {
            return Err(Error::Conflict(format!(
                "a script `{id}` exists on this node already"
            )));
        }
        let name = id
            .rsplit_once('-')
            .map_or(id.as_str(), |(name, _)| name)
            .to_string();
        let name = if valid_name(&name) {
            name
        } else {
            "script".into()
        };
        let hash = weft_runtime::module_hash(&wasm);
        let module = self
            .runtime
            .load(&wasm)
            .map_err(|e| Error::BadRequest(format!("the snapshot's module is refused: {e}")))?;
        self.shared.store.put_module(&hash, &wasm)?;
        let hex = hash_hex(&hash);
        self.world.add_module(&hex, module);
        lock(&self.names).entry(name.clone()).or_insert(hash);
        let record = ScriptRecord {
            id: id.clone(),
            name,
            owner: snapshot.meta.owner.clone(),
            module: hash,
            args: Vec::new(),
            state: ScriptState::Running,
            exit: None,
            created_at: unix_now(),
        };
        self.shared.store.insert_script(&record)?;
        lock(&self.records).insert(id.clone(), record);
        if let Err(e) = self.world.restore(&snapshot, &hex) {
            let _ = self.shared.store.delete_script(&id);
            lock(&self.records).remove(&id);
            return Err(e.into());
        }
        self.record(&id)
    }

    /// A page of a script's output: the lines from `since`, waiting up to
    /// `wait` for one if there is none yet.
    pub fn logs(&self, id: &str, since: u64, wait: Duration) -> Result<Logs> {
        let end = Instant::now() + wait;
        loop {
            let ended = {
                self.sync();
                let records = lock(&self.records);
                let record = records
                    .get(id)
                    .ok_or_else(|| Error::NotFound(id.to_string()))?;
                !matches!(record.state, ScriptState::Running | ScriptState::Paused)
            };
            // Commit what is pending so that a reader sees lines at once.
            let generation = *lock(&self.shared.committed_lock);
            let lines = self.shared.store.logs(id, since, 1000)?;
            let next = lines.last().map_or(since, |l| l.seq + 1);
            let all_out = ended && next >= self.shared.next_line(id) && {
                let pending = lock(&self.shared.pending);
                !pending.lines.iter().any(|l| l.script == id)
            };
            if !lines.is_empty() || all_out || Instant::now() >= end {
                return Ok(Logs {
                    lines,
                    next,
                    ended: all_out,
                });
            }
            let guard = lock(&self.shared.committed_lock);
            let left = end.saturating_duration_since(Instant::now());
            let _ = self.shared.committed.wait_timeout_while(
                guard,
                left.min(Duration::from_millis(200)),
                |g| *g == generation,
            );
        }
    }

    /// The counters for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Messages dropped by the world.
    pub fn dropped_messages(&self) -> u64 {
        self.world.dropped_messages()
    }

    /// The scheduler's counters and the CPU time of all slices, while it
    /// runs.
    pub fn scheduler_counters(&self) -> Option<(weft_sched::Counters, Duration)> {
        self.world
            .with_scheduler(|s| (s.counters(), s.slice_lengths().cpu.sum()))
    }

    /// Stops every script at a slice boundary, checkpoints all of them and
    /// commits everything: after [`Node::open`] on the same data they
    /// continue exactly where they were. Returns how many were checkpointed.
    pub fn shutdown(&self) -> Result<usize> {
        if self.down.swap(true, Ordering::Relaxed) {
            return Ok(0);
        }
        self.sync();
        let live = self.world.stop()?;
        let count = live.len();
        for (id, mut script) in live {
            self.shared.checkpoint(&id, &mut script);
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(writer) = lock(&self.writer).take() {
            let _ = writer.join();
        }
        self.shared.commit()?;
        Ok(count)
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }
}

/// The writer thread: commits lines and checkpoints every few
/// milliseconds and asks for checkpoints on schedule, until the node stops.
fn writer_loop(node: &std::sync::Weak<Node>) {
    let mut asked = Instant::now();
    let mut synced = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let Some(node) = node.upgrade() else {
            return;
        };
        if node.shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = node.shared.commit() {
            tracing::error!("cannot commit to the store: {e}");
        }
        if asked.elapsed() >= node.config.checkpoint_every {
            node.world.request_checkpoints();
            asked = Instant::now();
        }
        if synced.elapsed() >= Duration::from_millis(100) {
            node.sync();
            synced = Instant::now();
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

//! A world: scripts run by one scheduler that talk to each other through
//! the weft host API. The world routes the messages they send, starts the
//! scripts they spawn, and saves and restores them, one at a time
//! ([`World::evict`], [`World::restore`]) or all together ([`World::save`],
//! [`World::load`]).
//!
//! A script's messages are delivered into a mailbox the world keeps for
//! it, which the script takes into its own state (and so into its
//! snapshot) at the start of its next slice. While a script is away (saved
//! by [`World::evict`] and not restored yet) its mailbox goes on collecting
//! messages, up to the API's mailbox limit; they are handed to it when it
//! comes back. Messages to a script that does not exist or has ended are
//! dropped and counted ([`World::dropped_messages`]).

use crate::task::{ScriptTask, StdioFactory};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant};
use weft_runtime::api::{Message, Outgoing, limits};
use weft_runtime::{Runtime, Script, ScriptModule, ScriptOptions, Spawnable, Stdio};
use weft_sched::{Config, Scheduler, TaskId};
use weft_snapshot::{DecodeLimits, Limits, Snapshot};

/// The exit of a script killed by [`World::kill`].
pub const KILLED: &str = "killed";

/// The exit of a task that left the world by [`World::evict`].
pub(crate) const EVICTED: &str = "evicted from the world";

/// Gives the standard streams of the script with the given id.
pub type OutputFactory = Arc<dyn Fn(&str) -> Stdio + Send + Sync>;

/// What can go wrong in a world.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No module of that name was added.
    #[error("no module named `{0}` (known: {1})")]
    UnknownModule(String, String),
    /// No script has that id.
    #[error("no script `{0}`")]
    UnknownScript(String),
    /// A script of that id exists already.
    #[error("a script `{0}` exists already")]
    Duplicate(String),
    /// The id is not one a script can have.
    #[error("`{0}` is not a script id: 1 to 127 letters, digits, `.`, `_` or `-`")]
    BadId(String),
    /// The script is not running in this world (away, ended or being saved).
    #[error("the script `{0}` is not running here")]
    NotRunning(String),
    /// The script did not stop in time.
    #[error("the script `{0}` did not stop within {1:?} (a script asleep stops when it wakes)")]
    Timeout(String, Duration),
    /// The runtime refused.
    #[error(transparent)]
    Runtime(#[from] weft_runtime::Error),
    /// The scheduler refused.
    #[error("scheduler: {0}")]
    Scheduler(#[from] weft_sched::Error),
    /// A saved world or snapshot is unusable.
    #[error("{0}")]
    Saved(String),
    /// Reading or writing a saved world failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// The result of world operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The world's mailbox for one script, bounded like the script's own.
#[derive(Default)]
pub(crate) struct Mailbox(Mutex<VecDeque<Message>>);

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Message>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, message: Message) -> bool {
        let mut queue = self.lock();
        if queue.len() >= limits::MAILBOX {
            return false;
        }
        queue.push_back(message);
        true
    }
}

type Eviction = mpsc::Sender<Result<Snapshot, String>>;

/// What ties a [`ScriptTask`] to its world.
#[derive(Clone)]
pub(crate) struct Link {
    id: String,
    owner: String,
    mailbox: Arc<Mailbox>,
    eviction: Arc<Mutex<Option<Eviction>>>,
    /// Set by [`World::request_checkpoints`].
    checkpoint_asked: Arc<AtomicBool>,
    world: Weak<Inner>,
    pub(crate) spawnable: Spawnable,
}

impl Link {
    /// Moves the world's mailbox into the script.
    pub(crate) fn collect_mail(&self, script: &mut Script) {
        let mail = std::mem::take(&mut *self.mailbox.lock());
        for message in mail {
            script.deliver(&message.from, message.body);
        }
    }

    /// Whether messages wait in the world's mailbox.
    pub(crate) fn has_mail(&self) -> bool {
        !self.mailbox.lock().is_empty()
    }

    /// Hands the script's outbox to the world.
    pub(crate) fn dispatch(&self, script: &mut Script) {
        let outgoing = script.take_outbox();
        if outgoing.is_empty() {
            return;
        }
        if let Some(world) = self.world.upgrade() {
            world.dispatch(&self.id, &self.owner, outgoing);
        }
    }

    /// The pending request to leave the world, if any.
    pub(crate) fn take_eviction(&self) -> Option<Eviction> {
        self.eviction
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The world's checkpoint policy, if it has one.
    pub(crate) fn checkpoints(&self) -> Option<Checkpoints> {
        let world = self.world.upgrade()?;
        world
            .checkpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether [`World::request_checkpoints`] asked for a checkpoint (and
    /// clears the request).
    pub(crate) fn take_checkpoint_request(&self) -> bool {
        self.checkpoint_asked.swap(false, Ordering::Relaxed)
    }

    /// The script's id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

/// Takes a checkpoint of a script, given its id, at a slice boundary.
pub type CheckpointSink = Arc<dyn Fn(&str, &mut Script) + Send + Sync>;

/// When a world's scripts are checkpointed ([`World::set_checkpoints`]).
#[derive(Clone)]
pub struct Checkpoints {
    /// A script that ran is checkpointed at the end of its first slice
    /// this long after its last checkpoint, and when asked by
    /// [`World::request_checkpoints`].
    pub every: Duration,
    /// What takes the checkpoint.
    pub sink: CheckpointSink,
}

struct Entry {
    owner: String,
    module: String,
    task: Option<TaskId>,
    mailbox: Arc<Mailbox>,
    eviction: Arc<Mutex<Option<Eviction>>>,
    checkpoint_asked: Arc<AtomicBool>,
    exit: Option<String>,
}

impl Entry {
    fn new(owner: &str, module: &str) -> Entry {
        Entry {
            owner: owner.into(),
            module: module.into(),
            task: None,
            mailbox: Arc::default(),
            eviction: Arc::default(),
            checkpoint_asked: Arc::default(),
            exit: None,
        }
    }
}

#[derive(Default)]
struct Scripts {
    entries: BTreeMap<String, Entry>,
    by_task: HashMap<TaskId, String>,
    /// Tasks started after the scheduler was taken for [`World::save`].
    orphans: Vec<(String, ScriptTask)>,
    dropped: u64,
    spawn_failures: Vec<String>,
}

struct Inner {
    me: Weak<Inner>,
    runtime: Arc<Runtime>,
    scheduler: RwLock<Option<Scheduler<ScriptTask>>>,
    modules: RwLock<BTreeMap<String, Arc<ScriptModule>>>,
    scripts: Mutex<Scripts>,
    output: OutputFactory,
    limits: Limits,
    checkpoints: RwLock<Option<Checkpoints>>,
}

/// Scripts under one scheduler, talking to each other; see the module docs.
pub struct World {
    inner: Arc<Inner>,
}

/// A script for [`World::spawn_all`] to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScript {
    /// Its id.
    pub id: String,
    /// The name of its module.
    pub module: String,
    /// Its owner.
    pub owner: String,
    /// Its command line, the program name first.
    pub args: Vec<String>,
}

/// One script as [`World::scripts`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptInfo {
    /// Its id.
    pub id: String,
    /// Its owner.
    pub owner: String,
    /// The name of its module.
    pub module: String,
    /// Its task in the scheduler, while it runs here.
    pub task: Option<TaskId>,
    /// How it ended, once it has.
    pub exit: Option<String>,
}

/// What [`World::save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveReport {
    /// Scripts saved with their state.
    pub scripts: usize,
    /// Bytes of snapshots written.
    pub bytes: u64,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= limits::ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Inner {
    fn scripts(&self) -> MutexGuard<'_, Scripts> {
        self.scripts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn module(&self, name: &str) -> Result<Arc<ScriptModule>> {
        let modules = self.modules.read().unwrap_or_else(|e| e.into_inner());
        modules.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = modules.keys().map(String::as_str).collect();
            Error::UnknownModule(name.into(), known.join(", "))
        })
    }

    fn task(&self, mut script: Script, entry: &Entry, id: &str) -> ScriptTask {
        let world = self.me.clone();
        let spawnable: Spawnable = Arc::new(move |name: &str| {
            world.upgrade().is_some_and(|w| {
                w.modules
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains_key(name)
            })
        });
        script.set_spawnable(spawnable.clone());
        let output = self.output.clone();
        let stdio_id = id.to_string();
        let factory: StdioFactory = Arc::new(move || output(&stdio_id));
        let mut task = ScriptTask::new(self.runtime.clone(), script, factory);
        task.link = Some(Link {
            id: id.into(),
            owner: entry.owner.clone(),
            mailbox: entry.mailbox.clone(),
            eviction: entry.eviction.clone(),
            checkpoint_asked: entry.checkpoint_asked.clone(),
            world: self.me.clone(),
            spawnable,
        });
        task
    }

    /// Starts `task` for the entry `id` (which must be in `scripts`).
    fn start(&self, scripts: &mut Scripts, id: &str, task: ScriptTask, paused: bool) -> Result<()> {
        let owner = scripts.entries[id].owner.clone();
        let scheduler = self.scheduler.read().unwrap_or_else(|e| e.into_inner());
        match &*scheduler {
            Some(scheduler) => {
                let tid = if paused {
                    scheduler.spawn_paused(&owner, 1, task)?
                } else {
                    scheduler.spawn(&owner, 1, task)?
                };
                scripts.by_task.insert(tid, id.into());
                if let Some(entry) = scripts.entries.get_mut(id) {
                    entry.task = Some(tid);
                }
            }
            None => scripts.orphans.push((owner, task)),
        }
        Ok(())
    }

    fn spawn(&self, id: &str, module: &str, owner: &str, args: Vec<String>) -> Result<()> {
        self.spawn_all(vec![NewScript {
            id: id.into(),
            module: module.into(),
            owner: owner.into(),
            args,
        }])
    }

    /// Starts all of `new` or none: every id is known before any of them
    /// runs, so that their first messages to each other arrive.
    fn spawn_all(&self, new: Vec<NewScript>) -> Result<()> {
        let mut scripts = self.scripts();
        let mut ready = Vec::with_capacity(new.len());
        for (i, n) in new.iter().enumerate() {
            if !valid_id(&n.id) {
                return Err(Error::BadId(n.id.clone()));
            }
            if scripts.entries.contains_key(&n.id) || new[..i].iter().any(|m| m.id == n.id) {
                return Err(Error::Duplicate(n.id.clone()));
            }
            let code = self.module(&n.module)?;
            let options = ScriptOptions {
                args: n.args.clone(),
                id: n.id.clone(),
                owner: n.owner.clone(),
                limits: self.limits,
                ..ScriptOptions::default()
            };
            let script = Script::spawn(&self.runtime, &code, options, (self.output)(&n.id))?;
            let entry = Entry::new(&n.owner, &n.module);
            let task = self.task(script, &entry, &n.id);
            ready.push((n.id.clone(), entry, task));
        }
        let tasks: Vec<(String, ScriptTask)> = ready
            .into_iter()
            .map(|(id, entry, task)| {
                scripts.entries.insert(id.clone(), entry);
                (id, task)
            })
            .collect();
        for (id, task) in tasks {
            self.start(&mut scripts, &id, task, false)?;
        }
        Ok(())
    }

    fn dispatch(&self, from: &str, owner: &str, outgoing: Vec<Outgoing>) {
        for out in outgoing {
            match out {
                Outgoing::Message { to, body } => self.post(from, &to, body),
                Outgoing::Spawn { id, module, args } => {
                    if let Err(e) = self.spawn(&id, &module, owner, args) {
                        let note = format!("{from} could not spawn {id} from {module}: {e}");
                        tracing::warn!("{note}");
                        self.scripts().spawn_failures.push(note);
                    }
                }
            }
        }
    }

    fn post(&self, from: &str, to: &str, body: Vec<u8>) {
        let mut scripts = self.scripts();
        let delivered = match scripts.entries.get(to) {
            Some(entry) if entry.exit.is_none() => {
                let ok = entry.mailbox.push(Message {
                    from: from.into(),
                    body,
                });
                if let (true, Some(task)) = (ok, entry.task) {
                    let scheduler = self.scheduler.read().unwrap_or_else(|e| e.into_inner());
                    if let Some(scheduler) = &*scheduler {
                        let _ = scheduler.wake(task);
                    }
                }
                ok
            }
            _ => false,
        };
        if !delivered {
            scripts.dropped += 1;
        }
    }

    /// Records the exits the scheduler reports.
    fn poll_exits(&self) {
        let exits = match &*self.scheduler.read().unwrap_or_else(|e| e.into_inner()) {
            Some(scheduler) => scheduler.take_exits(),
            None => return,
        };
        let mut scripts = self.scripts();
        for (task, exit) in exits {
            if exit == EVICTED {
                continue;
            }
            if let Some(id) = scripts.by_task.remove(&task)
                && let Some(entry) = scripts.entries.get_mut(&id)
            {
                entry.task = None;
                entry.exit = Some(exit);
            }
        }
    }
}

impl World {
    /// A world whose scripts run on `runtime` under a scheduler made with
    /// `config`, each with `limits`, writing to the streams `output` gives.
    pub fn new(
        runtime: Arc<Runtime>,
        config: Config,
        limits: Limits,
        output: OutputFactory,
    ) -> Result<World> {
        let scheduler = Scheduler::new(config)?;
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            runtime,
            scheduler: RwLock::new(Some(scheduler)),
            modules: RwLock::default(),
            scripts: Mutex::default(),
            output,
            limits,
            checkpoints: RwLock::new(None),
        });
        Ok(World { inner })
    }

    /// Makes `module` known as `name`, to [`World::spawn`] and to the API's
    /// `spawn`.
    pub fn add_module(&self, name: &str, module: Arc<ScriptModule>) {
        self.inner
            .modules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.into(), module);
    }

    /// Forgets a script that is not running here (away or ended): messages
    /// to it are dropped from now on.
    pub fn forget(&self, id: &str) {
        let mut scripts = self.inner.scripts();
        if scripts.entries.get(id).is_some_and(|e| e.task.is_none()) {
            scripts.entries.remove(id);
        }
    }

    /// Whether a module of that name was added.
    pub fn has_module(&self, name: &str) -> bool {
        self.inner
            .modules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(name)
    }

    /// Starts a script `id` of `owner` from the module named `module`.
    pub fn spawn(&self, id: &str, module: &str, owner: &str, args: Vec<String>) -> Result<()> {
        self.inner.spawn(id, module, owner, args)
    }

    /// Starts several scripts, all or none, each knowing the others from
    /// its first instruction on (a message to a script not started yet
    /// would be dropped).
    pub fn spawn_all(&self, scripts: Vec<NewScript>) -> Result<()> {
        self.inner.spawn_all(scripts)
    }

    /// Sends a message to `to` as if from `from`.
    pub fn send(&self, from: &str, to: &str, body: Vec<u8>) {
        self.inner.post(from, to, body);
    }

    /// The scheduler, for its statistics and controls (`None` once the
    /// world is being saved).
    pub fn with_scheduler<R>(&self, f: impl FnOnce(&Scheduler<ScriptTask>) -> R) -> Option<R> {
        self.inner
            .scheduler
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(f)
    }

    /// Sets when scripts are checkpointed, and by what.
    pub fn set_checkpoints(&self, checkpoints: Checkpoints) {
        *self
            .inner
            .checkpoints
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(checkpoints);
    }

    /// Asks every running script for a checkpoint at its next slice
    /// boundary, and wakes those waiting for a message so that they take it
    /// now (a script asleep takes it when it wakes). Only a script that ran
    /// since its last checkpoint takes one.
    pub fn request_checkpoints(&self) {
        let scripts = self.inner.scripts();
        let scheduler = self
            .inner
            .scheduler
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let Some(scheduler) = &*scheduler else {
            return;
        };
        for entry in scripts.entries.values() {
            if let Some(task) = entry.task {
                entry.checkpoint_asked.store(true, Ordering::Relaxed);
                let _ = scheduler.wake(task);
            }
        }
    }

    fn running_task(&self, id: &str) -> Result<TaskId> {
        let scripts = self.inner.scripts();
        let entry = scripts
            .entries
            .get(id)
            .ok_or_else(|| Error::UnknownScript(id.into()))?;
        entry.task.ok_or_else(|| Error::NotRunning(id.into()))
    }

    /// Pauses a script (within one slice); it keeps its place and mail.
    pub fn pause(&self, id: &str) -> Result<()> {
        let task = self.running_task(id)?;
        self.with_scheduler(|s| s.pause(task))
            .ok_or_else(|| Error::NotRunning(id.into()))??;
        Ok(())
    }

    /// Resumes a paused script.
    pub fn resume(&self, id: &str) -> Result<()> {
        let task = self.running_task(id)?;
        self.with_scheduler(|s| s.resume(task))
            .ok_or_else(|| Error::NotRunning(id.into()))??;
        Ok(())
    }

    /// Kills a script: it never runs again and its memory is freed (at
    /// once, or when its running slice returns).
    pub fn kill(&self, id: &str) -> Result<()> {
        let task = self.running_task(id)?;
        let _ = self.with_scheduler(|s| s.kill(task));
        let mut scripts = self.inner.scripts();
        scripts.by_task.remove(&task);
        if let Some(entry) = scripts.entries.get_mut(id) {
            entry.task = None;
            entry.exit = Some(KILLED.into());
        }
        Ok(())
    }

    /// A running script's accounting and scheduling state.
    pub fn stats(&self, id: &str) -> Option<weft_sched::TaskStats> {
        let task = self.running_task(id).ok()?;
        self.with_scheduler(|s| s.stats(task)).flatten()
    }

    /// Every script the world knows, by id.
    pub fn scripts(&self) -> Vec<ScriptInfo> {
        self.inner.poll_exits();
        self.inner
            .scripts()
            .entries
            .iter()
            .map(|(id, e)| ScriptInfo {
                id: id.clone(),
                owner: e.owner.clone(),
                module: e.module.clone(),
                task: e.task,
                exit: e.exit.clone(),
            })
            .collect()
    }

    /// Messages dropped: to unknown or ended scripts, or to full mailboxes.
    pub fn dropped_messages(&self) -> u64 {
        self.inner.scripts().dropped
    }

    /// The scripts' failed `spawn` requests, described.
    pub fn spawn_failures(&self) -> Vec<String> {
        self.inner.scripts().spawn_failures.clone()
    }

    /// Waits until every script has ended (or is away); `false` on timeout.
    pub fn wait(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            let done = self.scripts().iter().all(|s| s.task.is_none());
            if done {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Takes a running script out of the world at its next slice boundary
    /// and returns its snapshot (which carries no module: the world knows
    /// it by name, see [`ScriptInfo::module`]). Its mailbox stays and
    /// collects messages until [`World::restore`] brings it back. A script
    /// parked in `recv` leaves at once; one asleep, when it wakes.
    pub fn evict(&self, id: &str, timeout: Duration) -> Result<Snapshot> {
        let (reply, result) = mpsc::channel();
        let (task, slot) = {
            let scripts = self.inner.scripts();
            let entry = scripts
                .entries
                .get(id)
                .ok_or_else(|| Error::UnknownScript(id.into()))?;
            let task = entry.task.ok_or_else(|| Error::NotRunning(id.into()))?;
            *entry.eviction.lock().unwrap_or_else(|e| e.into_inner()) = Some(reply);
            (task, entry.eviction.clone())
        };
        let woken = self.with_scheduler(|s| s.wake(task));
        if let Some(Err(weft_sched::Error::UnknownTask(_))) = woken {
            // It ended (or was killed) and the world has not seen it yet.
            slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            self.inner.poll_exits();
            return Err(Error::NotRunning(id.into()));
        }
        let outcome = match result.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(_) => {
                let withdrawn = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                if withdrawn.is_some() {
                    return Err(Error::Timeout(id.into(), timeout));
                }
                // The task took the request: its answer is on the way.
                result
                    .recv()
                    .unwrap_or_else(|_| Err("the script's task ended without answering".into()))
            }
        };
        let snapshot = outcome.map_err(Error::Saved)?;
        let mut scripts = self.inner.scripts();
        scripts.by_task.remove(&task);
        if let Some(entry) = scripts.entries.get_mut(id) {
            entry.task = None;
        }
        Ok(snapshot)
    }

    /// Brings back a script from its snapshot, with the module named
    /// `module`. If the script was evicted from this world, the messages
    /// that came for it meanwhile are handed to it. A script that is
    /// running here already is refused: a script runs in one place only.
    pub fn restore(&self, snapshot: &Snapshot, module: &str) -> Result<String> {
        self.restore_with(snapshot, module, false)
    }

    /// [`World::restore`], paused if `paused` (until [`World::resume`]).
    pub fn restore_with(&self, snapshot: &Snapshot, module: &str, paused: bool) -> Result<String> {
        let code = self.inner.module(module)?;
        let id = snapshot.meta.script_id.clone();
        if !valid_id(&id) {
            return Err(Error::BadId(id));
        }
        let owner = snapshot.meta.owner.clone();
        let mut scripts = self.inner.scripts();
        if let Some(entry) = scripts.entries.get(&id)
            && (entry.task.is_some()
                || scripts
                    .orphans
                    .iter()
                    .any(|(_, t)| t.link.as_ref().is_some_and(|l| l.id == id)))
        {
            return Err(Error::Duplicate(id));
        }
        let script = Script::restore(
            &self.inner.runtime,
            &code,
            snapshot,
            Some(self.inner.limits),
            (self.inner.output)(&id),
        )?;
        let entry = scripts
            .entries
            .entry(id.clone())
            .or_insert_with(|| Entry::new(&owner, module));
        entry.exit = None;
        entry.module = module.into();
        let task = self.inner.task(script, entry, &id);
        self.inner.start(&mut scripts, &id, task, paused)?;
        Ok(id)
    }

    /// Stops every script at a slice boundary and hands each live one
    /// over, its mail collected into it, with its id. The world keeps its
    /// list of scripts and the mail of those away, but runs nothing more.
    pub fn stop(&self) -> Result<Vec<(String, Script)>> {
        self.inner.poll_exits();
        let scheduler = self
            .inner
            .scheduler
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut tasks: Vec<ScriptTask> = match scheduler {
            Some(scheduler) => scheduler
                .shutdown()
                .into_iter()
                .map(|(_, _, task)| task)
                .collect(),
            None => Vec::new(),
        };
        let mut scripts = self.inner.scripts();
        tasks.extend(scripts.orphans.drain(..).map(|(_, task)| task));
        let mut live = Vec::with_capacity(tasks.len());
        for task in tasks {
            let Some(link) = task.link.clone() else {
                continue;
            };
            let mut script = task.into_script().map_err(Error::Saved)?;
            link.collect_mail(&mut script);
            script.flush();
            if let Some(entry) = scripts.entries.get_mut(&link.id) {
                entry.task = None;
            }
            live.push((link.id.clone(), script));
        }
        scripts.by_task.clear();
        Ok(live)
    }

    /// Stops every script at a slice boundary and writes the whole world
    /// to `dir` (created if needed): every module, every live script's
    /// snapshot (its mailbox included), the scripts that ended, and the
    /// mail waiting for scripts that are away. [`World::load`] continues it.
    pub fn save(self, dir: &Path) -> Result<SaveReport> {
        let live = self.stop()?;
        let scripts = self.inner.scripts();
        let io = |what: &Path, e| Error::Io(what.display().to_string(), e);
        std::fs::create_dir_all(dir.join("modules")).map_err(|e| io(dir, e))?;
        std::fs::create_dir_all(dir.join("scripts")).map_err(|e| io(dir, e))?;
        let mut manifest = Manifest::default();
        for (name, module) in &*self.inner.modules.read().unwrap_or_else(|e| e.into_inner()) {
            let file = format!("modules/{}.wasm", manifest.modules.len());
            weft_runtime::write_atomically(&dir.join(&file), module.original(), true)
                .map_err(|e| Error::Saved(format!("cannot write {file}: {e}")))?;
            manifest.modules.push(SavedModule {
                name: name.clone(),
                file,
            });
        }
        let mut report = SaveReport {
            scripts: 0,
            bytes: 0,
        };
        let mut saved = HashMap::new();
        for (id, mut script) in live {
            let snapshot = script.snapshot()?;
            let bytes = weft_snapshot::encode(&snapshot)
                .map_err(|e| Error::Saved(format!("cannot encode {id}: {e}")))?;
            let file = format!("scripts/{}.snap", report.scripts);
            weft_runtime::write_atomically(&dir.join(&file), &bytes, true)
                .map_err(|e| Error::Saved(format!("cannot write {file}: {e}")))?;
            report.scripts += 1;
            report.bytes += bytes.len() as u64;
            saved.insert(id, file);
        }
        for (id, entry) in &scripts.entries {
            let mail = entry
                .mailbox
                .lock()
                .iter()
                .map(|m| SavedMessage {
                    from: m.from.clone(),
                    body: hex::encode(&m.body),
                })
                .collect();
            manifest.scripts.push(SavedScript {
                id: id.clone(),
                owner: entry.owner.clone(),
                module: entry.module.clone(),
                snapshot: saved.remove(id),
                exit: entry.exit.clone(),
                mail,
            });
        }
        manifest.dropped = scripts.dropped;
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Saved(format!("cannot encode the manifest: {e}")))?;
        weft_runtime::write_atomically(&dir.join(MANIFEST), &json, true)
            .map_err(|e| Error::Saved(format!("cannot write {MANIFEST}: {e}")))?;
        Ok(report)
    }

    /// Continues a world [`World::save`] wrote to `dir`.
    pub fn load(
        runtime: Arc<Runtime>,
        config: Config,
        limits: Limits,
        output: OutputFactory,
        dir: &Path,
    ) -> Result<World> {
        let path = dir.join(MANIFEST);
        let json = std::fs::read(&path).map_err(|e| Error::Io(path.display().to_string(), e))?;
        let manifest: Manifest = serde_json::from_slice(&json)
            .map_err(|e| Error::Saved(format!("{} is not a saved world: {e}", path.display())))?;
        let world = World::new(runtime.clone(), config, limits, output)?;
        for module in &manifest.modules {
            let wasm = read_inside(dir, &module.file)?;
            world.add_module(&module.name, runtime.load(&wasm)?);
        }
        for saved in &manifest.scripts {
            if !valid_id(&saved.id) {
                return Err(Error::BadId(saved.id.clone()));
            }
            {
                let mut scripts = world.inner.scripts();
                let mut entry = Entry::new(&saved.owner, &saved.module);
                entry.exit = saved.exit.clone();
                for m in &saved.mail {
                    let body = hex::decode(&m.body)
                        .map_err(|e| Error::Saved(format!("mail for {}: {e}", saved.id)))?;
                    entry.mailbox.push(Message {
                        from: m.from.clone(),
                        body,
                    });
                }
                scripts.entries.insert(saved.id.clone(), entry);
            }
            if let Some(file) = &saved.snapshot {
                let bytes = read_inside(dir, file)?;
                let snapshot = weft_snapshot::decode(&bytes, &DecodeLimits::default())
                    .map_err(|e| Error::Saved(format!("{file}: {e}")))?;
                if snapshot.meta.script_id != saved.id {
                    return Err(Error::Saved(format!(
                        "{file} holds the script `{}`, not `{}`",
                        snapshot.meta.script_id, saved.id
                    )));
                }
                world.restore(&snapshot, &saved.module)?;
            }
        }
        world.inner.scripts().dropped = manifest.dropped;
        Ok(world)
    }
}

/// Reads `file`, a path from a manifest, which must stay inside `dir`.
fn read_inside(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let relative = Path::new(file);
    let inside = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(Error::Saved(format!(
            "{file}: not a path inside the saved world"
        )));
    }
    let path = dir.join(relative);
    std::fs::read(&path).map_err(|e| Error::Io(path.display().to_string(), e))
}

const MANIFEST: &str = "world.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    modules: Vec<SavedModule>,
    scripts: Vec<SavedScript>,
    dropped: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedModule {
    name: String,
    file: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedScript {
    id: String,
    owner: String,
    module: String,
    /// The snapshot of a live script.
    snapshot: Option<String>,
    /// How an ended script ended.
    exit: Option<String>,
    /// Mail waiting for the script while it is away.
    mail: Vec<SavedMessage>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedMessage {
    from: String,
    /// The body, in hexadecimal.
    body: String,
}

//! A script: one instance of an instrumented module with its host state.
//!
//! # States
//!
//! ```text
//!             run                    run
//! Created ─────────▶ Running ◀──────────────── Paused / Parked
//!                    │  │  │ ──────────────────▶   (slice over, pause
//!                    │  │  │  fuel / flag /         request, yield; or a
//!                    │  │  │  sched_yield / sleep   sleep: Parked)
//!                    │  │  ▼
//!                    │  │  Exited(code)     the entry point returned, or proc_exit
//!                    │  ▼
//!                    │  Trapped(trap)       a trap, with its wasm backtrace
//!                    ▼
//!                    Killed                 kill(); nothing runs again
//! ```
//!
//! `Running` lasts exactly as long as a call to [`Script::run`]. A script
//! can be captured ([`Script::snapshot`]) in `Created`, `Paused` and
//! `Parked`; in `Paused` and `Parked` its whole call stack is in its state
//! memory, so it holds no native stack and can be moved anywhere.

use crate::api::{ApiState, Message, Outgoing};
use crate::controls::{Controls, Step};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::host::{Deterministic, Host, HostState, Pending, Spawnable, Stdio};
use crate::module::ScriptModule;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use wasmtime::{Func, FuncType, Instance, Store, Val};
use weft_instrument::abi;
use weft_snapshot::{Accounting, Limits, Metadata};

/// The entry point of a WASI command.
pub const WASI_ENTRY: &str = "_start";

/// How a new script is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOptions {
    /// The command line, the program name first.
    pub args: Vec<String>,
    /// The environment.
    pub env: Vec<(String, String)>,
    /// Deterministic mode with this seed: a virtual clock advanced by fuel
    /// (and by sleeps), a seeded random generator. Canonical NaNs come from
    /// the runtime ([`crate::RuntimeConfig::canonical_nans`]). Needs a
    /// module that counts fuel.
    pub deterministic: Option<u64>,
    /// What the script may use. The fuel limit is enforced when the module
    /// has fuel checks.
    pub limits: Limits,
    /// The script's id.
    pub id: String,
    /// The script's owner (tenant).
    pub owner: String,
    /// The export to run, after the deferred `start` function if the module
    /// had one.
    pub entry: String,
}

impl Default for ScriptOptions {
    fn default() -> Self {
        ScriptOptions {
            args: vec!["script".into()],
            env: Vec::new(),
            deterministic: None,
            limits: Limits::default(),
            id: String::new(),
            owner: String::new(),
            entry: WASI_ENTRY.into(),
        }
    }
}

/// How much a call to [`Script::run`] may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Until the script pauses, parks or ends by itself (or the interrupt
    /// flag is set, for a flag-instrumented module).
    Unlimited,
    /// About this many units of fuel: the script pauses at the first check
    /// after the fuel is spent.
    Fuel(u64),
}

/// What a parked script waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Its monotonic clock reaching this time (a WASI or API sleep).
    At(Duration),
    /// A message ([`Script::deliver`]), or its monotonic clock reaching
    /// `deadline` if there is one (the API's `recv` with a timeout, or the
    /// script's next timer).
    Message {
        /// When the wait ends without a message.
        deadline: Option<Duration>,
    },
}

/// A trap that ended a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// What happened.
    pub message: String,
    /// The wasm call stack at the trap, innermost frame first.
    pub backtrace: Vec<BacktraceFrame>,
}

/// One frame of a [`Trap`]'s backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacktraceFrame {
    /// The function index in the module.
    pub function: u32,
    /// Its name, from the name section.
    pub name: Option<String>,
}

/// A backtrace prints at most this many lines (runs of one repeated frame,
/// as in deep recursion, take one line).
const BACKTRACE_LINES: usize = 40;

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if self.backtrace.is_empty() {
            return Ok(());
        }
        write!(f, "\nwasm backtrace (innermost first):")?;
        let mut frames = self.backtrace.iter().peekable();
        let mut lines = 0;
        while let Some(frame) = frames.next() {
            let mut repeats = 1;
            while frames.peek() == Some(&frame) {
                frames.next();
                repeats += 1;
            }
            if lines == BACKTRACE_LINES {
                write!(f, "\n  ... {} more frames", frames.len() + repeats)?;
                break;
            }
            match &frame.name {
                Some(name) => write!(f, "\n  {name} (function {})", frame.function)?,
                None => write!(f, "\n  function {}", frame.function)?,
            }
            if repeats > 1 {
                write!(f, " x {repeats}")?;
            }
            lines += 1;
        }
        Ok(())
    }
}

/// Where a script is in its life; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Spawned, not run yet.
    Created,
    /// Inside [`Script::run`].
    Running,
    /// Stopped between two slices, ready to run.
    Paused,
    /// Waiting; [`Script::run`] continues it (early, if called early: a
    /// sleep then goes on sleeping).
    Parked(Wake),
    /// Finished with this exit status.
    Exited(i32),
    /// Ended by a trap.
    Trapped(Trap),
    /// Killed.
    Killed,
}

impl Status {
    /// Whether the script can run again.
    pub fn is_runnable(&self) -> bool {
        matches!(self, Status::Created | Status::Paused | Status::Parked(_))
    }
}

/// The arguments and results of a launched function, the last entry point.
#[derive(Debug, Clone, Default)]
pub(crate) struct Call {
    pub args: Vec<Val>,
    pub results: Vec<Val>,
    /// Whether `results` holds what the function returned.
    pub returned: bool,
}

/// The address of a script's interrupt flag, cleared when the script goes.
#[derive(Debug, Default)]
struct FlagCell(RwLock<Option<usize>>);

/// Sets a script's interrupt flag from any thread: a script instrumented in
/// flag mode pauses at its next check.
#[derive(Debug, Clone)]
pub struct InterruptHandle(Arc<FlagCell>);

impl InterruptHandle {
    /// Asks the script to pause. Does nothing once the script is dropped.
    pub fn interrupt(&self) {
        self.store(1);
    }

    /// Withdraws a request to pause that the script has not acted on yet
    /// (one that came after it stopped for another reason, for instance).
    pub fn clear(&self) {
        self.store(0);
    }

    fn store(&self, value: u32) {
        let address = self.0.0.read().unwrap_or_else(|e| e.into_inner());
        if let Some(address) = *address {
            // SAFETY: `address` is the 4-aligned flag word of the state
            // memory of a live script: `Script` clears it (under the write
            // lock) before its store is dropped, and the state memory never
            // moves (see `Controls::flag_address`). The instance reads the
            // word with plain loads; an aligned atomic store is seen whole.
            let flag = unsafe { std::sync::atomic::AtomicU32::from_ptr(address as *mut u32) };
            flag.store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// One running, pausable, persistable script.
pub struct Script {
    pub(crate) module: Arc<ScriptModule>,
    pub(crate) store: Store<Host>,
    pub(crate) controls: Controls,
    pub(crate) entries: Vec<Func>,
    /// For a launched function: its arguments, then its results.
    pub(crate) call: Option<Call>,
    pub(crate) status: Status,
    pub(crate) meta: Metadata,
    pub(crate) accounting: Accounting,
    flag: Arc<FlagCell>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("id", &self.meta.script_id)
            .field("status", &self.status)
            .field("fuel_used", &self.accounting.fuel_used)
            .finish_non_exhaustive()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        *self.flag.0.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Script {
    /// Instantiates `module` as a new script. Nothing runs before the first
    /// [`Script::run`] (the module's `start` function is deferred to it).
    pub fn spawn(
        runtime: &Runtime,
        module: &Arc<ScriptModule>,
        options: ScriptOptions,
        stdio: Stdio,
    ) -> Result<Script> {
        Script::spawn_with(runtime, module, options, stdio, false)
    }

    fn spawn_with(
        runtime: &Runtime,
        module: &Arc<ScriptModule>,
        options: ScriptOptions,
        stdio: Stdio,
        call: bool,
    ) -> Result<Script> {
        if options.deterministic.is_some() && !module.info().config.counts_fuel() {
            return Err(Error::State(
                "deterministic mode needs a module instrumented to count fuel".into(),
            ));
        }
        let state = HostState {
            args: options.args,
            env: options.env,
            deterministic: options.deterministic.map(|seed| Deterministic {
                seed,
                rng_word_pos: 0,
                slept: 0,
            }),
            monotonic: 0,
            pending: None,
            entry_name: options.entry,
            entry: 0,
            in_call: false,
            call,
            closed: [false; 3],
            stdout_bytes: 0,
            stderr_bytes: 0,
            captured_at: 0,
            api: ApiState::default(),
        };
        let meta = Metadata {
            script_id: options.id,
            owner: options.owner,
            limits: options.limits,
        };
        Script::instantiate(runtime, module, state, meta, Accounting::default(), stdio)
    }

    /// A new script whose entry point `options.entry` is a function called
    /// with `args` ([`crate::Runtime::launch`]).
    pub(crate) fn spawn_call(
        runtime: &Runtime,
        module: &Arc<ScriptModule>,
        options: ScriptOptions,
        args: &[Val],
        stdio: Stdio,
    ) -> Result<Script> {
        let mut script = Script::spawn_with(runtime, module, options, stdio, true)?;
        let call = script.call.as_mut().expect("a call script has a call");
        // `call.args` holds a zero of each parameter's type (numbers and
        // vectors only).
        let fits = args.len() == call.args.len()
            && args.iter().zip(&call.args).all(|(a, zero)| {
                match (a.ty(&script.store), zero.ty(&script.store)) {
                    (Ok(given), Ok(wanted)) => given.matches(&wanted),
                    _ => false,
                }
            });
        if !fits {
            let ty = script.entries.last().expect("an entry").ty(&script.store);
            let given: Vec<String> = args
                .iter()
                .map(|a| match a.ty(&script.store) {
                    Ok(t) => t.to_string(),
                    Err(_) => "?".into(),
                })
                .collect();
            return Err(Error::State(format!(
                "`{}` has type {ty}; it cannot be called with ({})",
                script.store.data().state.entry_name,
                given.join(", ")
            )));
        }
        call.args = args.to_vec();
        Ok(script)
    }

    /// Clears the interrupt flag.
    pub(crate) fn clear_interrupt(&mut self) {
        self.controls.set_flag(&mut self.store, false);
    }

    /// The results of a launched function that returned.
    pub(crate) fn take_results(&mut self) -> Option<Vec<Val>> {
        match &mut self.call {
            Some(call) if call.returned => Some(std::mem::take(&mut call.results)),
            _ => None,
        }
    }

    pub(crate) fn instantiate(
        runtime: &Runtime,
        module: &Arc<ScriptModule>,
        state: HostState,
        meta: Metadata,
        accounting: Accounting,
        stdio: Stdio,
    ) -> Result<Script> {
        let entry = state.entry_name.clone();
        let call = state.call;
        let mut store = Store::new(runtime.engine(), Host::new(state, stdio, meta.limits));
        store.limiter(|host| &mut host.limiter);
        let instance = module
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| Error::Module(format!("cannot instantiate the module: {e:#}")))?;
        let controls = Controls::from_exports(
            &mut store,
            &instance,
            module.shared_info().clone(),
            module.control_exports(),
        )
        .map_err(|e| Error::Module(format!("{e:#}")))?;
        let (entries, call_ty) = entries(&mut store, &instance, module, &entry, call)?;
        let call = match call_ty {
            Some(ty) => {
                let zeros = |types: &mut dyn Iterator<Item = wasmtime::ValType>| {
                    types
                        .map(|t| t.default_value().unwrap_or(Val::I32(0)))
                        .collect()
                };
                Some(Call {
                    args: zeros(&mut ty.params()),
                    results: zeros(&mut ty.results()),
                    returned: false,
                })
            }
            _ => None,
        };
        let memory = module
            .memory_export()
            .and_then(|index| instance.get_module_export(&mut store, index))
            .and_then(|export| export.into_memory());
        let host = store.data_mut();
        host.id = meta.script_id.clone();
        host.memory = memory;
        host.control_state = Some(controls.state);
        host.state_memory = Some(controls.state_memory);
        host.fuel = controls.fuel;
        let flag = Arc::new(FlagCell(RwLock::new(Some(
            controls.flag_address(&store) as usize
        ))));
        Ok(Script {
            module: module.clone(),
            store,
            controls,
            entries,
            call,
            status: Status::Created,
            meta,
            accounting,
            flag,
        })
    }

    /// Where the script is in its life.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The module the script is an instance of.
    pub fn module(&self) -> &Arc<ScriptModule> {
        &self.module
    }

    /// The script's id, owner and limits.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// Fuel used and time spent so far.
    pub fn accounting(&self) -> Accounting {
        self.accounting
    }

    /// Bytes of linear memory the script has, its state memory included.
    pub fn memory_bytes(&self) -> u64 {
        self.store.data().limiter.memory_bytes
    }

    /// A handle that pauses the script from another thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle(self.flag.clone())
    }

    /// How long a parked script has left to wait: zero when its wake-up
    /// time has come, or in deterministic mode (where sleeping takes no
    /// real time); `None` if it is not parked.
    pub fn park_remaining(&self) -> Option<Duration> {
        let at = match self.status {
            Status::Parked(Wake::At(at)) => at,
            // A message may be waiting already (delivered while the script
            // ran, or a timer that fired).
            Status::Parked(Wake::Message { .. }) if self.has_mail() => Duration::ZERO,
            Status::Parked(Wake::Message { deadline: None }) => Duration::MAX,
            Status::Parked(Wake::Message { deadline: Some(at) }) => at,
            _ => return None,
        };
        let host = self.store.data();
        if host.state.deterministic.is_some() {
            return Some(Duration::ZERO);
        }
        let now = Duration::from_nanos(host.monotonic(self.accounting.fuel_used));
        Some(at.saturating_sub(now))
    }

    /// Whether the script's mailbox holds a message.
    pub fn has_mail(&self) -> bool {
        !self.store.data().state.api.inbox.is_empty()
    }

    /// What the weft host API keeps for the script: mailbox, outbox,
    /// timers and key-value store.
    pub fn api_state(&self) -> &ApiState {
        &self.store.data().state.api
    }

    /// Puts a message from `from` into the script's mailbox. A parked
    /// script waiting for one should be run again. A full mailbox drops
    /// the message, counts it ([`ApiState::dropped`]) and returns `false`.
    pub fn deliver(&mut self, from: &str, body: Vec<u8>) -> bool {
        self.store.data_mut().state.api.deliver(Message {
            from: from.to_string(),
            body,
        })
    }

    /// Takes the messages the script sent and the scripts it spawned since
    /// the last call, in the order it asked, for the embedder to deliver.
    pub fn take_outbox(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.store.data_mut().state.api.outbox)
    }

    /// Lets the script spawn scripts through the API: `spawnable` tells
    /// which module names exist. Without it `spawn` answers `NOTSUP`. Not
    /// part of the snapshot: set it again on a restored script.
    pub fn set_spawnable(&mut self, spawnable: Spawnable) {
        self.store.data_mut().spawnable = Some(spawnable);
    }

    /// Kills the script: it never runs again. Its memory is freed when the
    /// `Script` is dropped.
    pub fn kill(&mut self) {
        self.status = Status::Killed;
    }

    /// Takes the script's standard streams, leaving it with discarded
    /// output (to hand them to the script restored from its snapshot).
    pub fn take_stdio(&mut self) -> Stdio {
        self.flush();
        std::mem::replace(&mut self.store.data_mut().stdio, Stdio::null())
    }

    /// Flushes the script's output streams.
    pub fn flush(&mut self) {
        let stdio = &mut self.store.data_mut().stdio;
        let _ = stdio.stdout.flush();
        let _ = stdio.stderr.flush();
    }

    /// Runs the script until the budget is spent, it pauses or parks by
    /// itself, or it ends, and returns its new status.
    pub fn run(&mut self, budget: Budget) -> Result<&Status> {
        if !self.status.is_runnable() {
            return Err(Error::State(format!(
                "the script cannot run: it is {}",
                describe_status(&self.status)
            )));
        }
        let counts_fuel = self.controls.fuel.is_some();
        let checks_fuel = self.module.info().config.checks_fuel();
        let mut remaining = match budget {
            Budget::Unlimited => None,
            Budget::Fuel(_) if !checks_fuel => {
                return Err(Error::State(
                    "a fuel budget needs a module instrumented with fuel checks".into(),
                ));
            }
            Budget::Fuel(fuel) => Some(fuel),
        };
        if let Some(limit) = self.meta.limits.fuel.filter(|_| checks_fuel) {
            let left = limit.saturating_sub(self.accounting.fuel_used);
            if left == 0 {
                self.status = Status::Trapped(fuel_limit_trap(limit));
                return Ok(&self.status);
            }
            remaining = Some(remaining.map_or(left, |r| r.min(left)));
        }
        self.status = Status::Running;
        let started = Instant::now();
        let status = loop {
            let entry = self.store.data().state.entry as usize;
            let Some(func) = self.entries.get(entry).copied() else {
                break Status::Exited(0);
            };
            let fuel = remaining.map_or(i64::MAX, |r| r.min(i64::MAX as u64) as i64);
            if counts_fuel {
                self.controls
                    .set_fuel(&mut self.store, fuel)
                    .map_err(|e| Error::engine("cannot set fuel", e))?;
                let host = self.store.data_mut();
                host.fuel_base = self.accounting.fuel_used;
                host.slice_fuel = fuel;
            }
            let in_call = std::mem::replace(&mut self.store.data_mut().state.in_call, true);
            let (args, results) = match &mut self.call {
                Some(call) if entry + 1 == self.entries.len() => {
                    (call.args.as_slice(), call.results.as_mut_slice())
                }
                _ => (&[][..], &mut [][..]),
            };
            let step = if in_call {
                self.controls.resume(&mut self.store, &func, results)
            } else {
                self.controls.call(&mut self.store, &func, args, results)
            };
            if let Some(left) = self.controls.fuel(&mut self.store) {
                let used = fuel.saturating_sub(left).max(0) as u64;
                self.accounting.fuel_used = self.accounting.fuel_used.saturating_add(used);
                remaining = remaining.map(|r| r.saturating_sub(used));
            }
            match step {
                Err(e) => {
                    self.store.data_mut().state.in_call = false;
                    break match e.downcast_ref::<crate::wasi::Exit>() {
                        Some(exit) => Status::Exited(exit.0),
                        None => Status::Trapped(self.trap(e)),
                    };
                }
                Ok(Step::Finished) => {
                    let host = &mut self.store.data_mut().state;
                    host.in_call = false;
                    host.entry += 1;
                    if let Some(call) = &mut self.call
                        && host.entry as usize == self.entries.len()
                    {
                        call.returned = true;
                    }
                    if remaining == Some(0) {
                        break if host.entry as usize == self.entries.len() {
                            Status::Exited(0)
                        } else {
                            Status::Paused
                        };
                    }
                }
                Ok(Step::Unwound) => {
                    self.controls.set_flag(&mut self.store, false);
                    let state = &self.store.data().state;
                    break match state.pending {
                        Some(Pending::Sleep { deadline, .. } | Pending::Nap { deadline }) => {
                            Status::Parked(Wake::At(Duration::from_nanos(deadline)))
                        }
                        Some(Pending::Receive { deadline }) => {
                            let timer = state.api.next_timer_deadline();
                            let deadline = match (deadline, timer) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            };
                            Status::Parked(Wake::Message {
                                deadline: deadline.map(Duration::from_nanos),
                            })
                        }
                        Some(Pending::Yield | Pending::Done(_)) | None => Status::Paused,
                    };
                }
            }
        };
        let status = match self.meta.limits.fuel.filter(|_| checks_fuel) {
            // The slice stopped because the limit is spent: the script can
            // never run again, so it ends now instead of pausing.
            Some(limit) if status.is_runnable() && self.accounting.fuel_used >= limit => {
                Status::Trapped(fuel_limit_trap(limit))
            }
            _ => status,
        };
        self.accounting.cpu_nanos = self
            .accounting
            .cpu_nanos
            .saturating_add(started.elapsed().as_nanos() as u64);
        if !status.is_runnable() {
            self.flush();
        }
        self.status = status;
        Ok(&self.status)
    }

    fn trap(&self, error: wasmtime::Error) -> Trap {
        let message = match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        let backtrace = error
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .map(|bt| {
                bt.frames()
                    .iter()
                    .map(|frame| BacktraceFrame {
                        function: frame.func_index(),
                        name: frame.func_name().map(str::to_string).or_else(|| {
                            self.module
                                .function_name(frame.func_index())
                                .map(str::to_string)
                        }),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Trap { message, backtrace }
    }
}

fn fuel_limit_trap(limit: u64) -> Trap {
    Trap {
        message: format!("the script used up its fuel limit of {limit}"),
        backtrace: Vec::new(),
    }
}

fn describe_status(status: &Status) -> String {
    match status {
        Status::Created => "created".into(),
        Status::Running => "running".into(),
        Status::Paused => "paused".into(),
        Status::Parked(_) => "parked".into(),
        Status::Exited(code) => format!("exited with status {code}"),
        Status::Trapped(trap) => format!("trapped ({})", trap.message),
        Status::Killed => "killed".into(),
    }
}

/// The functions a script runs in order: the deferred `start` function, if
/// any, then `entry` if the module exports it.
///
/// A command's entry point takes and returns nothing; a launched function
/// (`call`) may take and return numbers and vectors.
/// The functions a script runs in order (the deferred `start` function,
/// then `entry`), and for a launched function (`call`) the type of `entry`.
fn entries(
    store: &mut Store<Host>,
    instance: &Instance,
    module: &ScriptModule,
    entry: &str,
    call: bool,
) -> Result<(Vec<Func>, Option<FuncType>)> {
    let mut out = Vec::new();
    if module.info().has_start {
        let start = instance
            .get_func(&mut *store, abi::START_EXPORT)
            .ok_or_else(|| Error::Module(format!("no function `{}`", abi::START_EXPORT)))?;
        out.push((abi::START_EXPORT, start));
    }
    match instance.get_func(&mut *store, entry) {
        Some(func) => out.push((entry, func)),
        None if module.info().has_start && !call => {}
        None if call => {
            return Err(Error::Module(format!(
                "the module exports no function `{entry}`"
            )));
        }
        None => {
            return Err(Error::Module(format!(
                "the module exports no function `{entry}` and has no start function: there is nothing to run"
            )));
        }
    }
    let mut call_ty = None;
    for (name, func) in &out {
        let ty = func.ty(&*store);
        if call && *name == entry {
            if let Some(t) = ty.params().chain(ty.results()).find(|t| t.is_ref()) {
                return Err(Error::Module(format!(
                    "`{name}` has type {ty}: a launched function takes and returns numbers and \
                     vectors, not references ({t})"
                )));
            }
            call_ty = Some(ty);
        } else if ty.params().len() != 0 || ty.results().len() != 0 {
            return Err(Error::Module(format!(
                "the entry point `{name}` has type {ty}; it must take and return nothing"
            )));
        }
    }
    Ok((out.into_iter().map(|(_, func)| func).collect(), call_ty))
}

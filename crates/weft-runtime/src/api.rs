//! The weft host API: the functions of the import module `weft`, through
//! which a script logs, sleeps, keeps time, exchanges messages with other
//! scripts, sets timers, spawns scripts and keeps a small key-value store.
//! `docs/host-api.md` is its reference; the SDKs under `sdk/` bind it.
//!
//! Everything the API keeps for a script lives in [`ApiState`], a part of
//! the script's [`HostState`](crate::HostState), so it is in every
//! snapshot: the mailbox, the messages sent and not yet handed to the
//! embedder, the timers and the key-value store. The runtime does not route
//! messages itself: a script's sent messages and spawn requests collect in
//! its outbox, which the embedder (the scheduler's node, or `weft up`)
//! takes after each slice with [`Script::take_outbox`](crate::Script::take_outbox)
//! and delivers with [`Script::deliver`](crate::Script::deliver).
//!
//! No call traps on bad arguments: each returns one of the negative
//! [`code`]s instead.

use crate::error::{Error, Result};
use crate::host::{Host, Pending};
use crate::wasi::{CLOCK_MONOTONIC, Guest, clock, finish_slow_call, suspend};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use wasmtime::{Caller, Linker};

/// The import module of the weft host API.
pub const MODULE: &str = "weft";

/// The results of a failed call (see `docs/host-api.md`).
pub mod code {
    /// `recv`: no message came within the timeout.
    pub const TIMEDOUT: i32 = -1;
    /// A pointer and length outside the script's memory.
    pub const FAULT: i32 = -2;
    /// A bad argument.
    pub const INVAL: i32 = -3;
    /// A message, id, key or value over its size limit.
    pub const TOOBIG: i32 = -4;
    /// A quota is reached.
    pub const FULL: i32 = -5;
    /// No such key, timer or module.
    pub const NOTFOUND: i32 = -6;
    /// The host does not offer this call.
    pub const NOTSUP: i32 = -7;
}

/// The limits of the API (see `docs/host-api.md`).
pub mod limits {
    /// The largest message body, in bytes.
    pub const MESSAGE_BYTES: usize = 64 * 1024;
    /// The longest script id, in bytes.
    pub const ID_BYTES: usize = 127;
    /// Messages and spawn requests a script may have in its outbox.
    pub const OUTBOX: usize = 1024;
    /// Messages a mailbox holds; more are dropped (and counted).
    pub const MAILBOX: usize = 4096;
    /// Timers a script may have at once.
    pub const TIMERS: usize = 64;
    /// The shortest interval of a periodic timer, in nanoseconds.
    pub const MIN_INTERVAL_NANOS: u64 = 1_000_000;
    /// The longest key, in bytes.
    pub const KEY_BYTES: usize = 1024;
    /// The largest value, in bytes.
    pub const VALUE_BYTES: usize = 64 * 1024;
    /// The key-value store's size, keys and values together, in bytes.
    pub const STORE_BYTES: usize = 1024 * 1024;
}

/// A message in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender's id; empty for a timer's firing.
    pub from: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What a script asked of the world, in the order it asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outgoing {
    /// A message to the script `to`.
    Message {
        /// The receiver's id.
        to: String,
        /// The body.
        body: Vec<u8>,
    },
    /// A new script, `id`, from the module the embedder knows as `module`.
    Spawn {
        /// The new script's id, chosen by the host when it was asked.
        id: String,
        /// The module's name.
        module: String,
        /// The command line, the program name first.
        args: Vec<String>,
    },
}

/// A timer, on the script's monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Its id, as `timer_set` returned it.
    pub id: u32,
    /// When it fires next, in nanoseconds.
    pub deadline: u64,
    /// Its period, 0 for a one-shot timer.
    pub interval: u64,
    /// The body of its firings.
    pub tag: u64,
}

/// The API's part of a script's state (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiState {
    /// Messages delivered and not yet received, oldest first.
    pub inbox: VecDeque<Message>,
    /// Messages sent and scripts spawned, not yet taken by the embedder.
    pub outbox: Vec<Outgoing>,
    /// The running timers.
    pub timers: Vec<Timer>,
    /// The id of the next timer.
    pub next_timer: u32,
    /// How many scripts this one has spawned.
    pub spawned: u32,
    /// The key-value store.
    pub store: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Messages dropped because the mailbox was full.
    pub dropped: u64,
}

impl ApiState {
    /// When the earliest timer fires, if there is one.
    pub fn next_timer_deadline(&self) -> Option<u64> {
        self.timers.iter().map(|t| t.deadline).min()
    }

    /// Puts a message into the mailbox; a full mailbox drops it (and counts
    /// it) and returns `false`.
    pub fn deliver(&mut self, message: Message) -> bool {
        if self.inbox.len() >= limits::MAILBOX {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        self.inbox.push_back(message);
        true
    }

    /// Moves the firings of every timer due at `now` into the mailbox, in
    /// the order they fire. A periodic timer that missed several periods
    /// (its script was busy or on disk) fires once for them.
    fn fire_timers(&mut self, now: u64) {
        while let Some(i) = (0..self.timers.len())
            .filter(|&i| self.timers[i].deadline <= now)
            .min_by_key(|&i| (self.timers[i].deadline, self.timers[i].id))
        {
            let timer = self.timers[i];
            self.deliver(Message {
                from: String::new(),
                body: timer.tag.to_le_bytes().to_vec(),
            });
            match (now - timer.deadline).checked_div(timer.interval) {
                None => {
                    self.timers.remove(i);
                }
                Some(missed) => {
                    let periods = missed.saturating_add(1);
                    self.timers[i].deadline = timer
                        .deadline
                        .saturating_add(periods.saturating_mul(timer.interval));
                }
            }
        }
    }

    /// Checks a state that came from outside (a snapshot) against the
    /// API's limits.
    pub fn check(&self) -> std::result::Result<(), String> {
        let too_big = |m: &[u8]| m.len() > limits::MESSAGE_BYTES;
        if self.inbox.len() > limits::MAILBOX {
            return Err(format!(
                "its mailbox holds {} messages, over the limit of {}",
                self.inbox.len(),
                limits::MAILBOX
            ));
        }
        if self.outbox.len() > limits::OUTBOX {
            return Err(format!(
                "its outbox holds {} requests, over the limit of {}",
                self.outbox.len(),
                limits::OUTBOX
            ));
        }
        let oversized = self
            .inbox
            .iter()
            .any(|m| too_big(&m.body) || m.from.len() > limits::ID_BYTES)
            || self.outbox.iter().any(|o| match o {
                Outgoing::Message { to, body } => too_big(body) || to.len() > limits::ID_BYTES,
                Outgoing::Spawn { id, module, args } => {
                    id.len() > limits::ID_BYTES
                        || module.len() > limits::ID_BYTES
                        || args.iter().map(String::len).sum::<usize>() > limits::MESSAGE_BYTES
                }
            });
        if oversized {
            return Err("it holds a message or request over the size limits".into());
        }
        if self.timers.len() > limits::TIMERS {
            return Err(format!(
                "it has {} timers, over the limit of {}",
                self.timers.len(),
                limits::TIMERS
            ));
        }
        if self
            .timers
            .iter()
            .any(|t| t.interval != 0 && t.interval < limits::MIN_INTERVAL_NANOS)
        {
            return Err("it has a timer with an interval under 1 ms".into());
        }
        let keys_ok = self
            .store
            .iter()
            .all(|(k, v)| k.len() <= limits::KEY_BYTES && v.len() <= limits::VALUE_BYTES);
        if !keys_ok || self.store_bytes() > limits::STORE_BYTES {
            return Err("its key-value store is over the size limits".into());
        }
        Ok(())
    }

    /// The bytes the key-value store holds, keys and values together.
    pub fn store_bytes(&self) -> usize {
        self.store.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// Whether `module::name` is a function of the API.
pub fn provides(module: &str, name: &str) -> bool {
    module == MODULE && FUNCTIONS.contains(&name)
}

const FUNCTIONS: &[&str] = &[
    "log",
    "now",
    "sleep",
    "yield",
    "id",
    "send",
    "recv",
    "timer_set",
    "timer_cancel",
    "spawn",
    "kv_get",
    "kv_set",
    "kv_delete",
];

/// Runs `f` on the guest's memory and the host, turning a missing memory
/// into [`code::FAULT`].
fn with_guest(
    caller: &mut Caller<'_, Host>,
    f: impl FnOnce(&mut Guest<'_>, &mut Host) -> std::result::Result<i32, i32>,
) -> i32 {
    let Some(memory) = caller.data().memory else {
        return code::FAULT;
    };
    let (data, host) = memory.data_and_store_mut(caller);
    f(&mut Guest(data), host).unwrap_or_else(|code| code)
}

/// The bytes at `ptr .. ptr + len`.
fn bytes<'a>(g: &'a Guest<'_>, ptr: i32, len: i32) -> std::result::Result<&'a [u8], i32> {
    let len = u64::try_from(len).map_err(|_| code::INVAL)?;
    g.bytes(ptr as u32, len).map_err(|_| code::FAULT)
}

/// Checks that `ptr .. ptr + cap` is writable.
fn writable(g: &Guest<'_>, ptr: i32, cap: i32) -> std::result::Result<usize, i32> {
    let cap = u64::try_from(cap).map_err(|_| code::INVAL)?;
    g.range(ptr as u32, cap).map_err(|_| code::FAULT)?;
    Ok(cap as usize)
}

/// Copies as much of `data` as fits into `ptr .. ptr + cap`.
fn put_truncated(
    g: &mut Guest<'_>,
    ptr: i32,
    cap: i32,
    data: &[u8],
) -> std::result::Result<(), i32> {
    let cap = writable(g, ptr, cap)?;
    let n = data.len().min(cap);
    g.put(ptr as u32, &data[..n]).map_err(|_| code::FAULT)
}

/// A script id given by the guest.
fn script_id(g: &Guest<'_>, ptr: i32, len: i32) -> std::result::Result<String, i32> {
    let raw = bytes(g, ptr, len)?;
    if raw.len() > limits::ID_BYTES {
        return Err(code::TOOBIG);
    }
    match std::str::from_utf8(raw) {
        Ok(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(code::INVAL),
    }
}

fn length(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn monotonic(caller: &mut Caller<'_, Host>) -> u64 {
    clock(caller, CLOCK_MONOTONIC).unwrap_or(0)
}

/// Adds the API's functions to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Host>) -> Result<()> {
    let define = |e: wasmtime::Error| Error::engine("cannot define the weft host API", e);
    linker
        .func_wrap(MODULE, "log", log)
        .and_then(|l| {
            l.func_wrap(MODULE, "now", |mut c: Caller<'_, Host>| {
                monotonic(&mut c) as i64
            })
        })
        .and_then(|l| l.func_wrap(MODULE, "sleep", sleep))
        .and_then(|l| l.func_wrap(MODULE, "yield", yield_now))
        .and_then(|l| l.func_wrap(MODULE, "id", id))
        .and_then(|l| l.func_wrap(MODULE, "send", send))
        .and_then(|l| l.func_wrap(MODULE, "recv", recv))
        .and_then(|l| l.func_wrap(MODULE, "timer_set", timer_set))
        .and_then(|l| l.func_wrap(MODULE, "timer_cancel", timer_cancel))
        .and_then(|l| l.func_wrap(MODULE, "spawn", spawn))
        .and_then(|l| l.func_wrap(MODULE, "kv_get", kv_get))
        .and_then(|l| l.func_wrap(MODULE, "kv_set", kv_set))
        .and_then(|l| l.func_wrap(MODULE, "kv_delete", kv_delete))
        .map_err(define)?;
    Ok(())
}

/// `log(ptr, len)`: the bytes and a newline on standard output. Like a
/// WASI write, it ends with an interrupt check, so that a script that
/// only logs can still be paused.
fn log(mut caller: Caller<'_, Host>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    if let Some(Pending::Done(_)) = caller.data().state.pending {
        caller.data_mut().state.pending = None;
        return Ok(());
    }
    with_guest(&mut caller, |g, host| {
        let line = bytes(g, ptr, len)?;
        let out = &mut host.stdio.stdout;
        if out
            .write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .is_ok()
        {
            let counter = &mut host.state.stdout_bytes;
            *counter = counter.saturating_add(line.len() as u64 + 1);
        }
        Ok(0)
    });
    finish_slow_call(&mut caller, 0)?;
    Ok(())
}

/// `sleep(nanos)`: parks the script until its monotonic clock has moved on
/// by `nanos`. Resumed early, it parks again.
fn sleep(mut caller: Caller<'_, Host>, nanos: i64) -> wasmtime::Result<()> {
    let now = monotonic(&mut caller);
    let host = caller.data_mut();
    if let Some(Pending::Nap { deadline }) = host.state.pending.take() {
        if now < deadline && host.state.deterministic.is_none() {
            return suspend(&mut caller, Pending::Nap { deadline });
        }
        host.sleep_virtually(deadline.saturating_sub(now));
        return Ok(());
    }
    if nanos <= 0 {
        return Ok(());
    }
    let deadline = now.saturating_add(nanos as u64);
    suspend(&mut caller, Pending::Nap { deadline })
}

/// `yield()`: ends the slice.
fn yield_now(mut caller: Caller<'_, Host>) -> wasmtime::Result<()> {
    if caller.data_mut().state.pending.take() == Some(Pending::Yield) {
        return Ok(());
    }
    suspend(&mut caller, Pending::Yield)
}

/// `id(buf, cap) -> len`.
fn id(mut caller: Caller<'_, Host>, buf: i32, cap: i32) -> i32 {
    with_guest(&mut caller, |g, host| {
        let id = host.id.clone();
        put_truncated(g, buf, cap, id.as_bytes())?;
        Ok(length(id.len()))
    })
}

/// `send(to, to_len, msg, len) -> 0`.
fn send(mut caller: Caller<'_, Host>, to: i32, to_len: i32, msg: i32, len: i32) -> i32 {
    with_guest(&mut caller, |g, host| {
        let to = script_id(g, to, to_len)?;
        let body = bytes(g, msg, len)?;
        if body.len() > limits::MESSAGE_BYTES {
            return Err(code::TOOBIG);
        }
        let api = &mut host.state.api;
        if to == host.id {
            api.deliver(Message {
                from: to,
                body: body.to_vec(),
            });
            return Ok(0);
        }
        if api.outbox.len() >= limits::OUTBOX {
            return Err(code::FULL);
        }
        api.outbox.push(Outgoing::Message {
            to,
            body: body.to_vec(),
        });
        Ok(0)
    })
}

/// `recv(timeout_nanos, buf, cap, from, from_cap) -> len | TIMEDOUT`.
///
/// With no message, the script parks ([`Pending::Receive`]) until one is
/// delivered, a timer fires or the timeout passes; resumed, the same call
/// comes again and looks once more. In deterministic mode time does not
/// pass while a script is parked, so a receive with a timeout that finds
/// no message when it is resumed times out at once, on the virtual clock.
fn recv(
    mut caller: Caller<'_, Host>,
    timeout: i64,
    buf: i32,
    cap: i32,
    from: i32,
    from_cap: i32,
) -> wasmtime::Result<i32> {
    let now = monotonic(&mut caller);
    let pending = caller.data_mut().state.pending.take();
    let resumed = matches!(pending, Some(Pending::Receive { .. }));
    let deadline = match pending {
        Some(Pending::Receive { deadline }) => deadline,
        _ if timeout < 0 => None,
        _ => Some(now.saturating_add(timeout as u64)),
    };
    let mut park = false;
    let result = with_guest(&mut caller, |g, host| {
        writable(g, buf, cap)?;
        writable(g, from, from_cap)?;
        let api = &mut host.state.api;
        api.fire_timers(now);
        if let Some(message) = api.inbox.pop_front() {
            put_truncated(g, buf, cap, &message.body)?;
            let mut sender = message.from.into_bytes();
            sender.push(0);
            put_truncated(g, from, from_cap, &sender)?;
            return Ok(length(message.body.len()));
        }
        match deadline {
            Some(d) if now >= d => Err(code::TIMEDOUT),
            Some(d) if resumed && host.state.deterministic.is_some() => {
                host.sleep_virtually(d - now);
                Err(code::TIMEDOUT)
            }
            _ => {
                park = true;
                Ok(0)
            }
        }
    });
    if park {
        suspend(&mut caller, Pending::Receive { deadline })?;
    }
    Ok(result)
}

/// `timer_set(delay_nanos, interval_nanos, tag) -> id`.
fn timer_set(mut caller: Caller<'_, Host>, delay: i64, interval: i64, tag: i64) -> i32 {
    let now = monotonic(&mut caller);
    let api = &mut caller.data_mut().state.api;
    if delay < 0 || interval < 0 {
        return code::INVAL;
    }
    if api.timers.len() >= limits::TIMERS {
        return code::FULL;
    }
    let interval = match interval as u64 {
        0 => 0,
        i => i.max(limits::MIN_INTERVAL_NANOS),
    };
    let mut id = api.next_timer & i32::MAX as u32;
    while api.timers.iter().any(|t| t.id == id) {
        id = (id + 1) & i32::MAX as u32;
    }
    api.next_timer = (id + 1) & i32::MAX as u32;
    api.timers.push(Timer {
        id,
        deadline: now.saturating_add(delay as u64),
        interval,
        tag: tag as u64,
    });
    id as i32
}

/// `timer_cancel(id) -> 0 | NOTFOUND`.
fn timer_cancel(mut caller: Caller<'_, Host>, timer: i32) -> i32 {
    let timers = &mut caller.data_mut().state.api.timers;
    let before = timers.len();
    timers.retain(|t| i64::from(t.id) != i64::from(timer));
    if timers.len() < before {
        0
    } else {
        code::NOTFOUND
    }
}

/// `spawn(module, module_len, args, args_len, id, id_cap) -> id_len`.
fn spawn(
    mut caller: Caller<'_, Host>,
    module: i32,
    module_len: i32,
    args: i32,
    args_len: i32,
    id: i32,
    id_cap: i32,
) -> i32 {
    with_guest(&mut caller, |g, host| {
        let Some(spawnable) = host.spawnable.clone() else {
            return Err(code::NOTSUP);
        };
        let module = script_id(g, module, module_len)?;
        let raw = bytes(g, args, args_len)?;
        let mut args: Vec<String> = match std::str::from_utf8(raw) {
            Ok("") => Vec::new(),
            Ok(s) => s
                .strip_suffix('\0')
                .unwrap_or(s)
                .split('\0')
                .map(String::from)
                .collect(),
            Err(_) => return Err(code::INVAL),
        };
        if args.is_empty() {
            args.push(module.clone());
        }
        writable(g, id, id_cap)?;
        if !spawnable(&module) {
            return Err(code::NOTFOUND);
        }
        let api = &mut host.state.api;
        if api.outbox.len() >= limits::OUTBOX {
            return Err(code::FULL);
        }
        let n = api.spawned.saturating_add(1);
        let new_id = format!("{}.{n}", host.id);
        if new_id.len() > limits::ID_BYTES {
            return Err(code::TOOBIG);
        }
        api.spawned = n;
        api.outbox.push(Outgoing::Spawn {
            id: new_id.clone(),
            module,
            args,
        });
        put_truncated(g, id, id_cap, new_id.as_bytes())?;
        Ok(length(new_id.len()))
    })
}

/// `kv_get(key, key_len, buf, cap) -> len | NOTFOUND`.
fn kv_get(mut caller: Caller<'_, Host>, key: i32, key_len: i32, buf: i32, cap: i32) -> i32 {
    with_guest(&mut caller, |g, host| {
        let key = bytes(g, key, key_len)?;
        let value = host.state.api.store.get(key).ok_or(code::NOTFOUND)?.clone();
        put_truncated(g, buf, cap, &value)?;
        Ok(length(value.len()))
    })
}

/// `kv_set(key, key_len, value, value_len) -> 0 | TOOBIG | FULL`.
fn kv_set(mut caller: Caller<'_, Host>, key: i32, key_len: i32, value: i32, value_len: i32) -> i32 {
    with_guest(&mut caller, |g, host| {
        let key = bytes(g, key, key_len)?;
        let value = bytes(g, value, value_len)?;
        if key.len() > limits::KEY_BYTES || value.len() > limits::VALUE_BYTES {
            return Err(code::TOOBIG);
        }
        let store = &mut host.state.api.store;
        let replaced = store.get(key).map_or(0, |old| key.len() + old.len());
        let after = host.store_bytes.saturating_sub(replaced) + key.len() + value.len();
        if after > limits::STORE_BYTES {
            return Err(code::FULL);
        }
        store.insert(key.to_vec(), value.to_vec());
        host.store_bytes = after;
        Ok(0)
    })
}

/// `kv_delete(key, key_len) -> 0 | NOTFOUND`.
fn kv_delete(mut caller: Caller<'_, Host>, key: i32, key_len: i32) -> i32 {
    with_guest(&mut caller, |g, host| {
        let key = bytes(g, key, key_len)?;
        let old = host.state.api.store.remove(key).ok_or(code::NOTFOUND)?;
        host.store_bytes = host.store_bytes.saturating_sub(key.len() + old.len());
        Ok(0)
    })
}

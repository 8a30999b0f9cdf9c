//! The WASI preview1 subset scripts can import.
//!
//! weft implements this subset itself rather than using `wasmtime-wasi`,
//! because everything WASI keeps for a script (arguments, environment,
//! clocks, the random generator, which descriptors are closed, a sleep in
//! progress) must be part of the script's snapshot, and a sleep must
//! suspend the script instead of blocking its thread; `wasmtime-wasi` keeps
//! its state in host objects that cannot be serialized, and blocks.
//!
//! Provided: `args_*`, `environ_*`, `clock_res_get`, `clock_time_get`,
//! `random_get`, `fd_write` / `fd_read` on the standard streams,
//! `fd_fdstat_get`, `fd_seek`, `fd_pread` and `fd_pwrite` (the streams
//! are not seekable: `ESPIPE`) and `fd_close` on them, `fd_prestat_*` (no
//! preopened directories), `proc_exit`, `sched_yield` (a yield point) and
//! `poll_oneoff` (a clock subscription parks the script). Every other
//! preview1 function a module imports answers `ENOSYS`. A guest call never
//! makes the host trap or panic: bad pointers get `EFAULT`, bad arguments
//! `EINVAL` or `EBADF`. Only `proc_exit` ends the call, by design.

use crate::error::{Error, Result};
use crate::host::{Host, Pending};
use wasmtime::{Caller, FuncType, Linker, Val, ValType};
use weft_instrument::abi;

/// The import module of WASI preview1.
pub const MODULE: &str = "wasi_snapshot_preview1";

type Errno = i32;
const SUCCESS: Errno = 0;
const EBADF: Errno = 8;
const EFAULT: Errno = 21;
const EINVAL: Errno = 28;
const EIO: Errno = 29;
const ENOSYS: Errno = 52;
const ESPIPE: Errno = 70;

const CLOCK_REALTIME: i32 = 0;
pub(crate) const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_PROCESS_CPUTIME: i32 = 2;
const CLOCK_THREAD_CPUTIME: i32 = 3;

const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;
const RIGHT_POLL_FD_READWRITE: u64 = 1 << 27;

const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
const SUBSCRIPTION_SIZE: u64 = 48;
const EVENT_SIZE: u64 = 32;

/// The functions this module implements.
const PROVIDED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "random_get",
    "fd_write",
    "fd_read",
    "fd_fdstat_get",
    "fd_seek",
    "fd_pread",
    "fd_pwrite",
    "fd_close",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "proc_exit",
    "sched_yield",
    "poll_oneoff",
];

/// Whether `module::name` is a function this module implements.
pub fn provides(module: &str, name: &str) -> bool {
    module == MODULE && PROVIDED.contains(&name)
}

/// The script called `proc_exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the script exited with status {0}")]
pub(crate) struct Exit(pub i32);

/// Defines a preview1 function weft does not implement, answering `ENOSYS`.
pub(crate) fn define_unsupported(
    linker: &mut Linker<Host>,
    name: &str,
    ty: FuncType,
) -> Result<()> {
    let returns_errno =
        ty.results().len() == 1 && matches!(ty.results().next(), Some(ValType::I32));
    if !returns_errno {
        return Err(Error::UnknownImport {
            module: MODULE.into(),
            name: name.into(),
            kind: format!("a function {ty}, which is not a WASI preview1 signature"),
        });
    }
    linker
        .func_new(MODULE, name, ty, |_caller, _params, results| {
            results[0] = Val::I32(ENOSYS);
            Ok(())
        })
        .map_err(|e| Error::engine("cannot define an unsupported WASI function", e))?;
    Ok(())
}

/// Guest memory, with every access bounds-checked.
pub(crate) struct Guest<'a>(pub(crate) &'a mut [u8]);

impl Guest<'_> {
    pub(crate) fn range(&self, ptr: u32, len: u64) -> Result<std::ops::Range<usize>, Errno> {
        let start = u64::from(ptr);
        let end = start.checked_add(len).ok_or(EFAULT)?;
        if end > self.0.len() as u64 {
            return Err(EFAULT);
        }
        Ok(start as usize..end as usize)
    }

    pub(crate) fn bytes(&self, ptr: u32, len: u64) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&self.0[r])
    }

    pub(crate) fn bytes_mut(&mut self, ptr: u32, len: u64) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.0[r])
    }

    fn u16(&self, ptr: u32) -> Result<u16, Errno> {
        let b = self.bytes(ptr, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, ptr: u32) -> Result<u32, Errno> {
        let b = self.bytes(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&self, ptr: u32) -> Result<u64, Errno> {
        let mut word = [0; 8];
        word.copy_from_slice(self.bytes(ptr, 8)?);
        Ok(u64::from_le_bytes(word))
    }

    pub(crate) fn put(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        self.bytes_mut(ptr, bytes.len() as u64)?
            .copy_from_slice(bytes);
        Ok(())
    }

    fn put_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.put(ptr, &v.to_le_bytes())
    }

    fn put_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.put(ptr, &v.to_le_bytes())
    }

    /// The `(pointer, length)` pairs of an iovec array, checked to be in bounds.
    fn iovecs(&self, iovs: u32, count: u32) -> Result<Vec<(u32, u32)>, Errno> {
        self.range(iovs, u64::from(count) * 8)?;
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = iovs + i * 8;
            let (ptr, len) = (self.u32(at)?, self.u32(at + 4)?);
            self.range(ptr, u64::from(len))?;
            out.push((ptr, len));
        }
        Ok(out)
    }
}

/// Runs `f` on the guest's memory and the host state, turning a missing
/// memory or an out-of-bounds access into an errno.
fn with_memory(
    caller: &mut Caller<'_, Host>,
    f: impl FnOnce(&mut Guest<'_>, &mut Host) -> Result<(), Errno>,
) -> i32 {
    let Some(memory) = caller.data().memory else {
        return EFAULT;
    };
    let (data, host) = memory.data_and_store_mut(caller);
    match f(&mut Guest(data), host) {
        Ok(()) => SUCCESS,
        Err(errno) => errno,
    }
}

/// The fuel the script has used up to this host call.
pub(crate) fn fuel_used(caller: &mut Caller<'_, Host>) -> u64 {
    let host = caller.data();
    let (base, slice) = (host.fuel_base, host.slice_fuel);
    match host.fuel {
        Some(global) => {
            let remaining = global.get(&mut *caller).i64().unwrap_or(0);
            base.saturating_add(slice.saturating_sub(remaining).max(0) as u64)
        }
        None => base,
    }
}

pub(crate) fn clock(caller: &mut Caller<'_, Host>, id: i32) -> Result<u64, Errno> {
    let used = fuel_used(caller);
    let host = caller.data();
    match id {
        CLOCK_REALTIME => Ok(host.realtime(used)),
        CLOCK_MONOTONIC => Ok(host.monotonic(used)),
        CLOCK_PROCESS_CPUTIME | CLOCK_THREAD_CPUTIME => {
            Ok(used.saturating_mul(crate::host::NANOS_PER_FUEL))
        }
        _ => Err(EINVAL),
    }
}

/// Asks the instrumented module to unwind once this host call returns.
/// Ends a host call that may have taken long (a write to a slow stream,
/// a read that waited): if an interrupt was asked for meanwhile, the
/// script pauses right after the call, which returns `errno` when resumed
/// (see [`Pending::Done`]), so that even a script that checks only fuel
/// can be paused, killed or rescheduled at such a call.
pub(crate) fn finish_slow_call(caller: &mut Caller<'_, Host>, errno: i32) -> wasmtime::Result<i32> {
    let asked = caller.data().state_memory.is_some_and(|m| {
        let at = abi::FLAG_OFFSET as usize;
        m.data(&*caller)
            .get(at..at + 4)
            .is_some_and(|w| w != [0, 0, 0, 0])
    });
    if asked {
        suspend(caller, Pending::Done(errno))?;
    }
    Ok(errno)
}

/// The result of a host call resumed after [`finish_slow_call`] paused the
/// script, if this is one.
pub(crate) fn resumed_result(caller: &mut Caller<'_, Host>) -> Option<i32> {
    match caller.data().state.pending {
        Some(Pending::Done(errno)) => {
            caller.data_mut().state.pending = None;
            Some(errno)
        }
        _ => None,
    }
}

pub(crate) fn suspend(caller: &mut Caller<'_, Host>, pending: Pending) -> wasmtime::Result<()> {
    let Some(state) = caller.data().control_state else {
        wasmtime::bail!("the script's control state is not bound");
    };
    state.set(&mut *caller, Val::I32(abi::STATE_UNWINDING))?;
    caller.data_mut().state.pending = Some(pending);
    Ok(())
}

fn strings_sizes(strings: &[String]) -> (u32, u32) {
    let bytes: usize = strings.iter().map(|s| s.len() + 1).sum();
    (strings.len() as u32, bytes as u32)
}

fn put_strings(g: &mut Guest<'_>, list: u32, buf: u32, strings: &[String]) -> Result<(), Errno> {
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        g.put_u32(list.checked_add(i as u32 * 4).ok_or(EFAULT)?, at)?;
        g.put(at, s.as_bytes())?;
        at = at.checked_add(s.len() as u32).ok_or(EFAULT)?;
        g.put(at, &[0])?;
        at = at.checked_add(1).ok_or(EFAULT)?;
    }
    Ok(())
}

fn env_strings(host: &Host) -> Vec<String> {
    host.state
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

fn is_open(host: &Host, fd: i32) -> bool {
    (0..3).contains(&fd) && !host.state.closed[fd as usize]
}

/// Adds `{prefix}_sizes_get` and `{prefix}_get`, which hand the guest the
/// strings `strings` returns as a list of NUL-terminated strings.
fn add_string_list(
    linker: &mut Linker<Host>,
    prefix: &str,
    strings: fn(&Host) -> Vec<String>,
) -> Result<()> {
    let define = |e: wasmtime::Error| Error::engine("cannot define the WASI functions", e);
    linker
        .func_wrap(
            MODULE,
            &format!("{prefix}_sizes_get"),
            move |mut caller: Caller<'_, Host>, count: u32, size: u32| -> i32 {
                with_memory(&mut caller, |g, host| {
                    let (n, bytes) = strings_sizes(&strings(host));
                    g.put_u32(count, n)?;
                    g.put_u32(size, bytes)
                })
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            &format!("{prefix}_get"),
            move |mut caller: Caller<'_, Host>, list: u32, buf: u32| -> i32 {
                with_memory(&mut caller, |g, host| {
                    put_strings(g, list, buf, &strings(host))
                })
            },
        )
        .map_err(define)?;
    Ok(())
}

/// Adds the WASI functions to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Host>) -> Result<()> {
    let define = |e: wasmtime::Error| Error::engine("cannot define the WASI functions", e);
    add_string_list(linker, "args", |host| host.state.args.clone())?;
    add_string_list(linker, "environ", env_strings)?;
    linker
        .func_wrap(
            MODULE,
            "clock_res_get",
            |mut caller: Caller<'_, Host>, id: i32, out: u32| -> i32 {
                if !(0..=3).contains(&id) {
                    return EINVAL;
                }
                with_memory(&mut caller, |g, _| g.put_u64(out, 1))
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "clock_time_get",
            |mut caller: Caller<'_, Host>, id: i32, _precision: i64, out: u32| -> i32 {
                match clock(&mut caller, id) {
                    Ok(now) => with_memory(&mut caller, |g, _| g.put_u64(out, now)),
                    Err(errno) => errno,
                }
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "random_get",
            |mut caller: Caller<'_, Host>, buf: u32, len: u32| -> i32 {
                with_memory(&mut caller, |g, host| {
                    host.random(g.bytes_mut(buf, u64::from(len))?);
                    Ok(())
                })
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "fd_write",
            |mut caller: Caller<'_, Host>,
             fd: i32,
             iovs: u32,
             count: u32,
             written: u32|
             -> wasmtime::Result<i32> {
                if let Some(errno) = resumed_result(&mut caller) {
                    return Ok(errno);
                }
                let errno = with_memory(&mut caller, |g, host| {
                    if fd == 0 || !is_open(host, fd) {
                        return Err(EBADF);
                    }
                    let mut total: u64 = 0;
                    for (ptr, len) in g.iovecs(iovs, count)? {
                        let bytes = g.bytes(ptr, u64::from(len))?;
                        let sink = if fd == 1 {
                            &mut host.stdio.stdout
                        } else {
                            &mut host.stdio.stderr
                        };
                        sink.write_all(bytes).map_err(|_| EIO)?;
                        total += u64::from(len);
                    }
                    // The counters come from the host state, which a
                    // snapshot may have set to anything.
                    let counter = if fd == 1 {
                        &mut host.state.stdout_bytes
                    } else {
                        &mut host.state.stderr_bytes
                    };
                    *counter = counter.saturating_add(total);
                    g.put_u32(written, total as u32)
                });
                finish_slow_call(&mut caller, errno)
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "fd_read",
            |mut caller: Caller<'_, Host>,
             fd: i32,
             iovs: u32,
             count: u32,
             read: u32|
             -> wasmtime::Result<i32> {
                if let Some(errno) = resumed_result(&mut caller) {
                    return Ok(errno);
                }
                let errno = with_memory(&mut caller, |g, host| {
                    if fd != 0 || !is_open(host, fd) {
                        return Err(EBADF);
                    }
                    // Like read(2): fills the first buffer that has room.
                    let mut got = 0;
                    if let Some((ptr, len)) =
                        g.iovecs(iovs, count)?.into_iter().find(|(_, len)| *len > 0)
                    {
                        let buf = g.bytes_mut(ptr, u64::from(len))?;
                        got = host.stdio.stdin.read(buf).map_err(|_| EIO)?;
                    }
                    g.put_u32(read, got as u32)
                });
                finish_slow_call(&mut caller, errno)
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "fd_fdstat_get",
            |mut caller: Caller<'_, Host>, fd: i32, out: u32| -> i32 {
                with_memory(&mut caller, |g, host| {
                    if !is_open(host, fd) {
                        return Err(EBADF);
                    }
                    let rights = RIGHT_POLL_FD_READWRITE
                        | if fd == 0 {
                            RIGHT_FD_READ
                        } else {
                            RIGHT_FD_WRITE
                        };
                    let mut stat = [0u8; 24];
                    stat[0] = FILETYPE_CHARACTER_DEVICE;
                    stat[8..16].copy_from_slice(&rights.to_le_bytes());
                    g.put(out, &stat)
                })
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "fd_seek",
            |caller: Caller<'_, Host>, fd: i32, _offset: i64, _whence: i32, _out: u32| -> i32 {
                if is_open(caller.data(), fd) {
                    ESPIPE
                } else {
                    EBADF
                }
            },
        )
        .map_err(define)?;
    // Positioned reads and writes: the standard streams are not seekable
    // (a caller such as Zig's file writer then falls back to streaming).
    for name in ["fd_pread", "fd_pwrite"] {
        linker
            .func_wrap(
                MODULE,
                name,
                |caller: Caller<'_, Host>,
                 fd: i32,
                 _iovs: u32,
                 _count: u32,
                 _offset: i64,
                 _out: u32|
                 -> i32 {
                    if is_open(caller.data(), fd) {
                        ESPIPE
                    } else {
                        EBADF
                    }
                },
            )
            .map_err(define)?;
    }
    linker
        .func_wrap(
            MODULE,
            "fd_close",
            |mut caller: Caller<'_, Host>, fd: i32| -> i32 {
                let host = caller.data_mut();
                if !is_open(host, fd) {
                    return EBADF;
                }
                host.state.closed[fd as usize] = true;
                SUCCESS
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "fd_prestat_get",
            |_: Caller<'_, Host>, _fd: i32, _out: u32| -> i32 { EBADF },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "fd_prestat_dir_name",
            |_: Caller<'_, Host>, _fd: i32, _path: u32, _len: u32| -> i32 { EBADF },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "proc_exit",
            |_: Caller<'_, Host>, code: i32| -> wasmtime::Result<()> {
                Err(wasmtime::Error::new(Exit(code)))
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(
            MODULE,
            "sched_yield",
            |mut caller: Caller<'_, Host>| -> wasmtime::Result<i32> {
                if caller.data_mut().state.pending.take() == Some(Pending::Yield) {
                    return Ok(SUCCESS);
                }
                suspend(&mut caller, Pending::Yield)?;
                Ok(SUCCESS)
            },
        )
        .map_err(define)?;
    linker
        .func_wrap(MODULE, "poll_oneoff", poll_oneoff)
        .map_err(define)?;
    Ok(())
}

/// One subscription of `poll_oneoff`.
enum Subscription {
    /// Fires at `deadline` on the monotonic clock.
    Clock { userdata: u64, deadline: u64 },
    /// Ready at once (the standard streams never block a script).
    Fd { userdata: u64, kind: u8 },
}

fn read_subscriptions(
    g: &Guest<'_>,
    at: u32,
    count: u32,
    now_monotonic: u64,
    now_realtime: u64,
) -> Result<Vec<Subscription>, Errno> {
    g.range(at, u64::from(count) * SUBSCRIPTION_SIZE)?;
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let s = at + i * SUBSCRIPTION_SIZE as u32;
        let userdata = g.u64(s)?;
        let tag = g.bytes(s + 8, 1)?[0];
        match tag {
            EVENTTYPE_CLOCK => {
                let id = g.u32(s + 16)? as i32;
                let timeout = g.u64(s + 24)?;
                let flags = g.u16(s + 40)?;
                let deadline = if flags & SUBCLOCKFLAGS_ABSTIME == 0 {
                    now_monotonic.saturating_add(timeout)
                } else {
                    match id {
                        CLOCK_MONOTONIC => timeout,
                        CLOCK_REALTIME => {
                            now_monotonic.saturating_add(timeout.saturating_sub(now_realtime))
                        }
                        _ => return Err(EINVAL),
                    }
                };
                out.push(Subscription::Clock { userdata, deadline });
            }
            EVENTTYPE_FD_READ | EVENTTYPE_FD_WRITE => out.push(Subscription::Fd {
                userdata,
                kind: tag,
            }),
            _ => return Err(EINVAL),
        }
    }
    Ok(out)
}

fn put_event(
    g: &mut Guest<'_>,
    out: u32,
    index: u32,
    userdata: u64,
    kind: u8,
) -> Result<(), Errno> {
    let mut event = [0u8; EVENT_SIZE as usize];
    event[0..8].copy_from_slice(&userdata.to_le_bytes());
    event[10] = kind;
    g.put(out + index * EVENT_SIZE as u32, &event)
}

/// `poll_oneoff`: standard-stream subscriptions are ready at once; otherwise
/// the script sleeps until its earliest clock subscription by suspending
/// (parking), not by blocking the thread. On the rewind the same call comes
/// again and completes from the recorded [`Pending::Sleep`].
fn poll_oneoff(
    mut caller: Caller<'_, Host>,
    subscriptions: u32,
    events: u32,
    count: u32,
    nevents: u32,
) -> wasmtime::Result<i32> {
    if count == 0 {
        return Ok(EINVAL);
    }
    let used = fuel_used(&mut caller);
    let (now, realtime) = (caller.data().monotonic(used), caller.data().realtime(used));
    let pending = caller.data_mut().state.pending.take();
    let mut decided = None;
    let errno = with_memory(&mut caller, |g, host| {
        g.range(events, u64::from(count) * EVENT_SIZE)?;
        g.range(nevents, 4)?;
        if let Some(Pending::Sleep {
            deadline,
            subscription,
        }) = pending
        {
            if now < deadline && host.state.deterministic.is_none() {
                // Resumed before the deadline: sleep on.
                decided = Some(pending);
                return Ok(());
            }
            host.sleep_virtually(deadline.saturating_sub(now));
            // `subscription` comes from the host state, which a snapshot
            // may have tampered with: the offset must not overflow.
            let at = subscription
                .checked_mul(SUBSCRIPTION_SIZE as u32)
                .and_then(|offset| subscriptions.checked_add(offset))
                .ok_or(EFAULT)?;
            let userdata = g.u64(at)?;
            put_event(g, events, 0, userdata, EVENTTYPE_CLOCK)?;
            return g.put_u32(nevents, 1);
        }
        let subs = read_subscriptions(g, subscriptions, count, now, realtime)?;
        let mut ready = 0;
        for s in &subs {
            if let Subscription::Fd { userdata, kind } = s {
                put_event(g, events, ready, *userdata, *kind)?;
                ready += 1;
            }
        }
        let earliest = subs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Subscription::Clock { deadline, userdata } => {
                    Some((*deadline, i as u32, *userdata))
                }
                Subscription::Fd { .. } => None,
            })
            .min();
        match earliest {
            Some((deadline, i, userdata)) if ready == 0 => {
                if deadline <= now {
                    put_event(g, events, 0, userdata, EVENTTYPE_CLOCK)?;
                    ready = 1;
                } else {
                    decided = Some(Some(Pending::Sleep {
                        deadline,
                        subscription: i,
                    }));
                    return Ok(());
                }
            }
            _ => {}
        }
        g.put_u32(nevents, ready)
    });
    if let Some(Some(sleep)) = decided {
        suspend(&mut caller, sleep)?;
    }
    Ok(errno)
}

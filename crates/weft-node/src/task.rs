//! A [`Script`] as a [`weft_sched::Task`]: the scheduler runs it in slices,
//! interrupts it through its flag, and hibernates it to a compressed
//! snapshot when it is idle.

use crate::world::Link;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use weft_runtime::{
    Budget, InterruptHandle, Runtime, Script, ScriptModule, Status, Stdio, Wake as ScriptWake,
};
use weft_sched::{Interrupt, Next, Slice, SliceEnd, Task, Wake};

/// Where a script's standard streams go when it comes back from
/// hibernation (a restored script gets fresh streams).
pub type StdioFactory = Arc<dyn Fn() -> Stdio + Send + Sync>;

/// A script run by the scheduler.
pub struct ScriptTask {
    runtime: Arc<Runtime>,
    module: Arc<ScriptModule>,
    state: State,
    stdio: StdioFactory,
    /// The interrupt handle of the live instance, swapped when the script
    /// comes back from hibernation.
    interrupter: Arc<Flag>,
    /// The script's place in a [`World`](crate::World), if it has one.
    pub(crate) link: Option<Link>,
    /// When the world last took a checkpoint of it.
    checkpointed: Option<Instant>,
    /// Whether it ran since.
    dirty: bool,
}

enum State {
    Live(Box<Script>),
    /// The snapshot, zstd-compressed.
    Hibernated(Vec<u8>),
    /// What is left after a failure to restore (reported as the exit).
    Broken,
}

/// The scheduler's view of a script's interrupt flag.
#[derive(Default)]
struct Flag(Mutex<Option<InterruptHandle>>);

impl Interrupt for Flag {
    fn interrupt(&self) {
        if let Some(handle) = &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            handle.interrupt();
        }
    }

    fn reset(&self) {
        if let Some(handle) = &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            handle.clear();
        }
    }
}

impl ScriptTask {
    /// Wraps a spawned (or restored) script. `stdio` gives the streams of
    /// the script each time it comes back from hibernation.
    pub fn new(runtime: Arc<Runtime>, script: Script, stdio: StdioFactory) -> ScriptTask {
        let flag = Flag(Mutex::new(Some(script.interrupt_handle())));
        ScriptTask {
            runtime,
            module: script.module().clone(),
            state: State::Live(Box::new(script)),
            stdio,
            interrupter: Arc::new(flag),
            link: None,
            checkpointed: None,
            dirty: true,
        }
    }

    /// The live script, restoring it from hibernation if needed.
    pub fn script(&mut self) -> Result<&mut Script, String> {
        if let State::Hibernated(bytes) = &self.state {
            let restored = restore(&self.runtime, &self.module, bytes, (self.stdio)());
            match restored {
                Ok(mut script) => {
                    *self.interrupter.0.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(script.interrupt_handle());
                    if let Some(link) = &self.link {
                        script.set_spawnable(link.spawnable.clone());
                    }
                    self.state = State::Live(Box::new(script));
                }
                Err(e) => {
                    self.state = State::Broken;
                    return Err(e);
                }
            }
        }
        match &mut self.state {
            State::Live(script) => Ok(script),
            State::Hibernated(_) => unreachable!("restored above"),
            State::Broken => Err("the script could not be restored".into()),
        }
    }

    /// Takes the script out (restoring it if hibernated), for a caller that
    /// snapshots or drops it.
    pub fn into_script(mut self) -> Result<Script, String> {
        self.script()?;
        match std::mem::replace(&mut self.state, State::Broken) {
            State::Live(script) => Ok(*script),
            _ => Err("the script could not be restored".into()),
        }
    }

    /// If the world asked for this script to leave, captures it, hands the
    /// snapshot over and ends the task.
    fn evict_if_asked(&mut self) -> Option<SliceEnd> {
        let link = self.link.clone()?;
        let reply = link.take_eviction()?;
        let captured = self.script().and_then(|script| {
            // The mail waiting in the world goes with it.
            link.collect_mail(script);
            script.flush();
            script
                .snapshot()
                .map_err(|e| format!("cannot capture the script: {e}"))
        });
        let end = match &captured {
            Ok(_) => SliceEnd::finished(0, crate::world::EVICTED),
            // The script stays where it is; the caller gets the error.
            Err(_) => SliceEnd::runnable(0),
        };
        let _ = reply.send(captured);
        Some(end)
    }

    /// Hands the script to the world's checkpoint sink.
    fn checkpoint(&mut self, link: &Link) {
        let Some(policy) = link.checkpoints() else {
            return;
        };
        if let Ok(script) = self.script() {
            (policy.sink)(link.id(), script);
            self.checkpointed = Some(Instant::now());
            self.dirty = false;
        }
    }

    /// The hibernated snapshot's size, if the script is hibernated.
    pub fn hibernated_bytes(&self) -> Option<usize> {
        match &self.state {
            State::Hibernated(bytes) => Some(bytes.len()),
            _ => None,
        }
    }
}

fn restore(
    runtime: &Runtime,
    module: &Arc<ScriptModule>,
    bytes: &[u8],
    stdio: Stdio,
) -> Result<Script, String> {
    let snapshot = weft_snapshot::decode(bytes, &Default::default())
        .map_err(|e| format!("the hibernated snapshot does not decode: {e}"))?;
    Script::restore(runtime, module, &snapshot, None, stdio)
        .map_err(|e| format!("the hibernated script does not restore: {e}"))
}

impl Task for ScriptTask {
    fn run(&mut self, slice: &Slice) -> SliceEnd {
        if let Some(end) = self.evict_if_asked() {
            return end;
        }
        let link = self.link.clone();
        if let Some(link) = &link
            && link.take_checkpoint_request()
            && self.dirty
        {
            self.checkpoint(link);
        }
        let script = match self.script() {
            Ok(script) => script,
            Err(e) => return SliceEnd::finished(0, e),
        };
        if let Some(link) = &link {
            link.collect_mail(script);
        }
        let checks_fuel = script.module().info().config.checks_fuel();
        let budget = match slice.fuel {
            Some(fuel) if checks_fuel => Budget::Fuel(fuel.max(1)),
            // Without a measured rate, a fuel-checking script runs a small
            // first slice; a flag-checking one is ended by the deadline.
            None if checks_fuel => Budget::Fuel(FIRST_SLICE_FUEL),
            _ => Budget::Unlimited,
        };
        let before = script.accounting().fuel_used;
        let status = match script.run(budget) {
            Ok(status) => status.clone(),
            Err(e) => return SliceEnd::finished(0, format!("error: {e}")),
        };
        let fuel_used = script.accounting().fuel_used.saturating_sub(before);
        if let Some(link) = &link {
            link.dispatch(script);
        }
        let runnable = status.is_runnable();
        let next = match status {
            Status::Paused | Status::Created => Next::Runnable,
            Status::Parked(ScriptWake::At(_)) => {
                let wait = script.park_remaining().unwrap_or_default();
                Next::Park(Wake::At(Instant::now() + wait))
            }
            Status::Parked(ScriptWake::Message { .. })
                if script.has_mail() || link.as_ref().is_some_and(Link::has_mail) =>
            {
                Next::Runnable
            }
            Status::Parked(ScriptWake::Message { deadline: None }) => Next::Park(Wake::Message),
            Status::Parked(ScriptWake::Message { deadline: Some(_) }) => {
                let wait = script.park_remaining().unwrap_or_default();
                match Instant::now().checked_add(wait) {
                    Some(at) => Next::Park(Wake::MessageOrAt(at)),
                    None => Next::Park(Wake::Message),
                }
            }
            Status::Exited(code) => Next::Finished(format!("exited with status {code}")),
            Status::Trapped(trap) => Next::Finished(format!("trapped: {}", trap.message)),
            Status::Killed => Next::Finished("killed".into()),
            Status::Running => Next::Finished("still running after a slice".into()),
        };
        if let Some(link) = &link
            && runnable
        {
            self.dirty = true;
            let due = link.checkpoints().is_some_and(|policy| {
                self.checkpointed
                    .is_none_or(|at| at.elapsed() >= policy.every)
            });
            if due {
                self.checkpoint(link);
            }
        }
        SliceEnd { fuel_used, next }
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        Some(self.interrupter.clone())
    }

    fn hibernate(&mut self) -> Result<(), String> {
        let State::Live(script) = &mut self.state else {
            return Ok(());
        };
        script.flush();
        let snapshot = script
            .snapshot()
            .map_err(|e| format!("cannot capture the script: {e}"))?;
        let mut bytes = weft_snapshot::encode(&snapshot)
            .map_err(|e| format!("cannot encode the script: {e}"))?;
        // The encoder's buffer is sized for the uncompressed body.
        bytes.shrink_to_fit();
        *self.interrupter.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.state = State::Hibernated(bytes);
        Ok(())
    }

    fn is_hibernated(&self) -> bool {
        matches!(self.state, State::Hibernated(_))
    }

    fn memory_bytes(&self) -> u64 {
        match &self.state {
            State::Live(script) => script.memory_bytes(),
            State::Hibernated(bytes) => bytes.len() as u64,
            State::Broken => 0,
        }
    }
}

/// The fuel of a fuel-checking script's first slice, before its rate is
/// measured: well under a millisecond of most code.
pub const FIRST_SLICE_FUEL: u64 = 200_000;

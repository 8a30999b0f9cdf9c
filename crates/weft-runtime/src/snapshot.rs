//! Capturing a script into a [`Snapshot`] and restoring one.
//!
//! A snapshot taken by [`Script::snapshot`] holds the instance state the
//! instrumentation exports (memories, mutable globals, tables, dropped
//! segments, the state memory with the paused frames, the reference
//! stacks), the [`HostState`], the accounting and the metadata. Function
//! references are stored as positions in the module's
//! [`weft_instrument::abi::FUNCTIONS_TABLE`].
//!
//! [`Script::restore`] trusts nothing in it: [`Snapshot::validate`] checks
//! it against the module's shape and the limits, [`saved_frames`] checks
//! every frame in the state memory against the function it claims to
//! belong to, and the host state must agree with both. Whatever passes is
//! interpreted only by the sandboxed instance.

use crate::engine::{Runtime, module_hash, parse_instrumentation};
use crate::error::{Error, Result};
use crate::host::{HostState, Pending, Stdio};
use crate::module::ScriptModule;
use crate::script::{Script, Status, Wake};
use crate::state::{FunctionsTable, InstanceState, RefValue, StateValue};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::AsContextMut;
use weft_instrument::{ModuleInfo, abi};
use weft_snapshot::{Global, Limits, MemoryImage, Ref, Snapshot, Value};

/// One frame of a paused call stack, as its state memory holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFrame {
    /// The function index.
    pub function: u32,
    /// Its name, from the name section.
    pub name: Option<String>,
    /// Where in the function it resumes.
    pub resume_point: u32,
}

fn corrupt(message: String) -> Error {
    Error::Snapshot(weft_snapshot::Error::Mismatch(message))
}

/// The frames in a state memory (as a snapshot stores it: up to the top of
/// the frame stack), innermost first, each checked against `info`: a frame
/// must belong to an instrumented function, have that function's size and
/// resume at one of its resume points, and the frames must tile the stack
/// exactly.
pub fn saved_frames(state_memory: &[u8], info: &ModuleInfo) -> Result<Vec<SavedFrame>> {
    let base = abi::STACK_BASE as usize;
    let header = abi::FRAME_HEADER_SIZE as usize;
    if state_memory.len() < base {
        return Err(corrupt(format!(
            "the state memory has {} bytes, fewer than its {base}-byte header",
            state_memory.len()
        )));
    }
    let word = |at: usize| {
        u32::from_le_bytes([
            state_memory[at],
            state_memory[at + 1],
            state_memory[at + 2],
            state_memory[at + 3],
        ])
    };
    let mut frames = Vec::new();
    let mut top = state_memory.len();
    while top > base {
        let depth = frames.len();
        if top - base < header {
            return Err(corrupt(format!(
                "frame {depth} from the top is cut off: {} bytes left",
                top - base
            )));
        }
        let at = top - header;
        let (function, resume_point, size) = (word(at), word(at + 4), word(at + 12) as usize);
        let Some(f) = info.functions.get(function as usize) else {
            return Err(corrupt(format!(
                "frame {depth} from the top names function {function}, the module has {}",
                info.functions.len()
            )));
        };
        if f.imported || !f.instrumented {
            return Err(corrupt(format!(
                "frame {depth} from the top names function {function}, which cannot be paused"
            )));
        }
        if size != f.frame_size as usize || size > top - base {
            return Err(corrupt(format!(
                "frame {depth} from the top has size {size}, function {function}'s frames are {}",
                f.frame_size
            )));
        }
        if resume_point >= f.resume_points {
            return Err(corrupt(format!(
                "frame {depth} from the top resumes function {function} at point {resume_point}, \
                 it has {}",
                f.resume_points
            )));
        }
        frames.push(SavedFrame {
            function,
            name: f.name.clone(),
            resume_point,
        });
        top -= size;
    }
    // Pushed innermost first, so the top of the stack is the outermost.
    frames.reverse();
    Ok(frames)
}

/// Decodes the host state of a snapshot.
pub fn host_state(snapshot: &Snapshot) -> Result<HostState> {
    postcard::from_bytes(&snapshot.host).map_err(|e| {
        Error::Snapshot(weft_snapshot::Error::Corrupt(format!(
            "the host state does not decode: {e}"
        )))
    })
}

impl Runtime {
    /// Loads the module a snapshot carries ([`Snapshot::wasm`]), with the
    /// instrumentation it was taken with, after checking that the bytes
    /// are the module the snapshot names.
    pub fn load_snapshot_module(&self, snapshot: &Snapshot) -> Result<Arc<ScriptModule>> {
        let wasm = carried_module(snapshot)?;
        self.load_with(
            wasm,
            &parse_instrumentation(&snapshot.module.instrumentation)?,
        )
    }
}

/// The original module a snapshot carries ([`Snapshot::wasm`]), checked to
/// be the module the snapshot names.
pub fn carried_module(snapshot: &Snapshot) -> Result<&[u8]> {
    let Some(wasm) = &snapshot.wasm else {
        return Err(Error::State(
            "the snapshot does not carry its module; give the module explicitly".into(),
        ));
    };
    if module_hash(wasm) != snapshot.module.hash {
        return Err(corrupt(
            "the module it carries is not the module it was taken from (hash mismatch)".into(),
        ));
    }
    Ok(wasm)
}

fn to_ref(module: &ScriptModule, r: RefValue) -> Result<Ref> {
    Ok(match r {
        RefValue::Null => Ref::Null,
        RefValue::Extern(id) => Ref::Extern(id),
        RefValue::Func(index) => Ref::Func(
            u32::try_from(index)
                .ok()
                .and_then(|i| module.function_slot(i))
                .ok_or_else(|| Error::State(format!("function {index} cannot be referenced")))?,
        ),
    })
}

fn from_ref(module: &ScriptModule, r: Ref) -> Result<RefValue> {
    Ok(match r {
        Ref::Null => RefValue::Null,
        Ref::Extern(id) => RefValue::Extern(id),
        Ref::Func(slot) => RefValue::Func(u64::from(
            *module
                .info()
                .referenceable_functions
                .get(slot as usize)
                .ok_or_else(|| corrupt(format!("function reference {slot} is out of range")))?,
        )),
    })
}

fn to_value(module: &ScriptModule, v: StateValue) -> Result<Value> {
    Ok(match v {
        StateValue::I32(x) => Value::I32(x),
        StateValue::I64(x) => Value::I64(x),
        StateValue::F32(x) => Value::F32(x),
        StateValue::F64(x) => Value::F64(x),
        StateValue::V128(x) => Value::V128(x),
        StateValue::Ref(r) => Value::Ref(to_ref(module, r)?),
    })
}

fn from_value(module: &ScriptModule, v: Value) -> Result<StateValue> {
    Ok(match v {
        Value::I32(x) => StateValue::I32(x),
        Value::I64(x) => StateValue::I64(x),
        Value::F32(x) => StateValue::F32(x),
        Value::F64(x) => StateValue::F64(x),
        Value::V128(x) => StateValue::V128(x),
        Value::Ref(r) => StateValue::Ref(from_ref(module, r)?),
    })
}

fn refs<'a>(
    module: &'a ScriptModule,
    list: impl IntoIterator<Item = &'a RefValue>,
) -> Result<Vec<Ref>> {
    list.into_iter().map(|r| to_ref(module, *r)).collect()
}

fn ref_values<'a>(
    module: &'a ScriptModule,
    list: impl IntoIterator<Item = &'a Ref>,
) -> Result<Vec<RefValue>> {
    list.into_iter().map(|r| from_ref(module, *r)).collect()
}

impl Script {
    /// Captures the script. It must be created, paused or parked (not in
    /// the middle of [`Script::run`], and not ended). The snapshot does not
    /// carry the module; set [`Snapshot::wasm`] to
    /// [`ScriptModule::original`] for one that can be resumed on its own.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        if !self.status.is_runnable() {
            return Err(Error::State(format!(
                "only a created, paused or parked script can be captured; this one is {:?}",
                self.status
            )));
        }
        if self.call.is_some() && !self.store.data().state.in_call {
            return Err(Error::State(
                "a launched function can be captured only while it is paused inside its call \
                 (its arguments are not part of a snapshot)"
                    .into(),
            ));
        }
        let engine = |e| Error::engine("cannot capture the script", e);
        let module = self.module.clone();
        let mut functions =
            FunctionsTable::new(self.store.as_context_mut(), &self.controls).map_err(engine)?;
        let state = self
            .controls
            .capture_with(self.store.as_context_mut(), &mut functions, false)
            .map_err(engine)?;
        let memories = self
            .controls
            .memories
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let data = m.data(&self.store);
                let initialized = module.initialized(i);
                match crate::untouched::touched_pages(data) {
                    Some(touched) => MemoryImage::from_pages(data, |p| {
                        touched[p as usize] || initialized.maybe_nonzero(p)
                    }),
                    None => MemoryImage::from_bytes(data),
                }
            })
            .collect();
        let globals = state
            .globals
            .iter()
            .map(|(index, v)| {
                Ok(Global {
                    index: *index,
                    value: to_value(&module, *v)?,
                })
            })
            .collect::<Result<_>>()?;
        let tables = state
            .tables
            .iter()
            .map(|t| refs(&module, t))
            .collect::<Result<_>>()?;
        let host = postcard::to_allocvec(&self.store.data().capture(self.accounting.fuel_used))
            .map_err(|e| Error::State(format!("cannot encode the host state: {e}")))?;
        Ok(Snapshot {
            module: module.id().clone(),
            memories,
            globals,
            tables,
            dropped_segments: state.dropped.iter().map(|w| *w as u64).collect(),
            state_memory: state.state_memory,
            control_state: state.control_state,
            fuel: state.fuel,
            funcref_stack: refs(&module, &state.funcref_stack)?,
            externref_stack: refs(&module, &state.externref_stack)?,
            accounting: self.accounting,
            host,
            meta: self.meta.clone(),
            wasm: None,
        })
    }

    /// The paused call stack, innermost frame first (empty unless the
    /// script is paused or parked inside a call).
    pub fn call_stack(&mut self) -> Result<Vec<SavedFrame>> {
        let sp = self.controls.sp(&mut self.store).max(0) as usize;
        let data = self.controls.state_memory.data(&self.store);
        let stack = data
            .get(..sp)
            .ok_or_else(|| Error::State("the frame stack pointer is out of bounds".into()))?;
        saved_frames(stack, self.module.info())
    }

    /// Restores a script from a snapshot of an instance of `module`,
    /// checking the snapshot against the module and against `limits` (the
    /// snapshot's own limits when `None`). The restored script is created,
    /// paused or parked, as it was when captured, and continues exactly
    /// where it stopped.
    pub fn restore(
        runtime: &Runtime,
        module: &Arc<ScriptModule>,
        snapshot: &Snapshot,
        limits: Option<Limits>,
        stdio: Stdio,
    ) -> Result<Script> {
        let limits = limits.unwrap_or(snapshot.meta.limits);
        snapshot.validate(module.shape(), &limits)?;
        let host = host_state(snapshot)?;
        host.api
            .check()
            .map_err(|e| Error::State(format!("the snapshot's host state is invalid: {e}")))?;
        let frames = saved_frames(&snapshot.state_memory, module.info())?;
        let expected_state = if frames.is_empty() {
            abi::STATE_NORMAL
        } else {
            abi::STATE_UNWINDING
        };
        if snapshot.control_state != expected_state || frames.is_empty() == host.in_call {
            return Err(corrupt(format!(
                "its control state {} and host state (call under way: {}) do not match its {} saved frames",
                snapshot.control_state,
                host.in_call,
                frames.len()
            )));
        }
        if host.call && !host.in_call {
            return Err(corrupt(
                "it is a launched function that is not inside its call".into(),
            ));
        }
        if host.deterministic.is_some() && !module.info().config.counts_fuel() {
            return Err(corrupt(
                "it is deterministic but the module does not count fuel".into(),
            ));
        }
        let mut meta = snapshot.meta.clone();
        meta.limits = limits;
        let in_call = host.in_call;
        let pending = host.pending;
        let mut script =
            Script::instantiate(runtime, module, host, meta, snapshot.accounting, stdio)?;
        let entry = script.store.data().state.entry as usize;
        if entry > script.entries.len() || (in_call && entry == script.entries.len()) {
            return Err(corrupt(format!(
                "it runs entry point {entry}, the module has {}",
                script.entries.len()
            )));
        }
        script.restore_memories(&snapshot.memories)?;
        let state = InstanceState {
            memories: Vec::new(),
            globals: snapshot
                .globals
                .iter()
                .map(|g| Ok((g.index, from_value(module, g.value)?)))
                .collect::<Result<_>>()?,
            tables: snapshot
                .tables
                .iter()
                .map(|t| ref_values(module, t))
                .collect::<Result<_>>()?,
            dropped: snapshot
                .dropped_segments
                .iter()
                .map(|w| *w as i64)
                .collect(),
            state_memory: snapshot.state_memory.clone(),
            control_state: snapshot.control_state,
            fuel: snapshot.fuel,
            funcref_stack: ref_values(module, &snapshot.funcref_stack)?,
            externref_stack: ref_values(module, &snapshot.externref_stack)?,
        };
        let mut functions = FunctionsTable::new(script.store.as_context_mut(), &script.controls)
            .map_err(|e| Error::engine("cannot restore the script", e))?;
        script
            .controls
            .restore_with(script.store.as_context_mut(), &state, &mut functions, false)
            .map_err(|e| corrupt(format!("{e:#}")))?;
        script.status = match (in_call, pending) {
            (true, Some(Pending::Sleep { deadline, .. })) => {
                Status::Parked(Wake::At(Duration::from_nanos(deadline)))
            }
            (true, _) => Status::Paused,
            (false, _) if entry == 0 && snapshot.accounting.fuel_used == 0 => Status::Created,
            (false, _) => Status::Paused,
        };
        Ok(script)
    }

    fn restore_memories(&mut self, images: &[MemoryImage]) -> Result<()> {
        for (i, (memory, image)) in self.controls.memories.iter().zip(images).enumerate() {
            let have = memory.size(&self.store);
            if have > image.pages {
                return Err(corrupt(format!(
                    "memory {i} has {} pages, fewer than the module starts with ({have})",
                    image.pages
                )));
            }
            if have < image.pages {
                memory
                    .grow(&mut self.store, image.pages - have)
                    .map_err(|e| {
                        corrupt(format!(
                            "memory {i} cannot grow to {} pages within the limits: {e:#}",
                            image.pages
                        ))
                    })?;
            }
            let initialized = self.module.initialized(i);
            image.write_over(memory.data_mut(&mut self.store), |p| {
                initialized.maybe_nonzero(p)
            })?;
        }
        Ok(())
    }
}

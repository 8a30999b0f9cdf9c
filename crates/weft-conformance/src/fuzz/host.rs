//! The host side of a generated module: every import gets a deterministic
//! definition, and imported functions may suspend the instrumented program.
//!
//! An imported function answers its `n`-th call (counting the calls of all
//! imports of the run) with values derived from the run seed, `n`, the
//! import and its arguments, so that the original and the instrumented run
//! see the same answers as long as they make the same calls. In the
//! instrumented run it may instead ask to suspend, following the protocol
//! of [`weft_instrument::abi`]: it sets the state global to
//! [`abi::STATE_UNWINDING`] and returns zeros; the rewind calls it again,
//! and then it gives the answer it would have given the first time.

use super::values::{digest_args, mix_all, null_of, value_of_type};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wasmtime::{
    AsContextMut, Caller, Extern, ExternType, Func, FuncType, Global, Memory, Module, Store, Val,
};
use wasmtime::{Result, bail};
use weft_instrument::abi;

/// One call of an imported function, as the program made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCall {
    /// The import index (among function imports).
    pub import: u32,
    /// A digest of the arguments.
    pub args: u64,
}

/// An import call that asked to suspend and awaits the rewind.
#[derive(Debug, Clone)]
struct Pending {
    call: HostCall,
    results: Vec<Val>,
}

/// How imports of the instrumented run interrupt the program.
#[derive(Debug)]
pub struct Interruptions {
    rng: SmallRng,
    /// Probability that an import call asks to suspend.
    pub suspend_probability: f64,
    /// Probability that an import call sets the interrupt flag on its way out.
    pub flag_probability: f64,
    /// Upper bound on the number of suspensions in one run.
    pub max_suspensions: u32,
    /// Suspensions so far.
    pub suspensions: u32,
    pending: Option<Pending>,
    state_global: Option<Global>,
    state_memory: Option<Memory>,
}

impl Interruptions {
    /// Interruptions drawn from `seed`.
    pub fn new(
        seed: u64,
        suspend_probability: f64,
        flag_probability: f64,
        max_suspensions: u32,
    ) -> Self {
        Interruptions {
            rng: SmallRng::seed_from_u64(seed),
            suspend_probability,
            flag_probability,
            max_suspensions,
            suspensions: 0,
            pending: None,
            state_global: None,
            state_memory: None,
        }
    }
}

/// The data of a store running a generated module.
#[derive(Debug)]
pub struct Host {
    seed: u64,
    calls: u64,
    /// The import calls made so far (the driver drains it after each call).
    pub log: Vec<HostCall>,
    /// Present in the instrumented run.
    pub interruptions: Option<Interruptions>,
    /// While set, imports do not suspend: the host itself is calling one
    /// directly, so there are no wasm frames to unwind.
    pub direct_call: bool,
    /// The first violation of the suspension protocol seen by an import.
    pub violation: Option<String>,
}

impl Host {
    /// The host of the original run.
    pub fn original(seed: u64) -> Self {
        Host {
            seed,
            calls: 0,
            log: Vec::new(),
            interruptions: None,
            direct_call: false,
            violation: None,
        }
    }

    /// The host of the instrumented run.
    pub fn instrumented(seed: u64, interruptions: Interruptions) -> Self {
        Host {
            interruptions: Some(interruptions),
            ..Host::original(seed)
        }
    }

    /// Points the imports at the control state of a (new) instrumented instance.
    pub fn attach(&mut self, state_global: Global, state_memory: Memory) {
        if let Some(i) = &mut self.interruptions {
            i.state_global = Some(state_global);
            i.state_memory = Some(state_memory);
        }
    }

    /// The number of import calls answered so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Whether an import call is waiting for the rewind.
    pub fn has_pending(&self) -> bool {
        self.interruptions
            .as_ref()
            .is_some_and(|i| i.pending.is_some())
    }

    /// Forgets a suspended call whose rewind will never come (the program trapped).
    pub fn abandon_pending(&mut self) {
        if let Some(i) = &mut self.interruptions {
            i.pending = None;
        }
    }

    fn answer(&self, import: u32, args: u64, ty: &FuncType) -> Vec<Val> {
        ty.results()
            .enumerate()
            .map(|(k, t)| {
                value_of_type(
                    &t,
                    mix_all(&[self.seed, self.calls, u64::from(import), args, k as u64]),
                )
            })
            .collect()
    }
}

fn write_zeros(ty: &FuncType, results: &mut [Val]) {
    for (slot, t) in results.iter_mut().zip(ty.results()) {
        *slot = match &t {
            wasmtime::ValType::Ref(r) => null_of(r.heap_type()),
            t => t.default_value().unwrap_or(Val::I32(0)),
        };
    }
}

fn import_call(
    mut caller: Caller<'_, Host>,
    import: u32,
    ty: &FuncType,
    args: &[Val],
    results: &mut [Val],
) -> Result<()> {
    let call = HostCall {
        import,
        args: digest_args(args),
    };
    let state = caller
        .data()
        .interruptions
        .as_ref()
        .and_then(|i| i.state_global)
        .and_then(|g| g.get(&mut caller).i32());
    if let Some(state) = state
        && state != abi::STATE_NORMAL
    {
        violation(
            &mut caller,
            format!("import {import} called in control state {state}"),
        );
        bail!("suspension protocol violated: import {import} called in control state {state}");
    }
    let pending = caller
        .data_mut()
        .interruptions
        .as_mut()
        .and_then(|i| i.pending.take());
    let answer = match pending {
        Some(p) if p.call == call => p.results,
        Some(p) => {
            let msg = format!(
                "after a suspension in import {} (arguments {:#x}) the rewind called import {} (arguments {:#x})",
                p.call.import, p.call.args, import, call.args
            );
            violation(&mut caller, msg.clone());
            bail!("suspension protocol violated: {msg}");
        }
        None => {
            let answer = caller.data().answer(import, call.args, ty);
            let direct = caller.data().direct_call;
            let suspend = match caller.data_mut().interruptions.as_mut() {
                Some(i)
                    if !direct && i.suspensions < i.max_suspensions && i.state_global.is_some() =>
                {
                    i.rng.random_bool(i.suspend_probability)
                }
                _ => false,
            };
            if suspend {
                let host = caller.data_mut();
                let Some(i) = host.interruptions.as_mut() else {
                    unreachable!("checked above")
                };
                i.suspensions += 1;
                i.pending = Some(Pending {
                    call,
                    results: answer,
                });
                let global = i.state_global;
                if let Some(g) = global {
                    g.set(&mut caller, Val::I32(abi::STATE_UNWINDING))?;
                }
                write_zeros(ty, results);
                return Ok(());
            }
            answer
        }
    };
    for (slot, v) in results.iter_mut().zip(answer) {
        *slot = v;
    }
    let host = caller.data_mut();
    host.calls += 1;
    host.log.push(call);
    let flag_memory = match host.interruptions.as_mut() {
        Some(i) if i.flag_probability > 0.0 => {
            let p = i.flag_probability;
            if i.rng.random_bool(p) {
                i.state_memory
            } else {
                None
            }
        }
        _ => None,
    };
    if let Some(memory) = flag_memory {
        let offset = abi::FLAG_OFFSET as usize;
        if let Some(word) = memory.data_mut(&mut caller).get_mut(offset..offset + 4) {
            word.copy_from_slice(&1u32.to_le_bytes());
        }
    }
    Ok(())
}

fn violation(caller: &mut Caller<'_, Host>, msg: String) {
    let host = caller.data_mut();
    if host.violation.is_none() {
        host.violation = Some(msg);
    }
}

/// Definitions for every import of `module`, in import order: functions
/// that call back into [`Host`], and default-valued globals, memories and
/// tables.
pub fn define_imports(store: &mut Store<Host>, module: &Module) -> Result<Vec<Extern>> {
    let mut out = Vec::new();
    let mut function_imports = 0u32;
    for import in module.imports() {
        let ty = import.ty();
        let definition = match ty {
            ExternType::Func(ty) => {
                let index = function_imports;
                function_imports += 1;
                let func_ty = ty.clone();
                Extern::Func(Func::new(&mut *store, ty, move |caller, args, results| {
                    import_call(caller, index, &func_ty, args, results)
                }))
            }
            other => other.default_value(store.as_context_mut())?,
        };
        out.push(definition);
    }
    Ok(out)
}

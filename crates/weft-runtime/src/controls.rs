//! Handles to the control state of one instrumented instance, and the
//! call / unwind / rewind protocol of [`weft_instrument::abi`].

use std::sync::Arc;
use wasmtime::{
    AsContextMut, Extern, ExternType, Func, Global, Instance, Memory, Module, ModuleExport, Result,
    Table, Val, bail, format_err,
};
use weft_instrument::{ModuleInfo, abi};

/// How a call into an instrumented module ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The call returned normally; its results are valid.
    Finished,
    /// The call stack was saved into the state memory; resume it with
    /// [`Controls::resume`].
    Unwound,
}

/// The exports through which a host controls one instrumented instance.
#[derive(Debug, Clone)]
pub struct Controls {
    pub(crate) info: Arc<ModuleInfo>,
    pub(crate) state: Global,
    pub(crate) fuel: Option<Global>,
    pub(crate) sp: Global,
    pub(crate) stack_base: i32,
    pub(crate) state_memory: Memory,
    pub(crate) funcref_stack: Option<(Table, Global)>,
    pub(crate) externref_stack: Option<(Table, Global)>,
    pub(crate) functions: Option<Table>,
    pub(crate) restore_segments: Option<Func>,
    pub(crate) memories: Vec<Memory>,
    pub(crate) globals: Vec<(u32, Global)>,
    pub(crate) tables: Vec<Table>,
    pub(crate) dropped: Vec<Global>,
}

/// Where the control exports of an instrumented module are, looked up by
/// name once per module so that each new instance finds its controls by
/// index ([`Controls::from_exports`]).
#[derive(Clone)]
pub struct ControlExports {
    state: ModuleExport,
    fuel: Option<ModuleExport>,
    sp: ModuleExport,
    state_memory: ModuleExport,
    funcref_stack: Option<(ModuleExport, ModuleExport)>,
    externref_stack: Option<(ModuleExport, ModuleExport)>,
    functions: Option<ModuleExport>,
    restore_segments: Option<ModuleExport>,
    memories: Vec<ModuleExport>,
    globals: Vec<(u32, ModuleExport)>,
    tables: Vec<ModuleExport>,
    dropped: Vec<ModuleExport>,
}

impl std::fmt::Debug for ControlExports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlExports")
            .field("memories", &self.memories.len())
            .field("globals", &self.globals.len())
            .field("tables", &self.tables.len())
            .finish_non_exhaustive()
    }
}

/// The export `name` of `module`, which must be of the kind `kind` (for the
/// error message: "global", "table", ...).
fn export(module: &Module, name: &str, kind: &str) -> Result<ModuleExport> {
    optional(module, name, kind)?
        .ok_or_else(|| format_err!("instrumented module has no {kind} export `{name}`"))
}

fn optional(module: &Module, name: &str, kind: &str) -> Result<Option<ModuleExport>> {
    let matches = match module.get_export(name) {
        None => return Ok(None),
        Some(ExternType::Global(_)) => kind == "global",
        Some(ExternType::Table(_)) => kind == "table",
        Some(ExternType::Memory(_)) => kind == "memory",
        Some(ExternType::Func(_)) => kind == "function",
        Some(_) => false,
    };
    if !matches {
        bail!("the export `{name}` of the instrumented module is not a {kind}");
    }
    Ok(module.get_export_index(name))
}

impl ControlExports {
    /// Looks up the control exports of `module`, instrumented with `info`.
    pub fn new(module: &Module, info: &ModuleInfo) -> Result<Self> {
        let global = |name: &str| export(module, name, "global");
        let stack = |table: &str, sp: &str| -> Result<Option<(ModuleExport, ModuleExport)>> {
            match optional(module, table, "table")? {
                Some(table) => Ok(Some((table, global(sp)?))),
                None => Ok(None),
            }
        };
        Ok(ControlExports {
            state: global(abi::STATE_GLOBAL)?,
            fuel: match info.config.counts_fuel() {
                true => Some(global(abi::FUEL_GLOBAL)?),
                false => None,
            },
            sp: global(abi::SP_GLOBAL)?,
            state_memory: export(module, abi::STATE_MEMORY, "memory")?,
            funcref_stack: stack(abi::FUNCREF_STACK_TABLE, abi::FUNCREF_SP_GLOBAL)?,
            externref_stack: stack(abi::EXTERNREF_STACK_TABLE, abi::EXTERNREF_SP_GLOBAL)?,
            functions: optional(module, abi::FUNCTIONS_TABLE, "table")?,
            restore_segments: optional(module, abi::RESTORE_SEGMENTS_EXPORT, "function")?,
            memories: (0..info.memories)
                .map(|m| export(module, &abi::memory_export(m), "memory"))
                .collect::<Result<_>>()?,
            globals: info
                .mutable_globals
                .iter()
                .map(|g| Ok((*g, global(&abi::global_export(*g))?)))
                .collect::<Result<_>>()?,
            tables: (0..info.tables)
                .map(|t| export(module, &abi::table_export(t), "table"))
                .collect::<Result<_>>()?,
            dropped: (0..info.dropped_globals)
                .map(|k| global(&abi::dropped_export(k)))
                .collect::<Result<_>>()?,
        })
    }
}

/// The instance's export at `index` as the kind `into` takes (`kind` names
/// it for the error; [`ControlExports::new`] checked the kinds).
fn get<E>(
    store: &mut impl AsContextMut,
    instance: &Instance,
    index: &ModuleExport,
    into: fn(Extern) -> Option<E>,
    kind: &str,
) -> Result<E> {
    let export = instance
        .get_module_export(&mut *store, index)
        .ok_or_else(|| {
            format_err!("the instance is not of the module its control exports are from")
        })?;
    into(export).ok_or_else(|| format_err!("a control export is not a {kind}"))
}

fn global(store: &mut impl AsContextMut, i: &Instance, e: &ModuleExport) -> Result<Global> {
    get(store, i, e, Extern::into_global, "global")
}

fn table(store: &mut impl AsContextMut, i: &Instance, e: &ModuleExport) -> Result<Table> {
    get(store, i, e, Extern::into_table, "table")
}

fn memory(store: &mut impl AsContextMut, i: &Instance, e: &ModuleExport) -> Result<Memory> {
    get(store, i, e, Extern::into_memory, "memory")
}

impl Controls {
    /// Finds the control exports of `instance`, an instance of a module
    /// instrumented with the given `info`.
    pub fn new(
        store: &mut impl AsContextMut,
        instance: &Instance,
        info: &ModuleInfo,
    ) -> Result<Self> {
        Controls::with_shared_info(store, instance, Arc::new(info.clone()))
    }

    /// [`Controls::new`] with the module's information shared rather than
    /// copied.
    pub fn with_shared_info(
        store: &mut impl AsContextMut,
        instance: &Instance,
        info: Arc<ModuleInfo>,
    ) -> Result<Self> {
        let module = instance.module(store.as_context()).clone();
        let exports = ControlExports::new(&module, &info)?;
        Controls::from_exports(store, instance, info, &exports)
    }

    /// [`Controls::with_shared_info`] with the exports looked up already
    /// (for a module instantiated many times).
    pub fn from_exports(
        store: &mut impl AsContextMut,
        instance: &Instance,
        info: Arc<ModuleInfo>,
        exports: &ControlExports,
    ) -> Result<Self> {
        let stack = |store: &mut _,
                     stack: &Option<(ModuleExport, ModuleExport)>|
         -> Result<Option<(Table, Global)>> {
            stack
                .as_ref()
                .map(|(t, g)| Ok((table(store, instance, t)?, global(store, instance, g)?)))
                .transpose()
        };
        Ok(Controls {
            state: global(store, instance, &exports.state)?,
            fuel: exports
                .fuel
                .as_ref()
                .map(|g| global(store, instance, g))
                .transpose()?,
            sp: global(store, instance, &exports.sp)?,
            stack_base: abi::STACK_BASE as i32,
            state_memory: memory(store, instance, &exports.state_memory)?,
            funcref_stack: stack(store, &exports.funcref_stack)?,
            externref_stack: stack(store, &exports.externref_stack)?,
            functions: exports
                .functions
                .as_ref()
                .map(|t| table(store, instance, t))
                .transpose()?,
            restore_segments: exports
                .restore_segments
                .as_ref()
                .map(|f| get(store, instance, f, Extern::into_func, "function"))
                .transpose()?,
            memories: exports
                .memories
                .iter()
                .map(|m| memory(store, instance, m))
                .collect::<Result<_>>()?,
            globals: exports
                .globals
                .iter()
                .map(|(g, e)| Ok((*g, global(store, instance, e)?)))
                .collect::<Result<_>>()?,
            tables: exports
                .tables
                .iter()
                .map(|t| table(store, instance, t))
                .collect::<Result<_>>()?,
            dropped: exports
                .dropped
                .iter()
                .map(|g| global(store, instance, g))
                .collect::<Result<_>>()?,
            info,
        })
    }

    /// What the pass reported about the module.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// The control state: [`abi::STATE_NORMAL`], [`abi::STATE_UNWINDING`] or
    /// [`abi::STATE_REWINDING`].
    pub fn state(&self, mut store: impl AsContextMut) -> i32 {
        self.state.get(&mut store).unwrap_i32()
    }

    /// Sets the control state (a host function asking to suspend sets
    /// [`abi::STATE_UNWINDING`]).
    pub fn set_state(&self, mut store: impl AsContextMut, state: i32) -> Result<()> {
        self.state.set(&mut store, Val::I32(state))
    }

    /// The remaining fuel, if the module counts fuel.
    pub fn fuel(&self, mut store: impl AsContextMut) -> Option<i64> {
        self.fuel.map(|g| g.get(&mut store).unwrap_i64())
    }

    /// Sets the remaining fuel. Fails if the module does not count fuel.
    pub fn set_fuel(&self, mut store: impl AsContextMut, fuel: i64) -> Result<()> {
        match self.fuel {
            Some(g) => g.set(&mut store, Val::I64(fuel)),
            None => bail!("the module was instrumented without fuel"),
        }
    }

    /// Sets or clears the interrupt flag from this thread.
    pub fn set_flag(&self, mut store: impl AsContextMut, on: bool) {
        let word = u32::from(on).to_le_bytes();
        let offset = abi::FLAG_OFFSET as usize;
        self.state_memory.data_mut(&mut store)[offset..offset + 4].copy_from_slice(&word);
    }

    /// The address of the interrupt flag, for another thread to set with an
    /// atomic store while this instance runs.
    ///
    /// The address stays valid for the life of the instance: the state memory
    /// of a 32-bit module lives in a fixed reservation (Wasmtime's default
    /// `memory_reservation` on 64-bit hosts) and is never moved by growth.
    pub fn flag_address(&self, store: impl wasmtime::AsContext) -> *mut u32 {
        // The flag is at a 4-aligned offset of a page-aligned memory.
        self.state_memory
            .data_ptr(store)
            .wrapping_add(abi::FLAG_OFFSET as usize)
            .cast::<u32>()
    }

    /// Calls `func` from the normal state.
    pub fn call(
        &self,
        mut store: impl AsContextMut,
        func: &Func,
        args: &[Val],
        results: &mut [Val],
    ) -> Result<Step> {
        func.call(&mut store, args, results)?;
        Ok(self.step(&mut store))
    }

    /// Continues an unwound call to `func` (the same export that unwound).
    pub fn resume(
        &self,
        mut store: impl AsContextMut,
        func: &Func,
        results: &mut [Val],
    ) -> Result<Step> {
        if self.sp(&mut store) == self.stack_base {
            bail!("nothing to resume: no frames in the state memory");
        }
        self.set_state(&mut store, abi::STATE_REWINDING)?;
        // Arguments are ignored on rewind: every frame restores its own locals.
        let args: Vec<Val> = func
            .ty(&store)
            .params()
            .map(|t| t.default_value().unwrap_or(Val::I32(0)))
            .collect();
        func.call(&mut store, &args, results)?;
        Ok(self.step(&mut store))
    }

    fn step(&self, mut store: impl AsContextMut) -> Step {
        if self.state(&mut store) == abi::STATE_UNWINDING {
            Step::Unwound
        } else {
            Step::Finished
        }
    }

    /// The top of the frame stack.
    pub fn sp(&self, mut store: impl AsContextMut) -> i32 {
        self.sp.get(&mut store).unwrap_i32()
    }

    /// Puts the instance back into the normal state with no saved frames,
    /// abandoning an unwound call (after a trap, for instance).
    pub fn reset(&self, mut store: impl AsContextMut) -> Result<()> {
        self.set_state(&mut store, abi::STATE_NORMAL)?;
        self.sp.set(&mut store, Val::I32(self.stack_base))?;
        for (_, sp) in [self.funcref_stack, self.externref_stack]
            .into_iter()
            .flatten()
        {
            sp.set(&mut store, Val::I32(0))?;
        }
        self.set_flag(&mut store, false);
        Ok(())
    }
}

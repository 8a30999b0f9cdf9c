//! Handles to the control state of one instrumented instance, and the
//! call / unwind / rewind protocol of [`weft_instrument::abi`].

use std::sync::Arc;
use wasmtime::{
    AsContextMut, Func, Global, Instance, Memory, Result, Table, Val, bail, format_err,
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

fn global(store: &mut impl AsContextMut, instance: &Instance, name: &str) -> Result<Global> {
    instance
        .get_global(&mut *store, name)
        .ok_or_else(|| format_err!("instrumented module has no global export `{name}`"))
}

fn table(store: &mut impl AsContextMut, instance: &Instance, name: &str) -> Result<Table> {
    instance
        .get_table(&mut *store, name)
        .ok_or_else(|| format_err!("instrumented module has no table export `{name}`"))
}

fn memory(store: &mut impl AsContextMut, instance: &Instance, name: &str) -> Result<Memory> {
    instance
        .get_memory(&mut *store, name)
        .ok_or_else(|| format_err!("instrumented module has no memory export `{name}`"))
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
        let state = global(store, instance, abi::STATE_GLOBAL)?;
        let fuel = if info.config.counts_fuel() {
            Some(global(store, instance, abi::FUEL_GLOBAL)?)
        } else {
            None
        };
        let sp = global(store, instance, abi::SP_GLOBAL)?;
        let stack_base = abi::STACK_BASE as i32;
        let state_memory = memory(store, instance, abi::STATE_MEMORY)?;
        let stack = |store: &mut _, t: &str, g: &str| -> Result<Option<(Table, Global)>> {
            match instance.get_table(&mut *store, t) {
                Some(table) => Ok(Some((table, global(store, instance, g)?))),
                None => Ok(None),
            }
        };
        let funcref_stack = stack(store, abi::FUNCREF_STACK_TABLE, abi::FUNCREF_SP_GLOBAL)?;
        let externref_stack = stack(store, abi::EXTERNREF_STACK_TABLE, abi::EXTERNREF_SP_GLOBAL)?;
        let functions = instance.get_table(&mut *store, abi::FUNCTIONS_TABLE);
        let restore_segments = instance.get_func(&mut *store, abi::RESTORE_SEGMENTS_EXPORT);
        let memories = (0..info.memories)
            .map(|m| memory(store, instance, &abi::memory_export(m)))
            .collect::<Result<_>>()?;
        let globals = info
            .mutable_globals
            .iter()
            .map(|g| Ok((*g, global(store, instance, &abi::global_export(*g))?)))
            .collect::<Result<_>>()?;
        let tables = (0..info.tables)
            .map(|t| table(store, instance, &abi::table_export(t)))
            .collect::<Result<_>>()?;
        let dropped = (0..info.dropped_globals)
            .map(|k| global(store, instance, &abi::dropped_export(k)))
            .collect::<Result<_>>()?;
        Ok(Controls {
            info,
            state,
            fuel,
            sp,
            stack_base,
            state_memory,
            funcref_stack,
            externref_stack,
            functions,
            restore_segments,
            memories,
            globals,
            tables,
            dropped,
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

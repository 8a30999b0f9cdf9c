//! The complete execution state of an instrumented instance, in a form that
//! does not depend on the store it came from.

use crate::controls::Controls;
use std::collections::HashMap;
use wasmtime::{Func, HeapType, Ref, Result, StoreContextMut, Table, Val, bail, format_err};

/// A reference value, made independent of its store by a [`RefEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefValue {
    /// `ref.null`.
    Null,
    /// A function, by an id the encoder chose (for [`FunctionsTable`]: the function index).
    Func(u64),
    /// A host reference, by an id the encoder chose.
    Extern(u64),
}

/// A value of a global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateValue {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits.
    F32(u32),
    /// `f64`, as bits.
    F64(u64),
    /// `v128`
    V128(u128),
    /// A reference.
    Ref(RefValue),
}

/// Turns reference values of a store into [`RefValue`]s.
pub trait RefEncoder<T> {
    /// Encodes one reference.
    fn encode(&mut self, store: &mut StoreContextMut<'_, T>, r: Ref) -> Result<RefValue>;
}

/// Turns [`RefValue`]s back into reference values of a store.
pub trait RefDecoder<T> {
    /// Decodes one reference of the given heap type.
    fn decode(
        &mut self,
        store: &mut StoreContextMut<'_, T>,
        v: RefValue,
        heap: &HeapType,
    ) -> Result<Ref>;
}

/// The complete state of an instrumented instance between an unwind and
/// its rewind (or between two calls).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceState {
    /// The contents of every memory, by memory index.
    pub memories: Vec<Vec<u8>>,
    /// Every mutable global, by global index.
    pub globals: Vec<(u32, StateValue)>,
    /// Every table, by table index.
    pub tables: Vec<Vec<RefValue>>,
    /// The dropped-segment bits.
    pub dropped: Vec<i64>,
    /// The state memory from offset 0 up to the top of the frame stack.
    pub state_memory: Vec<u8>,
    /// The control state.
    pub control_state: i32,
    /// The remaining fuel, if counted.
    pub fuel: Option<i64>,
    /// The funcref stack, bottom first.
    pub funcref_stack: Vec<RefValue>,
    /// The externref stack, bottom first.
    pub externref_stack: Vec<RefValue>,
}

fn encode_val<T>(
    store: &mut StoreContextMut<'_, T>,
    v: Val,
    refs: &mut dyn RefEncoder<T>,
) -> Result<StateValue> {
    Ok(match v {
        Val::I32(x) => StateValue::I32(x),
        Val::I64(x) => StateValue::I64(x),
        Val::F32(x) => StateValue::F32(x),
        Val::F64(x) => StateValue::F64(x),
        Val::V128(x) => StateValue::V128(x.as_u128()),
        Val::FuncRef(f) => StateValue::Ref(refs.encode(store, Ref::Func(f))?),
        Val::ExternRef(e) => StateValue::Ref(refs.encode(store, Ref::Extern(e))?),
        other => bail!("cannot capture a global of type {:?}", other.ty(&*store)),
    })
}

fn decode_val<T>(
    store: &mut StoreContextMut<'_, T>,
    v: StateValue,
    ty: &wasmtime::ValType,
    refs: &mut dyn RefDecoder<T>,
) -> Result<Val> {
    Ok(match (v, ty) {
        (StateValue::I32(x), wasmtime::ValType::I32) => Val::I32(x),
        (StateValue::I64(x), wasmtime::ValType::I64) => Val::I64(x),
        (StateValue::F32(x), wasmtime::ValType::F32) => Val::F32(x),
        (StateValue::F64(x), wasmtime::ValType::F64) => Val::F64(x),
        (StateValue::V128(x), wasmtime::ValType::V128) => Val::V128(x.into()),
        (StateValue::Ref(r), wasmtime::ValType::Ref(rt)) => {
            refs.decode(store, r, rt.heap_type())?.into()
        }
        (v, ty) => bail!("state value {v:?} does not fit a global of type {ty}"),
    })
}

fn capture_table<T>(
    store: &mut StoreContextMut<'_, T>,
    table: &Table,
    len: u64,
    refs: &mut dyn RefEncoder<T>,
) -> Result<Vec<RefValue>> {
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let r = table
            .get(&mut *store, i)
            .ok_or_else(|| format_err!("table index {i} out of bounds"))?;
        out.push(refs.encode(store, r)?);
    }
    Ok(out)
}

fn restore_table<T>(
    store: &mut StoreContextMut<'_, T>,
    table: &Table,
    values: &[RefValue],
    refs: &mut dyn RefDecoder<T>,
) -> Result<()> {
    let ty = table.ty(&*store);
    let heap = ty.element().heap_type().clone();
    let size = table.size(&*store);
    let want = values.len() as u64;
    if size < want {
        let null = if heap.is_func() {
            Ref::Func(None)
        } else {
            Ref::Extern(None)
        };
        table.grow(&mut *store, want - size, null)?;
    }
    for (i, v) in values.iter().enumerate() {
        let r = refs.decode(store, *v, &heap)?;
        table.set(&mut *store, i as u64, r)?;
    }
    Ok(())
}

fn copy_memory<T>(
    store: &mut StoreContextMut<'_, T>,
    memory: &wasmtime::Memory,
    bytes: &[u8],
) -> Result<()> {
    let have = memory.data_size(&*store);
    if have < bytes.len() {
        let pages = (bytes.len() - have).div_ceil(65536) as u64;
        memory.grow(&mut *store, pages)?;
    }
    memory.data_mut(&mut *store)[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

impl Controls {
    /// Captures the complete state of the instance.
    pub fn capture<T>(
        &self,
        store: StoreContextMut<'_, T>,
        refs: &mut dyn RefEncoder<T>,
    ) -> Result<InstanceState> {
        self.capture_with(store, refs, true)
    }

    /// Captures the state, leaving [`InstanceState::memories`] empty unless
    /// `with_memories` (for a caller that reads the memories itself).
    pub(crate) fn capture_with<T>(
        &self,
        mut store: StoreContextMut<'_, T>,
        refs: &mut dyn RefEncoder<T>,
        with_memories: bool,
    ) -> Result<InstanceState> {
        let store = &mut store;
        let mut state = InstanceState::default();
        if with_memories {
            for m in &self.memories {
                state.memories.push(m.data(&*store).to_vec());
            }
        }
        for (index, g) in &self.globals {
            let v = g.get(&mut *store);
            state.globals.push((*index, encode_val(store, v, refs)?));
        }
        for t in &self.tables {
            let len = t.size(&*store);
            state.tables.push(capture_table(store, t, len, refs)?);
        }
        for g in &self.dropped {
            state.dropped.push(g.get(&mut *store).unwrap_i64());
        }
        let sp = usize::try_from(self.sp(&mut *store))
            .map_err(|_| format_err!("negative frame stack pointer"))?;
        let data = self.state_memory.data(&*store);
        state.state_memory = data
            .get(..sp)
            .ok_or_else(|| format_err!("frame stack pointer beyond the state memory"))?
            .to_vec();
        state.control_state = self.state(&mut *store);
        state.fuel = self.fuel(&mut *store);
        if let Some((table, sp)) = self.funcref_stack {
            let len = sp.get(&mut *store).unwrap_i32() as u64;
            state.funcref_stack = capture_table(store, &table, len, refs)?;
        }
        if let Some((table, sp)) = self.externref_stack {
            let len = sp.get(&mut *store).unwrap_i32() as u64;
            state.externref_stack = capture_table(store, &table, len, refs)?;
        }
        Ok(state)
    }

    /// Restores a captured state into this instance, which must be a fresh
    /// instance of the same instrumented module.
    pub fn restore<T>(
        &self,
        store: StoreContextMut<'_, T>,
        state: &InstanceState,
        refs: &mut dyn RefDecoder<T>,
    ) -> Result<()> {
        self.restore_with(store, state, refs, true)
    }

    /// Restores the state; the memories only if `with_memories` (for a
    /// caller that has written them itself).
    pub(crate) fn restore_with<T>(
        &self,
        mut store: StoreContextMut<'_, T>,
        state: &InstanceState,
        refs: &mut dyn RefDecoder<T>,
        with_memories: bool,
    ) -> Result<()> {
        let store = &mut store;
        if (with_memories && state.memories.len() != self.memories.len())
            || state.tables.len() != self.tables.len()
        {
            bail!("the state does not match the module: wrong number of memories or tables");
        }
        if with_memories {
            for (m, bytes) in self.memories.iter().zip(&state.memories) {
                copy_memory(store, m, bytes)?;
            }
        }
        let globals: HashMap<u32, wasmtime::Global> = self.globals.iter().copied().collect();
        for (index, v) in &state.globals {
            let g = globals
                .get(index)
                .ok_or_else(|| format_err!("the module has no mutable global {index}"))?;
            let ty = g.ty(&*store).content().clone();
            let val = decode_val(store, *v, &ty, refs)?;
            g.set(&mut *store, val)?;
        }
        for (t, values) in self.tables.iter().zip(&state.tables) {
            restore_table(store, t, values, refs)?;
        }
        if state.dropped.len() != self.dropped.len() {
            bail!("the state does not match the module: wrong number of dropped-segment records");
        }
        for (g, bits) in self.dropped.iter().zip(&state.dropped) {
            g.set(&mut *store, Val::I64(*bits))?;
        }
        if (state.state_memory.len() as u64) < u64::from(weft_instrument::abi::STACK_BASE) {
            bail!("the state memory is shorter than its header");
        }
        copy_memory(store, &self.state_memory, &state.state_memory)?;
        self.set_flag(&mut *store, false);
        self.sp
            .set(&mut *store, Val::I32(state.state_memory.len() as i32))?;
        self.set_state(&mut *store, state.control_state)?;
        if let Some(fuel) = state.fuel {
            self.set_fuel(&mut *store, fuel)?;
        }
        for (stack, values) in [
            (self.funcref_stack, &state.funcref_stack),
            (self.externref_stack, &state.externref_stack),
        ] {
            match stack {
                Some((table, sp)) => {
                    restore_table(store, &table, values, refs)?;
                    sp.set(&mut *store, Val::I32(values.len() as i32))?;
                }
                None if values.is_empty() => {}
                None => bail!("the state has references but the module has no reference stack"),
            }
        }
        if let Some(f) = self.restore_segments {
            f.call(&mut *store, &[], &mut [])?;
        }
        Ok(())
    }
}

/// Encodes the funcrefs of one instance as function indices, through its
/// [`weft_instrument::abi::FUNCTIONS_TABLE`].
#[derive(Debug, Default)]
pub struct FunctionsTable {
    by_address: HashMap<usize, u32>,
    by_index: HashMap<u32, Func>,
}

impl FunctionsTable {
    /// Reads the functions table of an instance.
    pub fn new<T>(mut store: StoreContextMut<'_, T>, controls: &Controls) -> Result<Self> {
        let mut me = FunctionsTable::default();
        if let Some(table) = controls.functions {
            for (slot, index) in controls.info.referenceable_functions.iter().enumerate() {
                if let Some(Ref::Func(Some(f))) = table.get(&mut store, slot as u64) {
                    me.by_address.insert(f.to_raw(&mut store) as usize, *index);
                    me.by_index.insert(*index, f);
                }
            }
        }
        Ok(me)
    }

    /// The function index of a funcref of this instance.
    pub fn index_of<T>(&self, store: &mut StoreContextMut<'_, T>, f: &Func) -> Option<u32> {
        self.by_address
            .get(&(f.to_raw(&mut *store) as usize))
            .copied()
    }

    /// The funcref of a function index of this instance.
    pub fn func(&self, index: u32) -> Option<Func> {
        self.by_index.get(&index).copied()
    }
}

impl<T> RefEncoder<T> for FunctionsTable {
    fn encode(&mut self, store: &mut StoreContextMut<'_, T>, r: Ref) -> Result<RefValue> {
        match r {
            Ref::Func(None) | Ref::Extern(None) => Ok(RefValue::Null),
            Ref::Func(Some(f)) => match self.index_of(store, &f) {
                Some(i) => Ok(RefValue::Func(u64::from(i))),
                None => {
                    bail!("a funcref that is not a function of this instance cannot be captured")
                }
            },
            _ => bail!("host references cannot be captured by a functions table"),
        }
    }
}

impl<T> RefDecoder<T> for FunctionsTable {
    fn decode(
        &mut self,
        _store: &mut StoreContextMut<'_, T>,
        v: RefValue,
        heap: &HeapType,
    ) -> Result<Ref> {
        match v {
            RefValue::Null if heap.is_func() => Ok(Ref::Func(None)),
            RefValue::Null => Ok(Ref::Extern(None)),
            RefValue::Func(i) => {
                let f = u32::try_from(i).ok().and_then(|i| self.func(i));
                f.map(|f| Ref::Func(Some(f)))
                    .ok_or_else(|| format_err!("function {i} cannot be referenced"))
            }
            RefValue::Extern(_) => bail!("host references cannot be restored by a functions table"),
        }
    }
}

//! What the host provides to spec modules: the `spectest` module, the
//! shared control state of instrumented modules, conversions between
//! script values and Wasmtime values, and the reference codec that makes
//! references of one store meaningful in another.

use super::values::{Arg, Value};
use anyhow::{Result, anyhow, bail};
use wasmtime::{
    AsContextMut, ExternRef, Func, FuncType, Global, GlobalType, HeapType, Linker, Memory,
    MemoryType, Mutability, Ref, RefType, Store, StoreContextMut, Table, TableType, Val, ValType,
    format_err,
};
use weft_instrument::abi;
use weft_runtime::{FunctionsTable, RefDecoder, RefEncoder, RefValue};

/// The store data of every spec store.
pub type Data = ();

/// The `spectest` module of one store, as the reference interpreter and
/// Wasmtime's spec harness define it.
#[derive(Debug, Clone)]
pub struct Spectest {
    /// The print functions, in a fixed order (their identity in
    /// [`RefValue::Func`] ids).
    pub funcs: Vec<Func>,
    /// `spectest.table`: 10 funcrefs, at most 20.
    pub table: Table,
    /// `spectest.memory`: 1 page, at most 2.
    pub memory: Memory,
}

impl Spectest {
    /// Creates the `spectest` items in `store` and defines them in `linker`.
    pub fn define(store: &mut Store<Data>, linker: &mut Linker<Data>) -> Result<Spectest> {
        let engine = store.engine().clone();
        let signatures: [(&str, &[ValType]); 7] = [
            ("print", &[]),
            ("print_i32", &[ValType::I32]),
            ("print_i64", &[ValType::I64]),
            ("print_f32", &[ValType::F32]),
            ("print_f64", &[ValType::F64]),
            ("print_i32_f32", &[ValType::I32, ValType::F32]),
            ("print_f64_f64", &[ValType::F64, ValType::F64]),
        ];
        let mut funcs = Vec::with_capacity(signatures.len());
        for (name, params) in signatures {
            let ty = FuncType::new(&engine, params.iter().cloned(), []);
            let func = Func::new(&mut *store, ty, |_, _, _| Ok(()));
            linker.define(&mut *store, "spectest", name, func)?;
            funcs.push(func);
        }
        let globals = [
            ("global_i32", ValType::I32, Val::I32(666)),
            ("global_i64", ValType::I64, Val::I64(666)),
            ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
            ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
        ];
        for (name, ty, value) in globals {
            let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), value)?;
            linker.define(&mut *store, "spectest", name, global)?;
        }
        let table = Table::new(
            &mut *store,
            TableType::new(RefType::FUNCREF, 10, Some(20)),
            Ref::Func(None),
        )?;
        linker.define(&mut *store, "spectest", "table", table)?;
        let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
        linker.define(&mut *store, "spectest", "memory", memory)?;
        Ok(Spectest {
            funcs,
            table,
            memory,
        })
    }

    /// Captures the table, which belongs to the host rather than to any
    /// instance.
    pub fn capture_table(
        &self,
        store: &mut StoreContextMut<'_, Data>,
        refs: &mut dyn RefEncoder<Data>,
    ) -> Result<Vec<RefValue>> {
        let size = self.table.size(&*store);
        let mut table = Vec::with_capacity(size as usize);
        for i in 0..size {
            let r = self
                .table
                .get(&mut *store, i)
                .ok_or_else(|| anyhow!("spectest table index {i} out of bounds"))?;
            table.push(refs.encode(store, r)?);
        }
        Ok(table)
    }

    /// Restores what [`Spectest::capture_table`] captured into a fresh `spectest`.
    pub fn restore_table(
        &self,
        store: &mut StoreContextMut<'_, Data>,
        table: &[RefValue],
        refs: &mut dyn RefDecoder<Data>,
    ) -> Result<()> {
        let size = self.table.size(&*store);
        let want = table.len() as u64;
        if size < want {
            self.table.grow(&mut *store, want - size, Ref::Func(None))?;
        }
        for (i, v) in table.iter().enumerate() {
            let r = refs.decode(store, *v, &HeapType::Func)?;
            self.table.set(&mut *store, i as u64, r)?;
        }
        Ok(())
    }
}

/// Creates one control state in `store` and defines it in `linker` under
/// [`abi::SHARED_STATE_MODULE`], for every module instrumented with
/// `shared_state` to import.
pub fn define_shared_state(store: &mut Store<Data>, linker: &mut Linker<Data>) -> Result<()> {
    let module = abi::SHARED_STATE_MODULE;
    let var = |ty| GlobalType::new(ty, Mutability::Var);
    let globals = [
        (
            abi::STATE_GLOBAL,
            var(ValType::I32),
            Val::I32(abi::STATE_NORMAL),
        ),
        (abi::FUEL_GLOBAL, var(ValType::I64), Val::I64(i64::MAX)),
        (
            abi::SP_GLOBAL,
            var(ValType::I32),
            Val::I32(abi::STACK_BASE as i32),
        ),
        (abi::FUNCREF_SP_GLOBAL, var(ValType::I32), Val::I32(0)),
        (abi::EXTERNREF_SP_GLOBAL, var(ValType::I32), Val::I32(0)),
    ];
    for (name, ty, value) in globals {
        let global = Global::new(&mut *store, ty, value)?;
        linker.define(&mut *store, module, name, global)?;
    }
    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(65536)))?;
    linker.define(&mut *store, module, abi::STATE_MEMORY, memory)?;
    let funcrefs = Table::new(
        &mut *store,
        TableType::new(RefType::FUNCREF, 0, None),
        Ref::Func(None),
    )?;
    linker.define(&mut *store, module, abi::FUNCREF_STACK_TABLE, funcrefs)?;
    let externrefs = Table::new(
        &mut *store,
        TableType::new(RefType::EXTERNREF, 0, None),
        Ref::Extern(None),
    )?;
    linker.define(&mut *store, module, abi::EXTERNREF_STACK_TABLE, externrefs)?;
    Ok(())
}

/// Turns a script argument into a value of `store`.
pub fn to_val(mut store: impl AsContextMut<Data = Data>, arg: &Arg) -> Result<Val> {
    Ok(match *arg {
        Arg::I32(x) => Val::I32(x),
        Arg::I64(x) => Val::I64(x),
        Arg::F32(x) => Val::F32(x),
        Arg::F64(x) => Val::F64(x),
        Arg::V128(x) => Val::V128(x.into()),
        Arg::NullFunc => Val::FuncRef(None),
        Arg::NullExtern => Val::ExternRef(None),
        Arg::Extern(n) => Val::ExternRef(Some(ExternRef::new(&mut store, n)?)),
    })
}

/// Turns a value of `store` into a store-independent [`Value`].
pub fn to_value(mut store: impl AsContextMut<Data = Data>, val: &Val) -> Result<Value> {
    Ok(match val {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(*x),
        Val::F64(x) => Value::F64(*x),
        Val::V128(x) => Value::V128(x.as_u128()),
        Val::FuncRef(f) => Value::FuncRef { null: f.is_none() },
        Val::ExternRef(None) => Value::ExternRef(None),
        Val::ExternRef(Some(r)) => Value::ExternRef(Some(extern_number(&mut store, r)?)),
        other => bail!("unsupported result type {:?}", other.ty(&store)),
    })
}

fn extern_number(
    store: &mut impl AsContextMut<Data = Data>,
    r: &wasmtime::Rooted<ExternRef>,
) -> wasmtime::Result<u32> {
    let store = store.as_context();
    let data = r
        .data(&store)?
        .ok_or_else(|| format_err!("an externref without host data"))?;
    data.downcast_ref::<u32>()
        .copied()
        .ok_or_else(|| format_err!("an externref whose host data is not a `ref.extern` number"))
}

/// The [`RefValue::Func`] instance number of the `spectest` functions.
const HOST_INSTANCE: u64 = u32::MAX as u64;

/// The instantiation number a [`RefValue::Func`] refers to, if any.
pub fn instance_of(v: &RefValue) -> Option<usize> {
    match v {
        RefValue::Func(id) if id >> 32 != HOST_INSTANCE => usize::try_from(id >> 32).ok(),
        _ => None,
    }
}

/// Where a function of a failed instantiation was left: a slot of a table
/// its module imported. Instantiating a module applies its element segments
/// in order until one traps, so the functions it placed before the trap stay
/// reachable through the imported table although the instance never became
/// usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSlot {
    /// The import's module name.
    pub module: String,
    /// The import's field name.
    pub name: String,
    /// The table index.
    pub index: u64,
}

/// The functions of one instantiation, for the reference codec.
#[derive(Debug)]
pub enum Functions<'a> {
    /// A usable instance: its functions table.
    Instance(&'a FunctionsTable),
    /// A failed instantiation: the functions it left in imported tables.
    Orphans(&'a [(TableSlot, Func)]),
    /// An instance that is no longer reachable and was not carried over.
    Collected,
}

/// Encodes and decodes references of one store: functions as
/// `instantiation number << 32 | function index` (the index of an orphan in
/// its list for failed instantiations, of the print function for
/// `spectest`), host references as the number they carry.
pub struct RefCodec<'a> {
    /// By instantiation number.
    pub instances: Vec<Functions<'a>>,
    /// The `spectest` functions.
    pub host: &'a [Func],
}

impl RefCodec<'_> {
    fn encode_func(&self, store: &mut StoreContextMut<'_, Data>, f: &Func) -> Option<u64> {
        for (number, functions) in self.instances.iter().enumerate() {
            let index = match functions {
                Functions::Instance(table) => table.index_of(store, f),
                Functions::Orphans(orphans) => {
                    let raw = f.to_raw(&mut *store);
                    orphans
                        .iter()
                        .position(|(_, o)| o.to_raw(&mut *store) == raw)
                        .map(|i| i as u32)
                }
                Functions::Collected => None,
            };
            if let Some(index) = index {
                return Some(((number as u64) << 32) | u64::from(index));
            }
        }
        let raw = f.to_raw(&mut *store);
        let host = self
            .host
            .iter()
            .position(|h| h.to_raw(&mut *store) == raw)?;
        Some((HOST_INSTANCE << 32) | host as u64)
    }

    fn decode_func(&self, id: u64) -> Option<Func> {
        let (number, index) = (id >> 32, (id & u64::from(u32::MAX)) as usize);
        if number == HOST_INSTANCE {
            return self.host.get(index).copied();
        }
        match self.instances.get(usize::try_from(number).ok()?)? {
            Functions::Instance(table) => table.func(u32::try_from(index).ok()?),
            Functions::Orphans(orphans) => orphans.get(index).map(|(_, f)| *f),
            Functions::Collected => None,
        }
    }

    /// Whether `f` is known to the codec.
    pub fn knows(&self, store: &mut StoreContextMut<'_, Data>, f: &Func) -> bool {
        self.encode_func(store, f).is_some()
    }
}

impl RefEncoder<Data> for RefCodec<'_> {
    fn encode(
        &mut self,
        store: &mut StoreContextMut<'_, Data>,
        r: Ref,
    ) -> wasmtime::Result<RefValue> {
        match r {
            Ref::Func(None) | Ref::Extern(None) => Ok(RefValue::Null),
            Ref::Func(Some(f)) => {
                self.encode_func(store, &f)
                    .map(RefValue::Func)
                    .ok_or_else(|| {
                        format_err!("a funcref that belongs to no instance and no host function")
                    })
            }
            Ref::Extern(Some(e)) => Ok(RefValue::Extern(u64::from(extern_number(store, &e)?))),
            Ref::Any(_) => Err(format_err!("GC references cannot be captured")),
            _ => Err(format_err!("unsupported reference kind")),
        }
    }
}

impl RefDecoder<Data> for RefCodec<'_> {
    fn decode(
        &mut self,
        store: &mut StoreContextMut<'_, Data>,
        v: RefValue,
        heap: &HeapType,
    ) -> wasmtime::Result<Ref> {
        match v {
            RefValue::Null if heap.is_func() => Ok(Ref::Func(None)),
            RefValue::Null => Ok(Ref::Extern(None)),
            RefValue::Func(id) => {
                let f = self
                    .decode_func(id)
                    .ok_or_else(|| format_err!("no function with id {id:#x} in the fresh store"))?;
                Ok(Ref::Func(Some(f)))
            }
            RefValue::Extern(n) => {
                let n = u32::try_from(n)
                    .map_err(|_| format_err!("externref number {n} out of range"))?;
                Ok(Ref::Extern(Some(ExternRef::new(&mut *store, n)?)))
            }
        }
    }
}

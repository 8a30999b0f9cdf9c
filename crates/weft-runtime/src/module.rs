//! A module ready to run as scripts: instrumented, compiled, linked.

use crate::controls::ControlExports;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::wasi;
use std::sync::Arc;
use wasmtime::{ExternType, InstancePre, Linker, Module, ModuleExport, ValType};
use weft_instrument::{ModuleInfo, abi};
use weft_snapshot::{ModuleId, Shape, ValueType};

/// An instrumented, compiled module whose imports are all provided: each
/// script spawned from it is one instance.
///
/// Obtained from [`crate::Runtime::load`], which caches it.
pub struct ScriptModule {
    id: ModuleId,
    original: Arc<[u8]>,
    info: Arc<ModuleInfo>,
    module: Module,
    pre: InstancePre<Host>,
    controls: ControlExports,
    /// The export `memory` (a WASI program's memory), if it is a memory.
    memory: Option<ModuleExport>,
    shape: Shape,
    exports_start: bool,
    slots: std::collections::HashMap<u32, u32>,
    initialized: Vec<Initialized>,
}

/// Which pages of a memory a fresh instance may have non-zero: those its
/// active data segments write to.
#[derive(Debug, Clone)]
pub(crate) enum Initialized {
    /// Page `p` may be non-zero if `pages[p]` (pages beyond are zero).
    Pages(Vec<bool>),
    /// Unknown (a segment offset is not a constant): any page may be.
    Any,
}

impl Initialized {
    pub(crate) fn maybe_nonzero(&self, page: u64) -> bool {
        match self {
            Initialized::Pages(pages) => pages.get(page as usize).copied().unwrap_or(false),
            Initialized::Any => true,
        }
    }
}

/// The pages each memory's active data segments initialise.
fn initialized_pages(original: &[u8], memories: u32) -> Vec<Initialized> {
    let mut out = vec![Initialized::Pages(Vec::new()); memories as usize];
    let page = weft_snapshot::PAGE_SIZE as u64;
    for payload in wasmparser::Parser::new(0).parse_all(original) {
        let Ok(wasmparser::Payload::DataSection(reader)) = payload else {
            continue;
        };
        for data in reader {
            let Ok(data) = data else {
                return vec![Initialized::Any; memories as usize];
            };
            let wasmparser::DataKind::Active {
                memory_index,
                offset_expr,
            } = data.kind
            else {
                continue;
            };
            let Some(slot) = out.get_mut(memory_index as usize) else {
                continue;
            };
            let mut ops = offset_expr.get_operators_reader();
            let offset = match (ops.read(), ops.read()) {
                (Ok(wasmparser::Operator::I32Const { value }), Ok(wasmparser::Operator::End)) => {
                    Some(u64::from(value as u32))
                }
                _ => None,
            };
            match (offset, &mut *slot) {
                (Some(start), Initialized::Pages(pages)) if !data.data.is_empty() => {
                    let end = start + data.data.len() as u64;
                    let (first, last) = (start / page, end.div_ceil(page));
                    if pages.len() < last as usize {
                        pages.resize(last as usize, false);
                    }
                    pages[first as usize..last as usize].fill(true);
                }
                (Some(_), _) => {}
                (None, _) => *slot = Initialized::Any,
            }
        }
    }
    out
}

impl std::fmt::Debug for ScriptModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptModule")
            .field("hash", &hex::encode(self.id.hash))
            .field("instrumentation", &self.id.instrumentation)
            .finish_non_exhaustive()
    }
}

fn value_type(ty: &ValType) -> Result<ValueType> {
    Ok(match ty {
        ValType::I32 => ValueType::I32,
        ValType::I64 => ValueType::I64,
        ValType::F32 => ValueType::F32,
        ValType::F64 => ValueType::F64,
        ValType::V128 => ValueType::V128,
        ValType::Ref(r) if r.heap_type().is_func() => ValueType::FuncRef,
        ValType::Ref(r) if r.heap_type().is_extern() => ValueType::ExternRef,
        other => {
            return Err(Error::Module(format!(
                "globals of type {other} are not supported"
            )));
        }
    })
}

impl ScriptModule {
    pub(crate) fn new(
        id: ModuleId,
        original: &[u8],
        info: ModuleInfo,
        module: Module,
        linker: &Linker<Host>,
    ) -> Result<ScriptModule> {
        let mut linker = linker.clone();
        for import in module.imports() {
            let known = wasi::provides(import.module(), import.name())
                || crate::api::provides(import.module(), import.name());
            match import.ty() {
                ExternType::Func(ty) if import.module() == wasi::MODULE && !known => {
                    wasi::define_unsupported(&mut linker, import.name(), ty)?;
                }
                _ if known => {}
                ty => {
                    return Err(Error::UnknownImport {
                        module: import.module().to_string(),
                        name: import.name().to_string(),
                        kind: describe(&ty),
                    });
                }
            }
        }
        let pre = linker.instantiate_pre(&module).map_err(|e| {
            Error::Module(format!("the module's imports do not match weft's: {e:#}"))
        })?;
        let controls =
            ControlExports::new(&module, &info).map_err(|e| Error::Module(format!("{e:#}")))?;
        let memory = match module.get_export("memory") {
            Some(ExternType::Memory(_)) => module.get_export_index("memory"),
            _ => None,
        };
        let shape = shape(&id, &info, &module)?;
        let exports_start = matches!(
            module.get_export(crate::script::WASI_ENTRY),
            Some(ExternType::Func(_))
        );
        let slots = info
            .referenceable_functions
            .iter()
            .enumerate()
            .map(|(slot, f)| (*f, slot as u32))
            .collect();
        let initialized = initialized_pages(original, info.memories);
        Ok(ScriptModule {
            initialized,
            slots,
            id,
            original: original.into(),
            info: Arc::new(info),
            module,
            pre,
            controls,
            memory,
            shape,
            exports_start,
        })
    }

    /// The module's identity: the hash of the original bytes and the
    /// instrumentation.
    pub fn id(&self) -> &ModuleId {
        &self.id
    }

    /// The original, uninstrumented module.
    pub fn original(&self) -> &[u8] {
        &self.original
    }

    /// What the instrumentation reported.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// [`ScriptModule::info`], shared.
    pub(crate) fn shared_info(&self) -> &Arc<ModuleInfo> {
        &self.info
    }

    /// The compiled instrumented module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// What a snapshot of one of its scripts must look like.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The name of function `index`, from the module's name section.
    pub fn function_name(&self, index: u32) -> Option<&str> {
        self.info.functions.get(index as usize)?.name.as_deref()
    }

    /// Whether the module exports a WASI `_start`.
    pub fn exports_wasi_start(&self) -> bool {
        self.exports_start
    }

    /// The position of function `index` in [`abi::FUNCTIONS_TABLE`], by
    /// which snapshots refer to it.
    pub fn function_slot(&self, index: u32) -> Option<u32> {
        self.slots.get(&index).copied()
    }

    pub(crate) fn initialized(&self, memory: usize) -> &Initialized {
        self.initialized.get(memory).unwrap_or(&Initialized::Any)
    }

    pub(crate) fn instance_pre(&self) -> &InstancePre<Host> {
        &self.pre
    }

    /// Where an instance's control exports are.
    pub(crate) fn control_exports(&self) -> &ControlExports {
        &self.controls
    }

    /// Where an instance's export `memory` is, if it has one.
    pub(crate) fn memory_export(&self) -> Option<&ModuleExport> {
        self.memory.as_ref()
    }
}

fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => format!("a function {f}"),
        ExternType::Global(g) => format!("a global of type {}", g.content()),
        ExternType::Table(_) => "a table".into(),
        ExternType::Memory(_) => "a memory".into(),
        ExternType::Tag(_) => "a tag".into(),
    }
}

fn shape(id: &ModuleId, info: &ModuleInfo, module: &Module) -> Result<Shape> {
    let export = |name: &str| {
        module
            .get_export(name)
            .ok_or_else(|| Error::Module(format!("the instrumented module lacks `{name}`")))
    };
    let mut memories = Vec::new();
    for m in 0..info.memories {
        match export(&abi::memory_export(m))? {
            ExternType::Memory(ty) => memories.push((ty.minimum(), ty.maximum())),
            _ => {
                return Err(Error::Module(format!(
                    "export of memory {m} is not a memory"
                )));
            }
        }
    }
    let mut globals = Vec::new();
    for &g in &info.mutable_globals {
        match export(&abi::global_export(g))? {
            ExternType::Global(ty) => globals.push((g, value_type(ty.content())?)),
            _ => {
                return Err(Error::Module(format!(
                    "export of global {g} is not a global"
                )));
            }
        }
    }
    let mut tables = Vec::new();
    for t in 0..info.tables {
        match export(&abi::table_export(t))? {
            ExternType::Table(ty) => tables.push((
                ty.minimum(),
                ty.maximum(),
                ty.element().heap_type().is_func(),
            )),
            _ => return Err(Error::Module(format!("export of table {t} is not a table"))),
        }
    }
    Ok(Shape {
        module: Some(id.clone()),
        memories,
        globals,
        tables,
        functions: info.referenceable_functions.len() as u32,
        dropped_words: info.dropped_globals as usize,
        counts_fuel: info.config.counts_fuel(),
    })
}

//! Module-level work: parse and check the input, decide which functions are
//! instrumented, add the state memory, control globals and exports, and
//! assemble the output.

use crate::abi;
use crate::analysis::{self, Callees};
use crate::error::{Error, Result};
use crate::features::{check_operator, check_ref_type, check_val_type, unsupported};
use crate::function::{FunctionEmitter, val_type};
use crate::{Config, FunctionInfo, Instrumented, ModuleInfo};
use std::collections::{BTreeSet, HashMap};
use wasm_encoder::reencode::Reencode;
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ElementSection, Elements, EntityType, ExportKind,
    ExportSection, FunctionSection, GlobalSection, GlobalType, MemorySection, MemoryType, Module,
    RefType, TableSection, TableType, TypeSection, ValType,
};
use wasmparser::{
    CompositeInnerType, ElementItems, ExternalKind, FuncToValidate, FunctionBody, Operator, Parser,
    Payload, TypeRef, Validator, ValidatorResources, WasmFeatures,
};

/// Types appended to the type section.
pub(crate) struct TypeInterner {
    first: u32,
    added: Vec<(Vec<ValType>, Vec<ValType>)>,
    index: HashMap<(Vec<ValType>, Vec<ValType>), u32>,
}

impl TypeInterner {
    fn new(first: u32) -> Self {
        TypeInterner {
            first,
            added: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn intern(&mut self, params: &[ValType], results: &[ValType]) -> u32 {
        let key = (params.to_vec(), results.to_vec());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.first + self.added.len() as u32;
        self.added.push(key.clone());
        self.index.insert(key, i);
        i
    }
}

/// What function emission needs to know about the module.
pub(crate) struct Env<'m> {
    pub config: Config,
    pub remap: Remap,
    pub state_global: u32,
    pub fuel_global: u32,
    pub sp_global: u32,
    pub funcref_sp: Option<u32>,
    pub externref_sp: Option<u32>,
    pub state_memory: u32,
    pub funcref_stack: Option<u32>,
    pub externref_stack: Option<u32>,
    /// The first `i64` global of dropped-segment bits.
    pub first_dropped_global: u32,
    pub data_segments: u32,
    pub save_block_type: u32,
    pub frame_helpers: crate::frame::FrameHelpers,
    func_params: &'m [u32],
}

impl Env<'_> {
    pub fn param_count(&self, func: u32) -> usize {
        self.func_params[func as usize] as usize
    }

    /// Instructions that record that a segment was dropped.
    pub fn mark_dropped(
        &self,
        drop: &Operator<'_>,
    ) -> Option<[wasm_encoder::Instruction<'static>; 4]> {
        let segment = match drop {
            Operator::DataDrop { data_index } => *data_index,
            Operator::ElemDrop { elem_index } => self.data_segments + elem_index,
            _ => return None,
        };
        let global = self.first_dropped_global + segment / 64;
        let bit = 1i64 << (segment % 64);
        use wasm_encoder::Instruction::*;
        Some([GlobalGet(global), I64Const(bit), I64Or, GlobalSet(global)])
    }

    /// The global and bit recording whether `segment` was dropped.
    fn dropped_bit(&self, segment: u32) -> (u32, i64) {
        (
            self.first_dropped_global + segment / 64,
            1i64 << (segment % 64),
        )
    }
}

struct CalleeTable<'a> {
    can_unwind: &'a [bool],
    leaf_cost: &'a [u32],
    /// Parameter count by function index, and by type index.
    func_params: &'a [u32],
    type_params: &'a [u32],
    /// The number of imported functions.
    imported: u32,
}

impl Callees for CalleeTable<'_> {
    fn can_unwind(&self, func: u32) -> bool {
        self.can_unwind.get(func as usize).copied().unwrap_or(true)
    }
    fn leaf_cost(&self, func: u32) -> u32 {
        self.leaf_cost.get(func as usize).copied().unwrap_or(0)
    }
    fn is_import(&self, func: u32) -> bool {
        func < self.imported
    }
    fn params(&self, func: u32) -> Option<u32> {
        self.func_params.get(func as usize).copied()
    }
    fn type_params(&self, ty: u32) -> Option<u32> {
        self.type_params.get(ty as usize).copied()
    }
}

#[derive(Default)]
struct Parsed<'a> {
    types: Vec<wasmparser::RecGroup>,
    /// Function type of every type index (None: not a function type).
    func_types: Vec<Option<wasmparser::FuncType>>,
    imports: Vec<wasmparser::Import<'a>>,
    /// Type index of every function (imports first).
    func_type_of: Vec<u32>,
    imported_funcs: u32,
    imported_tables: u32,
    imported_memories: u32,
    imported_globals: u32,
    table_types: Vec<wasmparser::TableType>,
    tables: Vec<wasmparser::Table<'a>>,
    memories: Vec<wasmparser::MemoryType>,
    global_types: Vec<wasmparser::GlobalType>,
    globals: Vec<wasmparser::Global<'a>>,
    exports: Vec<wasmparser::Export<'a>>,
    start: Option<u32>,
    elements: Vec<wasmparser::Element<'a>>,
    data_count: Option<u32>,
    bodies: Vec<(FunctionBody<'a>, FuncToValidate<ValidatorResources>)>,
    data: Vec<wasmparser::Data<'a>>,
    customs: Vec<wasmparser::CustomSectionReader<'a>>,
    names: Option<HashMap<u32, String>>,
}

fn parse(wasm: &[u8]) -> Result<Parsed<'_>> {
    if wasm.len() < 8 || &wasm[0..4] != b"\0asm" {
        return Err(Error::NotWasm(
            "the file does not start with the WebAssembly magic bytes `\\0asm`".into(),
        ));
    }
    let mut validator =
        Validator::new_with_features(WasmFeatures::default() | WasmFeatures::WIDE_ARITHMETIC);
    let mut p = Parsed::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match validator.payload(&payload)? {
            wasmparser::ValidPayload::Func(func, body) => p.bodies.push((body, func)),
            wasmparser::ValidPayload::End(_) | wasmparser::ValidPayload::Ok => {}
            wasmparser::ValidPayload::Parser(_) => {
                return Err(unsupported(
                    "component model",
                    "nested module or component".into(),
                ));
            }
        }
        match payload {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => {
                return Err(unsupported(
                    "component model",
                    "the input is a component, not a core module".into(),
                ));
            }
            Payload::TypeSection(r) => {
                for group in r {
                    let group = group?;
                    let multi = group.types().len() > 1;
                    for sub in group.types() {
                        if multi || !sub.is_final || sub.supertype_idx.is_some() {
                            return Err(unsupported(
                                "garbage collection",
                                "recursive or subtyped type definitions".into(),
                            ));
                        }
                        match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) if !sub.composite_type.shared => {
                                for t in f.params().iter().chain(f.results()) {
                                    check_val_type(*t, || "a function type".into())?;
                                }
                                p.func_types.push(Some(f.clone()));
                            }
                            CompositeInnerType::Cont(_) => {
                                return Err(unsupported(
                                    "stack switching",
                                    "a continuation type".into(),
                                ));
                            }
                            _ => {
                                return Err(unsupported(
                                    "garbage collection",
                                    "a struct or array type".into(),
                                ));
                            }
                        }
                    }
                    p.types.push(group);
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    let imp = imp?;
                    match imp.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            p.func_type_of.push(t);
                            p.imported_funcs += 1;
                        }
                        TypeRef::Table(t) => {
                            check_table(&t, "an imported table")?;
                            p.table_types.push(t);
                            p.imported_tables += 1;
                        }
                        TypeRef::Memory(m) => {
                            check_memory(&m, "an imported memory")?;
                            p.memories.push(m);
                            p.imported_memories += 1;
                        }
                        TypeRef::Global(g) => {
                            check_global(&g, "an imported global")?;
                            p.global_types.push(g);
                            p.imported_globals += 1;
                        }
                        TypeRef::Tag(_) => {
                            return Err(unsupported(
                                "exception handling",
                                "an imported tag".into(),
                            ));
                        }
                    }
                    p.imports.push(imp);
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    p.func_type_of.push(t?);
                }
            }
            Payload::TableSection(r) => {
                for t in r {
                    let t = t?;
                    check_table(&t.ty, "a table")?;
                    p.table_types.push(t.ty);
                    p.tables.push(t);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m?;
                    check_memory(&m, "a memory")?;
                    p.memories.push(m);
                }
            }
            Payload::TagSection(_) => {
                return Err(unsupported("exception handling", "a tag section".into()));
            }
            Payload::GlobalSection(r) => {
                for g in r {
                    let g = g?;
                    check_global(&g.ty, "a global")?;
                    p.global_types.push(g.ty);
                    p.globals.push(g);
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e?;
                    if e.name.starts_with(abi::RESERVED_PREFIX) {
                        return Err(Error::ReservedName(e.name.to_string()));
                    }
                    p.exports.push(e);
                }
            }
            Payload::StartSection { func, .. } => p.start = Some(func),
            Payload::ElementSection(r) => {
                for e in r {
                    p.elements.push(e?);
                }
            }
            Payload::DataCountSection { count, .. } => p.data_count = Some(count),
            Payload::DataSection(r) => {
                for d in r {
                    p.data.push(d?);
                }
            }
            Payload::CustomSection(c) => {
                if c.name() == "name" {
                    p.names = Some(function_names(c.data(), c.data_offset()));
                }
                if !c.name().starts_with(".debug") {
                    p.customs.push(c);
                }
            }
            Payload::CodeSectionStart { .. } | Payload::CodeSectionEntry(_) | Payload::End(_) => {}
            Payload::Version { .. } => {}
            other => {
                return Err(unsupported(
                    "unknown",
                    format!("unsupported section {:?}", other.as_section()),
                ));
            }
        }
    }
    Ok(p)
}

fn function_names(data: &[u8], offset: usize) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    let reader = wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(data, offset));
    for sub in reader.into_iter().flatten() {
        if let wasmparser::Name::Function(map) = sub {
            for naming in map.into_iter().flatten() {
                names.insert(naming.index, naming.name.to_string());
            }
        }
    }
    names
}

fn check_table(t: &wasmparser::TableType, place: &str) -> Result<()> {
    if t.table64 {
        return Err(unsupported(
            "memory64",
            format!("{place} with 64-bit indices"),
        ));
    }
    if t.shared {
        return Err(unsupported("threads", format!("{place} that is shared")));
    }
    check_ref_type(t.element_type, || place.to_string())
}

fn check_memory(m: &wasmparser::MemoryType, place: &str) -> Result<()> {
    if m.shared {
        return Err(unsupported("threads", format!("{place} that is shared")));
    }
    if m.memory64 {
        return Err(unsupported(
            "memory64",
            format!("{place} with 64-bit addresses"),
        ));
    }
    if m.page_size_log2.is_some() {
        return Err(unsupported(
            "custom page sizes",
            format!("{place} with a custom page size"),
        ));
    }
    Ok(())
}

fn check_global(g: &wasmparser::GlobalType, place: &str) -> Result<()> {
    if g.shared {
        return Err(unsupported("threads", format!("{place} that is shared")));
    }
    check_val_type(g.content_type, || place.to_string())
}

/// Per defined function: its operators and shape.
struct Body<'a> {
    ops: Vec<(Operator<'a>, usize)>,
    locals: Vec<(u32, wasmparser::ValType)>,
    has_loop: bool,
    has_call: bool,
    cost: u32,
}

fn read_body<'a>(body: &FunctionBody<'a>, func: u32) -> Result<Body<'a>> {
    let mut locals = Vec::new();
    for l in body.get_locals_reader()? {
        let (n, ty) = l?;
        check_val_type(ty, || format!("a local of function {func}"))?;
        locals.push((n, ty));
    }
    let mut reader = body.get_operators_reader()?;
    let mut ops = Vec::new();
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        check_operator(&op, func)?;
        ops.push((op, offset));
    }
    let (has_loop, has_call, cost) = analysis::shape(&ops);
    Ok(Body {
        ops,
        locals,
        has_loop,
        has_call,
        cost,
    })
}

/// Whether values of reference type `r` can exist in code: in a signature,
/// a local, a global, or produced by an instruction.
fn uses_ref(p: &Parsed<'_>, bodies: &[Body<'_>], r: wasmparser::RefType) -> bool {
    let is = |t: &wasmparser::ValType| *t == wasmparser::ValType::Ref(r);
    let in_types = p
        .func_types
        .iter()
        .flatten()
        .any(|f| f.params().iter().chain(f.results()).any(is));
    let in_globals = p.global_types.iter().any(|g| is(&g.content_type));
    let in_code = bodies.iter().any(|b| {
        b.locals.iter().any(|(_, t)| is(t))
            || b.ops.iter().any(|(op, _)| match op {
                Operator::RefNull { hty } => {
                    (r == wasmparser::RefType::FUNCREF) == (*hty == wasmparser::HeapType::FUNC)
                }
                Operator::RefFunc { .. } => r == wasmparser::RefType::FUNCREF,
                Operator::TableGet { table } => p
                    .table_types
                    .get(*table as usize)
                    .is_some_and(|t| t.element_type == r),
                Operator::TypedSelect { ty } => is(ty),
                Operator::TypedSelectMulti { tys } => tys.iter().any(is),
                _ => false,
            })
    });
    in_types || in_globals || in_code
}

/// Functions that can become `funcref` values.
fn referenceable_functions(p: &Parsed<'_>, bodies: &[Body<'_>]) -> Result<Vec<u32>> {
    let mut set = BTreeSet::new();
    for e in &p.exports {
        if e.kind == ExternalKind::Func {
            set.insert(e.index);
        }
    }
    let from_expr = |expr: &wasmparser::ConstExpr<'_>, set: &mut BTreeSet<u32>| -> Result<()> {
        let mut r = expr.get_operators_reader();
        while !r.eof() {
            if let Operator::RefFunc { function_index } = r.read()? {
                set.insert(function_index);
            }
        }
        Ok(())
    };
    for e in &p.elements {
        match &e.items {
            ElementItems::Functions(r) => {
                for f in r.clone() {
                    set.insert(f?);
                }
            }
            ElementItems::Expressions(_, r) => {
                for expr in r.clone() {
                    from_expr(&expr?, &mut set)?;
                }
            }
        }
    }
    for g in &p.globals {
        from_expr(&g.init_expr, &mut set)?;
    }
    for t in &p.tables {
        if let wasmparser::TableInit::Expr(e) = &t.init {
            from_expr(e, &mut set)?;
        }
    }
    for b in bodies {
        for (op, _) in &b.ops {
            if let Operator::RefFunc { function_index } = op {
                set.insert(*function_index);
            }
        }
    }
    Ok(set.into_iter().collect())
}

/// Maps the global, memory and table indices of the input to the output,
/// where imports of the shared control state come right after the input's
/// own imports.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Remap {
    imported_globals: u32,
    added_global_imports: u32,
    imported_memories: u32,
    added_memory_imports: u32,
    imported_tables: u32,
    added_table_imports: u32,
}

impl Reencode for Remap {
    type Error = std::convert::Infallible;

    fn global_index(&mut self, g: u32) -> Result<u32, wasm_encoder::reencode::Error<Self::Error>> {
        Ok(if g < self.imported_globals {
            g
        } else {
            g + self.added_global_imports
        })
    }

    fn memory_index(&mut self, m: u32) -> Result<u32, wasm_encoder::reencode::Error<Self::Error>> {
        Ok(if m < self.imported_memories {
            m
        } else {
            m + self.added_memory_imports
        })
    }

    fn table_index(&mut self, t: u32) -> Result<u32, wasm_encoder::reencode::Error<Self::Error>> {
        Ok(if t < self.imported_tables {
            t
        } else {
            t + self.added_table_imports
        })
    }
}

impl Remap {
    fn global(&self, g: u32) -> u32 {
        if g < self.imported_globals {
            g
        } else {
            g + self.added_global_imports
        }
    }
    fn memory(&self, m: u32) -> u32 {
        if m < self.imported_memories {
            m
        } else {
            m + self.added_memory_imports
        }
    }
    fn table(&self, t: u32) -> u32 {
        if t < self.imported_tables {
            t
        } else {
            t + self.added_table_imports
        }
    }
}

/// One piece of control state the pass adds: where it lives and what it is.
#[derive(Clone, Copy)]
enum Control {
    Global {
        name: &'static str,
        ty: ValType,
        init: i64,
    },
    Memory,
    Table {
        name: &'static str,
        elem: RefType,
    },
}

pub(crate) fn instrument(wasm: &[u8], config: &Config) -> Result<Instrumented> {
    let mut p = parse(wasm)?;
    for imp in &p.imports {
        if imp.name.starts_with(abi::RESERVED_PREFIX) || imp.module == abi::SHARED_STATE_MODULE {
            return Err(Error::ReservedName(format!("{}::{}", imp.module, imp.name)));
        }
    }

    let mut bodies = Vec::with_capacity(p.bodies.len());
    for (i, (body, _)) in p.bodies.iter().enumerate() {
        bodies.push(read_body(body, p.imported_funcs + i as u32)?);
    }
    let total_funcs = p.func_type_of.len();
    let mut can_unwind = vec![true; total_funcs];
    let mut leaf_cost = vec![0u32; total_funcs];
    for (i, b) in bodies.iter().enumerate() {
        let f = p.imported_funcs as usize + i;
        can_unwind[f] = b.has_loop || b.has_call;
        leaf_cost[f] = b.cost;
    }
    let type_params: Vec<u32> = p
        .func_types
        .iter()
        .map(|f| f.as_ref().map_or(0, |f| f.params().len() as u32))
        .collect();
    let func_params: Vec<u32> = p
        .func_type_of
        .iter()
        .map(|t| type_params.get(*t as usize).copied().unwrap_or(0))
        .collect();
    let callees = CalleeTable {
        can_unwind: &can_unwind,
        leaf_cost: &leaf_cost,
        func_params: &func_params,
        type_params: &type_params,
        imported: p.imported_funcs,
    };

    let has_drops = bodies.iter().any(|b| {
        b.ops
            .iter()
            .any(|(op, _)| matches!(op, Operator::DataDrop { .. } | Operator::ElemDrop { .. }))
    });
    let funcref_stack_needed = uses_ref(&p, &bodies, wasmparser::RefType::FUNCREF);
    let externref_stack_needed = uses_ref(&p, &bodies, wasmparser::RefType::EXTERNREF);
    let referenceable = referenceable_functions(&p, &bodies)?;

    // The control state, in the order its globals and tables are numbered.
    let mut controls: Vec<Control> = vec![Control::Global {
        name: abi::STATE_GLOBAL,
        ty: ValType::I32,
        init: i64::from(abi::STATE_NORMAL),
    }];
    if config.counts_fuel() {
        controls.push(Control::Global {
            name: abi::FUEL_GLOBAL,
            ty: ValType::I64,
            init: i64::MAX,
        });
    }
    controls.push(Control::Global {
        name: abi::SP_GLOBAL,
        ty: ValType::I32,
        init: i64::from(abi::STACK_BASE),
    });
    if funcref_stack_needed {
        controls.push(Control::Global {
            name: abi::FUNCREF_SP_GLOBAL,
            ty: ValType::I32,
            init: 0,
        });
    }
    if externref_stack_needed {
        controls.push(Control::Global {
            name: abi::EXTERNREF_SP_GLOBAL,
            ty: ValType::I32,
            init: 0,
        });
    }
    controls.push(Control::Memory);
    if funcref_stack_needed {
        controls.push(Control::Table {
            name: abi::FUNCREF_STACK_TABLE,
            elem: RefType::FUNCREF,
        });
    }
    if externref_stack_needed {
        controls.push(Control::Table {
            name: abi::EXTERNREF_STACK_TABLE,
            elem: RefType::EXTERNREF,
        });
    }
    let control_globals = controls
        .iter()
        .filter(|c| matches!(c, Control::Global { .. }))
        .count() as u32;
    let control_tables = controls
        .iter()
        .filter(|c| matches!(c, Control::Table { .. }))
        .count() as u32;

    let shared = config.shared_state;
    let remap = Remap {
        imported_globals: p.imported_globals,
        added_global_imports: if shared { control_globals } else { 0 },
        imported_memories: p.imported_memories,
        added_memory_imports: u32::from(shared),
        imported_tables: p.imported_tables,
        added_table_imports: if shared { control_tables } else { 0 },
    };
    // Control state goes right after the input's imports (shared) or after
    // all its definitions (own).
    let first_control_global = if shared {
        p.imported_globals
    } else {
        p.global_types.len() as u32
    };
    let state_memory = if shared {
        p.imported_memories
    } else {
        p.memories.len() as u32
    };
    let first_control_table = if shared {
        p.imported_tables
    } else {
        p.table_types.len() as u32
    };
    let mut control_index: HashMap<&'static str, u32> = HashMap::new();
    let (mut g, mut t) = (first_control_global, first_control_table);
    for c in &controls {
        match c {
            Control::Global { name, .. } => {
                control_index.insert(name, g);
                g += 1;
            }
            Control::Table { name, .. } => {
                control_index.insert(name, t);
                t += 1;
            }
            Control::Memory => {}
        }
    }
    let total_globals = p.global_types.len() as u32 + control_globals;
    let total_tables = p.table_types.len() as u32 + control_tables;
    let functions_table = (!referenceable.is_empty()).then_some(total_tables);

    let n_data = p.data.len() as u32;
    let n_elem = p.elements.len() as u32;
    let dropped_globals = if has_drops {
        (n_data + n_elem).div_ceil(64)
    } else {
        0
    };
    let first_dropped_global = total_globals;

    let n_types: u32 = p.types.iter().map(|g| g.types().len() as u32).sum();
    let mut types = TypeInterner::new(n_types);
    let save_block_type = types.intern(&[], &[ValType::I32, ValType::I64]);
    let restore_segments = has_drops.then(|| (types.intern(&[], &[]), total_funcs as u32));
    let first_helper = total_funcs as u32 + u32::from(has_drops);
    let frame_helpers = crate::frame::FrameHelpers {
        pop: first_helper,
        push: first_helper + 1,
        reserve: first_helper + 2,
    };
    let helper_types = [
        types.intern(&crate::frame::POP_PARAMS, &[ValType::I32]),
        types.intern(&crate::frame::PUSH_PARAMS, &[]),
        types.intern(&crate::frame::RESERVE_PARAMS, &[]),
    ];

    let env = Env {
        config: *config,
        remap,
        state_global: control_index[abi::STATE_GLOBAL],
        fuel_global: control_index
            .get(abi::FUEL_GLOBAL)
            .copied()
            .unwrap_or(u32::MAX),
        sp_global: control_index[abi::SP_GLOBAL],
        funcref_sp: control_index.get(abi::FUNCREF_SP_GLOBAL).copied(),
        externref_sp: control_index.get(abi::EXTERNREF_SP_GLOBAL).copied(),
        state_memory,
        funcref_stack: control_index.get(abi::FUNCREF_STACK_TABLE).copied(),
        externref_stack: control_index.get(abi::EXTERNREF_STACK_TABLE).copied(),
        first_dropped_global,
        data_segments: n_data,
        save_block_type,
        frame_helpers,
        func_params: &func_params,
    };

    // Functions.
    let mut code = CodeSection::new();
    let mut functions = Vec::with_capacity(total_funcs);
    let name_of = |f: u32| p.names.as_ref().and_then(|n| n.get(&f).cloned());
    for f in 0..p.imported_funcs {
        functions.push(FunctionInfo {
            name: name_of(f),
            imported: true,
            instrumented: false,
            resume_points: 0,
            frame_size: 0,
        });
    }
    let to_validate: Vec<_> = std::mem::take(&mut p.bodies)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    for (i, (to_validate, body)) in to_validate.into_iter().zip(&bodies).enumerate() {
        let func_index = p.imported_funcs + i as u32;
        let ty = p.func_types[p.func_type_of[func_index as usize] as usize]
            .clone()
            .expect("validated function type");
        let mut validator = to_validate.into_validator(Default::default());
        if can_unwind[func_index as usize] {
            let a = analysis::analyze(&body.ops, &callees, body.has_call);
            let (f, frame_size) = FunctionEmitter::emit(
                &env,
                &mut types,
                &a,
                func_index,
                ty.params(),
                ty.results(),
                &body.locals,
                &body.ops,
                &mut validator,
            )?;
            code.function(&f);
            functions.push(FunctionInfo {
                name: name_of(func_index),
                imported: false,
                instrumented: true,
                resume_points: a.resume_points,
                frame_size,
            });
        } else {
            code.function(&copy_leaf(&env, body, &mut validator)?);
            functions.push(FunctionInfo {
                name: name_of(func_index),
                imported: false,
                instrumented: false,
                resume_points: 0,
                frame_size: 0,
            });
        }
    }
    if restore_segments.is_some() {
        code.function(&restore_segments_function(&env, &p));
    }
    code.function(&crate::frame::pop_function(&env));
    code.function(&crate::frame::push_function(&env));
    code.function(&crate::frame::reserve_function(&env));

    // Assemble.
    let mut rt = remap;
    let mut module = Module::new();
    let mut type_section = TypeSection::new();
    for group in &p.types {
        rt.parse_recursive_type_group(type_section.ty(), group.clone())
            .map_err(reencode)?;
    }
    for (params, results) in &types.added {
        type_section
            .ty()
            .function(params.iter().copied(), results.iter().copied());
    }
    module.section(&type_section);

    let control_global_type = |ty: ValType| GlobalType {
        val_type: ty,
        mutable: true,
        shared: false,
    };
    let state_memory_type = MemoryType {
        minimum: 1,
        maximum: Some(65536),
        memory64: false,
        shared: false,
        page_size_log2: None,
    };
    let stack_table_type = |elem: RefType| TableType {
        element_type: elem,
        minimum: 0,
        maximum: None,
        table64: false,
        shared: false,
    };
    let mut imports = wasm_encoder::ImportSection::new();
    for imp in &p.imports {
        let ty: EntityType = rt.entity_type(imp.ty).map_err(reencode)?;
        imports.import(imp.module, imp.name, ty);
    }
    if shared {
        // Globals, then the memory, then tables: each index space in order.
        for c in &controls {
            if let Control::Global { name, ty, .. } = c {
                imports.import(abi::SHARED_STATE_MODULE, name, control_global_type(*ty));
            }
        }
        imports.import(
            abi::SHARED_STATE_MODULE,
            abi::STATE_MEMORY,
            state_memory_type,
        );
        for c in &controls {
            if let Control::Table { name, elem } = c {
                imports.import(abi::SHARED_STATE_MODULE, name, stack_table_type(*elem));
            }
        }
    }
    if !imports.is_empty() {
        module.section(&imports);
    }

    let mut function_section = FunctionSection::new();
    for t in &p.func_type_of[p.imported_funcs as usize..] {
        function_section.function(*t);
    }
    if let Some((ty, _)) = restore_segments {
        function_section.function(ty);
    }
    for ty in helper_types {
        function_section.function(ty);
    }
    module.section(&function_section);

    let mut tables = TableSection::new();
    for t in &p.tables {
        rt.parse_table(&mut tables, t.clone()).map_err(reencode)?;
    }
    if !shared {
        for c in &controls {
            if let Control::Table { elem, .. } = c {
                tables.table(stack_table_type(*elem));
            }
        }
    }
    if functions_table.is_some() {
        let n = referenceable.len() as u64;
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            minimum: n,
            maximum: Some(n),
            table64: false,
            shared: false,
        });
    }
    if !tables.is_empty() {
        module.section(&tables);
    }

    let mut memories = MemorySection::new();
    for m in &p.memories[p.imported_memories as usize..] {
        memories.memory(rt.memory_type(*m).map_err(reencode)?);
    }
    if !shared {
        memories.memory(state_memory_type);
    }
    if !memories.is_empty() {
        module.section(&memories);
    }

    let mut globals = GlobalSection::new();
    for g in &p.globals {
        rt.parse_global(&mut globals, g.clone()).map_err(reencode)?;
    }
    if !shared {
        for c in &controls {
            if let Control::Global { ty, init, .. } = c {
                let init = if *ty == ValType::I64 {
                    ConstExpr::i64_const(*init)
                } else {
                    ConstExpr::i32_const(*init as i32)
                };
                globals.global(control_global_type(*ty), &init);
            }
        }
    }
    for _ in 0..dropped_globals {
        globals.global(control_global_type(ValType::I64), &ConstExpr::i64_const(0));
    }
    if !globals.is_empty() {
        module.section(&globals);
    }

    let mut exports = ExportSection::new();
    for e in &p.exports {
        exports.export(
            e.name,
            rt.export_kind(e.kind).map_err(reencode)?,
            rt.external_index(e.kind, e.index).map_err(reencode)?,
        );
    }
    for m in 0..p.memories.len() as u32 {
        exports.export(&abi::memory_export(m), ExportKind::Memory, remap.memory(m));
    }
    for (g, ty) in p.global_types.iter().enumerate() {
        if ty.mutable {
            exports.export(
                &abi::global_export(g as u32),
                ExportKind::Global,
                remap.global(g as u32),
            );
        }
    }
    for t in 0..p.table_types.len() as u32 {
        exports.export(&abi::table_export(t), ExportKind::Table, remap.table(t));
    }
    for k in 0..dropped_globals {
        exports.export(
            &abi::dropped_export(k),
            ExportKind::Global,
            first_dropped_global + k,
        );
    }
    exports.export(abi::STATE_MEMORY, ExportKind::Memory, state_memory);
    for c in &controls {
        match c {
            Control::Global { name, .. } => {
                exports.export(name, ExportKind::Global, control_index[name])
            }
            Control::Table { name, .. } => {
                exports.export(name, ExportKind::Table, control_index[name])
            }
            Control::Memory => continue,
        };
    }
    if let Some(t) = functions_table {
        exports.export(abi::FUNCTIONS_TABLE, ExportKind::Table, t);
    }
    if let Some(start) = p.start {
        exports.export(abi::START_EXPORT, ExportKind::Func, start);
    }
    if let Some((_, f)) = restore_segments {
        exports.export(abi::RESTORE_SEGMENTS_EXPORT, ExportKind::Func, f);
    }
    module.section(&exports);

    let mut elements = ElementSection::new();
    for e in &p.elements {
        rt.parse_element(&mut elements, e.clone())
            .map_err(reencode)?;
    }
    if let Some(t) = functions_table {
        elements.active(
            Some(t),
            &ConstExpr::i32_const(0),
            Elements::Functions(referenceable.clone().into()),
        );
    }
    if !elements.is_empty() {
        module.section(&elements);
    }
    if let Some(count) = p.data_count {
        module.section(&wasm_encoder::DataCountSection { count });
    }
    module.section(&code);
    if !p.data.is_empty() {
        let mut data = wasm_encoder::DataSection::new();
        for d in &p.data {
            rt.parse_data(&mut data, d.clone()).map_err(reencode)?;
        }
        module.section(&data);
    }
    for c in &p.customs {
        if c.name() == "name" {
            module.section(&name_section(&mut rt, c)?);
        } else {
            module.section(&wasm_encoder::CustomSection {
                name: c.name().into(),
                data: c.data().into(),
            });
        }
    }

    let wasm = module.finish();
    let info = ModuleInfo {
        config: *config,
        functions,
        referenceable_functions: referenceable,
        memories: p.memories.len() as u32,
        mutable_globals: p
            .global_types
            .iter()
            .enumerate()
            .filter(|(_, g)| g.mutable)
            .map(|(i, _)| i as u32)
            .collect(),
        tables: p.table_types.len() as u32,
        dropped_globals,
        data_segments: n_data,
        element_segments: n_elem,
        has_start: p.start.is_some(),
    };
    Ok(Instrumented { wasm, info })
}

/// The name section without label names, which no longer match the
/// instrumented code's blocks.
fn name_section(
    rt: &mut Remap,
    c: &wasmparser::CustomSectionReader<'_>,
) -> Result<wasm_encoder::NameSection> {
    let mut names = wasm_encoder::NameSection::new();
    let reader = wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(
        c.data(),
        c.data_offset(),
    ));
    for sub in reader {
        let sub = sub?;
        if !matches!(sub, wasmparser::Name::Label(_)) {
            rt.parse_custom_name_subsection(&mut names, sub)
                .map_err(reencode)?;
        }
    }
    Ok(names)
}

fn reencode(e: wasm_encoder::reencode::Error) -> Error {
    Error::Limit(format!("cannot re-encode: {e}"))
}

/// A function that cannot unwind is copied as it is, except that dropping a
/// segment is recorded in the state memory.
fn copy_leaf(
    env: &Env<'_>,
    body: &Body<'_>,
    validator: &mut wasmparser::FuncValidator<ValidatorResources>,
) -> Result<wasm_encoder::Function> {
    let mut rt = env.remap;
    for (n, ty) in &body.locals {
        validator.define_locals(0, *n, *ty)?;
    }
    let mut f = wasm_encoder::Function::new(body.locals.iter().map(|(n, t)| (*n, val_type(*t))));
    for (op, offset) in &body.ops {
        validator.op(*offset, op)?;
        f.instruction(&rt.instruction(op.clone()).map_err(reencode)?);
        for i in env.mark_dropped(op).iter().flatten() {
            f.instruction(i);
        }
    }
    if let Some((_, offset)) = body.ops.last() {
        crate::module::check_body_end(validator, offset + 1)?;
    }
    Ok(f)
}

/// `__weft_restore_segments`: drops every segment the state memory records
/// as dropped.
fn restore_segments_function(env: &Env<'_>, p: &Parsed<'_>) -> wasm_encoder::Function {
    let mut f = wasm_encoder::Function::new([]);
    let data = p
        .data
        .iter()
        .map(|d| matches!(d.kind, wasmparser::DataKind::Passive));
    let elems = p
        .elements
        .iter()
        .map(|e| matches!(e.kind, wasmparser::ElementKind::Passive));
    for (segment, passive) in data.chain(elems).enumerate() {
        if !passive {
            continue;
        }
        let segment = segment as u32;
        let (global, bit) = env.dropped_bit(segment);
        f.instructions()
            .global_get(global)
            .i64_const(bit)
            .i64_and()
            .i64_const(0)
            .i64_ne()
            .if_(BlockType::Empty);
        if segment < env.data_segments {
            f.instructions().data_drop(segment);
        } else {
            f.instructions().elem_drop(segment - env.data_segments);
        }
        f.instructions().end();
    }
    f.instructions().end();
    f
}

/// A function body must close every block it opens.
pub(crate) fn check_body_end(
    validator: &wasmparser::FuncValidator<ValidatorResources>,
    offset: usize,
) -> Result<()> {
    if validator.control_stack_height() != 0 {
        return Err(Error::Malformed(format!(
            "function body must end with `end` (at offset {offset:#x})"
        )));
    }
    Ok(())
}

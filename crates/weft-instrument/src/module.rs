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
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ElementSection, Elements, EntityType, ExportKind, ExportSection,
    FunctionSection, GlobalSection, GlobalType, MemArg, MemorySection, MemoryType, Module, RefType,
    TableSection, TableType, TypeSection, ValType,
};
use wasmparser::{
    CompositeInnerType, ElementItems, ExternalKind, FuncToValidate, FunctionBody, Operator, Parser, Payload,
    TypeRef, Validator, ValidatorResources, WasmFeatures,
};

/// Types appended to the type section.
pub(crate) struct TypeInterner {
    first: u32,
    added: Vec<(Vec<ValType>, Vec<ValType>)>,
    index: HashMap<(Vec<ValType>, Vec<ValType>), u32>,
}

impl TypeInterner {
    fn new(first: u32) -> Self {
        TypeInterner { first, added: Vec::new(), index: HashMap::new() }
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
    pub state_global: u32,
    pub fuel_global: u32,
    pub sp_global: u32,
    pub funcref_sp: Option<u32>,
    pub externref_sp: Option<u32>,
    pub state_memory: u32,
    pub funcref_stack: Option<u32>,
    pub externref_stack: Option<u32>,
    pub stack_base: u32,
    pub dropped_data_offset: u32,
    pub dropped_elem_offset: u32,
    pub save_block_type: u32,
    func_params: &'m [u32],
}

impl Env<'_> {
    pub fn param_count(&self, func: u32) -> usize {
        self.func_params[func as usize] as usize
    }
}

struct CalleeTable<'a> {
    can_unwind: &'a [bool],
    leaf_cost: &'a [u32],
}

impl Callees for CalleeTable<'_> {
    fn can_unwind(&self, func: u32) -> bool {
        self.can_unwind.get(func as usize).copied().unwrap_or(true)
    }
    fn leaf_cost(&self, func: u32) -> u32 {
        self.leaf_cost.get(func as usize).copied().unwrap_or(0)
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
        return Err(Error::NotWasm("the file does not start with the WebAssembly magic bytes `\\0asm`".into()));
    }
    let mut validator = Validator::new_with_features(WasmFeatures::default());
    let mut p = Parsed::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match validator.payload(&payload)? {
            wasmparser::ValidPayload::Func(func, body) => p.bodies.push((body, func)),
            wasmparser::ValidPayload::End(_) | wasmparser::ValidPayload::Ok => {}
            wasmparser::ValidPayload::Parser(_) => {
                return Err(unsupported("component model", "nested module or component".into()));
            }
        }
        match payload {
            Payload::Version { encoding: wasmparser::Encoding::Component, .. } => {
                return Err(unsupported("component model", "the input is a component, not a core module".into()));
            }
            Payload::TypeSection(r) => {
                for group in r {
                    let group = group?;
                    let multi = group.types().len() > 1;
                    for sub in group.types() {
                        if multi || !sub.is_final || sub.supertype_idx.is_some() {
                            return Err(unsupported("garbage collection", "recursive or subtyped type definitions".into()));
                        }
                        match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) if !sub.composite_type.shared => {
                                for t in f.params().iter().chain(f.results()) {
                                    check_val_type(*t, || "a function type".into())?;
                                }
                                p.func_types.push(Some(f.clone()));
                            }
                            CompositeInnerType::Cont(_) => {
                                return Err(unsupported("stack switching", "a continuation type".into()));
                            }
                            _ => return Err(unsupported("garbage collection", "a struct or array type".into())),
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
                        TypeRef::Tag(_) => return Err(unsupported("exception handling", "an imported tag".into())),
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
            Payload::TagSection(_) => return Err(unsupported("exception handling", "a tag section".into())),
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
                return Err(unsupported("unknown", format!("unsupported section {:?}", other.as_section())));
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
        return Err(unsupported("memory64", format!("{place} with 64-bit indices")));
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
        return Err(unsupported("memory64", format!("{place} with 64-bit addresses")));
    }
    if m.page_size_log2.is_some() {
        return Err(unsupported("custom page sizes", format!("{place} with a custom page size")));
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
    Ok(Body { ops, locals, has_loop, has_call, cost })
}

/// Whether values of reference type `r` can exist in code: in a signature,
/// a local, a global, or produced by an instruction.
fn uses_ref(p: &Parsed<'_>, bodies: &[Body<'_>], r: wasmparser::RefType) -> bool {
    let is = |t: &wasmparser::ValType| *t == wasmparser::ValType::Ref(r);
    let in_types = p.func_types.iter().flatten().any(|f| f.params().iter().chain(f.results()).any(is));
    let in_globals = p.global_types.iter().any(|g| is(&g.content_type));
    let in_code = bodies.iter().any(|b| {
        b.locals.iter().any(|(_, t)| is(t))
            || b.ops.iter().any(|(op, _)| match op {
                Operator::RefNull { hty } => {
                    (r == wasmparser::RefType::FUNCREF) == (*hty == wasmparser::HeapType::FUNC)
                }
                Operator::RefFunc { .. } => r == wasmparser::RefType::FUNCREF,
                Operator::TableGet { table } => {
                    p.table_types.get(*table as usize).is_some_and(|t| t.element_type == r)
                }
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

pub(crate) fn instrument(wasm: &[u8], config: &Config) -> Result<Instrumented> {
    let mut p = parse(wasm)?;
    let mut rt = RoundtripReencoder;

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
    let callees = CalleeTable { can_unwind: &can_unwind, leaf_cost: &leaf_cost };

    let has_drops = bodies
        .iter()
        .any(|b| b.ops.iter().any(|(op, _)| matches!(op, Operator::DataDrop { .. } | Operator::ElemDrop { .. })));
    let funcref_stack_needed = uses_ref(&p, &bodies, wasmparser::RefType::FUNCREF);
    let externref_stack_needed = uses_ref(&p, &bodies, wasmparser::RefType::EXTERNREF);
    let referenceable = referenceable_functions(&p, &bodies)?;

    // Indices of everything the pass adds.
    let n_globals = p.global_types.len() as u32;
    let mut next_global = n_globals;
    let mut take = |cond: bool| {
        cond.then(|| {
            next_global += 1;
            next_global - 1
        })
    };
    let state_global = take(true).expect("always");
    let fuel_global = take(config.counts_fuel());
    let sp_global = take(true).expect("always");
    let stack_base_global = take(true).expect("always");
    let funcref_sp = take(funcref_stack_needed);
    let externref_sp = take(externref_stack_needed);
    let state_memory = p.memories.len() as u32;
    let mut next_table = p.table_types.len() as u32;
    let mut take_table = |cond: bool| {
        cond.then(|| {
            next_table += 1;
            next_table - 1
        })
    };
    let funcref_stack = take_table(funcref_stack_needed);
    let externref_stack = take_table(externref_stack_needed);
    let functions_table = take_table(!referenceable.is_empty());

    let n_data = p.data.len() as u32;
    let n_elem = p.elements.len() as u32;
    let dropped_data_offset = abi::DROPPED_SEGMENTS_OFFSET;
    let dropped_elem_offset = dropped_data_offset + n_data;
    let stack_base = (dropped_elem_offset + n_elem + 15) / 16 * 16;

    let n_types: u32 = p.types.iter().map(|g| g.types().len() as u32).sum();
    let mut types = TypeInterner::new(n_types);
    let save_block_type = types.intern(&[], &[ValType::I32, ValType::I64]);
    let restore_segments = has_drops.then(|| (types.intern(&[], &[]), total_funcs as u32));

    let func_params: Vec<u32> = p
        .func_type_of
        .iter()
        .map(|t| p.func_types.get(*t as usize).and_then(|f| f.as_ref()).map_or(0, |f| f.params().len() as u32))
        .collect();
    let env = Env {
        config: *config,
        state_global,
        fuel_global: fuel_global.unwrap_or(u32::MAX),
        sp_global,
        funcref_sp,
        externref_sp,
        state_memory,
        funcref_stack,
        externref_stack,
        stack_base,
        dropped_data_offset,
        dropped_elem_offset,
        save_block_type,
        func_params: &func_params,
    };

    // Functions.
    let mut code = CodeSection::new();
    let mut functions = Vec::with_capacity(total_funcs);
    for f in 0..p.imported_funcs {
        functions.push(FunctionInfo {
            name: p.names.as_ref().and_then(|n| n.get(&f).cloned()),
            imported: true,
            instrumented: false,
            resume_points: 0,
            frame_size: 0,
        });
    }
    for (i, ((_, to_validate), body)) in std::mem::take(&mut p.bodies).into_iter().zip(&bodies).enumerate() {
        let func_index = p.imported_funcs + i as u32;
        let ty = p.func_types[p.func_type_of[func_index as usize] as usize].clone().expect("validated function type");
        let mut validator = to_validate.into_validator(Default::default());
        let name = p.names.as_ref().and_then(|n| n.get(&func_index).cloned());
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
                name,
                imported: false,
                instrumented: true,
                resume_points: a.resume_points,
                frame_size,
            });
        } else {
            code.function(&copy_leaf(&env, body, &mut validator)?);
            functions.push(FunctionInfo { name, imported: false, instrumented: false, resume_points: 0, frame_size: 0 });
        }
    }
    if let Some((_, _)) = restore_segments {
        code.function(&restore_segments_function(&env, &p));
    }

    // Assemble.
    let mut module = Module::new();
    let mut type_section = TypeSection::new();
    for group in &p.types {
        rt.parse_recursive_type_group(type_section.ty(), group.clone()).map_err(reencode)?;
    }
    for (params, results) in &types.added {
        type_section.ty().function(params.iter().copied(), results.iter().copied());
    }
    module.section(&type_section);

    if !p.imports.is_empty() {
        let mut imports = wasm_encoder::ImportSection::new();
        for imp in &p.imports {
            let ty: EntityType = rt.entity_type(imp.ty).map_err(reencode)?;
            imports.import(imp.module, imp.name, ty);
        }
        module.section(&imports);
    }

    let mut function_section = FunctionSection::new();
    for t in &p.func_type_of[p.imported_funcs as usize..] {
        function_section.function(*t);
    }
    if let Some((ty, _)) = restore_segments {
        function_section.function(ty);
    }
    module.section(&function_section);

    let mut tables = TableSection::new();
    for t in &p.tables {
        rt.parse_table(&mut tables, t.clone()).map_err(reencode)?;
    }
    for (table, elem) in [(funcref_stack, RefType::FUNCREF), (externref_stack, RefType::EXTERNREF)] {
        if table.is_some() {
            tables.table(TableType { element_type: elem, minimum: 0, maximum: None, table64: false, shared: false });
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
    memories.memory(MemoryType {
        minimum: u64::from(stack_base >> 16) + 1,
        maximum: Some(65536),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);

    let mut globals = GlobalSection::new();
    for g in &p.globals {
        rt.parse_global(&mut globals, g.clone()).map_err(reencode)?;
    }
    let mutable_i32 = GlobalType { val_type: ValType::I32, mutable: true, shared: false };
    globals.global(mutable_i32, &ConstExpr::i32_const(abi::STATE_NORMAL));
    if fuel_global.is_some() {
        globals.global(
            GlobalType { val_type: ValType::I64, mutable: true, shared: false },
            &ConstExpr::i64_const(i64::MAX),
        );
    }
    globals.global(mutable_i32, &ConstExpr::i32_const(stack_base as i32));
    globals.global(GlobalType { val_type: ValType::I32, mutable: false, shared: false }, &ConstExpr::i32_const(stack_base as i32));
    for g in [funcref_sp, externref_sp] {
        if g.is_some() {
            globals.global(mutable_i32, &ConstExpr::i32_const(0));
        }
    }
    module.section(&globals);

    let mut exports = ExportSection::new();
    for e in &p.exports {
        exports.export(e.name, rt.export_kind(e.kind).map_err(reencode)?, e.index);
    }
    for m in 0..p.memories.len() as u32 {
        exports.export(&abi::memory_export(m), ExportKind::Memory, m);
    }
    for (g, ty) in p.global_types.iter().enumerate() {
        if ty.mutable {
            exports.export(&abi::global_export(g as u32), ExportKind::Global, g as u32);
        }
    }
    for t in 0..p.table_types.len() as u32 {
        exports.export(&abi::table_export(t), ExportKind::Table, t);
    }
    exports.export(abi::STATE_MEMORY, ExportKind::Memory, state_memory);
    exports.export(abi::STATE_GLOBAL, ExportKind::Global, state_global);
    if let Some(g) = fuel_global {
        exports.export(abi::FUEL_GLOBAL, ExportKind::Global, g);
    }
    exports.export(abi::SP_GLOBAL, ExportKind::Global, sp_global);
    exports.export(abi::STACK_BASE_GLOBAL, ExportKind::Global, stack_base_global);
    for (name, g) in [(abi::FUNCREF_SP_GLOBAL, funcref_sp), (abi::EXTERNREF_SP_GLOBAL, externref_sp)] {
        if let Some(g) = g {
            exports.export(name, ExportKind::Global, g);
        }
    }
    for (name, t) in [
        (abi::FUNCREF_STACK_TABLE, funcref_stack),
        (abi::EXTERNREF_STACK_TABLE, externref_stack),
        (abi::FUNCTIONS_TABLE, functions_table),
    ] {
        if let Some(t) = t {
            exports.export(name, ExportKind::Table, t);
        }
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
        rt.parse_element(&mut elements, e.clone()).map_err(reencode)?;
    }
    if let Some(t) = functions_table {
        elements.active(Some(t), &ConstExpr::i32_const(0), Elements::Functions(referenceable.clone().into()));
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
        module.section(&wasm_encoder::CustomSection { name: c.name().into(), data: c.data().into() });
    }

    let wasm = module.finish();
    let info = ModuleInfo {
        config: *config,
        functions,
        referenceable_functions: referenceable,
        memories: p.memories.len() as u32,
        mutable_globals: p.global_types.iter().enumerate().filter(|(_, g)| g.mutable).map(|(i, _)| i as u32).collect(),
        tables: p.table_types.len() as u32,
        stack_base,
        data_segments: n_data,
        element_segments: n_elem,
        has_start: p.start.is_some(),
    };
    Ok(Instrumented { wasm, info })
}

fn reencode(e: wasm_encoder::reencode::Error) -> Error {
    Error::Limit(format!("cannot re-encode: {e}"))
}

/// A function that cannot unwind is copied as it is, except that dropping a
/// segment is recorded in the state memory.
fn copy_leaf(env: &Env<'_>, body: &Body<'_>, validator: &mut wasmparser::FuncValidator<ValidatorResources>) -> Result<wasm_encoder::Function> {
    let mut rt = RoundtripReencoder;
    for (n, ty) in &body.locals {
        validator.define_locals(0, *n, *ty)?;
    }
    let mut f = wasm_encoder::Function::new(body.locals.iter().map(|(n, t)| (*n, val_type(*t))));
    for (op, offset) in &body.ops {
        validator.op(*offset, op)?;
        f.instruction(&rt.instruction(op.clone()).map_err(reencode)?);
        let dropped = match op {
            Operator::DataDrop { data_index } => Some(env.dropped_data_offset + data_index),
            Operator::ElemDrop { elem_index } => Some(env.dropped_elem_offset + elem_index),
            _ => None,
        };
        if let Some(offset) = dropped {
            f.instructions()
                .i32_const(0)
                .i32_const(1)
                .i32_store8(MemArg { offset: u64::from(offset), align: 0, memory_index: env.state_memory });
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
    let byte = |offset: u32| MemArg { offset: u64::from(offset), align: 0, memory_index: env.state_memory };
    for (i, d) in p.data.iter().enumerate() {
        if matches!(d.kind, wasmparser::DataKind::Passive) {
            f.instructions()
                .i32_const(0)
                .i32_load8_u(byte(env.dropped_data_offset + i as u32))
                .if_(BlockType::Empty)
                .data_drop(i as u32)
                .end();
        }
    }
    for (i, e) in p.elements.iter().enumerate() {
        if matches!(e.kind, wasmparser::ElementKind::Passive) {
            f.instructions()
                .i32_const(0)
                .i32_load8_u(byte(env.dropped_elem_offset + i as u32))
                .if_(BlockType::Empty)
                .elem_drop(i as u32)
                .end();
        }
    }
    f.instructions().end();
    f
}

/// A function body must close every block it opens.
pub(crate) fn check_body_end(validator: &wasmparser::FuncValidator<ValidatorResources>, offset: usize) -> Result<()> {
    if validator.control_stack_height() != 0 {
        return Err(Error::Malformed(format!("function body must end with `end` (at offset {offset:#x})")));
    }
    Ok(())
}

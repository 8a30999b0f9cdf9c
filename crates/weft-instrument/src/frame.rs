//! Frames in the state memory: layout, the save path and the restore
//! prologue. The format of a frame is documented in [`crate::abi`].

use crate::abi::{FRAME_HEADER_SIZE, FRAME_ROOM, STACK_BASE, STATE_NORMAL};
use crate::error::{Error, Result};
use crate::function::Internals;
use crate::module::Env;
use wasm_encoder::{
    BlockType, Encode, HeapType, Ieee32, Ieee64, Instruction, MemArg, RefType, ValType,
};

/// A local saved in a frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalSlot {
    pub index: u32,
    pub ty: ValType,
}

/// Where each saved local goes.
#[derive(Debug)]
pub(crate) struct FrameLayout {
    /// Numeric and vector locals with their offsets in the frame.
    pub in_memory: Vec<(LocalSlot, u32)>,
    /// Funcref locals, in the order they are pushed on the funcref stack.
    pub funcrefs: Vec<u32>,
    /// Externref locals, in the order they are pushed on the externref stack.
    pub externrefs: Vec<u32>,
    /// Total frame size including the header; a multiple of 16.
    pub size: u32,
}

fn byte_size(ty: ValType) -> Option<u32> {
    match ty {
        ValType::I32 | ValType::F32 => Some(4),
        ValType::I64 | ValType::F64 => Some(8),
        ValType::V128 => Some(16),
        ValType::Ref(_) => None,
    }
}

impl FrameLayout {
    pub fn new(saved: Vec<LocalSlot>) -> Result<Self> {
        let mut in_memory = Vec::new();
        let mut funcrefs = Vec::new();
        let mut externrefs = Vec::new();
        let mut offset: u64 = 0;
        for want in [16, 8, 4] {
            for slot in &saved {
                if byte_size(slot.ty) == Some(want) {
                    in_memory.push((*slot, offset as u32));
                    offset += u64::from(want);
                }
            }
        }
        for slot in &saved {
            if let ValType::Ref(r) = slot.ty {
                if r == RefType::FUNCREF {
                    funcrefs.push(slot.index);
                } else {
                    externrefs.push(slot.index);
                }
            }
        }
        let size = offset.div_ceil(16) * 16 + u64::from(FRAME_HEADER_SIZE);
        let size = u32::try_from(size)
            .ok()
            .filter(|s| *s < 1 << 30)
            .ok_or_else(|| Error::Limit("a function has too many locals to save".into()))?;
        Ok(FrameLayout {
            in_memory,
            funcrefs,
            externrefs,
            size,
        })
    }
}

/// The zero value of a type, returned by a function that unwinds.
pub(crate) fn zero(ty: ValType) -> Instruction<'static> {
    match ty {
        ValType::I32 => Instruction::I32Const(0),
        ValType::I64 => Instruction::I64Const(0),
        ValType::F32 => Instruction::F32Const(Ieee32::new(0)),
        ValType::F64 => Instruction::F64Const(Ieee64::new(0)),
        ValType::V128 => Instruction::V128Const(0),
        ValType::Ref(r) => Instruction::RefNull(r.heap_type),
    }
}

fn mem(env: &Env<'_>, offset: u32, align: u32) -> MemArg {
    MemArg {
        offset: u64::from(offset),
        align,
        memory_index: env.state_memory,
    }
}

pub(crate) fn load(env: &Env<'_>, ty: ValType, offset: u32) -> Instruction<'static> {
    match ty {
        ValType::I32 => Instruction::I32Load(mem(env, offset, 2)),
        ValType::F32 => Instruction::F32Load(mem(env, offset, 2)),
        ValType::I64 => Instruction::I64Load(mem(env, offset, 3)),
        ValType::F64 => Instruction::F64Load(mem(env, offset, 3)),
        ValType::V128 => Instruction::V128Load(mem(env, offset, 4)),
        ValType::Ref(_) => unreachable!("references live in the reference stacks"),
    }
}

fn store(env: &Env<'_>, ty: ValType, offset: u32) -> Instruction<'static> {
    match ty {
        ValType::I32 => Instruction::I32Store(mem(env, offset, 2)),
        ValType::F32 => Instruction::F32Store(mem(env, offset, 2)),
        ValType::I64 => Instruction::I64Store(mem(env, offset, 3)),
        ValType::F64 => Instruction::F64Store(mem(env, offset, 3)),
        ValType::V128 => Instruction::V128Store(mem(env, offset, 4)),
        ValType::Ref(_) => unreachable!("references live in the reference stacks"),
    }
}

struct Code<'a>(&'a mut Vec<u8>);

impl Code<'_> {
    fn emit(&mut self, instrs: impl IntoIterator<Item = Instruction<'static>>) {
        for i in instrs {
            i.encode(self.0);
        }
    }

    fn trap_if(&mut self) {
        self.emit([
            Instruction::If(BlockType::Empty),
            Instruction::Unreachable,
            Instruction::End,
        ]);
    }
}

/// The functions every instrumented function calls to pop and push its
/// frame: the header checks, the state memory growth and the end of a rewind
/// live there once per module instead of in every function.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameHelpers {
    /// `(func, size, resume_points) -> resume point + 1`: checks that the top
    /// frame is `func`'s, pops it (the global frame pointer then points at
    /// it), ends the rewind at the innermost frame.
    pub pop: u32,
    /// `(resume point i32, boost i64, func, size)`: writes the header of the
    /// frame whose locals were just stored at `sp`, pushes it, and keeps
    /// [`FRAME_ROOM`] free bytes above the new `sp`.
    pub push: u32,
    /// `(bytes)`: grows the state memory to hold `bytes` more above `sp`.
    pub reserve: u32,
}

/// The parameters of [`FrameHelpers::pop`].
pub(crate) const POP_PARAMS: [ValType; 3] = [ValType::I32, ValType::I32, ValType::I32];
/// The parameters of [`FrameHelpers::push`].
pub(crate) const PUSH_PARAMS: [ValType; 4] =
    [ValType::I32, ValType::I64, ValType::I32, ValType::I32];
/// The parameters of [`FrameHelpers::reserve`].
pub(crate) const RESERVE_PARAMS: [ValType; 1] = [ValType::I32];

/// The body of [`FrameHelpers::pop`].
pub(crate) fn pop_function(env: &Env<'_>) -> wasm_encoder::Function {
    use Instruction::*;
    let (func, size, resume_points, header, rp) = (0, 1, 2, 3, 4);
    let mut f = wasm_encoder::Function::new([(2, ValType::I32)]);
    let mut body = Vec::new();
    let mut c = Code(&mut body);
    // A frame must be there, and must be this function's.
    c.emit([
        GlobalGet(env.sp_global),
        LocalGet(size),
        I32Const(STACK_BASE as i32),
        I32Add,
        I32LtU,
    ]);
    c.trap_if();
    c.emit([
        GlobalGet(env.sp_global),
        I32Const(FRAME_HEADER_SIZE as i32),
        I32Sub,
        LocalTee(header),
        load(env, ValType::I32, 0),
        LocalGet(func),
        I32Ne,
    ]);
    c.trap_if();
    c.emit([
        LocalGet(header),
        load(env, ValType::I32, 12),
        LocalGet(size),
        I32Ne,
    ]);
    c.trap_if();
    c.emit([
        LocalGet(header),
        load(env, ValType::I32, 4),
        LocalTee(rp),
        LocalGet(resume_points),
        I32GeU,
    ]);
    c.trap_if();
    c.emit([
        GlobalGet(env.sp_global),
        LocalGet(size),
        I32Sub,
        GlobalSet(env.sp_global),
    ]);
    // The innermost frame ends the rewind and hands back the fuel that its
    // check charged before yielding.
    c.emit([
        GlobalGet(env.sp_global),
        I32Const(STACK_BASE as i32),
        I32Eq,
        If(BlockType::Empty),
    ]);
    c.emit([I32Const(STATE_NORMAL), GlobalSet(env.state_global)]);
    if env.config.counts_fuel() {
        c.emit([
            GlobalGet(env.fuel_global),
            LocalGet(header),
            load(env, ValType::I32, 8),
            I64ExtendI32U,
            I64Add,
            GlobalSet(env.fuel_global),
        ]);
    }
    c.emit([End, LocalGet(rp), I32Const(1), I32Add, End]);
    f.raw(body);
    f
}

/// The body of [`FrameHelpers::push`].
pub(crate) fn push_function(env: &Env<'_>) -> wasm_encoder::Function {
    use Instruction::*;
    let (rp, boost, func, size, header) = (0, 1, 2, 3, 4);
    let mut f = wasm_encoder::Function::new([(1, ValType::I32)]);
    let mut body = Vec::new();
    let mut c = Code(&mut body);
    c.emit([
        GlobalGet(env.sp_global),
        LocalGet(size),
        I32Add,
        LocalTee(header),
        GlobalSet(env.sp_global),
        LocalGet(header),
        I32Const(FRAME_HEADER_SIZE as i32),
        I32Sub,
        LocalTee(header),
        LocalGet(func),
        store(env, ValType::I32, 0),
        LocalGet(header),
        LocalGet(rp),
        store(env, ValType::I32, 4),
        LocalGet(header),
        LocalGet(boost),
        I32WrapI64,
        store(env, ValType::I32, 8),
        LocalGet(header),
        LocalGet(size),
        store(env, ValType::I32, 12),
        I32Const(FRAME_ROOM as i32),
        Call(env.frame_helpers.reserve),
        End,
    ]);
    f.raw(body);
    f
}

/// The body of [`FrameHelpers::reserve`].
pub(crate) fn reserve_function(env: &Env<'_>) -> wasm_encoder::Function {
    use Instruction::*;
    let bytes = 0;
    let mut f = wasm_encoder::Function::new([]);
    let mut body = Vec::new();
    let mut c = Code(&mut body);
    let needed_pages = [
        GlobalGet(env.sp_global),
        I64ExtendI32U,
        LocalGet(bytes),
        I64ExtendI32U,
        I64Add,
        I64Const(65535),
        I64Add,
        I64Const(16),
        I64ShrU,
    ];
    c.emit(needed_pages.clone());
    c.emit([
        MemorySize(env.state_memory),
        I64ExtendI32U,
        I64GtU,
        If(BlockType::Empty),
    ]);
    c.emit(needed_pages);
    c.emit([
        MemorySize(env.state_memory),
        I64ExtendI32U,
        I64Sub,
        I32WrapI64,
        MemoryGrow(env.state_memory),
        I32Const(-1),
        I32Eq,
    ]);
    c.trap_if();
    c.emit([End, End]);
    f.raw(body);
    f
}

/// Loads the fuel counter and, when rewinding, pops and restores this frame.
/// A function without an entry check pays for its code outside loops here,
/// on a normal entry only: a rewound frame paid when it was first entered.
pub(crate) fn emit_prologue(
    sink: &mut Vec<u8>,
    env: &Env<'_>,
    layout: &FrameLayout,
    locals: Internals,
    func_index: u32,
    resume_points: u32,
    entry_charge: u32,
) {
    use Instruction::*;
    let mut c = Code(sink);
    if env.config.counts_fuel() {
        c.emit([GlobalGet(env.fuel_global), LocalSet(locals.fuel)]);
    }
    c.emit([GlobalGet(env.state_global), If(BlockType::Empty)]);
    c.emit([
        I32Const(func_index as i32),
        I32Const(layout.size as i32),
        I32Const(resume_points as i32),
        Call(env.frame_helpers.pop),
        LocalSet(locals.rp),
        GlobalGet(env.sp_global),
        LocalSet(locals.base),
    ]);
    for (slot, offset) in &layout.in_memory {
        c.emit([
            LocalGet(locals.base),
            load(env, slot.ty, *offset),
            LocalSet(slot.index),
        ]);
    }
    for (refs, table, sp) in [
        (&layout.funcrefs, env.funcref_stack, env.funcref_sp),
        (&layout.externrefs, env.externref_stack, env.externref_sp),
    ] {
        if refs.is_empty() {
            continue;
        }
        let (table, sp) = (
            table.expect("reference stack"),
            sp.expect("reference stack pointer"),
        );
        let temp = locals.base;
        c.emit([
            GlobalGet(sp),
            I32Const(refs.len() as i32),
            I32Sub,
            LocalTee(temp),
            GlobalSet(sp),
        ]);
        for (k, local) in refs.iter().enumerate() {
            c.emit([
                LocalGet(temp),
                I32Const(k as i32),
                I32Add,
                TableGet(table),
                LocalSet(*local),
            ]);
        }
    }
    if env.config.counts_fuel() {
        // The innermost frame's boost went to the global.
        c.emit([GlobalGet(env.fuel_global), LocalSet(locals.fuel)]);
    }
    if entry_charge > 0 && env.config.counts_fuel() {
        c.emit([
            Else,
            LocalGet(locals.fuel),
            I64Const(i64::from(entry_charge)),
            I64Sub,
            LocalSet(locals.fuel),
        ]);
    }
    c.emit([End]);
}

/// The first half of saving a frame, on a cold edge or shared by several:
/// syncs the fuel counter, makes room for a large frame, and stores the
/// numeric and vector locals that `keep` selects into the frame at `sp`.
pub(crate) fn emit_stores(
    sink: &mut Vec<u8>,
    env: &Env<'_>,
    layout: &FrameLayout,
    locals: Internals,
    keep: impl Fn(u32) -> bool,
) {
    use Instruction::*;
    let mut c = Code(sink);
    if env.config.counts_fuel() {
        c.emit([LocalGet(locals.fuel), GlobalSet(env.fuel_global)]);
    }
    if layout.size > FRAME_ROOM {
        c.emit([
            I32Const(layout.size as i32),
            Call(env.frame_helpers.reserve),
        ]);
    }
    for (slot, offset) in layout.in_memory.iter().filter(|(slot, _)| keep(slot.index)) {
        c.emit([
            GlobalGet(env.sp_global),
            LocalGet(slot.index),
            store(env, slot.ty, *offset),
        ]);
    }
}

/// The save path's tail, after [`emit_stores`]: the operand stack holds the
/// resume point (`i32`) and the fuel boost (`i64`); stores the reference
/// locals, pushes the frame, and leaves the zeros to the caller.
pub(crate) fn emit_save_path(
    sink: &mut Vec<u8>,
    env: &Env<'_>,
    layout: &FrameLayout,
    locals: Internals,
    func_index: u32,
) {
    use Instruction::*;
    let mut c = Code(sink);
    c.emit([GlobalGet(env.sp_global), LocalSet(locals.base)]);
    for (refs, table, sp, heap) in [
        (
            &layout.funcrefs,
            env.funcref_stack,
            env.funcref_sp,
            HeapType::FUNC,
        ),
        (
            &layout.externrefs,
            env.externref_stack,
            env.externref_sp,
            HeapType::EXTERN,
        ),
    ] {
        if refs.is_empty() {
            continue;
        }
        let (table, sp) = (
            table.expect("reference stack"),
            sp.expect("reference stack pointer"),
        );
        let n = refs.len() as i32;
        let temp = locals.base;
        c.emit([GlobalGet(sp), LocalSet(temp)]);
        c.emit([
            TableSize(table),
            LocalGet(temp),
            I32Const(n),
            I32Add,
            I32LtU,
            If(BlockType::Empty),
        ]);
        c.emit([
            RefNull(heap),
            LocalGet(temp),
            I32Const(n),
            I32Add,
            TableSize(table),
            I32Sub,
            TableGrow(table),
            I32Const(-1),
            I32Eq,
        ]);
        c.trap_if();
        c.emit([End]);
        for (k, local) in refs.iter().enumerate() {
            c.emit([
                LocalGet(temp),
                I32Const(k as i32),
                I32Add,
                LocalGet(*local),
                TableSet(table),
            ]);
        }
        c.emit([LocalGet(temp), I32Const(n), I32Add, GlobalSet(sp)]);
    }
    c.emit([
        I32Const(func_index as i32),
        I32Const(layout.size as i32),
        Call(env.frame_helpers.push),
    ]);
}

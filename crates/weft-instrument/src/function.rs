//! The second pass over a function body: emits the instrumented function.
//!
//! # Shape of an instrumented function
//!
//! ```text
//! (func $f (param ...) (result ...)
//!   ;; prologue: load the fuel counter; when rewinding, pop this frame from the
//!   ;; state memory, restore the locals, remember the resume point
//!   (block $save (result i32 i64)        ;; resume point id, fuel boost
//!     (block $body (result ...)          ;; the original body's label
//!       ...instrumented body...)
//!     ;; normal exit: store the fuel counter, return the results
//!     return)
//!   ;; save path, shared by every resume point: push this frame, return zeros
//! )
//! ```
//!
//! Inside the body, every level with boundaries (see [`crate::analysis`])
//! spills its operand stack to locals at each boundary and reloads it right
//! after, so that every boundary sits at an empty operand stack between two
//! blocks:
//!
//! ```text
//! (block (block (block                   ;; one block per dispatch target
//!   (if (local.get $rp)                  ;; rewinding: jump to the segment
//!     (br_table ... (local.get $rp - lo)))
//!   ...segment 0...)
//!   ...segment 1...)
//!   ...segment 2...)
//! ...segment 3...
//! ```
//!
//! Spill slots are locals keyed by (type, absolute operand-stack position), so
//! a nested level never overwrites a value that an enclosing level keeps
//! across it. `$rp` holds the resume point id plus one while this frame is
//! rewinding and 0 otherwise; it is cleared when the resume point is reached.

use crate::analysis::{Analysis, Boundary, Check, FUNCTION_LEVEL, LevelKey};
use crate::error::{Error, Result};
use crate::frame::{FrameLayout, LocalSlot};
use crate::module::{Env, TypeInterner};
use std::borrow::Cow;
use std::collections::HashMap;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{BlockType, Encode, Instruction, MemArg, ValType};
use wasmparser::{FuncValidator, Operator, ValidatorResources};

/// A level dispatches through a `br_table` while it has at most this many
/// resume points per dispatch target, and through a chain of comparisons
/// otherwise.
const DENSE_DISPATCH_FACTOR: u32 = 4;

/// The locals the pass adds to an instrumented function, besides spill slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Internals {
    pub fuel: u32,
    pub rp: u32,
    pub base: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctl {
    /// A control frame of the original function (its label is remapped),
    /// with the first spill slot position its levels use.
    Original(u32),
    /// A block the pass added.
    Synthetic,
}

/// An instrumented level being emitted.
struct LevelState<'a> {
    boundaries: &'a [Boundary],
    next: usize,
    /// Frame indices of the open dispatch blocks, innermost last.
    dispatch_frames: Vec<usize>,
    /// The spill slot position of the level's first operand.
    slot_base: u32,
}

pub(crate) struct FunctionEmitter<'e, 'm> {
    env: &'e Env<'m>,
    types: &'e mut TypeInterner,
    analysis: &'e Analysis,
    func_index: u32,
    /// Number of params plus declared locals of the original function.
    original_locals: u32,
    local_types: Vec<ValType>,
    internals: Internals,
    spill_slots: HashMap<(ValType, u32), u32>,
    frames: Vec<Ctl>,
    levels: Vec<Option<LevelState<'e>>>,
    /// The instrumented body, encoded.
    out: Vec<u8>,
    /// The frame index of `$save`.
    save_frame: usize,
}

impl FunctionEmitter<'_, '_> {
    /// Instruments one function. `ops` are its operators with their offsets;
    /// `validator` validates the original body as it is emitted and tells the
    /// operand-stack types at every boundary.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit<'e, 'm>(
        env: &'e Env<'m>,
        types: &'e mut TypeInterner,
        analysis: &'e Analysis,
        func_index: u32,
        params: &[wasmparser::ValType],
        results: &[wasmparser::ValType],
        locals: &[(u32, wasmparser::ValType)],
        ops: &[(Operator<'_>, usize)],
        validator: &mut FuncValidator<ValidatorResources>,
    ) -> Result<(wasm_encoder::Function, u32)> {
        let mut rt = env.remap;
        let mut local_types: Vec<ValType> = Vec::new();
        for p in params {
            local_types.push(val_type(*p));
        }
        for (count, ty) in locals {
            for _ in 0..*count {
                local_types.push(val_type(*ty));
            }
            validator.define_locals(0, *count, *ty)?;
        }
        let original_locals =
            u32::try_from(local_types.len()).map_err(|_| Error::Limit("too many locals".into()))?;
        let n = original_locals;
        local_types.extend([ValType::I64, ValType::I32, ValType::I32]);
        let internals = Internals {
            fuel: n,
            rp: n + 1,
            base: n + 2,
        };

        let mut e = FunctionEmitter {
            env,
            types,
            analysis,
            func_index,
            original_locals,
            local_types,
            internals,
            spill_slots: HashMap::new(),
            frames: Vec::new(),
            levels: Vec::new(),
            out: Vec::new(),
            save_frame: 0,
        };

        let result_types: Vec<ValType> = results.iter().map(|t| val_type(*t)).collect();
        let body_type = match result_types.as_slice() {
            [] => BlockType::Empty,
            [t] => BlockType::Result(*t),
            many => BlockType::FunctionType(e.types.intern(&[], many)),
        };

        e.push(Instruction::Block(BlockType::FunctionType(
            env.save_block_type,
        )));
        e.frames.push(Ctl::Synthetic);
        e.save_frame = 0;
        e.push(Instruction::Block(body_type));
        e.frames.push(Ctl::Original(0));
        e.enter_level(FUNCTION_LEVEL, validator, 0)?;
        if let Some(check) = analysis.entry_check {
            e.emit_check(check);
        }

        for (i, (op, offset)) in ops.iter().enumerate() {
            let offset = *offset;
            if analysis.dead[i] {
                e.emit_dead(op, &mut rt)?;
                validator.op(offset, op)?;
                continue;
            }
            // A boundary that starts a new segment: close its dispatch block.
            e.cross_boundary(i, validator)?;
            match op {
                Operator::Block { blockty }
                | Operator::Loop { blockty }
                | Operator::If { blockty } => {
                    let bt = rt.block_type(*blockty).map_err(reencode_error)?;
                    e.push(match op {
                        Operator::Block { .. } => Instruction::Block(bt),
                        Operator::Loop { .. } => Instruction::Loop(bt),
                        _ => Instruction::If(bt),
                    });
                    // Levels inside use spill slots above every operand of
                    // this level, the opener's inputs included.
                    let base = e.opener_slot_base(validator);
                    e.frames.push(Ctl::Original(base));
                    validator.op(offset, op)?;
                    e.enter_level(i, validator, base)?;
                    if let Some(check) = analysis.loop_checks.get(&i) {
                        e.emit_check(*check);
                    }
                }
                Operator::Else => {
                    e.leave_level();
                    e.push(Instruction::Else);
                    validator.op(offset, op)?;
                    let base = match e.frames.last() {
                        Some(Ctl::Original(base)) => *base,
                        _ => unreachable!("`else` closes an `if` frame"),
                    };
                    e.enter_level(i, validator, base)?;
                }
                Operator::End => {
                    e.leave_level();
                    validator.op(offset, op)?;
                    e.frames.pop();
                    if e.frames.len() == 1 {
                        // The end of the original body: the normal exit.
                        e.push(Instruction::End);
                        e.sync_fuel_out();
                        e.push(Instruction::Return);
                        e.push(Instruction::End);
                        e.frames.pop();
                    } else {
                        e.push(Instruction::End);
                    }
                }
                Operator::Call { function_index } => {
                    validator.op(offset, op)?;
                    match analysis.call_resume_point[i] {
                        Some(rp) => e.emit_call(rp, Instruction::Call(*function_index)),
                        None => e.push(Instruction::Call(*function_index)),
                    }
                }
                Operator::CallIndirect { .. } => {
                    validator.op(offset, op)?;
                    let call = rt.instruction(op.clone()).map_err(reencode_error)?;
                    match analysis.call_resume_point[i] {
                        Some(rp) => e.emit_call(rp, call),
                        None => e.push(call),
                    }
                }
                _ => {
                    e.emit_plain(op, &mut rt)?;
                    validator.op(offset, op)?;
                }
            }
        }
        if let Some((_, offset)) = ops.last() {
            crate::module::check_body_end(validator, offset + 1)?;
        }
        e.finish(&result_types)
    }
}

/// The type of the local that keeps an operand across a resume point. The
/// validator knows some references more precisely (`ref.func` gives a
/// non-null reference to a concrete function type); a nullable `funcref` or
/// `externref` local holds any of them, and every consumer the supported
/// feature set has accepts those.
fn spill_type(t: wasmparser::ValType) -> ValType {
    use wasmparser::{AbstractHeapType, HeapType};
    match t {
        wasmparser::ValType::Ref(r) => match r.heap_type() {
            HeapType::Abstract {
                ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
                ..
            } => ValType::EXTERNREF,
            _ => ValType::FUNCREF,
        },
        other => val_type(other),
    }
}

pub(crate) fn val_type(t: wasmparser::ValType) -> ValType {
    RoundtripReencoder
        .val_type(t)
        .expect("supported value types always re-encode")
}

fn reencode_error(e: wasm_encoder::reencode::Error) -> Error {
    Error::Limit(format!("cannot re-encode: {e}"))
}

impl FunctionEmitter<'_, '_> {
    fn push(&mut self, instr: Instruction<'_>) {
        instr.encode(&mut self.out);
    }

    fn depth_to(&self, frame: usize) -> u32 {
        (self.frames.len() - 1 - frame) as u32
    }

    /// Maps a branch depth of the original code to the emitted code.
    fn remap(&self, depth: u32) -> u32 {
        let mut seen = 0;
        for (i, ctl) in self.frames.iter().enumerate().rev() {
            if let Ctl::Original(_) = ctl {
                if seen == depth {
                    return self.depth_to(i);
                }
                seen += 1;
            }
        }
        unreachable!("the validator checked every branch depth")
    }

    /// Emits an operator that needs no instrumentation, remapping labels.
    fn emit_plain(&mut self, op: &Operator<'_>, rt: &mut crate::module::Remap) -> Result<()> {
        let body_frame = 1;
        let instr = match op {
            Operator::Br { relative_depth } => Instruction::Br(self.remap(*relative_depth)),
            Operator::BrIf { relative_depth } => Instruction::BrIf(self.remap(*relative_depth)),
            Operator::BrTable { targets } => {
                let mut mapped = Vec::with_capacity(targets.len() as usize);
                for t in targets.targets() {
                    mapped.push(self.remap(t?));
                }
                Instruction::BrTable(Cow::Owned(mapped), self.remap(targets.default()))
            }
            Operator::Return => Instruction::Br(self.depth_to(body_frame)),
            Operator::DataDrop { .. } | Operator::ElemDrop { .. } => {
                self.push(rt.instruction(op.clone()).map_err(reencode_error)?);
                for i in self.env.mark_dropped(op).into_iter().flatten() {
                    self.push(i);
                }
                return Ok(());
            }
            other => rt.instruction(other.clone()).map_err(reencode_error)?,
        };
        self.push(instr);
        Ok(())
    }

    /// Dead code: copied with its labels remapped, structure tracked.
    fn emit_dead(&mut self, op: &Operator<'_>, rt: &mut crate::module::Remap) -> Result<()> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.emit_plain(op, rt)?;
                self.frames.push(Ctl::Original(0));
                self.levels.push(None);
            }
            Operator::Else => {
                self.leave_level();
                self.push(Instruction::Else);
                self.levels.push(None);
            }
            Operator::End => {
                self.leave_level();
                self.frames.pop();
                self.push(Instruction::End);
                if self.frames.len() == 1 {
                    self.sync_fuel_out();
                    self.push(Instruction::Return);
                    self.push(Instruction::End);
                    self.frames.pop();
                }
            }
            Operator::Return => self.push(Instruction::Return),
            _ => self.emit_plain(op, rt)?,
        }
        Ok(())
    }

    /// The spill slot position just above the current operand stack.
    fn opener_slot_base(&self, v: &FuncValidator<ValidatorResources>) -> u32 {
        let (base, frame_height) = match self.levels.last() {
            Some(Some(state)) => (
                state.slot_base,
                v.get_control_frame(0).map_or(0, |f| f.height),
            ),
            _ => return 0,
        };
        base + (v.operand_stack_height() as usize - frame_height) as u32
    }

    /// Starts a level: spills its parameters and emits the rewind dispatch.
    fn enter_level(
        &mut self,
        key: LevelKey,
        v: &FuncValidator<ValidatorResources>,
        slot_base: u32,
    ) -> Result<()> {
        let Some(level) = self.analysis.levels.get(&key) else {
            self.levels.push(None);
            return Ok(());
        };
        let stack = self.level_stack(v, slot_base)?;
        if !stack.is_empty() {
            // When this frame is rewinding, the values arriving here are the
            // ones the level was first entered with; the level has changed
            // them since (a loop's parameters change with every iteration, a
            // block consumes its own), and the current values are already in
            // the slots.
            let params: Vec<ValType> = stack.iter().map(|(t, _)| *t).collect();
            let ty = self.types.intern(&params, &[]);
            self.push(Instruction::LocalGet(self.internals.rp));
            self.push(Instruction::If(BlockType::FunctionType(ty)));
            for _ in &stack {
                self.push(Instruction::Drop);
            }
            self.push(Instruction::Else);
            self.spill(&stack);
            self.push(Instruction::End);
        } else {
            self.spill(&stack);
        }
        let mut state = LevelState {
            boundaries: &level.boundaries,
            next: 0,
            dispatch_frames: Vec::new(),
            slot_base,
        };
        // Boundaries in segment 0 are reached by falling in.
        while state.next < state.boundaries.len() && state.boundaries[state.next].segment == 0 {
            state.next += 1;
        }
        let targets = level.dispatch_targets as usize;
        if targets > 0 {
            for _ in 0..targets {
                self.push(Instruction::Block(BlockType::Empty));
                self.frames.push(Ctl::Synthetic);
            }
            // Frames of blocks B_targets .. B_1, innermost last.
            let top = self.frames.len();
            state.dispatch_frames = (top - targets..top).collect();
            self.push(Instruction::LocalGet(self.internals.rp));
            self.push(Instruction::If(BlockType::Empty));
            // Inside the `if`, depth 0 falls into segment 0 and depth j is B_j.
            let (lo, hi) = level.range();
            if hi - lo <= DENSE_DISPATCH_FACTOR * (targets as u32 + 1) {
                // Few resume points per segment: one indirect branch.
                let mut table = vec![0u32; (hi - lo) as usize];
                for b in &level.boundaries {
                    for rp in b.lo..b.hi {
                        table[(rp - lo) as usize] = b.segment;
                    }
                }
                self.push(Instruction::LocalGet(self.internals.rp));
                self.push(Instruction::I32Const(lo as i32 + 1));
                self.push(Instruction::I32Sub);
                self.push(Instruction::BrTable(Cow::Owned(table), 0));
            } else {
                // Segments holding many resume points (a level that encloses
                // large nested code): one comparison per segment, from the
                // last, since a table would have an entry per resume point
                // of the whole nested code, at every enclosing level.
                let mut firsts = vec![u32::MAX; targets + 1];
                for b in &level.boundaries {
                    let first = &mut firsts[b.segment as usize];
                    *first = (*first).min(b.lo);
                }
                for segment in (1..=targets).rev() {
                    self.push(Instruction::LocalGet(self.internals.rp));
                    self.push(Instruction::I32Const(firsts[segment] as i32 + 1));
                    self.push(Instruction::I32GeU);
                    self.push(Instruction::BrIf(segment as u32));
                }
            }
            self.push(Instruction::End);
        }
        self.reload(&stack);
        self.levels.push(Some(state));
        Ok(())
    }

    fn leave_level(&mut self) {
        if let Some(Some(state)) = self.levels.pop() {
            debug_assert!(
                state.dispatch_frames.is_empty(),
                "every boundary was crossed"
            );
        }
    }

    /// At the start of a boundary in segment > 0: spill, close its block, reload.
    fn cross_boundary(&mut self, i: usize, v: &FuncValidator<ValidatorResources>) -> Result<()> {
        let crossing = match self.levels.last() {
            Some(Some(state)) => {
                state.next < state.boundaries.len() && state.boundaries[state.next].op == Some(i)
            }
            _ => false,
        };
        if !crossing {
            return Ok(());
        }
        let base = match self.levels.last() {
            Some(Some(state)) => state.slot_base,
            _ => 0,
        };
        let stack = self.level_stack(v, base)?;
        self.spill(&stack);
        self.push(Instruction::End);
        self.frames.pop();
        if let Some(Some(state)) = self.levels.last_mut() {
            state.next += 1;
            state.dispatch_frames.pop();
        }
        self.reload(&stack);
        Ok(())
    }

    /// The operand stack of the current level: (type, spill slot position).
    fn level_stack(
        &self,
        v: &FuncValidator<ValidatorResources>,
        slot_base: u32,
    ) -> Result<Vec<(ValType, u32)>> {
        let frame = v.get_control_frame(0).expect("inside a function");
        let height = v.operand_stack_height() as usize;
        let mut stack = Vec::with_capacity(height.saturating_sub(frame.height));
        for pos in frame.height..height {
            let depth = height - 1 - pos;
            match v.get_operand_type(depth) {
                Some(Some(t)) => {
                    stack.push((spill_type(t), slot_base + (pos - frame.height) as u32))
                }
                _ => {
                    return Err(Error::Limit(format!(
                        "operand of unknown type at a resume point in function {}",
                        self.func_index
                    )));
                }
            }
        }
        Ok(stack)
    }

    fn slot(&mut self, ty: ValType, pos: u32) -> u32 {
        if let Some(&local) = self.spill_slots.get(&(ty, pos)) {
            return local;
        }
        let local = self.local_types.len() as u32;
        self.local_types.push(ty);
        self.spill_slots.insert((ty, pos), local);
        local
    }

    fn spill(&mut self, stack: &[(ValType, u32)]) {
        for &(ty, pos) in stack.iter().rev() {
            let local = self.slot(ty, pos);
            self.push(Instruction::LocalSet(local));
        }
    }

    fn reload(&mut self, stack: &[(ValType, u32)]) {
        for &(ty, pos) in stack {
            let local = self.slot(ty, pos);
            self.push(Instruction::LocalGet(local));
        }
    }

    fn clear_rewinding(&mut self) {
        if self.analysis.has_dispatch {
            self.push(Instruction::I32Const(0));
            self.push(Instruction::LocalSet(self.internals.rp));
        }
    }

    fn charge(&mut self, cost: u32) {
        let fuel = self.internals.fuel;
        self.push(Instruction::LocalGet(fuel));
        self.push(Instruction::I64Const(i64::from(cost)));
        self.push(Instruction::I64Sub);
        self.push(Instruction::LocalSet(fuel));
    }

    /// A check: charge the region's cost, and yield when fuel runs out or the
    /// interrupt flag is set.
    fn emit_check(&mut self, check: Check) {
        self.clear_rewinding();
        let fuel = self.internals.fuel;
        if self.env.config.checks_fuel() {
            self.push(Instruction::LocalGet(fuel));
            self.push(Instruction::I64Const(i64::from(check.cost)));
            self.push(Instruction::I64Sub);
            self.push(Instruction::LocalTee(fuel));
            self.push(Instruction::I64Const(0));
            self.push(Instruction::I64LtS);
        } else {
            if self.env.config.counts_fuel() {
                self.charge(check.cost);
            }
            self.push(Instruction::I32Const(0));
            self.push(Instruction::I32Load(MemArg {
                offset: u64::from(crate::abi::FLAG_OFFSET),
                align: 2,
                memory_index: self.env.state_memory,
            }));
        }
        let boost = if self.env.config.counts_fuel() {
            check.cost
        } else {
            0
        };
        self.push(Instruction::If(BlockType::Empty));
        self.frames.push(Ctl::Synthetic);
        self.push(Instruction::I32Const(crate::abi::STATE_UNWINDING));
        self.push(Instruction::GlobalSet(self.env.state_global));
        self.push(Instruction::I32Const(check.resume_point as i32));
        self.push(Instruction::I64Const(i64::from(boost)));
        self.push(Instruction::Br(self.depth_to(self.save_frame)));
        self.push(Instruction::End);
        self.frames.pop();
    }

    /// A call that can unwind: sync fuel around it, then leave through the
    /// save path if the callee unwound.
    fn emit_call(&mut self, rp: u32, call: Instruction<'_>) {
        self.clear_rewinding();
        let counts = self.env.config.counts_fuel();
        if counts {
            self.push(Instruction::LocalGet(self.internals.fuel));
            self.push(Instruction::GlobalSet(self.env.fuel_global));
        }
        self.push(call);
        if counts {
            self.push(Instruction::GlobalGet(self.env.fuel_global));
            self.push(Instruction::LocalSet(self.internals.fuel));
        }
        self.push(Instruction::GlobalGet(self.env.state_global));
        self.push(Instruction::If(BlockType::Empty));
        self.frames.push(Ctl::Synthetic);
        self.push(Instruction::I32Const(rp as i32));
        self.push(Instruction::I64Const(0));
        self.push(Instruction::Br(self.depth_to(self.save_frame)));
        self.push(Instruction::End);
        self.frames.pop();
    }

    fn sync_fuel_out(&mut self) {
        if self.env.config.counts_fuel() {
            self.push(Instruction::LocalGet(self.internals.fuel));
            self.push(Instruction::GlobalSet(self.env.fuel_global));
        }
    }

    /// Assembles prologue, body and save path into the final function.
    fn finish(self, results: &[ValType]) -> Result<(wasm_encoder::Function, u32)> {
        let mut spills: Vec<u32> = self.spill_slots.values().copied().collect();
        spills.sort_unstable();
        let saved: Vec<LocalSlot> = (0..self.original_locals)
            .chain(spills)
            .map(|index| LocalSlot {
                index,
                ty: self.local_types[index as usize],
            })
            .collect();
        let layout = FrameLayout::new(saved)?;
        let mut groups: Vec<(u32, ValType)> = Vec::new();
        for ty in &self.local_types[self.param_count()..] {
            match groups.last_mut() {
                Some((n, t)) if t == ty => *n += 1,
                _ => groups.push((1, *ty)),
            }
        }
        let mut f = wasm_encoder::Function::new(groups);
        let mut prologue = Vec::new();
        crate::frame::emit_prologue(
            &mut prologue,
            self.env,
            &layout,
            self.internals,
            self.func_index,
            self.analysis.resume_points,
            self.analysis.entry_charge,
        );
        f.raw(prologue);
        f.raw(self.out);
        let mut save = Vec::new();
        crate::frame::emit_save_path(
            &mut save,
            self.env,
            &layout,
            self.internals,
            self.func_index,
        );
        for ty in results {
            crate::frame::zero(*ty).encode(&mut save);
        }
        Instruction::End.encode(&mut save);
        f.raw(save);
        Ok((f, layout.size))
    }

    fn param_count(&self) -> usize {
        self.env.param_count(self.func_index)
    }
}

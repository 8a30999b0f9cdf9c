//! The second pass over a function body: emits the instrumented function.
//!
//! # Shape of an instrumented function
//!
//! ```text
//! (func $f (param ...) (result ...)
//!   ;; prologue: load the fuel counter; when rewinding, pop this frame from the
//!   ;; state memory, restore the locals, remember the resume point
//!   (block $tail (result i32 i64)        ;; resume point id, fuel boost
//!     (block $shared (result i32 i64)
//!       (block $body (result ...)        ;; the original body's label
//!         ...instrumented body...)
//!       ;; normal exit: store the fuel counter, return the results
//!       return)
//!     ;; stores every local: for resume points outside loops
//!   )
//!   ;; the save path's tail: push this frame, return zeros
//! )
//! ```
//!
//! A resume point inside a loop stores the locals live after it on its own
//! cold edge and branches to `$tail`; one outside loops gives the locals
//! dead after it a constant and branches to `$shared`. Either way the
//! compiler need not keep a local alive for the save path beyond where the
//! original program last reads it (see [`crate::liveness`]).
//!
//! Inside the body, every level with boundaries (see [`crate::analysis`])
//! spills its operand stack to locals at each boundary and reloads it right
//! after, so that every boundary sits at an empty operand stack between two
//! blocks:
//!
//! ```text
//! (block (block (block                   ;; one block per dispatch target
//!   (if (local.get $rp)                  ;; rewinding: load the locals the
//!     ...                                ;; level may have changed before
//!     (br_table ... (local.get $rp - lo)))  ;; the target, jump to it
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
use crate::liveness::{self, LocalSet};
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

/// The frame index of the block around the save path's common tail, which
/// edges that stored their own live locals branch to.
const TAIL_FRAME: usize = 0;
/// The frame index of the block that edges storing nothing branch to: the
/// save path stores every local after it.
const SHARED_FRAME: usize = 1;
/// The frame index of the original body's block.
const BODY_FRAME: usize = 2;

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
    /// The spill slots a rewind into the current segment reloads: those of
    /// the operand stack spilled at its start (or at the level's entry).
    active: Vec<u32>,
    /// The level's entry in [`FunctionEmitter::reloads`], if it dispatches.
    reload: Option<usize>,
    /// The operator before which a rewind into the current segment
    /// continues.
    segment_start: usize,
}

/// The locals a level's rewind dispatch loads from the frame before it
/// branches to a later segment.
///
/// Without these loads, a local that the level's earlier segments write and
/// a later one reads would reach that segment, on the dispatch edge, with
/// its value from the level's entry. The compiler would then keep that value
/// alive from the entry on: at a loop header, a value of the previous
/// iteration that the original program has long overwritten. Loaded in the
/// dispatch, the value the rewind needs comes from the frame, and the hot
/// path keeps its live ranges.
struct DispatchReload {
    /// Where in the emitted body the loads go.
    at: usize,
    /// The locals: originals live at a dispatch target, and the spill slots
    /// a target reloads.
    locals: Vec<u32>,
}

/// The cold edge of a resume point into the save path, where the locals it
/// needs are stored (inside loops) or the ones it does not need are given
/// constants (elsewhere; see [`crate::liveness`]).
struct ColdEdge {
    /// Where in the emitted body the stores or constants go.
    at: usize,
    /// The original locals live where execution continues after a rewind,
    /// or `None` when every local counts as live.
    live: Option<LocalSet>,
    /// The spill slots the rewind reloads on its way there.
    spills: Vec<u32>,
    /// Whether the edge stores the locals it needs itself (and branches to
    /// the save path's tail) rather than leaving them to the shared stores.
    stores: bool,
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
    /// For every open control frame of the original function: whether it
    /// is a `loop`.
    loop_frames: Vec<bool>,
    /// The number of `true` entries in `loop_frames`.
    loops: usize,
    /// Where the shared stores of the save path go in the emitted body.
    shared_at: usize,
    /// The live original locals after each resume point, by the index of the
    /// operator before which execution continues after a rewind; empty when
    /// the function was too large to analyse.
    live: HashMap<usize, LocalSet>,
    /// Original locals that can hold something other than their initial
    /// zero: parameters and every local the body writes.
    assigned: Vec<bool>,
    /// For every original local, the operators that write it, in order.
    writes: Vec<Vec<usize>>,
    cold_edges: Vec<ColdEdge>,
    reloads: Vec<DispatchReload>,
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

        // Where a rewind continues: at the start of the segment that holds
        // the resume point (a level's first operator, or a dispatch target),
        // from where the code runs again up to it. A call's arguments, for
        // one, are computed again from locals there.
        let mut queries: Vec<usize> = vec![0];
        queries.extend(
            analysis
                .levels
                .keys()
                .filter(|&&key| key != FUNCTION_LEVEL)
                .map(|&key| key + 1),
        );
        queries.extend(
            analysis
                .levels
                .values()
                .flat_map(|level| level.boundaries.iter())
                .filter(|b| b.segment > 0)
                .filter_map(|b| b.op),
        );
        queries.sort_unstable();
        queries.dedup();
        let live = liveness::live_before(ops, original_locals, &queries)
            .map(|sets| queries.iter().copied().zip(sets).collect())
            .unwrap_or_default();
        let mut assigned = vec![false; original_locals as usize];
        assigned[..params.len()].fill(true);
        let mut writes = vec![Vec::new(); original_locals as usize];
        for (i, (op, _)) in ops.iter().enumerate() {
            if let Operator::LocalSet { local_index } | Operator::LocalTee { local_index } = op
                && let Some(a) = assigned.get_mut(*local_index as usize)
            {
                *a = true;
                writes[*local_index as usize].push(i);
            }
        }
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
            loop_frames: Vec::new(),
            loops: 0,
            shared_at: 0,
            live,
            assigned,
            writes,
            cold_edges: Vec::new(),
            reloads: Vec::new(),
        };

        let result_types: Vec<ValType> = results.iter().map(|t| val_type(*t)).collect();
        let body_type = match result_types.as_slice() {
            [] => BlockType::Empty,
            [t] => BlockType::Result(*t),
            many => BlockType::FunctionType(e.types.intern(&[], many)),
        };

        for _ in [TAIL_FRAME, SHARED_FRAME] {
            e.push(Instruction::Block(BlockType::FunctionType(
                env.save_block_type,
            )));
            e.frames.push(Ctl::Synthetic);
        }
        e.push(Instruction::Block(body_type));
        e.frames.push(Ctl::Original(0));
        debug_assert_eq!(e.frames.len(), BODY_FRAME + 1);
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
                    e.open_original(matches!(op, Operator::Loop { .. }));
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
                    e.close_original();
                    e.push(Instruction::End);
                    if e.frames.len() == BODY_FRAME {
                        e.normal_exit();
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
        let body_frame = BODY_FRAME;
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
                self.open_original(matches!(op, Operator::Loop { .. }));
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
                self.close_original();
                self.push(Instruction::End);
                if self.frames.len() == BODY_FRAME {
                    self.normal_exit();
                }
            }
            Operator::Return => self.push(Instruction::Return),
            _ => self.emit_plain(op, rt)?,
        }
        Ok(())
    }

    fn open_original(&mut self, is_loop: bool) {
        self.loop_frames.push(is_loop);
        self.loops += usize::from(is_loop);
    }

    fn close_original(&mut self) {
        if let Some(is_loop) = self.loop_frames.pop() {
            self.loops -= usize::from(is_loop);
        }
    }

    /// After the original body's block: the normal exit, then the shared
    /// stores of the save path (inserted by [`Self::finish`]) and the end of
    /// the blocks around it; the save path's tail follows.
    fn normal_exit(&mut self) {
        self.sync_fuel_out();
        self.push(Instruction::Return);
        self.push(Instruction::End);
        self.frames.pop();
        self.shared_at = self.out.len();
        self.push(Instruction::End);
        self.frames.pop();
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
        let active = stack.iter().map(|&(ty, pos)| self.slot(ty, pos)).collect();
        let mut state = LevelState {
            boundaries: &level.boundaries,
            next: 0,
            dispatch_frames: Vec::new(),
            slot_base,
            active,
            reload: None,
            segment_start: if key == FUNCTION_LEVEL { 0 } else { key + 1 },
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
            // The original locals live at a target that the level may have
            // written before it; the others reach it unchanged from the
            // level's entry.
            let start = if key == FUNCTION_LEVEL { 0 } else { key };
            let mut locals: Vec<u32> = Vec::new();
            for b in level.boundaries.iter().filter(|b| b.segment > 0) {
                let Some(op) = b.op else { continue };
                if let Some(live) = self.live.get(&op) {
                    locals.extend((0..self.original_locals).filter(|&l| {
                        live.contains(l) && {
                            let writes = &self.writes[l as usize];
                            let first = writes.partition_point(|&w| w < start);
                            writes.get(first).is_some_and(|&w| w < op)
                        }
                    }));
                }
            }
            state.reload = Some(self.reloads.len());
            self.reloads.push(DispatchReload {
                at: self.out.len(),
                locals,
            });
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
        let active: Vec<u32> = stack.iter().map(|&(ty, pos)| self.slot(ty, pos)).collect();
        if let Some(Some(state)) = self.levels.last_mut() {
            state.next += 1;
            state.dispatch_frames.pop();
            if let Some(r) = state.reload {
                self.reloads[r].locals.extend(&active);
            }
            state.active = active;
            state.segment_start = i;
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

    /// Marks the cold edge of a resume point in the current segment; returns
    /// the frame of the save path block it branches to.
    ///
    /// An edge inside a loop stores the locals its resume point needs
    /// itself. If it branched to a save path that read them, each local
    /// would reach that path as one value merged from every edge of the
    /// function, and the register allocator tends to give such a value one
    /// place for all of them: a stack slot, in the hot loops too. Edges
    /// outside loops run at most once per call and share the stores of the
    /// save path, which keeps the code small.
    fn cold_edge(&mut self) -> usize {
        let mut spills: Vec<u32> = self
            .levels
            .iter()
            .flatten()
            .flat_map(|state| state.active.iter().copied())
            .collect();
        spills.sort_unstable();
        let live = match self.levels.last() {
            Some(Some(state)) => self.live.get(&state.segment_start).cloned(),
            _ => None,
        };
        let stores = self.loops > 0 && live.is_some();
        self.cold_edges.push(ColdEdge {
            at: self.out.len(),
            live,
            spills,
            stores,
        });
        if stores { TAIL_FRAME } else { SHARED_FRAME }
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
        let save = self.cold_edge();
        self.push(Instruction::I32Const(crate::abi::STATE_UNWINDING));
        self.push(Instruction::GlobalSet(self.env.state_global));
        self.push(Instruction::I32Const(check.resume_point as i32));
        self.push(Instruction::I64Const(i64::from(boost)));
        self.push(Instruction::Br(self.depth_to(save)));
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
        let save = self.cold_edge();
        self.push(Instruction::I32Const(rp as i32));
        self.push(Instruction::I64Const(0));
        self.push(Instruction::Br(self.depth_to(save)));
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
        let mut spills_sorted: Vec<u32> = self.spill_slots.values().copied().collect();
        spills_sorted.sort_unstable();
        let saved: Vec<LocalSlot> = (0..self.original_locals)
            .chain(spills_sorted.iter().copied())
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
        let body = self.body_with_insertions(&spills_sorted, &layout);
        let copies = self.env.config.copies;
        if self.analysis.has_dispatch && copies != crate::Copies::None {
            // The first operators of the body open the frames up to the
            // original body's block, one each.
            let body_opener = BODY_FRAME;
            f.raw(crate::split::split(
                &body,
                self.internals.rp,
                body_opener,
                copies,
            )?);
        } else {
            f.raw(body);
        }
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

    /// The emitted body with what only the frame layout makes possible
    /// inserted:
    ///
    /// - on a cold edge that stores its own locals, the stores of the locals
    ///   and spill slots its rewind needs;
    /// - on any other cold edge, constants for the saved locals its resume
    ///   point does not need. The shared stores then see a constant, not the
    ///   local's last value, coming from that edge, so the value need not be
    ///   kept alive up to it. A rewind restores those constants into locals
    ///   that the code after the resume point writes before it reads them.
    ///   References are left alone;
    /// - in every rewind dispatch, the loads of its [`DispatchReload`];
    /// - after the body, the save path's shared stores of every local.
    fn body_with_insertions(&self, spills: &[u32], layout: &FrameLayout) -> Vec<u8> {
        let offsets: HashMap<u32, u32> = layout
            .in_memory
            .iter()
            .map(|(slot, offset)| (slot.index, *offset))
            .collect();
        enum Insertion<'a> {
            Reload(&'a DispatchReload),
            Cold(&'a ColdEdge),
            Shared,
        }
        let mut insertions: Vec<(usize, Insertion<'_>)> = self
            .reloads
            .iter()
            .map(|r| (r.at, Insertion::Reload(r)))
            .chain(self.cold_edges.iter().map(|e| (e.at, Insertion::Cold(e))))
            .chain([(self.shared_at, Insertion::Shared)])
            .collect();
        insertions.sort_by_key(|(at, _)| *at);
        let mut body = Vec::with_capacity(self.out.len());
        let mut from = 0;
        for (at, insertion) in insertions {
            body.extend_from_slice(&self.out[from..at]);
            from = at;
            let edge = match insertion {
                Insertion::Cold(edge) => edge,
                Insertion::Shared => {
                    crate::frame::emit_stores(&mut body, self.env, layout, self.internals, |_| {
                        true
                    });
                    continue;
                }
                Insertion::Reload(reload) => {
                    let mut locals = reload.locals.clone();
                    locals.sort_unstable();
                    locals.dedup();
                    for l in locals {
                        // References live on the reference stacks, which
                        // the prologue has already popped.
                        let Some(&offset) = offsets.get(&l) else {
                            continue;
                        };
                        Instruction::GlobalGet(self.env.sp_global).encode(&mut body);
                        crate::frame::load(self.env, self.local_types[l as usize], offset)
                            .encode(&mut body);
                        Instruction::LocalSet(l).encode(&mut body);
                    }
                    continue;
                }
            };
            let Some(live) = &edge.live else { continue };
            if edge.stores {
                let original = self.original_locals;
                crate::frame::emit_stores(&mut body, self.env, layout, self.internals, |l| {
                    if l < original {
                        live.contains(l)
                    } else {
                        edge.spills.binary_search(&l).is_ok()
                    }
                });
                continue;
            }
            let dead_original = (0..self.original_locals)
                .filter(|&l| self.assigned[l as usize] && !live.contains(l));
            let dead_spills = spills
                .iter()
                .copied()
                .filter(|l| edge.spills.binary_search(l).is_err());
            let mut dead: Vec<u32> = dead_original.chain(dead_spills).collect();
            // One constant per type, then a chain of tees.
            dead.sort_by_key(|&l| (type_order(self.local_types[l as usize]), l));
            for group in
                dead.chunk_by(|a, b| self.local_types[*a as usize] == self.local_types[*b as usize])
            {
                let ty = self.local_types[group[0] as usize];
                if matches!(ty, ValType::Ref(_)) {
                    continue;
                }
                crate::frame::zero(ty).encode(&mut body);
                for (k, &l) in group.iter().enumerate() {
                    if k + 1 == group.len() {
                        Instruction::LocalSet(l).encode(&mut body);
                    } else {
                        Instruction::LocalTee(l).encode(&mut body);
                    }
                }
            }
        }
        body.extend_from_slice(&self.out[from..]);
        body
    }

    fn param_count(&self) -> usize {
        self.env.param_count(self.func_index)
    }
}

/// A sort key that groups locals of one type together.
fn type_order(ty: ValType) -> u8 {
    match ty {
        ValType::I32 => 0,
        ValType::I64 => 1,
        ValType::F32 => 2,
        ValType::F64 => 3,
        ValType::V128 => 4,
        ValType::Ref(_) => 5,
    }
}

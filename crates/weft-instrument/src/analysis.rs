//! The first pass over a function body: where the resume points are, how the
//! structured levels split into segments, what each fuel check charges.
//!
//! # Terms
//!
//! A *resume point* is a place where the function can be unwound and later
//! rewound: a call to a function that can unwind (every import, every
//! `call_indirect`, every defined function that has loops or calls), the
//! fuel check at the entry of a function that calls, and the check at every
//! loop header. Resume points get ids in pre-order, so the resume points
//! inside one instruction (a call, or a whole `block`/`loop`/`if`) form a
//! contiguous range.
//!
//! A *level* is the instruction sequence of a function body, a `block`, a
//! `loop` body, or one arm of an `if`. In a level, the instructions that
//! contain resume points are *boundaries*. The first boundary, if nothing
//! precedes it, is reached by falling into the level (segment 0); every other
//! boundary starts a new segment, the target of the level's rewind dispatch.
//!
//! Code after an unconditional branch up to the end of its level is dead: it
//! gets no resume points and no instrumentation.

use std::collections::HashMap;
use wasmparser::Operator;

/// Identifies a level: the index of the operator that opens it (`block`,
/// `loop`, `if`, `else`), or [`FUNCTION_LEVEL`] for the function body.
pub(crate) type LevelKey = usize;

/// The key of the function body's level.
pub(crate) const FUNCTION_LEVEL: LevelKey = usize::MAX;

/// An instruction (or synthetic check) in a level that contains resume points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Boundary {
    /// The operator that starts it, or `None` for the level's own check.
    pub op: Option<usize>,
    /// The resume points inside: `lo..hi`.
    pub lo: u32,
    pub hi: u32,
    /// The segment the boundary starts (0: reached by falling into the level).
    pub segment: u32,
}

/// A level that contains resume points.
#[derive(Debug, Default)]
pub(crate) struct Level {
    pub boundaries: Vec<Boundary>,
    /// The number of segments after segment 0, i.e. dispatch targets.
    pub dispatch_targets: u32,
}

impl Level {
    /// The range of resume points in this level.
    pub fn range(&self) -> (u32, u32) {
        let lo = self.boundaries.first().map_or(0, |b| b.lo);
        let hi = self.boundaries.last().map_or(0, |b| b.hi);
        (lo, hi)
    }
}

/// A fuel check: its resume point and the static cost it charges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check {
    pub resume_point: u32,
    pub cost: u32,
}

/// What the function needs to know about its callees.
pub(crate) trait Callees {
    /// Whether a call to `func` can unwind (the callee is instrumented or an import).
    fn can_unwind(&self, func: u32) -> bool;
    /// The static cost of a call to `func` that cannot unwind (its whole body).
    fn leaf_cost(&self, func: u32) -> u32;
    /// The number of parameters of `func`.
    fn params(&self, func: u32) -> Option<u32>;
    /// Whether `func` is imported.
    fn is_import(&self, func: u32) -> bool;
    /// The number of parameters of the function type `ty`.
    fn type_params(&self, ty: u32) -> Option<u32>;
}

/// The result of the first pass over one function body.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Per operator: dead code (after an unconditional branch in its level).
    pub dead: Vec<bool>,
    /// Per operator: the resume point of a call that can unwind.
    pub call_resume_point: Vec<Option<u32>>,
    /// Levels that contain resume points.
    pub levels: HashMap<LevelKey, Level>,
    /// The check at each loop header, by the loop operator's index.
    pub loop_checks: HashMap<usize, Check>,
    /// The check at function entry (functions that call).
    pub entry_check: Option<Check>,
    /// Fuel charged at entry without a check (functions with loops but no calls).
    pub entry_charge: u32,
    /// The number of resume points.
    pub resume_points: u32,
    /// Whether any level dispatches on rewind.
    pub has_dispatch: bool,
}

struct Builder {
    key: LevelKey,
    /// Dead because the enclosing instruction is in dead code.
    inherited_dead: bool,
    /// Dead after an unconditional branch in this level.
    dead: bool,
    seen_any: bool,
    boundaries: Vec<Boundary>,
    /// Where the opening instruction sits in the parent level.
    opener: usize,
    opener_first: bool,
    first_resume_point: u32,
    is_loop: bool,
}

impl Builder {
    fn new(
        key: LevelKey,
        opener: usize,
        inherited_dead: bool,
        opener_first: bool,
        rp: u32,
    ) -> Self {
        Builder {
            key,
            inherited_dead,
            dead: false,
            seen_any: false,
            boundaries: Vec::new(),
            opener,
            opener_first,
            first_resume_point: rp,
            is_loop: false,
        }
    }

    fn is_dead(&self) -> bool {
        self.inherited_dead || self.dead
    }
}

/// The static fuel cost of one operator. Structural markers and `nop` are free.
pub(crate) fn op_cost(op: &Operator<'_>) -> u32 {
    match op {
        Operator::Block { .. }
        | Operator::Loop { .. }
        | Operator::End
        | Operator::Else
        | Operator::Nop => 0,
        _ => 1,
    }
}

/// Whether the function has loops and whether it calls, for the module-level
/// decision of which functions are instrumented.
pub(crate) fn shape(ops: &[(Operator<'_>, usize)]) -> (bool, bool, u32) {
    let mut has_loop = false;
    let mut has_call = false;
    let mut cost = 0u32;
    for (op, _) in ops {
        match op {
            Operator::Loop { .. } => has_loop = true,
            Operator::Call { .. } | Operator::CallIndirect { .. } => has_call = true,
            _ => {}
        }
        cost = cost.saturating_add(op_cost(op));
    }
    (has_loop, has_call, cost)
}

/// Runs the first pass. `has_call` decides whether the function gets an
/// entry check; `count_fuel` whether costs are charged at all.
pub(crate) fn analyze(
    ops: &[(Operator<'_>, usize)],
    callees: &dyn Callees,
    has_call: bool,
) -> Analysis {
    let mut a = Analysis {
        dead: vec![false; ops.len()],
        call_resume_point: vec![None; ops.len()],
        ..Analysis::default()
    };
    let mut next_rp = 0u32;
    let mut stack = vec![Builder::new(FUNCTION_LEVEL, 0, false, true, 0)];
    // Fuel regions: the function body, then one per enclosing loop.
    let mut regions: Vec<u32> = vec![0];
    let mut loop_rps: Vec<Option<u32>> = Vec::new();

    if has_call {
        let rp = next_rp;
        next_rp += 1;
        let top = stack.last_mut().expect("function level");
        top.boundaries.push(Boundary {
            op: None,
            lo: rp,
            hi: rp + 1,
            segment: 0,
        });
        top.seen_any = true;
    }

    // Per operator: whether its level had an instruction before it.
    let mut seen_before = vec![false; ops.len()];
    for (i, (op, _)) in ops.iter().enumerate() {
        seen_before[i] = stack.last().is_some_and(|b| b.seen_any);
        let dead = stack.last().is_some_and(Builder::is_dead);
        // `else` and `end` belong to the enclosing level: they are live
        // whenever the `if`/`block`/`loop` itself is.
        a.dead[i] = match op {
            Operator::Else | Operator::End => stack.last().is_some_and(|b| b.inherited_dead),
            _ => dead,
        };
        if let Some(r) = regions.last_mut() {
            *r = r.saturating_add(op_cost(op));
        }
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                let top = stack.last_mut().expect("open level");
                let first = !top.seen_any;
                top.seen_any = true;
                let mut child = Builder::new(i, i, dead, first, next_rp);
                if let Operator::Loop { .. } = op {
                    child.is_loop = true;
                    regions.push(0);
                    if dead {
                        loop_rps.push(None);
                    } else {
                        let rp = next_rp;
                        next_rp += 1;
                        loop_rps.push(Some(rp));
                        child.boundaries.push(Boundary {
                            op: None,
                            lo: rp,
                            hi: rp + 1,
                            segment: 0,
                        });
                        child.seen_any = true;
                    }
                }
                stack.push(child);
            }
            Operator::Else => {
                let then = stack.pop().expect("if level");
                finish_level(&mut a, then.key, then.boundaries);
                let mut arm = Builder::new(
                    i,
                    then.opener,
                    then.inherited_dead,
                    then.opener_first,
                    then.first_resume_point,
                );
                arm.is_loop = false;
                stack.push(arm);
            }
            Operator::End => {
                let level = stack.pop().expect("open level");
                if level.is_loop {
                    let cost = regions.pop().unwrap_or(0);
                    if let Some(Some(rp)) = loop_rps.pop() {
                        a.loop_checks.insert(
                            level.opener,
                            Check {
                                resume_point: rp,
                                cost,
                            },
                        );
                    }
                }
                finish_level(&mut a, level.key, level.boundaries);
                if let Some(parent) = stack.last_mut()
                    && !level.inherited_dead
                    && next_rp > level.first_resume_point
                {
                    parent.boundaries.push(Boundary {
                        op: Some(level.opener),
                        lo: level.first_resume_point,
                        hi: next_rp,
                        segment: u32::from(!level.opener_first),
                    });
                }
            }
            Operator::Call { function_index } => {
                if callees.can_unwind(*function_index) {
                    let start = callees.params(*function_index).map_or(i, |n| {
                        arguments_start(ops, i, n, callees.is_import(*function_index))
                    });
                    push_call(
                        &mut a,
                        &mut stack,
                        &mut next_rp,
                        i,
                        start,
                        seen_before[start],
                        dead,
                    );
                } else if let Some(r) = regions.last_mut() {
                    *r = r.saturating_add(callees.leaf_cost(*function_index));
                }
                mark_seen(&mut stack);
            }
            Operator::CallIndirect { type_index, .. } => {
                let start = callees
                    .type_params(*type_index)
                    .map_or(i, |n| arguments_start(ops, i, n + 1, true));
                push_call(
                    &mut a,
                    &mut stack,
                    &mut next_rp,
                    i,
                    start,
                    seen_before[start],
                    dead,
                );
                mark_seen(&mut stack);
            }
            Operator::Br { .. }
            | Operator::BrTable { .. }
            | Operator::Return
            | Operator::Unreachable => {
                let top = stack.last_mut().expect("open level");
                top.seen_any = true;
                top.dead = true;
            }
            _ => mark_seen(&mut stack),
        }
    }

    let function_cost = regions.first().copied().unwrap_or(0);
    if has_call {
        a.entry_check = Some(Check {
            resume_point: 0,
            cost: function_cost,
        });
    } else {
        a.entry_charge = function_cost;
    }
    a.resume_points = next_rp;
    a.has_dispatch = a.levels.values().any(|l| l.dispatch_targets > 0);
    a
}

fn mark_seen(stack: &mut [Builder]) {
    if let Some(top) = stack.last_mut() {
        top.seen_any = true;
    }
}

/// A call at `i` that can unwind. Its boundary starts at `start`, the first
/// operator of the code that computes its arguments (see [`arguments_start`]);
/// `seen_before` tells whether the level has code before that.
#[allow(clippy::too_many_arguments)]
fn push_call(
    a: &mut Analysis,
    stack: &mut [Builder],
    next_rp: &mut u32,
    i: usize,
    start: usize,
    seen_before: bool,
    dead: bool,
) {
    if dead {
        return;
    }
    let rp = *next_rp;
    *next_rp += 1;
    a.call_resume_point[i] = Some(rp);
    let top = stack.last_mut().expect("open level");
    let segment = u32::from(seen_before);
    top.boundaries.push(Boundary {
        op: Some(start),
        lo: rp,
        hi: rp + 1,
        segment,
    });
}

/// Numbers the segments of a finished level and records it if it has any
/// boundary.
fn finish_level(a: &mut Analysis, key: LevelKey, mut boundaries: Vec<Boundary>) {
    if boundaries.is_empty() {
        return;
    }
    let mut targets = 0;
    for b in &mut boundaries {
        if b.segment != 0 {
            targets += 1;
            b.segment = targets;
        }
    }
    a.levels.insert(
        key,
        Level {
            boundaries,
            dispatch_targets: targets,
        },
    );
}

/// Where the arguments of the call at `call` (`count` operands, the table
/// index of an indirect call included) start to be computed: the first of
/// the operators right before the call that together push exactly its
/// operands, when those operators can run again on a rewind with no effect
/// but their results; `call` itself otherwise.
///
/// A rewound caller does not need the arguments: the callee restores its
/// locals, parameters included, from its own frame. Moving the call's
/// boundary (where the operand stack is spilled and the rewind dispatch
/// lands) to the start of its arguments means that the arguments need no
/// spill slots and the rewind recomputes them instead. That is only sound
/// for code without effects that cannot trap when run again: constants,
/// `local.get` (the locals are restored to what they were at the call),
/// `global.get`, arithmetic that never traps, and loads whose address
/// depends on no global (it is the same address as before the call, and
/// memories never shrink).
///
/// With `exact`, the arguments must come out the same when recomputed, so
/// only constants, locals and arithmetic qualify: a `call_indirect` picks its
/// callee by the table index, and a host function called again to finish a
/// suspended call sees its arguments (memory and globals can change in
/// between; the locals cannot).
pub(crate) fn arguments_start(
    ops: &[(Operator<'_>, usize)],
    call: usize,
    count: u32,
    exact: bool,
) -> usize {
    if count == 0 {
        return call;
    }
    let mut needed = i64::from(count);
    let mut reads_global = false;
    let mut loads = false;
    let mut j = call;
    while j > 0 {
        j -= 1;
        let Some((pops, pushes, kind)) = pure_effect(&ops[j].0) else {
            return call;
        };
        match kind {
            Pure::Global | Pure::Load if exact => return call,
            Pure::Global => reads_global = true,
            Pure::Load => loads = true,
            Pure::Plain => {}
        }
        if reads_global && loads {
            return call;
        }
        needed -= i64::from(pushes);
        if needed < 0 {
            // The operator also pushes values below the arguments.
            return call;
        }
        needed += i64::from(pops);
        if needed == 0 {
            return j;
        }
    }
    call
}

/// What kind of operator a recomputable one is.
enum Pure {
    Plain,
    Global,
    Load,
}

/// The operand stack effect `(pops, pushes)` of an operator that can be run
/// again without effects or traps (see [`arguments_start`]); `None` for any
/// other.
fn pure_effect(op: &Operator<'_>) -> Option<(u32, u32, Pure)> {
    use Operator::*;
    Some(match op {
        LocalGet { .. }
        | I32Const { .. }
        | I64Const { .. }
        | F32Const { .. }
        | F64Const { .. }
        | RefNull { .. }
        | RefFunc { .. } => (0, 1, Pure::Plain),
        GlobalGet { .. } => (0, 1, Pure::Global),
        I32Load { .. }
        | I64Load { .. }
        | F32Load { .. }
        | F64Load { .. }
        | I32Load8S { .. }
        | I32Load8U { .. }
        | I32Load16S { .. }
        | I32Load16U { .. }
        | I64Load8S { .. }
        | I64Load8U { .. }
        | I64Load16S { .. }
        | I64Load16U { .. }
        | I64Load32S { .. }
        | I64Load32U { .. } => (1, 1, Pure::Load),
        I32Eqz | I64Eqz | I32Clz | I32Ctz | I32Popcnt | I64Clz | I64Ctz | I64Popcnt | F32Abs
        | F32Neg | F32Ceil | F32Floor | F32Trunc | F32Nearest | F32Sqrt | F64Abs | F64Neg
        | F64Ceil | F64Floor | F64Trunc | F64Nearest | F64Sqrt | I32WrapI64 | I64ExtendI32S
        | I64ExtendI32U | F32ConvertI32S | F32ConvertI32U | F32ConvertI64S | F32ConvertI64U
        | F32DemoteF64 | F64ConvertI32S | F64ConvertI32U | F64ConvertI64S | F64ConvertI64U
        | F64PromoteF32 | I32ReinterpretF32 | I64ReinterpretF64 | F32ReinterpretI32
        | F64ReinterpretI64 | I32Extend8S | I32Extend16S | I64Extend8S | I64Extend16S
        | I64Extend32S | I32TruncSatF32S | I32TruncSatF32U | I32TruncSatF64S | I32TruncSatF64U
        | I64TruncSatF32S | I64TruncSatF32U | I64TruncSatF64S | I64TruncSatF64U | RefIsNull => {
            (1, 1, Pure::Plain)
        }
        I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS | I32GeU
        | I64Eq | I64Ne | I64LtS | I64LtU | I64GtS | I64GtU | I64LeS | I64LeU | I64GeS | I64GeU
        | F32Eq | F32Ne | F32Lt | F32Gt | F32Le | F32Ge | F64Eq | F64Ne | F64Lt | F64Gt | F64Le
        | F64Ge | I32Add | I32Sub | I32Mul | I32And | I32Or | I32Xor | I32Shl | I32ShrS
        | I32ShrU | I32Rotl | I32Rotr | I64Add | I64Sub | I64Mul | I64And | I64Or | I64Xor
        | I64Shl | I64ShrS | I64ShrU | I64Rotl | I64Rotr | F32Add | F32Sub | F32Mul | F32Div
        | F32Min | F32Max | F32Copysign | F64Add | F64Sub | F64Mul | F64Div | F64Min | F64Max
        | F64Copysign => (2, 1, Pure::Plain),
        Select | TypedSelect { .. } => (3, 1, Pure::Plain),
        _ => return None,
    })
}

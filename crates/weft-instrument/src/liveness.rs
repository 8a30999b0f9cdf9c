//! Which locals are live where, by a backward dataflow analysis over the
//! control-flow graph of a function body.
//!
//! Every resume point of an instrumented function leaves through one save
//! path shared by the whole function, and that path stores every saved
//! local. Without more information the compiler must then keep every local
//! alive at every resume point: a temporary that a loop body sets and uses,
//! and that is dead at the loop header, stays live across the back edge
//! only because the check there could save it. In a loop with many such
//! temporaries that costs registers and shows up as spills. Knowing which
//! locals each resume point really needs lets the emitter store only those
//! on the cold edge of a resume point in a loop, and give the others a
//! constant on the way into the shared save path elsewhere (see
//! [`crate::function`]); either ends their live ranges where the original
//! program ends them. The rewind dispatch uses it too, to load from the
//! frame only the locals its targets read.

use wasmparser::Operator;

/// Analyses larger than this many 64-bit words per table are not done; every
/// local then counts as live everywhere, as without the analysis.
const MAX_WORDS: usize = 1 << 21;

/// A set of locals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalSet {
    words: Vec<u64>,
}

impl LocalSet {
    fn empty(words: usize) -> Self {
        LocalSet {
            words: vec![0; words],
        }
    }

    /// Whether `local` is in the set.
    pub fn contains(&self, local: u32) -> bool {
        let (w, b) = (local as usize / 64, local % 64);
        self.words.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    fn insert(&mut self, local: u32) {
        self.words[local as usize / 64] |= 1 << (local % 64);
    }

    fn remove(&mut self, local: u32) {
        self.words[local as usize / 64] &= !(1 << (local % 64));
    }
}

/// How an operator touches locals.
enum Access {
    None,
    Use(u32),
    Def(u32),
}

fn access(op: &Operator<'_>) -> Access {
    match op {
        Operator::LocalGet { local_index } => Access::Use(*local_index),
        Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
            Access::Def(*local_index)
        }
        _ => Access::None,
    }
}

/// Applies one operator backwards: `live` goes from after it to before it.
fn step(live: &mut LocalSet, op: &Operator<'_>) {
    match access(op) {
        Access::None => {}
        Access::Use(l) => live.insert(l),
        Access::Def(l) => live.remove(l),
    }
}

#[derive(Debug, Clone, Copy)]
enum FrameKind {
    Function,
    Block,
    Loop,
    If,
}

/// For every `block`, `loop` and `if` (and the function body, the last
/// entry), the index of its `end`, and of its `else` for an `if` that has one.
struct Structure {
    end: Vec<usize>,
    els: Vec<Option<usize>>,
}

fn structure(ops: &[(Operator<'_>, usize)]) -> Option<Structure> {
    let mut end = vec![usize::MAX; ops.len()];
    let mut els = vec![None; ops.len()];
    let mut open: Vec<usize> = Vec::new();
    for (i, (op, _)) in ops.iter().enumerate() {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => open.push(i),
            Operator::Else => els[*open.last()?] = Some(i),
            Operator::End => match open.pop() {
                Some(opener) => end[opener] = i,
                None if i + 1 == ops.len() => {}
                None => return None,
            },
            _ => {}
        }
    }
    open.is_empty().then_some(Structure { end, els })
}

/// The live locals before each of `queries` (operator indices, ascending or
/// not) in a validated function body of `locals` locals (parameters
/// included), or `None` when the function is too large to analyse.
pub(crate) fn live_before(
    ops: &[(Operator<'_>, usize)],
    locals: u32,
    queries: &[usize],
) -> Option<Vec<LocalSet>> {
    let n = ops.len();
    if n == 0 {
        return None;
    }
    let words = (locals as usize).div_ceil(64).max(1);
    let structure = structure(ops)?;

    // Basic blocks: a block starts at operator 0, at every `loop` (a branch
    // target), at every `end` (the target of branches to a block or an `if`,
    // and of the end of a `then` arm), and after every operator that does not
    // simply fall through.
    let mut leader = vec![false; n];
    leader[0] = true;
    for (i, (op, _)) in ops.iter().enumerate() {
        match op {
            Operator::Loop { .. } | Operator::End => leader[i] = true,
            Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::Return
            | Operator::Unreachable
            | Operator::If { .. }
            | Operator::Else
                if i + 1 < n =>
            {
                leader[i + 1] = true;
            }
            _ => {}
        }
    }
    let starts: Vec<usize> = (0..n).filter(|&i| leader[i]).collect();
    let blocks = starts.len();
    if blocks.checked_mul(words)? > MAX_WORDS {
        return None;
    }
    let mut block_of = vec![0usize; n];
    for (b, &s) in starts.iter().enumerate() {
        let e = starts.get(b + 1).copied().unwrap_or(n);
        block_of[s..e].fill(b);
    }

    // Successors of every basic block, as operator indices of block starts.
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); blocks];
    let mut frames: Vec<(FrameKind, usize)> = vec![(FrameKind::Function, usize::MAX)];
    let target = |frames: &[(FrameKind, usize)], depth: u32| -> Option<usize> {
        let (kind, opener) = frames[frames.len().checked_sub(1 + depth as usize)?];
        match kind {
            FrameKind::Function => None,
            FrameKind::Loop => Some(opener),
            FrameKind::Block | FrameKind::If => Some(structure.end[opener]),
        }
    };
    for (i, (op, _)) in ops.iter().enumerate() {
        let last_of_block = i + 1 == n || leader[i + 1];
        let b = block_of[i];
        let mut out: Vec<usize> = Vec::new();
        match op {
            Operator::Block { .. } => frames.push((FrameKind::Block, i)),
            Operator::Loop { .. } => frames.push((FrameKind::Loop, i)),
            Operator::If { .. } => {
                frames.push((FrameKind::If, i));
                out.push(i + 1);
                out.push(match structure.els[i] {
                    Some(e) => e + 1,
                    None => structure.end[i],
                });
            }
            Operator::Else => {
                let (_, opener) = *frames.last()?;
                out.push(structure.end[opener]);
            }
            Operator::End => {
                frames.pop();
            }
            Operator::Br { relative_depth } => out.extend(target(&frames, *relative_depth)),
            Operator::BrIf { relative_depth } => {
                out.extend(target(&frames, *relative_depth));
                out.push(i + 1);
            }
            Operator::BrTable { targets } => {
                for t in targets.targets() {
                    out.extend(target(&frames, t.ok()?));
                }
                out.extend(target(&frames, targets.default()));
            }
            _ => {}
        }
        if !last_of_block {
            continue;
        }
        let falls_through = !matches!(
            op,
            Operator::Br { .. }
                | Operator::BrTable { .. }
                | Operator::Return
                | Operator::Unreachable
                | Operator::If { .. }
                | Operator::Else
                | Operator::BrIf { .. }
        );
        if falls_through && i + 1 < n {
            out.push(i + 1);
        }
        out.sort_unstable();
        out.dedup();
        // Every branch target and fall-through is a block start.
        succs[b] = out.into_iter().filter(|&s| s < n).collect();
    }

    // Per block: what it reads before writing (gen) and what it writes (kill).
    let mut gen_ = vec![LocalSet::empty(words); blocks];
    let mut kill = vec![LocalSet::empty(words); blocks];
    for b in 0..blocks {
        let (s, e) = (starts[b], starts.get(b + 1).copied().unwrap_or(n));
        for (op, _) in ops[s..e].iter().rev() {
            match access(op) {
                Access::None => {}
                Access::Use(l) => {
                    gen_[b].insert(l);
                    kill[b].remove(l);
                }
                Access::Def(l) => {
                    gen_[b].remove(l);
                    kill[b].insert(l);
                }
            }
        }
    }

    // live_in = gen | (live_out & !kill), iterated to the fixpoint; visiting
    // blocks from the last converges in a few rounds on structured code.
    let mut live_in = vec![LocalSet::empty(words); blocks];
    let live_out = |live_in: &[LocalSet], b: usize| {
        let mut out = LocalSet::empty(words);
        for &s in &succs[b] {
            for (o, w) in out.words.iter_mut().zip(&live_in[block_of[s]].words) {
                *o |= w;
            }
        }
        out
    };
    let mut changed = true;
    while changed {
        changed = false;
        for b in (0..blocks).rev() {
            let out = live_out(&live_in, b);
            let new: Vec<u64> = out
                .words
                .iter()
                .zip(&gen_[b].words)
                .zip(&kill[b].words)
                .map(|((o, g), k)| g | (o & !k))
                .collect();
            if new != live_in[b].words {
                live_in[b].words = new;
                changed = true;
            }
        }
    }

    // Answer the queries, one backward walk per block that has some.
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&q| std::cmp::Reverse(queries[q]));
    let mut answers = vec![LocalSet::empty(words); queries.len()];
    let mut k = 0;
    while k < order.len() {
        let b = block_of[queries[order[k]].min(n - 1)];
        let (s, e) = (starts[b], starts.get(b + 1).copied().unwrap_or(n));
        let mut live = live_out(&live_in, b);
        let mut at = e;
        while k < order.len() && queries[order[k]] >= s && queries[order[k]] < e {
            let q = queries[order[k]];
            while at > q {
                at -= 1;
                step(&mut live, &ops[at].0);
            }
            answers[order[k]] = live.clone();
            k += 1;
        }
        if k < order.len() && queries[order[k]] >= n {
            // A query past the end: nothing is live after the function.
            answers[order[k]] = LocalSet::empty(words);
            k += 1;
        }
    }
    Some(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The live sets before every operator of the only function in `wat`,
    /// which takes two parameters, each as the sorted list of its locals.
    fn live_everywhere(wat: &str) -> Vec<(String, Vec<u32>)> {
        let wasm = wat::parse_str(wat).unwrap();
        let params = 2;
        for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
            if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut locals = 0;
                for l in body.get_locals_reader().unwrap() {
                    locals += l.unwrap().0;
                }
                let ops: Vec<_> = body
                    .get_operators_reader()
                    .unwrap()
                    .into_iter_with_offsets()
                    .map(|o| o.unwrap())
                    .collect();
                let queries: Vec<usize> = (0..ops.len()).collect();
                let live = live_before(&ops, params + locals, &queries).unwrap();
                return ops
                    .iter()
                    .zip(live)
                    .map(|((op, _), set)| {
                        let name = format!("{op:?}");
                        let name = name.split([' ', '{']).next().unwrap().to_string();
                        (
                            name,
                            (0..params + locals).filter(|&l| set.contains(l)).collect(),
                        )
                    })
                    .collect();
            }
        }
        unreachable!("no function")
    }

    #[test]
    fn a_temporary_of_a_loop_body_is_dead_at_its_header() {
        // $t is set and read inside the body only; $acc and $n are carried
        // around the loop; $n is read after it.
        let live = live_everywhere(
            r#"(module (func (param $n i32) (param $acc i32) (local $t i32)
                (loop $l
                  (local.set $t (i32.mul (local.get $n) (local.get $n)))
                  (local.set $acc (i32.add (local.get $acc) (local.get $t)))
                  (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
                (drop (local.get $acc))))"#,
        );
        // Before the loop and at its header (the first operator of the body).
        assert_eq!(live[0], ("Loop".into(), vec![0, 1]));
        assert_eq!(live[1], ("LocalGet".into(), vec![0, 1]));
        // Between the set of $t and its use, $t is live too.
        let (name, set) = &live[5];
        assert_eq!(name, "LocalGet");
        assert_eq!(set, &vec![0, 1, 2]);
    }

    #[test]
    fn a_local_read_on_one_arm_only_is_live_before_the_if() {
        let live = live_everywhere(
            r#"(module (func (param $c i32) (param $x i32) (local $y i32)
                (if (local.get $c)
                  (then (local.set $y (local.get $x)))
                  (else (local.set $y (i32.const 1))))
                (drop (local.get $y))))"#,
        );
        assert_eq!(live[0], ("LocalGet".into(), vec![0, 1]));
        assert_eq!(live[1], ("If".into(), vec![1]));
    }

    #[test]
    fn branches_out_of_blocks_carry_what_their_target_reads() {
        // $x is only read after the block, reached by the branch.
        let live = live_everywhere(
            r#"(module (func (param $c i32) (param $x i32) (local $z i32)
                (block $out
                  (br_if $out (local.get $c))
                  (local.set $x (i32.const 5))
                  (local.set $z (i32.const 6)))
                (drop (local.get $x))))"#,
        );
        assert_eq!(live[0], ("Block".into(), vec![0, 1]));
        // After the branch, $x is overwritten before the end: dead.
        assert_eq!(live[3], ("I32Const".into(), vec![]));
    }

    #[test]
    fn code_after_a_return_reads_nothing_that_matters_before_it() {
        let live = live_everywhere(
            r#"(module (func (param $c i32) (param $x i32)
                (return)
                (drop (local.get $x))))"#,
        );
        assert_eq!(live[0], ("Return".into(), vec![]));
    }
}

//! Copies of code without rewind dispatches, for normal running.
//!
//! A rewind dispatch (see [`crate::function`]) jumps from a level's entry to
//! the segment holding the resume point. Each of those jumps ends at a block
//! end that normal running passes through too, and there the compiler must
//! merge the values of every live local from both edges: inside a loop on
//! every iteration, and in a function on every call, although a rewind
//! happens at most once per resume.
//!
//! This pass, run on the emitted body, gives such code a second copy for
//! normal running, in which the resume point local `$rp` is known to be 0.
//! A loop becomes
//!
//! ```text
//! (block $after (result ...)
//!   (block $to_fast
//!     (loop $rewinding (result ...)      ;; the loop as emitted
//!       (br_if $to_fast (i32.eqz (local.get $rp)))
//!       ...)
//!     (br $after))
//!   (loop $fast (result ...)             ;; the same loop without its
//!     ...))                              ;; rewind dispatches
//! ```
//!
//! A rewind runs the emitted loop up to its resume point, and the loop's
//! next iteration finds `$rp` cleared and continues in the fast copy. A
//! normal entry goes to the fast copy at once. The fast copy is the emitted
//! code with `$rp` replaced by 0: every `(if (local.get $rp))` keeps only
//! its `else` arm, so no dispatch edge is left in it. `$rp` is only ever set
//! by the prologue, so it stays 0 once cleared, and the two copies compute
//! the same thing.
//!
//! A function's body becomes `(if (local.get $rp) (then emitted) (else
//! fast))`. Its rewinding copy runs up to the function's return, so it
//! splits the loops in it as above ([`Copies::All`]); a function without
//! loops needs no more ([`Copies::Loops`] copies only those functions).
//!
//! Loops with parameters keep one copy: a C compiler does not produce them,
//! and their copy would need a block type that passes the parameters.

use crate::Copies;
use crate::error::{Error, Result};
use std::borrow::Cow;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{BlockType, Encode, Instruction};
use wasmparser::{BinaryReader, Operator, OperatorsReader};

/// Rewrites the instructions of an emitted body (inside the function's own
/// frame, not including its final `end`). `rp` is the resume point local;
/// operator `body_opener` opens the block of the original body.
pub(crate) fn split(body: &[u8], rp: u32, body_opener: usize, copies: Copies) -> Result<Vec<u8>> {
    let mut reader = OperatorsReader::new(BinaryReader::new(body, 0));
    let mut ops = Vec::new();
    while !reader.eof() {
        ops.push(reader.read().map_err(internal)?);
    }
    let mut splitter = Splitter {
        ends: vec![usize::MAX; ops.len()],
        elses: vec![None; ops.len()],
        reads_before: Vec::with_capacity(ops.len() + 1),
        ops: &ops,
        rp,
        frames: vec![true],
        out: Vec::with_capacity(body.len() * 2),
    };
    splitter.match_frames();
    let loop_free = !ops.iter().any(|op| matches!(op, Operator::Loop { .. }));
    let function_copy = match copies {
        Copies::None => None,
        // A function without loops runs its rewinding copy up to its
        // return, which takes bounded time, and its copy needs no more.
        _ if loop_free => Some(Version::Rewinding),
        Copies::Loops => None,
        // The rewinding copy of a function with loops splits them, so that
        // a rewound frame soon runs in fast loops too.
        Copies::All => Some(Version::Outer),
    };
    let body_end = splitter.ends.get(body_opener).copied();
    match (ops.get(body_opener), body_end, function_copy) {
        (Some(Operator::Block { blockty }), Some(end), Some(rewinding)) if end < ops.len() => {
            let bt = RoundtripReencoder.block_type(*blockty).map_err(internal)?;
            splitter.emit(0, body_opener + 1, Version::Outer)?;
            splitter.push(Instruction::LocalGet(rp));
            splitter.push(Instruction::If(bt));
            splitter.frames.push(false);
            splitter.emit(body_opener + 1, end, rewinding)?;
            splitter.push(Instruction::Else);
            splitter.emit(body_opener + 1, end, Version::Fast)?;
            splitter.frames.pop();
            splitter.push(Instruction::End);
            splitter.emit(end, ops.len(), Version::Outer)?;
        }
        _ => splitter.emit(0, ops.len(), Version::Outer)?,
    }
    Ok(splitter.out)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Limit(format!("cannot rewrite an instrumented body: {e}"))
}

/// Which version of the code is being emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// Outside every split loop: the loops in it are split.
    Outer,
    /// A split loop's rewinding copy: the code as emitted, its nested loops
    /// included.
    Rewinding,
    /// A split loop's fast copy: `$rp` is 0.
    Fast,
}

struct Splitter<'a, 'b> {
    ops: &'b [Operator<'a>],
    /// For a block, loop or if: the index of its `end`.
    ends: Vec<usize>,
    /// For an if: the index of its `else`.
    elses: Vec<Option<usize>>,
    /// `reads_before[i]`: how many `local.get $rp` precede operator `i`.
    reads_before: Vec<u32>,
    rp: u32,
    /// The open control frames of the output: `true` for a frame of the
    /// input, `false` for one this pass added. The function's own frame is
    /// first.
    frames: Vec<bool>,
    out: Vec<u8>,
}

impl Splitter<'_, '_> {
    fn match_frames(&mut self) {
        let mut open = Vec::new();
        let mut reads = 0;
        for (i, op) in self.ops.iter().enumerate() {
            self.reads_before.push(reads);
            match op {
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    open.push(i)
                }
                Operator::Else => {
                    if let Some(&opener) = open.last() {
                        self.elses[opener] = Some(i);
                    }
                }
                Operator::End => {
                    if let Some(opener) = open.pop() {
                        self.ends[opener] = i;
                    }
                }
                Operator::LocalGet { local_index } if *local_index == self.rp => reads += 1,
                _ => {}
            }
        }
        self.reads_before.push(reads);
    }

    fn reads_rp(&self, from: usize, to: usize) -> bool {
        self.reads_before[to] > self.reads_before[from]
    }

    fn push(&mut self, instr: Instruction<'_>) {
        instr.encode(&mut self.out);
    }

    /// The output depth of the input's branch depth `depth`.
    fn remap(&self, depth: u32) -> Result<u32> {
        let mut seen = 0;
        for (i, &input) in self.frames.iter().enumerate().rev() {
            if input {
                if seen == depth {
                    return Ok((self.frames.len() - 1 - i) as u32);
                }
                seen += 1;
            }
        }
        Err(internal(format!("branch depth {depth} out of range")))
    }

    /// Emits operators `from..to` as `version`.
    fn emit(&mut self, from: usize, to: usize, version: Version) -> Result<()> {
        let fast = version == Version::Fast;
        let mut i = from;
        while i < to {
            let op = &self.ops[i];
            match op {
                Operator::LocalGet { local_index } if *local_index == self.rp && fast => {
                    if let Some(Operator::If { blockty }) = self.ops.get(i + 1) {
                        // `(if (local.get $rp) A else B)` with `$rp` 0 is
                        // `(block B)`: the same label, the same type.
                        let opener = i + 1;
                        let end = self.ends[opener];
                        let bt = RoundtripReencoder.block_type(*blockty).map_err(internal)?;
                        if matches!(bt, BlockType::Empty) && self.elses[opener].is_none() {
                            i = end + 1;
                            continue;
                        }
                        self.push(Instruction::Block(bt));
                        self.frames.push(true);
                        if let Some(e) = self.elses[opener] {
                            self.emit(e + 1, end, version)?;
                        }
                        self.frames.pop();
                        self.push(Instruction::End);
                        i = end + 1;
                        continue;
                    }
                    self.push(Instruction::I32Const(0));
                }
                Operator::Loop { blockty } => {
                    let end = self.ends[i];
                    let bt = RoundtripReencoder.block_type(*blockty).map_err(internal)?;
                    let splits = version == Version::Outer
                        && end < to
                        && self.reads_rp(i + 1, end)
                        && matches!(bt, BlockType::Empty | BlockType::Result(_));
                    if splits {
                        self.split(i, end, bt)?;
                        i = end + 1;
                        continue;
                    }
                    self.push(Instruction::Loop(bt));
                    self.frames.push(true);
                }
                Operator::Block { .. } | Operator::If { .. } => {
                    self.push(
                        RoundtripReencoder
                            .instruction(op.clone())
                            .map_err(internal)?,
                    );
                    self.frames.push(true);
                }
                Operator::End => {
                    self.push(Instruction::End);
                    self.frames.pop();
                }
                Operator::Br { relative_depth } => {
                    let d = self.remap(*relative_depth)?;
                    self.push(Instruction::Br(d));
                }
                Operator::BrIf { relative_depth } => {
                    let d = self.remap(*relative_depth)?;
                    self.push(Instruction::BrIf(d));
                }
                Operator::BrTable { targets } => {
                    let mut mapped = Vec::with_capacity(targets.len() as usize);
                    for t in targets.targets() {
                        mapped.push(self.remap(t.map_err(internal)?)?);
                    }
                    let default = self.remap(targets.default())?;
                    self.push(Instruction::BrTable(Cow::Owned(mapped), default));
                }
                other => {
                    self.push(
                        RoundtripReencoder
                            .instruction(other.clone())
                            .map_err(internal)?,
                    );
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Emits the loop `opener..=end` as a rewinding copy and a fast copy.
    fn split(&mut self, opener: usize, end: usize, bt: BlockType) -> Result<()> {
        self.push(Instruction::Block(bt));
        self.frames.push(false);
        self.push(Instruction::Block(BlockType::Empty));
        self.frames.push(false);
        self.push(Instruction::Loop(bt));
        self.frames.push(true);
        self.push(Instruction::LocalGet(self.rp));
        self.push(Instruction::I32Eqz);
        self.push(Instruction::BrIf(1));
        self.emit(opener + 1, end, Version::Rewinding)?;
        self.frames.pop();
        self.push(Instruction::End);
        self.push(Instruction::Br(1));
        self.frames.pop();
        self.push(Instruction::End);
        self.push(Instruction::Loop(bt));
        self.frames.push(true);
        self.emit(opener + 1, end, Version::Fast)?;
        self.frames.pop();
        self.push(Instruction::End);
        self.frames.pop();
        self.push(Instruction::End);
        Ok(())
    }
}

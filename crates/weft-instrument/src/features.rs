//! Rejection of the WebAssembly features the pass does not support.

use crate::error::{Error, Result};
use wasmparser::{Operator, RefType, ValType};

macro_rules! define_proposal_of {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// The proposal that introduced `op`, as named by wasmparser.
        fn proposal_of(op: &Operator<'_>) -> &'static str {
            match op {
                $( Operator::$op { .. } => stringify!($proposal), )*
                _ => "unknown",
            }
        }
    };
}
wasmparser::for_each_operator!(define_proposal_of);

/// Fails if `op` belongs to a proposal the pass rejects.
pub(crate) fn check_operator(op: &Operator<'_>, func: u32) -> Result<()> {
    let feature = match proposal_of(op) {
        "mvp"
        | "sign_extension"
        | "saturating_float_to_int"
        | "bulk_memory"
        | "simd"
        | "relaxed_simd"
        | "multi_value"
        | "wide_arithmetic" => return Ok(()),
        "reference_types" => return Ok(()),
        "threads" | "shared_everything_threads" => "threads",
        "exceptions" | "legacy_exceptions" => "exception handling",
        "tail_call" => "tail calls",
        "function_references" => "typed function references",
        "gc" => "garbage collection",
        "stack_switching" => "stack switching",
        "memory_control" => "memory control",
        other => {
            return Err(unsupported(
                other,
                format!("instruction {op:?} in function {func}"),
            ));
        }
    };
    Err(unsupported(
        feature,
        format!("instruction {op:?} in function {func}"),
    ))
}

/// Fails unless `ty` is a number, a vector, or a nullable `funcref` / `externref`.
pub(crate) fn check_val_type(ty: ValType, place: impl FnOnce() -> String) -> Result<()> {
    match ty {
        ValType::Ref(r) => check_ref_type(r, place),
        _ => Ok(()),
    }
}

pub(crate) fn check_ref_type(r: RefType, place: impl FnOnce() -> String) -> Result<()> {
    if r == RefType::FUNCREF || r == RefType::EXTERNREF {
        Ok(())
    } else if r.is_concrete_type_ref() || !r.is_nullable() {
        Err(unsupported(
            "typed function references",
            format!("type {r} in {}", place()),
        ))
    } else {
        Err(unsupported(
            "garbage collection",
            format!("type {r} in {}", place()),
        ))
    }
}

pub(crate) fn unsupported(feature: &'static str, detail: String) -> Error {
    Error::Unsupported { feature, detail }
}

//! Arguments, results and expected results, independent of any store; the
//! spec's matching rules for NaNs and vector lanes.

use std::fmt;

/// An argument of an `invoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// `i32.const`
    I32(i32),
    /// `i64.const`
    I64(i64),
    /// `f32.const`, as bits.
    F32(u32),
    /// `f64.const`, as bits.
    F64(u64),
    /// `v128.const`, little-endian.
    V128(u128),
    /// `ref.null func`
    NullFunc,
    /// `ref.null extern`
    NullExtern,
    /// `ref.extern N`: a host reference carrying `N`.
    Extern(u32),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::I32(x) => write!(f, "(i32.const {x})"),
            Arg::I64(x) => write!(f, "(i64.const {x})"),
            Arg::F32(x) => write!(f, "(f32.const {})", f32::from_bits(*x)),
            Arg::F64(x) => write!(f, "(f64.const {})", f64::from_bits(*x)),
            Arg::V128(x) => write!(f, "(v128.const 0x{x:032x})"),
            Arg::NullFunc => write!(f, "(ref.null func)"),
            Arg::NullExtern => write!(f, "(ref.null extern)"),
            Arg::Extern(n) => write!(f, "(ref.extern {n})"),
        }
    }
}

/// A value produced by a module, independent of the store it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits.
    F32(u32),
    /// `f64`, as bits.
    F64(u64),
    /// `v128`, little-endian.
    V128(u128),
    /// A `funcref`: whether it is non-null.
    FuncRef { null: bool },
    /// An `externref`: `None` when null, otherwise the number it carries.
    ExternRef(Option<u32>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I32(x) => write!(f, "i32:{x}"),
            Value::I64(x) => write!(f, "i64:{x}"),
            Value::F32(x) => write!(f, "f32:{} (0x{x:08x})", f32::from_bits(*x)),
            Value::F64(x) => write!(f, "f64:{} (0x{x:016x})", f64::from_bits(*x)),
            Value::V128(x) => write!(f, "v128:0x{x:032x}"),
            Value::FuncRef { null: true } => write!(f, "ref.null func"),
            Value::FuncRef { null: false } => write!(f, "ref.func"),
            Value::ExternRef(None) => write!(f, "ref.null extern"),
            Value::ExternRef(Some(n)) => write!(f, "ref.extern {n}"),
        }
    }
}

/// A float expectation: an exact value, or a class of NaNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanPattern<B> {
    /// `nan:canonical`
    Canonical,
    /// `nan:arithmetic`
    Arithmetic,
    /// Exactly these bits.
    Value(B),
}

/// A `v128` expectation, lane by lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V128Pattern {
    /// `i8x16`
    I8x16([i8; 16]),
    /// `i16x8`
    I16x8([i16; 8]),
    /// `i32x4`
    I32x4([i32; 4]),
    /// `i64x2`
    I64x2([i64; 2]),
    /// `f32x4`, each lane possibly a NaN class.
    F32x4([NanPattern<u32>; 4]),
    /// `f64x2`, each lane possibly a NaN class.
    F64x2([NanPattern<u64>; 2]),
}

/// An expected result of an `assert_return`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `i32.const`
    I32(i32),
    /// `i64.const`
    I64(i64),
    /// `f32.const`
    F32(NanPattern<u32>),
    /// `f64.const`
    F64(NanPattern<u64>),
    /// `v128.const`
    V128(V128Pattern),
    /// `ref.null` without a type: any null reference.
    RefNull,
    /// `ref.null func`
    RefNullFunc,
    /// `ref.null extern`
    RefNullExtern,
    /// `ref.func`: any non-null function reference.
    RefFunc,
    /// `ref.extern N` (any non-null host reference without `N`).
    RefExtern(Option<u32>),
    /// `either`: any of the alternatives.
    Either(Vec<Expected>),
    /// An expectation outside WebAssembly 2.0 (GC references).
    Unsupported(String),
}

const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F32_QUIET_BIT: u32 = 0x0040_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;
const F64_QUIET_BIT: u64 = 0x0008_0000_0000_0000;

fn f32_matches(pattern: &NanPattern<u32>, bits: u32) -> bool {
    let is_nan = f32::from_bits(bits).is_nan();
    match pattern {
        NanPattern::Canonical => bits & 0x7fff_ffff == F32_CANONICAL_NAN,
        NanPattern::Arithmetic => is_nan && bits & F32_QUIET_BIT != 0,
        NanPattern::Value(want) => *want == bits,
    }
}

fn f64_matches(pattern: &NanPattern<u64>, bits: u64) -> bool {
    let is_nan = f64::from_bits(bits).is_nan();
    match pattern {
        NanPattern::Canonical => bits & 0x7fff_ffff_ffff_ffff == F64_CANONICAL_NAN,
        NanPattern::Arithmetic => is_nan && bits & F64_QUIET_BIT != 0,
        NanPattern::Value(want) => *want == bits,
    }
}

fn lanes<const N: usize>(v: u128) -> [u128; N] {
    let width = 128 / N;
    let mask = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    std::array::from_fn(|i| (v >> (i * width)) & mask)
}

impl V128Pattern {
    fn matches(&self, v: u128) -> bool {
        match self {
            V128Pattern::I8x16(want) => lanes::<16>(v)
                .iter()
                .zip(want)
                .all(|(l, w)| *l as u8 == *w as u8),
            V128Pattern::I16x8(want) => lanes::<8>(v)
                .iter()
                .zip(want)
                .all(|(l, w)| *l as u16 == *w as u16),
            V128Pattern::I32x4(want) => lanes::<4>(v)
                .iter()
                .zip(want)
                .all(|(l, w)| *l as u32 == *w as u32),
            V128Pattern::I64x2(want) => lanes::<2>(v)
                .iter()
                .zip(want)
                .all(|(l, w)| *l as u64 == *w as u64),
            V128Pattern::F32x4(want) => lanes::<4>(v)
                .iter()
                .zip(want)
                .all(|(l, w)| f32_matches(w, *l as u32)),
            V128Pattern::F64x2(want) => lanes::<2>(v)
                .iter()
                .zip(want)
                .all(|(l, w)| f64_matches(w, *l as u64)),
        }
    }
}

impl Expected {
    /// Whether `value` satisfies this expectation.
    pub fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Expected::I32(want), Value::I32(got)) => want == got,
            (Expected::I64(want), Value::I64(got)) => want == got,
            (Expected::F32(want), Value::F32(got)) => f32_matches(want, *got),
            (Expected::F64(want), Value::F64(got)) => f64_matches(want, *got),
            (Expected::V128(want), Value::V128(got)) => want.matches(*got),
            (Expected::RefNull, Value::FuncRef { null }) => *null,
            (Expected::RefNull, Value::ExternRef(r)) => r.is_none(),
            (Expected::RefNullFunc, Value::FuncRef { null }) => *null,
            (Expected::RefNullExtern, Value::ExternRef(r)) => r.is_none(),
            (Expected::RefFunc, Value::FuncRef { null }) => !*null,
            (Expected::RefExtern(None), Value::ExternRef(r)) => r.is_some(),
            (Expected::RefExtern(Some(want)), Value::ExternRef(r)) => *r == Some(*want),
            (Expected::Either(options), v) => options.iter().any(|o| o.matches(v)),
            _ => false,
        }
    }
}

impl fmt::Display for NanPattern<u32> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NanPattern::Canonical => write!(f, "nan:canonical"),
            NanPattern::Arithmetic => write!(f, "nan:arithmetic"),
            NanPattern::Value(bits) => write!(f, "{} (0x{bits:08x})", f32::from_bits(*bits)),
        }
    }
}

impl fmt::Display for NanPattern<u64> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NanPattern::Canonical => write!(f, "nan:canonical"),
            NanPattern::Arithmetic => write!(f, "nan:arithmetic"),
            NanPattern::Value(bits) => write!(f, "{} (0x{bits:016x})", f64::from_bits(*bits)),
        }
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::I32(x) => write!(f, "i32:{x}"),
            Expected::I64(x) => write!(f, "i64:{x}"),
            Expected::F32(p) => write!(f, "f32:{p}"),
            Expected::F64(p) => write!(f, "f64:{p}"),
            Expected::V128(V128Pattern::I8x16(l)) => write!(f, "i8x16:[{}]", join(l)),
            Expected::V128(V128Pattern::I16x8(l)) => write!(f, "i16x8:[{}]", join(l)),
            Expected::V128(V128Pattern::I32x4(l)) => write!(f, "i32x4:[{}]", join(l)),
            Expected::V128(V128Pattern::I64x2(l)) => write!(f, "i64x2:[{}]", join(l)),
            Expected::V128(V128Pattern::F32x4(l)) => write!(f, "f32x4:[{}]", join(l)),
            Expected::V128(V128Pattern::F64x2(l)) => write!(f, "f64x2:[{}]", join(l)),
            Expected::RefNull => write!(f, "ref.null"),
            Expected::RefNullFunc => write!(f, "ref.null func"),
            Expected::RefNullExtern => write!(f, "ref.null extern"),
            Expected::RefFunc => write!(f, "ref.func"),
            Expected::RefExtern(None) => write!(f, "ref.extern"),
            Expected::RefExtern(Some(n)) => write!(f, "ref.extern {n}"),
            Expected::Either(options) => write!(
                f,
                "either({})",
                options
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            Expected::Unsupported(what) => write!(f, "unsupported expectation {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_classes() {
        assert!(Expected::F32(NanPattern::Canonical).matches(&Value::F32(0xffc0_0000)));
        assert!(!Expected::F32(NanPattern::Canonical).matches(&Value::F32(0x7fc0_0001)));
        assert!(Expected::F32(NanPattern::Arithmetic).matches(&Value::F32(0x7fc0_0001)));
        assert!(!Expected::F32(NanPattern::Arithmetic).matches(&Value::F32(0x7f80_0001)));
        assert!(Expected::F64(NanPattern::Canonical).matches(&Value::F64(0x7ff8_0000_0000_0000)));
        assert!(Expected::F64(NanPattern::Arithmetic).matches(&Value::F64(0xfff8_0000_0000_0001)));
    }

    #[test]
    fn vector_lanes() {
        let v = u128::from_le_bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(Expected::V128(V128Pattern::I32x4([1, 2, 3, -1])).matches(&Value::V128(v)));
        assert!(!Expected::V128(V128Pattern::I32x4([1, 2, 3, 4])).matches(&Value::V128(v)));
        assert!(
            Expected::V128(V128Pattern::I8x16([
                1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, -1, -1, -1, -1
            ]))
            .matches(&Value::V128(v))
        );
    }
}

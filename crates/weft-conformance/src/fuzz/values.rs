//! Values seen by a run, made independent of the store they came from, and
//! the deterministic values the harness feeds to modules.

use std::collections::HashMap;
use std::fmt;
use wasmtime::{AsContextMut, Func, Instance, Ref, Val, ValType};

/// A value returned by a call or held by a global or a table, comparable
/// across stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits.
    F32(u32),
    /// `f64`, as bits.
    F64(u64),
    /// `v128`
    V128(u128),
    /// A null `funcref`.
    NullFunc,
    /// A function of the instance, by function index.
    Func(u32),
    /// A function that is not one of the instance's exported functions.
    ForeignFunc,
    /// A null `externref` (or any other null reference).
    NullRef,
    /// A non-null reference that is not a function.
    OpaqueRef,
}

impl Value {
    /// Whether two values are the same, up to the nondeterminism WebAssembly
    /// allows: two NaNs of the same type are equal whatever their bits.
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::F32(a), Value::F32(b)) => {
                a == b || (f32::from_bits(*a).is_nan() && f32::from_bits(*b).is_nan())
            }
            (Value::F64(a), Value::F64(b)) => {
                a == b || (f64::from_bits(*a).is_nan() && f64::from_bits(*b).is_nan())
            }
            (Value::V128(a), Value::V128(b)) => a == b || same_v128_lanes(*a, *b),
            (a, b) => a == b,
        }
    }
}

/// Two vectors are equal if they are equal as four `f32` lanes or as two
/// `f64` lanes, NaNs being equal to each other.
fn same_v128_lanes(a: u128, b: u128) -> bool {
    let lanes32 = (0..4).all(|i| {
        let (x, y) = ((a >> (32 * i)) as u32, (b >> (32 * i)) as u32);
        x == y || (f32::from_bits(x).is_nan() && f32::from_bits(y).is_nan())
    });
    let lanes64 = (0..2).all(|i| {
        let (x, y) = ((a >> (64 * i)) as u64, (b >> (64 * i)) as u64);
        x == y || (f64::from_bits(x).is_nan() && f64::from_bits(y).is_nan())
    });
    lanes32 || lanes64
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I32(x) => write!(f, "i32:{x}"),
            Value::I64(x) => write!(f, "i64:{x}"),
            Value::F32(x) => write!(f, "f32:{:?} ({x:#010x})", f32::from_bits(*x)),
            Value::F64(x) => write!(f, "f64:{:?} ({x:#018x})", f64::from_bits(*x)),
            Value::V128(x) => write!(f, "v128:{x:#034x}"),
            Value::NullFunc => write!(f, "ref.null func"),
            Value::Func(i) => write!(f, "ref.func {i}"),
            Value::ForeignFunc => write!(f, "ref.func <foreign>"),
            Value::NullRef => write!(f, "ref.null"),
            Value::OpaqueRef => write!(f, "ref <opaque>"),
        }
    }
}

/// Maps the functions of one instance to their function indices, through
/// the instance's function exports (the generated modules export every
/// function).
#[derive(Debug, Default)]
pub struct FunctionIndices {
    by_address: HashMap<usize, u32>,
}

impl FunctionIndices {
    /// Reads the function exports of `instance`; `exports` gives the
    /// function index of each exported function name.
    pub fn new(
        mut store: impl AsContextMut,
        instance: &Instance,
        exports: &[(String, u32)],
    ) -> Self {
        let mut by_address = HashMap::with_capacity(exports.len());
        for (name, index) in exports {
            if let Some(f) = instance.get_func(&mut store, name) {
                by_address.insert(f.to_raw(&mut store) as usize, *index);
            }
        }
        FunctionIndices { by_address }
    }

    fn index_of(&self, mut store: impl AsContextMut, f: &Func) -> Option<u32> {
        self.by_address
            .get(&(f.to_raw(&mut store) as usize))
            .copied()
    }

    /// Turns a value of the instance's store into a [`Value`].
    pub fn value(&self, mut store: impl AsContextMut, v: &Val) -> Value {
        match v {
            Val::I32(x) => Value::I32(*x),
            Val::I64(x) => Value::I64(*x),
            Val::F32(x) => Value::F32(*x),
            Val::F64(x) => Value::F64(*x),
            Val::V128(x) => Value::V128(x.as_u128()),
            Val::FuncRef(None) => Value::NullFunc,
            Val::FuncRef(Some(f)) => self
                .index_of(&mut store, f)
                .map_or(Value::ForeignFunc, Value::Func),
            Val::ExternRef(None) | Val::AnyRef(None) | Val::ExnRef(None) | Val::ContRef(None) => {
                Value::NullRef
            }
            _ => Value::OpaqueRef,
        }
    }

    /// Turns a table element into a [`Value`].
    pub fn reference(&self, mut store: impl AsContextMut, r: &Ref) -> Value {
        match r {
            Ref::Func(None) => Value::NullFunc,
            Ref::Func(Some(f)) => self
                .index_of(&mut store, f)
                .map_or(Value::ForeignFunc, Value::Func),
            Ref::Extern(None) | Ref::Any(None) | Ref::Exn(None) => Value::NullRef,
            _ => Value::OpaqueRef,
        }
    }
}

/// A 64-bit mixing function (SplitMix64's finaliser).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Mixes a sequence of words into one.
pub fn mix_all(words: &[u64]) -> u64 {
    words
        .iter()
        .fold(0x243f_6a88_85a3_08d3, |acc, w| mix(acc ^ mix(*w)))
}

const INTERESTING_I64: [i64; 16] = [
    0,
    1,
    -1,
    2,
    7,
    8,
    255,
    256,
    65535,
    65536,
    i32::MAX as i64,
    i32::MIN as i64,
    u32::MAX as i64,
    i64::MAX,
    i64::MIN,
    0x1_0000_0000,
];

const INTERESTING_F64: [f64; 12] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1e10,
    -1e-10,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    2147483648.0,
    4294967296.5,
];

/// A deterministic value of type `ty` drawn from `bits`: mostly small or
/// boundary values, sometimes arbitrary bit patterns. References are null.
pub fn value_of_type(ty: &ValType, bits: u64) -> Val {
    let pick = bits & 7;
    let rest = bits >> 3;
    let integer = || -> i64 {
        match pick {
            0..=3 => (rest % 33) as i64 - 8,
            4..=5 => INTERESTING_I64[(rest % INTERESTING_I64.len() as u64) as usize],
            _ => mix(rest) as i64,
        }
    };
    let float = || -> f64 {
        match pick {
            0..=3 => (rest % 17) as f64 - 4.0,
            4..=5 => INTERESTING_F64[(rest % INTERESTING_F64.len() as u64) as usize],
            _ => f64::from_bits(mix(rest)),
        }
    };
    match ty {
        ValType::I32 => Val::I32(integer() as i32),
        ValType::I64 => Val::I64(integer()),
        ValType::F32 => Val::F32(match pick {
            6..=7 => mix(rest) as u32,
            _ => (float() as f32).to_bits(),
        }),
        ValType::F64 => Val::F64(float().to_bits()),
        ValType::V128 => Val::V128(
            match pick {
                0..=3 => 0u128,
                4..=5 => {
                    let lane = u128::from(mix(rest) as u32);
                    lane | (lane << 32) | (lane << 64) | (lane << 96)
                }
                _ => (u128::from(mix(rest)) << 64) | u128::from(mix(rest ^ 1)),
            }
            .into(),
        ),
        ValType::Ref(r) => null_of(r.heap_type()),
    }
}

/// The null value of a reference type.
pub fn null_of(heap: &wasmtime::HeapType) -> Val {
    if heap.is_func() {
        Val::FuncRef(None)
    } else {
        Val::ExternRef(None)
    }
}

/// A digest of argument values, in which all NaNs of a type look alike.
pub fn digest_args(args: &[Val]) -> u64 {
    let words: Vec<u64> = args
        .iter()
        .map(|v| match v {
            Val::I32(x) => u64::from(*x as u32),
            Val::I64(x) => *x as u64,
            Val::F32(x) if f32::from_bits(*x).is_nan() => 0x7fc0_0000 | (1 << 40),
            Val::F32(x) => u64::from(*x) | (1 << 40),
            Val::F64(x) if f64::from_bits(*x).is_nan() => 0x7ff8_0000_0000_0000 ^ (1 << 41),
            Val::F64(x) => *x ^ (1 << 41),
            Val::V128(x) => {
                let x = x.as_u128();
                mix(x as u64) ^ (x >> 64) as u64
            }
            Val::FuncRef(None) | Val::ExternRef(None) => 0x6e75_6c6c,
            _ => 0x0072_6566,
        })
        .collect();
    mix_all(&words)
}

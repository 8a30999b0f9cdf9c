//! The weft snapshot format: a versioned, checksummed, compressed encoding
//! of a paused script (see the design document, "Snapshots").
//!
//! # Layout
//!
//! ```text
//! offset  size
//! 0       8     magic "\0weftsnp"
//! 8       4     format version (u32, little-endian), currently 1
//! 12      4     flags (u32): bit 0 = the body is zstd-compressed
//! 16      8     body length once decompressed (u64)
//! 24      8     stored body length (u64)
//! 32      4     CRC-32 of the stored body (u32)
//! 36      ...   body: a postcard encoding of `Snapshot`
//! ```
//!
//! Memories are stored as [`MemoryImage`]s: their size and only the pages
//! that are not all zeros.
//!
//! # Decoding untrusted bytes
//!
//! [`decode`] never panics, whatever the bytes. It checks the magic, the
//! version, the lengths against [`DecodeLimits`] before allocating, the
//! checksum, and the structure of every memory image, and says what is wrong
//! in its [`Error`]. [`Snapshot::validate`] then checks the contents against
//! the module the snapshot is for ([`Shape`]) and the script's limits.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// The first bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"\0weftsnp";
/// The format version this crate writes, and the only one it reads.
pub const VERSION: u32 = 1;
/// The size of a WebAssembly page, the unit of [`MemoryImage`].
pub const PAGE_SIZE: usize = 65536;

/// The unit in which [`MemoryImage::write_over`] skips zeros: the smallest
/// page size of the hosts weft runs on.
const HOST_PAGE_SIZE: usize = 4096;

const HEADER_SIZE: usize = 36;
const FLAG_ZSTD: u32 = 1;
/// zstd level: fast, and still shrinks typical heaps several times.
const ZSTD_LEVEL: i32 = 1;

/// Why bytes are not a usable snapshot.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a weft snapshot (bad magic bytes)")]
    NotASnapshot,
    /// A format version this build does not read.
    #[error("snapshot format version {0} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion(u32),
    /// Fewer bytes than the header says.
    #[error("snapshot is truncated: {0}")]
    Truncated(String),
    /// Bytes after the body.
    #[error("snapshot has {0} bytes of trailing data")]
    TrailingData(usize),
    /// The body does not match its checksum.
    #[error(
        "snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupt"
    )]
    Checksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the body as read.
        computed: u32,
    },
    /// A length beyond [`DecodeLimits`].
    #[error("snapshot is too large: {0}")]
    TooLarge(String),
    /// The body does not decompress or decode.
    #[error("snapshot body is corrupt: {0}")]
    Corrupt(String),
    /// The snapshot does not fit the module or the limits it is restored with.
    #[error("snapshot does not fit the module: {0}")]
    Mismatch(String),
}

/// A `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A paused script: everything needed to continue it in a fresh instance of
/// the same instrumented module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which module, instrumented how.
    pub module: ModuleId,
    /// Every memory, by memory index (imported ones included).
    pub memories: Vec<MemoryImage>,
    /// Every mutable global, by global index.
    pub globals: Vec<Global>,
    /// Every table's elements, by table index.
    pub tables: Vec<Vec<Ref>>,
    /// One bit per dropped data segment, then per dropped element segment.
    pub dropped_segments: Vec<u64>,
    /// The state memory up to the top of its frame stack.
    #[serde(with = "serde_bytes")]
    pub state_memory: Vec<u8>,
    /// The control state (normal, unwinding, rewinding).
    pub control_state: i32,
    /// The remaining fuel, when the module counts it.
    pub fuel: Option<i64>,
    /// The reference stacks of the saved frames, bottom first.
    pub funcref_stack: Vec<Ref>,
    /// See [`Snapshot::funcref_stack`].
    pub externref_stack: Vec<Ref>,
    /// What the script has used so far.
    pub accounting: Accounting,
    /// The host's own state for the script (WASI state, timers, mailbox, a
    /// pending host call), encoded by the runtime that owns it.
    #[serde(with = "serde_bytes")]
    pub host: Vec<u8>,
    /// Who the script is and what it may use.
    pub meta: Metadata,
    /// The original (uninstrumented) module, when the snapshot carries it
    /// so that it can be resumed on its own. Its SHA-256 must be
    /// [`ModuleId::hash`]; the runtime checks that before using it.
    #[serde(with = "serde_bytes")]
    pub wasm: Option<Vec<u8>>,
}

/// Identifies the module a snapshot belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModuleId {
    /// SHA-256 of the original (uninstrumented) module.
    pub hash: [u8; 32],
    /// The instrumentation configuration, as the runtime names it.
    pub instrumentation: String,
}

/// A mutable global's index and value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Global {
    /// The global index.
    pub index: u32,
    /// The value.
    pub value: Value,
}

/// A WebAssembly value. Floats are kept as bits so that NaN payloads survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits
    F32(u32),
    /// `f64`, as bits
    F64(u64),
    /// `v128`
    V128(u128),
    /// `funcref` or `externref`
    Ref(Ref),
}

/// The type of a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`
    V128,
    /// `funcref`
    FuncRef,
    /// `externref`
    ExternRef,
}

/// A reference, as the runtime numbers what it refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ref {
    /// A null reference of either type.
    Null,
    /// A function: an index into the module's `__weft_functions` table.
    Func(u32),
    /// A host object, by the host's numbering.
    Extern(u64),
}

/// A linear memory: its size, and the contents of its non-zero pages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryImage {
    /// Size in pages.
    pub pages: u64,
    /// Runs of consecutive pages that are not all zeros: first page, bytes
    /// (a whole number of pages). In increasing order, not overlapping.
    #[serde(with = "byte_runs")]
    pub runs: Vec<(u64, Vec<u8>)>,
}

/// Serializes the runs of a [`MemoryImage`] with their bytes as byte
/// strings (one copy), not as sequences of numbers (a call per byte).
mod byte_runs {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(runs: &[(u64, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(runs.iter().map(|(page, bytes)| (page, Bytes::new(bytes))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u64, Vec<u8>)>, D::Error> {
        let runs: Vec<(u64, ByteBuf)> = Deserialize::deserialize(d)?;
        Ok(runs
            .into_iter()
            .map(|(page, bytes)| (page, bytes.into_vec()))
            .collect())
    }
}

/// What a script has used so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Accounting {
    /// Fuel consumed over the script's life.
    pub fuel_used: u64,
    /// CPU time spent running it, in nanoseconds.
    pub cpu_nanos: u64,
}

/// Who a script is and what it may use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// The script's id.
    pub script_id: String,
    /// Its owner (tenant).
    pub owner: String,
    /// Its limits.
    pub limits: Limits,
}

/// Per-script resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of linear memory, all memories together.
    pub memory_bytes: Option<u64>,
    /// Elements of any one table.
    pub table_elements: Option<u64>,
    /// Total fuel over the script's life.
    pub fuel: Option<u64>,
}

/// How much [`decode`] accepts before it allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The largest decompressed body.
    pub max_body_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // Four 4 GiB memories and their state: more than any script that
        // runs under weft's default limits.
        DecodeLimits {
            max_body_bytes: 17 << 30,
        }
    }
}

impl MemoryImage {
    /// Captures `data` (a whole number of pages), skipping zero pages.
    pub fn from_bytes(data: &[u8]) -> MemoryImage {
        MemoryImage::from_pages(data, |_| true)
    }

    /// Like [`MemoryImage::from_bytes`], for a memory whose pages are known
    /// to be zero except where `maybe_nonzero(page)` says otherwise: only
    /// those pages are read.
    pub fn from_pages(data: &[u8], maybe_nonzero: impl Fn(u64) -> bool) -> MemoryImage {
        let pages = data.len().div_ceil(PAGE_SIZE);
        let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
        for (page, chunk) in data.chunks(PAGE_SIZE).enumerate() {
            if !maybe_nonzero(page as u64) || is_zero(chunk) {
                continue;
            }
            let page = page as u64;
            match runs.last_mut() {
                Some((first, bytes)) if *first + (bytes.len() / PAGE_SIZE) as u64 == page => {
                    bytes.extend_from_slice(chunk);
                    bytes.resize(bytes.len().next_multiple_of(PAGE_SIZE), 0);
                }
                _ => {
                    let mut bytes = chunk.to_vec();
                    bytes.resize(PAGE_SIZE, 0);
                    runs.push((page, bytes));
                }
            }
        }
        MemoryImage {
            pages: pages as u64,
            runs,
        }
    }

    /// The size in bytes.
    pub fn byte_len(&self) -> u64 {
        self.pages.saturating_mul(PAGE_SIZE as u64)
    }

    /// Checks that the runs are whole pages, in order, within the size.
    pub fn check(&self) -> Result<()> {
        let mut next = 0u64;
        for (first, bytes) in &self.runs {
            if bytes.is_empty() || bytes.len() % PAGE_SIZE != 0 {
                return Err(Error::Corrupt(format!(
                    "memory run at page {first} is not a whole number of pages"
                )));
            }
            if *first < next {
                return Err(Error::Corrupt(format!(
                    "memory run at page {first} overlaps or is out of order"
                )));
            }
            next = first.saturating_add((bytes.len() / PAGE_SIZE) as u64);
            if next > self.pages {
                return Err(Error::Corrupt(format!(
                    "memory run at page {first} ends at page {next}, beyond the memory's {} pages",
                    self.pages
                )));
            }
        }
        Ok(())
    }

    /// Writes the image into `memory`, which must be exactly
    /// [`MemoryImage::byte_len`] bytes; zero pages are written as zeros.
    pub fn write_to(&self, memory: &mut [u8]) -> Result<()> {
        self.write_over(memory, |_| true)
    }

    /// Like [`MemoryImage::write_to`], for a memory whose pages are known to
    /// be zero except where `maybe_nonzero(page)` says otherwise: zero pages
    /// of the image are written only there, and of the other pages only the
    /// 4 KiB parts that are not zero. A fresh instance's memory is zero
    /// outside its data segments, and what is never written is never
    /// touched (nor faulted in).
    pub fn write_over(&self, memory: &mut [u8], maybe_nonzero: impl Fn(u64) -> bool) -> Result<()> {
        self.check()?;
        if memory.len() as u64 != self.byte_len() {
            return Err(Error::Mismatch(format!(
                "memory image of {} bytes written to a memory of {} bytes",
                self.byte_len(),
                memory.len()
            )));
        }
        let mut page = 0u64;
        let clear_until = |page: &mut u64, end: u64, memory: &mut [u8]| {
            while *page < end {
                if maybe_nonzero(*page) {
                    let start = *page as usize * PAGE_SIZE;
                    memory[start..start + PAGE_SIZE].fill(0);
                }
                *page += 1;
            }
        };
        for (first, bytes) in &self.runs {
            clear_until(&mut page, *first, memory);
            for (k, source) in bytes.chunks_exact(PAGE_SIZE).enumerate() {
                let at = (*first as usize + k) * PAGE_SIZE;
                let target = &mut memory[at..at + PAGE_SIZE];
                if maybe_nonzero(*first + k as u64) {
                    target.copy_from_slice(source);
                } else {
                    // The target is zero: write only the host pages that
                    // are not, so that the others stay unmapped.
                    for (to, from) in target
                        .chunks_exact_mut(HOST_PAGE_SIZE)
                        .zip(source.chunks_exact(HOST_PAGE_SIZE))
                    {
                        if !is_zero(from) {
                            to.copy_from_slice(from);
                        }
                    }
                }
            }
            page = first + (bytes.len() / PAGE_SIZE) as u64;
        }
        clear_until(&mut page, self.pages, memory);
        Ok(())
    }

    /// The full contents, zero pages included.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let len = usize::try_from(self.byte_len())
            .map_err(|_| Error::TooLarge(format!("a memory of {} pages", self.pages)))?;
        let mut memory = vec![0; len];
        self.write_to(&mut memory)?;
        Ok(memory)
    }
}

/// Whether every byte is zero; written so that the compiler vectorises it.
fn is_zero(bytes: &[u8]) -> bool {
    // SAFETY: every bit pattern is a valid `u128`.
    let (head, words, tail) = unsafe { bytes.align_to::<u128>() };
    head.iter().chain(tail).all(|b| *b == 0) && words.iter().fold(0, |acc, w| acc | w) == 0
}

impl Value {
    /// Whether the value has type `ty`; `Ref(Null)` fits either reference type.
    fn fits(&self, ty: ValueType) -> bool {
        matches!(
            (self, ty),
            (Value::I32(_), ValueType::I32)
                | (Value::I64(_), ValueType::I64)
                | (Value::F32(_), ValueType::F32)
                | (Value::F64(_), ValueType::F64)
                | (Value::V128(_), ValueType::V128)
                | (
                    Value::Ref(Ref::Null),
                    ValueType::FuncRef | ValueType::ExternRef
                )
                | (Value::Ref(Ref::Func(_)), ValueType::FuncRef)
                | (Value::Ref(Ref::Extern(_)), ValueType::ExternRef)
        )
    }
}

/// What a module looks like, for [`Snapshot::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// The hash and instrumentation of the module.
    pub module: Option<ModuleId>,
    /// Every memory's minimum and maximum size in pages.
    pub memories: Vec<(u64, Option<u64>)>,
    /// Every mutable global: index and type.
    pub globals: Vec<(u32, ValueType)>,
    /// Every table's minimum and maximum size, and whether it holds
    /// functions (otherwise external references).
    pub tables: Vec<(u64, Option<u64>, bool)>,
    /// The number of functions in the `__weft_functions` table.
    pub functions: u32,
    /// The number of `u64` words of dropped-segment bits.
    pub dropped_words: usize,
    /// Whether the module counts fuel.
    pub counts_fuel: bool,
}

impl Snapshot {
    /// Checks that the snapshot fits `shape` and `limits`: the same module,
    /// memory and table sizes within their types and the limits, every
    /// global of the right type, every function reference in range.
    pub fn validate(&self, shape: &Shape, limits: &Limits) -> Result<()> {
        let mismatch = |m: String| Err(Error::Mismatch(m));
        if let Some(module) = &shape.module
            && *module != self.module
        {
            return mismatch("it was taken from a different module or instrumentation".into());
        }
        if self.memories.len() != shape.memories.len() {
            return mismatch(format!(
                "{} memories, the module has {}",
                self.memories.len(),
                shape.memories.len()
            ));
        }
        let mut total = 0u64;
        for (i, (image, (min, max))) in self.memories.iter().zip(&shape.memories).enumerate() {
            image.check()?;
            if image.pages < *min || max.is_some_and(|max| image.pages > max) || image.pages > 65536
            {
                return mismatch(format!(
                    "memory {i} has {} pages, outside its type's limits",
                    image.pages
                ));
            }
            total = total.saturating_add(image.byte_len());
        }
        if let Some(limit) = limits.memory_bytes
            && total > limit
        {
            return mismatch(format!(
                "its memories total {total} bytes, over the script's limit of {limit}"
            ));
        }
        if self.globals.len() != shape.globals.len() {
            return mismatch(format!(
                "{} globals, the module has {} mutable ones",
                self.globals.len(),
                shape.globals.len()
            ));
        }
        for (global, (index, ty)) in self.globals.iter().zip(&shape.globals) {
            if global.index != *index || !global.value.fits(*ty) {
                return mismatch(format!(
                    "global {} does not match the module's global {index} of type {ty:?}",
                    global.index
                ));
            }
            self.check_ref(&global.value, shape)?;
        }
        if self.tables.len() != shape.tables.len() {
            return mismatch(format!(
                "{} tables, the module has {}",
                self.tables.len(),
                shape.tables.len()
            ));
        }
        for (i, (elements, (min, max, funcs))) in self.tables.iter().zip(&shape.tables).enumerate()
        {
            let len = elements.len() as u64;
            if len < *min
                || max.is_some_and(|max| len > max)
                || limits.table_elements.is_some_and(|l| len > l)
            {
                return mismatch(format!(
                    "table {i} has {len} elements, outside its type's or the script's limits"
                ));
            }
            let ty = if *funcs {
                ValueType::FuncRef
            } else {
                ValueType::ExternRef
            };
            for r in elements {
                if !Value::Ref(*r).fits(ty) {
                    return mismatch(format!("table {i} holds a reference of the wrong type"));
                }
                self.check_ref(&Value::Ref(*r), shape)?;
            }
        }
        if self.dropped_segments.len() != shape.dropped_words {
            return mismatch(format!(
                "{} words of dropped-segment bits, the module has {}",
                self.dropped_segments.len(),
                shape.dropped_words
            ));
        }
        if self.fuel.is_some() != shape.counts_fuel {
            return mismatch("fuel is present exactly when the module counts it".into());
        }
        if let (Some(limit), used) = (limits.fuel, self.accounting.fuel_used)
            && used > limit
        {
            return mismatch(format!(
                "the script used {used} fuel, over its limit of {limit}"
            ));
        }
        for r in &self.funcref_stack {
            if !Value::Ref(*r).fits(ValueType::FuncRef) {
                return mismatch("the funcref stack holds an external reference".into());
            }
            self.check_ref(&Value::Ref(*r), shape)?;
        }
        for r in &self.externref_stack {
            if !Value::Ref(*r).fits(ValueType::ExternRef) {
                return mismatch("the externref stack holds a function reference".into());
            }
        }
        Ok(())
    }

    fn check_ref(&self, v: &Value, shape: &Shape) -> Result<()> {
        match v {
            Value::Ref(Ref::Func(f)) if *f >= shape.functions => Err(Error::Mismatch(format!(
                "function reference {f} is out of range (the module has {} referenceable functions)",
                shape.functions
            ))),
            _ => Ok(()),
        }
    }
}

/// Encodes a snapshot, compressed.
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>> {
    encode_with(snapshot, Compression::Zstd)
}

/// Whether [`encode_with`] compresses the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd: for snapshots that are stored or sent.
    Zstd,
    /// None: for snapshots that are decoded again at once in the same
    /// process, where compressing would cost more than it saves.
    None,
}

/// Encodes a snapshot, compressed or not; [`decode`] reads both.
pub fn encode_with(snapshot: &Snapshot, compression: Compression) -> Result<Vec<u8>> {
    let body = postcard::to_allocvec(snapshot)
        .map_err(|e| Error::Corrupt(format!("cannot encode: {e}")))?;
    let (flags, compressed) = match compression {
        Compression::Zstd => (
            FLAG_ZSTD,
            Some(
                zstd::bulk::compress(&body, ZSTD_LEVEL)
                    .map_err(|e| Error::Corrupt(format!("cannot compress: {e}")))?,
            ),
        ),
        Compression::None => (0, None),
    };
    let stored = compressed.as_deref().unwrap_or(&body);
    let mut out = Vec::with_capacity(HEADER_SIZE + stored.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(stored).to_le_bytes());
    out.extend_from_slice(stored);
    Ok(out)
}

/// The header of a snapshot, as [`decode`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The format version.
    pub version: u32,
    /// Whether the body is compressed.
    pub compressed: bool,
    /// The body's length once decompressed.
    pub body_len: u64,
    /// The body's length as stored.
    pub stored_len: u64,
    /// The stored body's CRC-32.
    pub checksum: u32,
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

/// Reads and checks the header.
pub fn header(bytes: &[u8]) -> Result<Header> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::NotASnapshot);
    }
    if bytes.len() < HEADER_SIZE {
        return Err(Error::Truncated(format!(
            "{} bytes, shorter than the {HEADER_SIZE}-byte header",
            bytes.len()
        )));
    }
    let version = u32::from_le_bytes(field(bytes, 8));
    if version != VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    let flags = u32::from_le_bytes(field(bytes, 12));
    if flags & !FLAG_ZSTD != 0 {
        return Err(Error::Corrupt(format!("unknown flags {flags:#x}")));
    }
    Ok(Header {
        version,
        compressed: flags & FLAG_ZSTD != 0,
        body_len: u64::from_le_bytes(field(bytes, 16)),
        stored_len: u64::from_le_bytes(field(bytes, 24)),
        checksum: u32::from_le_bytes(field(bytes, 32)),
    })
}

/// Decodes a snapshot, checking everything that can be checked without the
/// module (see [`Snapshot::validate`] for the rest).
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Snapshot> {
    let h = header(bytes)?;
    if h.body_len > limits.max_body_bytes {
        return Err(Error::TooLarge(format!(
            "a body of {} bytes, over the limit of {}",
            h.body_len, limits.max_body_bytes
        )));
    }
    let available = (bytes.len() - HEADER_SIZE) as u64;
    if h.stored_len > available {
        return Err(Error::Truncated(format!(
            "the header announces {} body bytes, {available} are there",
            h.stored_len
        )));
    }
    if h.stored_len < available {
        return Err(Error::TrailingData((available - h.stored_len) as usize));
    }
    let stored = &bytes[HEADER_SIZE..];
    let computed = crc32fast::hash(stored);
    if computed != h.checksum {
        return Err(Error::Checksum {
            stored: h.checksum,
            computed,
        });
    }
    let body_len = usize::try_from(h.body_len)
        .map_err(|_| Error::TooLarge(format!("a body of {} bytes", h.body_len)))?;
    let owned;
    let body: &[u8] = if h.compressed {
        // Streamed, so that memory grows with what actually decompresses, not
        // with what the header claims.
        use std::io::Read;
        let decoder = zstd::stream::read::Decoder::new(stored)
            .map_err(|e| Error::Corrupt(format!("cannot decompress: {e}")))?;
        // Reserve what the header claims, up to a ratio that honest
        // snapshots rarely exceed: a header cannot make this allocate much
        // more than the file's size, and most bodies then decompress
        // without reallocating.
        let mut out = Vec::with_capacity(body_len.min(stored.len().saturating_mul(64)));
        decoder
            .take(h.body_len.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| Error::Corrupt(format!("cannot decompress: {e}")))?;
        owned = out;
        &owned
    } else {
        stored
    };
    if body.len() != body_len {
        return Err(Error::Corrupt(format!(
            "the body is {} bytes, the header says {body_len}",
            body.len()
        )));
    }
    let (snapshot, rest): (Snapshot, &[u8]) = postcard::take_from_bytes(body)
        .map_err(|e| Error::Corrupt(format!("cannot decode: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::Corrupt(format!(
            "{} bytes after the snapshot in its body",
            rest.len()
        )));
    }
    for (i, m) in snapshot.memories.iter().enumerate() {
        m.check()
            .map_err(|e| Error::Corrupt(format!("memory {i}: {e}")))?;
    }
    Ok(snapshot)
}

//! Round trips, validation against a module's shape, and decoding of
//! damaged and random bytes (which must give an error, never a panic).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weft_snapshot::*;

fn sample() -> Snapshot {
    let mut heap = vec![0u8; 4 * PAGE_SIZE];
    heap[10] = 1;
    heap[PAGE_SIZE + 5] = 7;
    heap[3 * PAGE_SIZE + PAGE_SIZE - 1] = 9;
    Snapshot {
        module: ModuleId {
            hash: [7; 32],
            instrumentation: "fuel".into(),
        },
        memories: vec![MemoryImage::from_bytes(&heap)],
        globals: vec![
            Global {
                index: 0,
                value: Value::I32(-5),
            },
            Global {
                index: 2,
                value: Value::F64(f64::NAN.to_bits() | 1),
            },
            Global {
                index: 3,
                value: Value::Ref(Ref::Func(1)),
            },
        ],
        tables: vec![vec![Ref::Null, Ref::Func(0), Ref::Func(1)]],
        dropped_segments: vec![0b101],
        state_memory: vec![0, 0, 0, 0, 1, 2, 3],
        control_state: 1,
        fuel: Some(-3),
        funcref_stack: vec![Ref::Func(0)],
        externref_stack: vec![Ref::Extern(4), Ref::Null],
        accounting: Accounting {
            fuel_used: 1000,
            cpu_nanos: 20,
        },
        host: b"host state".to_vec(),
        meta: Metadata {
            script_id: "s1".into(),
            owner: "alice".into(),
            limits: Limits::default(),
        },
        wasm: Some(b"\0asm\x01\0\0\0".to_vec()),
    }
}

fn shape() -> Shape {
    Shape {
        module: Some(ModuleId {
            hash: [7; 32],
            instrumentation: "fuel".into(),
        }),
        memories: vec![(1, Some(10))],
        globals: vec![
            (0, ValueType::I32),
            (2, ValueType::F64),
            (3, ValueType::FuncRef),
        ],
        tables: vec![(3, None, true)],
        functions: 2,
        dropped_words: 1,
        counts_fuel: true,
    }
}

#[test]
fn round_trip_is_exact() {
    let s = sample();
    let bytes = encode(&s).expect("encodes");
    assert_eq!(
        decode(&bytes, &DecodeLimits::default()).expect("decodes"),
        s
    );
    s.validate(&shape(), &Limits::default())
        .expect("fits its module");
}

#[test]
fn uncompressed_bodies_decode_the_same() {
    let s = sample();
    let plain = encode_with(&s, Compression::None).expect("encodes");
    let packed = encode(&s).expect("encodes");
    assert!(!header(&plain).expect("header").compressed);
    assert!(header(&packed).expect("header").compressed);
    assert_eq!(
        decode(&plain, &DecodeLimits::default()).expect("decodes"),
        s
    );
    assert_eq!(
        decode(&packed, &DecodeLimits::default()).expect("decodes"),
        s
    );
    let mut damaged = plain.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(matches!(
        decode(&damaged, &DecodeLimits::default()),
        Err(Error::Checksum { .. })
    ));
}

#[test]
fn zero_pages_are_skipped_and_restored() {
    let s = sample();
    let image = &s.memories[0];
    assert_eq!(image.pages, 4);
    // Pages 0 and 1 form one run, page 3 another; page 2 is all zeros.
    let firsts: Vec<u64> = image.runs.iter().map(|(p, _)| *p).collect();
    assert_eq!(firsts, vec![0, 3]);
    assert_eq!(image.runs[0].1.len(), 2 * PAGE_SIZE);
    let bytes = image.to_bytes().expect("whole memory");
    assert_eq!(bytes.len(), 4 * PAGE_SIZE);
    assert_eq!(
        (bytes[10], bytes[PAGE_SIZE + 5], bytes[4 * PAGE_SIZE - 1]),
        (1, 7, 9)
    );
    assert_eq!(bytes.iter().filter(|b| **b != 0).count(), 3);
    // A big, mostly empty memory compresses to little.
    let big = Snapshot {
        memories: vec![MemoryImage::from_bytes(&vec![0; 256 * PAGE_SIZE])],
        ..sample()
    };
    assert!(encode(&big).expect("encodes").len() < 4096);
}

#[test]
fn writing_over_known_zero_pages_writes_only_their_non_zero_parts() {
    let mut data = vec![0u8; 2 * PAGE_SIZE];
    data[100] = 1;
    data[PAGE_SIZE + 5000] = 2;
    let image = MemoryImage::from_bytes(&data);
    assert_eq!(image.runs.len(), 1);
    // A marker where the image has zeros: page 0 is declared possibly
    // non-zero (so it is written whole and the marker cleared), page 1
    // known zero (so only its non-zero 4 KiB part is written).
    let mut memory = vec![0u8; 2 * PAGE_SIZE];
    memory[200] = 0xaa;
    memory[PAGE_SIZE + 10] = 0xbb;
    memory[PAGE_SIZE + 4097] = 0xcc;
    image
        .write_over(&mut memory, |page| page == 0)
        .expect("writes");
    assert_eq!((memory[100], memory[200]), (1, 0));
    assert_eq!(memory[PAGE_SIZE + 5000], 2);
    // The host page holding byte 5000 of page 1 was copied, the first one
    // (all zeros in the image) was not.
    assert_eq!(
        (memory[PAGE_SIZE + 10], memory[PAGE_SIZE + 4097]),
        (0xbb, 0)
    );
}

#[test]
fn validation_names_what_does_not_fit() {
    let s = sample();
    let check = |shape: Shape, limits: Limits, needle: &str| {
        let err = s.validate(&shape, &limits).expect_err("must not fit");
        assert!(
            err.to_string().contains(needle),
            "`{err}` should mention `{needle}`"
        );
    };
    check(
        Shape {
            module: Some(ModuleId {
                hash: [8; 32],
                instrumentation: "fuel".into(),
            }),
            ..shape()
        },
        Limits::default(),
        "different module",
    );
    check(
        Shape {
            memories: vec![(1, Some(2))],
            ..shape()
        },
        Limits::default(),
        "memory 0 has 4 pages",
    );
    check(
        shape(),
        Limits {
            memory_bytes: Some(PAGE_SIZE as u64),
            ..Limits::default()
        },
        "over the script's limit",
    );
    check(
        Shape {
            globals: vec![
                (0, ValueType::I64),
                (2, ValueType::F64),
                (3, ValueType::FuncRef),
            ],
            ..shape()
        },
        Limits::default(),
        "global 0",
    );
    check(
        Shape {
            functions: 1,
            ..shape()
        },
        Limits::default(),
        "function reference 1 is out of range",
    );
    check(
        Shape {
            tables: vec![(3, None, false)],
            ..shape()
        },
        Limits::default(),
        "table 0 holds a reference of the wrong type",
    );
    check(
        shape(),
        Limits {
            table_elements: Some(2),
            ..Limits::default()
        },
        "table 0 has 3 elements",
    );
    check(
        Shape {
            counts_fuel: false,
            ..shape()
        },
        Limits::default(),
        "fuel",
    );
    check(
        shape(),
        Limits {
            fuel: Some(10),
            ..Limits::default()
        },
        "used 1000 fuel",
    );
}

#[test]
fn damaged_headers_get_clear_errors() {
    let bytes = encode(&sample()).expect("encodes");
    let limits = DecodeLimits::default();
    assert_eq!(
        decode(b"\0asm\x01\0\0\0", &limits),
        Err(Error::NotASnapshot)
    );
    assert!(matches!(
        decode(&bytes[..20], &limits),
        Err(Error::Truncated(_))
    ));
    assert!(matches!(
        decode(&bytes[..bytes.len() - 1], &limits),
        Err(Error::Truncated(_))
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(decode(&longer, &limits), Err(Error::TrailingData(1)));
    let mut version = bytes.clone();
    version[8] = 9;
    assert_eq!(decode(&version, &limits), Err(Error::UnsupportedVersion(9)));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    assert!(matches!(
        decode(&flipped, &limits),
        Err(Error::Checksum { .. })
    ));
    // A header that claims a huge body is refused before anything is allocated.
    let mut huge = bytes.clone();
    huge[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(matches!(decode(&huge, &limits), Err(Error::TooLarge(_))));
    let small = DecodeLimits {
        max_body_bytes: 100,
    };
    assert!(matches!(decode(&bytes, &small), Err(Error::TooLarge(_))));
}

/// Re-stamps the checksum so that damage reaches the decompressor and decoder.
fn restamp(bytes: &mut [u8]) {
    let crc = crc32fast::hash(&bytes[36..]);
    bytes[32..36].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn seeded_damage_never_panics() {
    let bytes = encode(&sample()).expect("encodes");
    let uncompressed = {
        // The same snapshot with an uncompressed body, so that damage lands
        // in the postcard encoding itself.
        let body_len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")) as usize;
        let body = zstd::bulk::decompress(&bytes[36..], body_len).expect("own body decompresses");
        let mut out = bytes[..36].to_vec();
        out[12..16].copy_from_slice(&0u32.to_le_bytes());
        out[24..32].copy_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        restamp(&mut out);
        out
    };
    assert_eq!(
        decode(&uncompressed, &DecodeLimits::default()).expect("plain body decodes"),
        sample()
    );
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let limits = DecodeLimits {
        max_body_bytes: 1 << 24,
    };
    let mut rejected = 0;
    for round in 0..20_000 {
        let mut damaged = if round % 2 == 0 {
            bytes.clone()
        } else {
            uncompressed.clone()
        };
        match rng.random_range(0..4) {
            0 => {
                for _ in 0..rng.random_range(1..8) {
                    let i = rng.random_range(36..damaged.len());
                    damaged[i] ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                let i = rng.random_range(36..damaged.len());
                damaged[i] = rng.random();
            }
            2 => {
                let len = rng.random_range(36..damaged.len());
                damaged.truncate(len);
                let stored = (len - 36) as u64;
                damaged[24..32].copy_from_slice(&stored.to_le_bytes());
            }
            _ => {
                let n = rng.random_range(36..damaged.len());
                for b in &mut damaged[36..n] {
                    *b = rng.random();
                }
            }
        }
        restamp(&mut damaged);
        match decode(&damaged, &limits) {
            Ok(s) => {
                // Whatever decodes is well formed.
                for m in &s.memories {
                    m.check().expect("decode checks memory images");
                }
            }
            Err(_) => rejected += 1,
        }
    }
    assert!(
        rejected > 10_000,
        "most damage must be detected, {rejected} were"
    );
    // Random bytes behind a valid header.
    for _ in 0..2_000 {
        let len = rng.random_range(0..512);
        let mut junk = bytes[..36].to_vec();
        junk.extend((0..len).map(|_| rng.random::<u8>()));
        junk[24..32].copy_from_slice(&(len as u64).to_le_bytes());
        restamp(&mut junk);
        assert!(decode(&junk, &limits).is_err());
    }
}

//! Seeded mutations of encoded snapshots and of their fields.
//!
//! Each mutation appends a line saying what it did to a log, so that a
//! failing case can be described without re-running it.

use rand::Rng;
use rand::rngs::SmallRng;
use weft_runtime::{Deterministic, HostState, Pending};
use weft_snapshot::{Global, Limits, MemoryImage, PAGE_SIZE, Ref, Snapshot, Value};

/// The size of the snapshot header (see the `weft_snapshot` docs).
pub const HEADER_SIZE: usize = 36;

/// Values that sit on the edges of what decoders and validators check.
fn interesting(rng: &mut SmallRng) -> u64 {
    const EDGES: [u64; 18] = [
        0,
        1,
        2,
        15,
        16,
        17,
        255,
        4096,
        65535,
        65536,
        65537,
        1 << 31,
        u32::MAX as u64,
        1 << 32,
        i64::MAX as u64,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ];
    if rng.random_bool(0.7) {
        EDGES[rng.random_range(0..EDGES.len())]
    } else {
        rng.random()
    }
}

fn random_bytes(rng: &mut SmallRng, max: usize) -> Vec<u8> {
    let len = rng.random_range(0..=max);
    (0..len).map(|_| rng.random()).collect()
}

/// One byte-level change: a bit flip, a random byte, a truncation, an
/// insertion, a deletion or trailing bytes.
pub fn mutate_bytes(rng: &mut SmallRng, bytes: &mut Vec<u8>, log: &mut Vec<String>) {
    if bytes.is_empty() {
        bytes.extend(random_bytes(rng, 64));
        log.push(format!(
            "replaced nothing with {} random bytes",
            bytes.len()
        ));
        return;
    }
    let at = rng.random_range(0..bytes.len());
    match rng.random_range(0..7) {
        0 | 1 => {
            let bit = rng.random_range(0..8);
            bytes[at] ^= 1 << bit;
            log.push(format!("flipped bit {bit} of byte {at}"));
        }
        2 => {
            let value = rng.random();
            bytes[at] = value;
            log.push(format!("set byte {at} to {value:#04x}"));
        }
        3 => {
            bytes.truncate(at);
            log.push(format!("truncated to {at} bytes"));
        }
        4 => {
            let extra = random_bytes(rng, 16);
            log.push(format!("inserted {} bytes at {at}", extra.len()));
            bytes.splice(at..at, extra);
        }
        5 => {
            let end = (at + rng.random_range(1..=16)).min(bytes.len());
            bytes.drain(at..end);
            log.push(format!("deleted bytes {at}..{end}"));
        }
        _ => {
            let extra = random_bytes(rng, 16);
            log.push(format!("appended {} bytes", extra.len()));
            bytes.extend(extra);
        }
    }
}

/// Overwrites one header field of an encoded snapshot.
pub fn mutate_header(rng: &mut SmallRng, bytes: &mut Vec<u8>, log: &mut Vec<String>) {
    if bytes.len() < HEADER_SIZE {
        return mutate_bytes(rng, bytes, log);
    }
    let body = (bytes.len() - HEADER_SIZE) as u64;
    let (name, at, size) = [
        ("magic", 0, 8),
        ("version", 8, 4),
        ("flags", 12, 4),
        ("body length", 16, 8),
        ("stored length", 24, 8),
        ("checksum", 32, 4),
    ][rng.random_range(0..6)];
    let value = match rng.random_range(0..3) {
        0 => interesting(rng),
        1 => body.wrapping_add(rng.random_range(0..3)).wrapping_sub(1),
        _ => {
            let mut old = [0; 8];
            old[..size].copy_from_slice(&bytes[at..at + size]);
            u64::from_le_bytes(old) ^ 1
        }
    };
    bytes[at..at + size].copy_from_slice(&value.to_le_bytes()[..size]);
    log.push(format!("set the header's {name} to {value:#x}"));
}

/// An uncompressed encoding of `body` (a postcard `Snapshot`) with a
/// correct header, so that decoding gets past the checksum.
pub fn uncompressed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
    out.extend_from_slice(&weft_snapshot::MAGIC);
    out.extend_from_slice(&weft_snapshot::VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn random_ref(rng: &mut SmallRng, functions: u32) -> Ref {
    match rng.random_range(0..4) {
        0 => Ref::Null,
        1 => Ref::Func(rng.random_range(0..functions + 3)),
        2 => Ref::Func(interesting(rng) as u32),
        _ => Ref::Extern(interesting(rng)),
    }
}

fn random_value(rng: &mut SmallRng, functions: u32) -> Value {
    match rng.random_range(0..6) {
        0 => Value::I32(interesting(rng) as i32),
        1 => Value::I64(interesting(rng) as i64),
        2 => Value::F32(interesting(rng) as u32),
        3 => Value::F64(interesting(rng)),
        4 => Value::V128(u128::from(interesting(rng)) << rng.random_range(0..64)),
        _ => Value::Ref(random_ref(rng, functions)),
    }
}

/// The offsets of the frame headers in a state memory, top first, found
/// by following the size fields as far as they make sense.
fn frame_headers(state: &[u8]) -> Vec<usize> {
    let mut headers = Vec::new();
    let mut top = state.len();
    while top >= 32 {
        let at = top - 16;
        headers.push(at);
        let size = u32::from_le_bytes(state[at + 12..at + 16].try_into().unwrap_or([0; 4]));
        if size < 16 || size as usize > top - 16 {
            break;
        }
        top -= size as usize;
    }
    headers
}

/// Mutates the state memory: its frame headers, its locals, its length.
fn mutate_state_memory(rng: &mut SmallRng, state: &mut Vec<u8>, log: &mut Vec<String>) {
    let headers = frame_headers(state);
    match rng.random_range(0..5) {
        0 if !headers.is_empty() => {
            let frame = rng.random_range(0..headers.len());
            let (field, offset) = [
                ("function", 0),
                ("resume point", 4),
                ("fuel boost", 8),
                ("frame size", 12),
            ][rng.random_range(0..4)];
            let value = interesting(rng) as u32;
            let at = headers[frame] + offset;
            state[at..at + 4].copy_from_slice(&value.to_le_bytes());
            log.push(format!(
                "set the {field} of frame {frame} from the top to {value}"
            ));
        }
        1 if state.len() > 16 => {
            // A local of some frame: somewhere below a header.
            let at = rng.random_range(16..state.len());
            state[at] ^= 1 << rng.random_range(0..8);
            log.push(format!("flipped a bit of state memory byte {at}"));
        }
        2 if !headers.is_empty() => {
            // The top frame once more, as if the stack were a frame deeper.
            let top = headers[0];
            let size = u32::from_le_bytes(state[top + 12..top + 16].try_into().unwrap_or([0; 4]));
            let size = (size as usize).clamp(16, top + 16 - 16);
            let frame = state[top + 16 - size..top + 16].to_vec();
            state.extend_from_slice(&frame);
            log.push(format!("pushed a copy of the top frame ({size} bytes)"));
        }
        3 => {
            let len = rng.random_range(0..=state.len());
            state.truncate(len);
            log.push(format!("cut the state memory to {len} bytes"));
        }
        _ => {
            let extra = random_bytes(rng, 48);
            log.push(format!(
                "appended {} bytes to the state memory",
                extra.len()
            ));
            state.extend(extra);
        }
    }
}

/// Mutates one field of the decoded host state and encodes it again.
fn mutate_host_state(rng: &mut SmallRng, host: &mut HostState, log: &mut Vec<String>) {
    match rng.random_range(0..9) {
        0 => {
            host.entry = interesting(rng) as u32 % 4;
            log.push(format!("host: entry {}", host.entry));
        }
        1 => {
            host.in_call = !host.in_call;
            log.push(format!("host: in_call {}", host.in_call));
        }
        2 => {
            host.pending = match rng.random_range(0..4) {
                0 => None,
                1 => Some(Pending::Yield),
                2 => Some(Pending::Done(interesting(rng) as i32)),
                _ => Some(Pending::Sleep {
                    deadline: interesting(rng),
                    subscription: interesting(rng) as u32,
                }),
            };
            log.push(format!("host: pending {:?}", host.pending));
        }
        3 => {
            host.deterministic = match rng.random_range(0..2) {
                0 => None,
                _ => Some(Deterministic {
                    seed: interesting(rng),
                    rng_word_pos: u128::from(interesting(rng)) << rng.random_range(0..70),
                    slept: interesting(rng),
                }),
            };
            log.push(format!("host: deterministic {:?}", host.deterministic));
        }
        4 => {
            host.monotonic = interesting(rng);
            host.captured_at = interesting(rng);
            log.push(format!(
                "host: monotonic {}, captured at {}",
                host.monotonic, host.captured_at
            ));
        }
        5 => {
            host.closed = [rng.random(), rng.random(), rng.random()];
            log.push(format!("host: closed {:?}", host.closed));
        }
        6 => {
            host.stdout_bytes = interesting(rng);
            host.stderr_bytes = interesting(rng);
            log.push(format!(
                "host: {} bytes written to stdout, {} to stderr",
                host.stdout_bytes, host.stderr_bytes
            ));
        }
        7 => {
            let text = String::from_utf8_lossy(&random_bytes(rng, 40)).into_owned();
            match rng.random_range(0..3) {
                0 => host.args.push(text),
                1 => host.env.push((text.clone(), text)),
                _ => host.entry_name = text,
            }
            log.push("host: added an argument, a variable or an entry name".into());
        }
        _ => {
            host.args.clear();
            host.env.clear();
            log.push("host: no arguments, no environment".into());
        }
    }
}

/// One change to a field of a snapshot. `functions` is the number of
/// referenceable functions of its module.
pub fn mutate_field(
    rng: &mut SmallRng,
    snapshot: &mut Snapshot,
    functions: u32,
    log: &mut Vec<String>,
) {
    let s = snapshot;
    match rng.random_range(0..22) {
        0 => {
            let at = rng.random_range(0..32);
            s.module.hash[at] ^= 1 << rng.random_range(0..8);
            log.push(format!("flipped a bit of module hash byte {at}"));
        }
        1 => {
            s.module.instrumentation =
                ["fuel", "flag", "flag+count", "", "fuel+count"][rng.random_range(0..5)].into();
            log.push(format!("instrumentation {:?}", s.module.instrumentation));
        }
        2 if !s.memories.is_empty() => {
            let m = rng.random_range(0..s.memories.len());
            let pages = s.memories[m].pages;
            s.memories[m].pages = match rng.random_range(0..3) {
                0 => pages.saturating_add(rng.random_range(1..4)),
                1 => pages.saturating_sub(1),
                _ => interesting(rng),
            };
            log.push(format!("memory {m}: {} pages", s.memories[m].pages));
        }
        3 if !s.memories.is_empty() => {
            let m = rng.random_range(0..s.memories.len());
            let page = rng.random_range(0..s.memories[m].pages.saturating_add(2));
            let mut bytes = vec![0; PAGE_SIZE];
            rng.fill(&mut bytes[..64]);
            let len = if rng.random_bool(0.8) {
                PAGE_SIZE
            } else {
                rng.random_range(0..PAGE_SIZE)
            };
            bytes.truncate(len);
            let runs = &mut s.memories[m].runs;
            let at = rng.random_range(0..=runs.len());
            runs.insert(at, (page, bytes));
            log.push(format!(
                "memory {m}: a run of {len} bytes at page {page}, run {at}"
            ));
        }
        4 if s.memories.iter().any(|m| !m.runs.is_empty()) => {
            let m = s
                .memories
                .iter()
                .position(|m| !m.runs.is_empty())
                .unwrap_or(0);
            let runs = &mut s.memories[m].runs;
            let r = rng.random_range(0..runs.len());
            let at = rng.random_range(0..runs[r].1.len().min(256));
            runs[r].1[at] = rng.random();
            log.push(format!("memory {m}: changed byte {at} of run {r}"));
        }
        5 => {
            if rng.random_bool(0.5) {
                s.memories.push(MemoryImage::default());
                log.push("added a memory".into());
            } else {
                s.memories.pop();
                log.push("removed a memory".into());
            }
        }
        6 if !s.globals.is_empty() => {
            let g = rng.random_range(0..s.globals.len());
            s.globals[g].value = random_value(rng, functions);
            log.push(format!("global {g}: {:?}", s.globals[g].value));
        }
        7 => match rng.random_range(0..3) {
            0 if !s.globals.is_empty() => {
                let g = rng.random_range(0..s.globals.len());
                s.globals[g].index = interesting(rng) as u32;
                log.push(format!("global {g}: index {}", s.globals[g].index));
            }
            1 => {
                s.globals.pop();
                log.push("removed a global".into());
            }
            _ => {
                let value = random_value(rng, functions);
                s.globals.push(Global {
                    index: rng.random_range(0..8),
                    value,
                });
                log.push(format!("added a global {value:?}"));
            }
        },
        8 if s.tables.iter().any(|t| !t.is_empty()) => {
            let t = s.tables.iter().position(|t| !t.is_empty()).unwrap_or(0);
            let e = rng.random_range(0..s.tables[t].len());
            s.tables[t][e] = random_ref(rng, functions);
            log.push(format!("table {t}[{e}]: {:?}", s.tables[t][e]));
        }
        9 if !s.tables.is_empty() => {
            let t = rng.random_range(0..s.tables.len());
            if rng.random_bool(0.5) {
                let n = rng.random_range(1..8);
                for _ in 0..n {
                    s.tables[t].push(random_ref(rng, functions));
                }
                log.push(format!("table {t}: {n} more elements"));
            } else {
                let len = rng.random_range(0..=s.tables[t].len());
                s.tables[t].truncate(len);
                log.push(format!("table {t}: cut to {len} elements"));
            }
        }
        10 => {
            if rng.random_bool(0.5) {
                s.tables.push(Vec::new());
                log.push("added a table".into());
            } else {
                s.tables.pop();
                log.push("removed a table".into());
            }
        }
        11 => {
            match rng.random_range(0..3) {
                0 => s.dropped_segments.push(interesting(rng)),
                1 => drop(s.dropped_segments.pop()),
                _ => s
                    .dropped_segments
                    .iter_mut()
                    .for_each(|w| *w = interesting(rng)),
            }
            log.push(format!("dropped segments {:?}", s.dropped_segments));
        }
        12..=14 => mutate_state_memory(rng, &mut s.state_memory, log),
        15 => {
            s.control_state = match rng.random_range(0..3) {
                0 => rng.random_range(-1..4),
                _ => interesting(rng) as i32,
            };
            log.push(format!("control state {}", s.control_state));
        }
        16 => {
            s.fuel = match rng.random_range(0..3) {
                0 => None,
                _ => Some(interesting(rng) as i64),
            };
            log.push(format!("fuel {:?}", s.fuel));
        }
        17 => {
            let stack = if rng.random_bool(0.6) {
                &mut s.funcref_stack
            } else {
                &mut s.externref_stack
            };
            match rng.random_range(0..3) {
                0 => stack.push(random_ref(rng, functions)),
                1 => drop(stack.pop()),
                _ => {
                    if let Some(r) = stack.first_mut() {
                        *r = random_ref(rng, functions);
                    }
                }
            }
            log.push(format!(
                "reference stacks {:?} {:?}",
                s.funcref_stack, s.externref_stack
            ));
        }
        18 => {
            s.accounting.fuel_used = interesting(rng);
            s.accounting.cpu_nanos = interesting(rng);
            log.push(format!("accounting {:?}", s.accounting));
        }
        19 => match weft_runtime::host_state(s) {
            Ok(mut host) if rng.random_bool(0.8) => {
                mutate_host_state(rng, &mut host, log);
                s.host = postcard::to_allocvec(&host).unwrap_or_default();
            }
            _ => {
                mutate_bytes(rng, &mut s.host, log);
                log.push("(of the host state)".into());
            }
        },
        20 => {
            let pick = |rng: &mut SmallRng| match rng.random_range(0..3) {
                0 => None,
                1 => Some(rng.random_range(0..1 << 20)),
                _ => Some(interesting(rng)),
            };
            s.meta.limits = Limits {
                memory_bytes: pick(rng),
                table_elements: pick(rng),
                fuel: pick(rng),
            };
            log.push(format!("limits {:?}", s.meta.limits));
        }
        _ if rng.random_bool(0.3) => {
            s.wasm = Some(random_bytes(rng, 64));
            log.push("carries a module of random bytes".into());
        }
        _ => {
            s.meta.script_id = String::from_utf8_lossy(&random_bytes(rng, 24)).into_owned();
            s.meta.owner = String::from_utf8_lossy(&random_bytes(rng, 24)).into_owned();
            log.push("another script id and owner".into());
        }
    }
}

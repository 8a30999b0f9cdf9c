//! Snapshot size, and the time to capture, encode, decode and restore it,
//! by memory size, against a plain copy and zstd of the same memory.
//!
//! The script fills the first half of its memory with 64-bit words whose
//! low three bytes come from a xorshift stream (like a heap of small
//! integers and offsets: it compresses, but not to nothing) and leaves the
//! second half zero, so that both compression and zero-page skipping show.
//! It is captured while it spins in a loop after the fill; every run
//! restores the snapshot into a fresh instance.

use super::{expect_paused, human_bytes, human_ms, medians_ms, run_until_frames, timed};
use crate::bench::table::Table;
use anyhow::{Context, Result, ensure};
use indicatif::ProgressBar;
use serde::Serialize;
use std::hint::black_box;
use std::time::Duration;
use weft_runtime::{Runtime, Script, ScriptOptions, Stdio};

/// Linear memory sizes, in MiB.
pub(super) const MEMORY_MIB: [u64; 4] = [1, 16, 64, 256];
/// Fuel per slice while the script fills its memory.
const FILL_SLICE_FUEL: u64 = 10_000_000;
/// zstd level of the compression baseline.
const ZSTD_LEVEL: i32 = 3;

/// A script with `pages` of memory that fills its first `half` bytes in
/// `$fill`, then spins forever in `_start`.
fn fill_module(pages: u64, half: u64) -> String {
    format!(
        r#"(module
  (memory (export "memory") {pages})
  (func $fill (param $end i32) (local $at i32) (local $x i64)
    (local.set $x (i64.const 0x2545F4914F6CDD1D))
    (loop $next
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
      (i64.store (local.get $at) (i64.shr_u (local.get $x) (i64.const 40)))
      (br_if $next (i32.lt_u (local.tee $at (i32.add (local.get $at) (i32.const 8)))
                             (local.get $end)))))
  (func (export "_start")
    (call $fill (i32.const {half}))
    (loop $spin (br $spin))))"#
    )
}

/// The figures of one memory size.
#[derive(Serialize)]
pub(super) struct Figures {
    memory_mib: u64,
    memcpy_ms: f64,
    zstd_ms: f64,
    unzstd_ms: f64,
    capture_ms: f64,
    encode_ms: f64,
    decode_ms: f64,
    restore_ms: f64,
    snapshot_bytes: u64,
    zstd_bytes: u64,
    state_memory_bytes: u64,
}

pub(super) fn measure(
    runtime: &Runtime,
    mib: u64,
    runs: u32,
    progress: &ProgressBar,
) -> Result<Figures> {
    let memory_bytes = mib << 20;
    let pages = memory_bytes / weft_snapshot::PAGE_SIZE as u64;
    let wasm = wat::parse_str(fill_module(pages, memory_bytes / 2)).context("assemble")?;
    let module = runtime.load(&wasm).context("load")?;
    let mut script = Script::spawn(runtime, &module, ScriptOptions::default(), Stdio::null())?;
    // Inside `$fill` two frames are saved; in the spin loop, only `_start`'s.
    run_until_frames(&mut script, FILL_SLICE_FUEL, 10_000, 1).context("fill the memory")?;

    let mut samples: [Vec<Duration>; 7] = Default::default();
    let (mut snapshot_bytes, mut zstd_bytes, mut state_memory_bytes) = (0, 0, 0);
    for _ in 0..runs {
        let (snapshot, capture) = timed(|| Ok(script.snapshot()?)).context("capture")?;
        let (bytes, encode) = timed(|| Ok(weft_snapshot::encode(&snapshot)?)).context("encode")?;
        let (decoded, decode) =
            timed(|| Ok(weft_snapshot::decode(&bytes, &Default::default())?)).context("decode")?;
        let restore = || Script::restore(runtime, &module, &decoded, None, Stdio::null());
        let (restored, restore) = timed(|| Ok(restore()?)).context("restore")?;
        expect_paused(restored.status()).context("restored")?;
        drop(restored);

        // The memory's contents, untimed, for the baselines.
        let memory = snapshot.memories.first().context("no memory")?;
        let raw = memory.to_bytes()?;
        ensure!(raw.len() as u64 == memory_bytes, "{} bytes", raw.len());
        let (copy, memcpy) = timed(|| Ok(black_box(&raw).clone()))?;
        drop(black_box(copy));
        let (compressed, zstd) = timed(|| Ok(zstd::bulk::compress(&raw, ZSTD_LEVEL)?))?;
        let unzstd = || zstd::bulk::decompress(&compressed, raw.len());
        let (_, unzstd) = timed(|| Ok(black_box(unzstd()?)))?;

        let times = [memcpy, zstd, unzstd, capture, encode, decode, restore];
        for (list, sample) in samples.iter_mut().zip(times) {
            list.push(sample);
        }
        snapshot_bytes = bytes.len() as u64;
        zstd_bytes = compressed.len() as u64;
        state_memory_bytes = snapshot.state_memory.len() as u64;
        progress.inc(1);
    }
    let [memcpy, zstd, unzstd, capture, encode, decode, restore] = medians_ms(samples);
    Ok(Figures {
        memory_mib: mib,
        memcpy_ms: memcpy,
        zstd_ms: zstd,
        unzstd_ms: unzstd,
        capture_ms: capture,
        encode_ms: encode,
        decode_ms: decode,
        restore_ms: restore,
        snapshot_bytes,
        zstd_bytes,
        state_memory_bytes,
    })
}

type Pick<T> = fn(&Figures) -> T;
/// A row of times: its label, the figure, the baseline it is divided by.
type TimeRow = (&'static str, Pick<f64>, Option<Pick<f64>>);

pub(super) fn table(figures: &[Figures]) -> Table {
    let mut table = Table::default();
    let mut header = vec!["snapshot of a paused script".to_owned()];
    header.extend(figures.iter().map(|f| format!("{} MiB", f.memory_mib)));
    table.header(header);
    let times: [TimeRow; 7] = [
        ("memcpy of the memory (baseline)", |f| f.memcpy_ms, None),
        ("zstd -3 of the memory (baseline)", |f| f.zstd_ms, None),
        ("zstd -d of that (baseline)", |f| f.unzstd_ms, None),
        (
            "capture, ratio to memcpy",
            |f| f.capture_ms,
            Some(|f| f.memcpy_ms),
        ),
        (
            "encode, ratio to zstd -3",
            |f| f.encode_ms,
            Some(|f| f.zstd_ms),
        ),
        (
            "decode, ratio to zstd -d",
            |f| f.decode_ms,
            Some(|f| f.unzstd_ms),
        ),
        (
            "restore, ratio to memcpy",
            |f| f.restore_ms,
            Some(|f| f.memcpy_ms),
        ),
    ];
    for (label, value, baseline) in times {
        let mut row = vec![label.to_owned()];
        row.extend(figures.iter().map(|f| match baseline {
            Some(b) => format!("{} {:>6.2}x", human_ms(value(f)), value(f) / b(f)),
            None => human_ms(value(f)),
        }));
        table.row(row);
    }
    let sizes: [(&str, Pick<u64>); 2] = [
        ("encoded snapshot, ratio to memory", |f| f.snapshot_bytes),
        ("zstd -3 of the memory, ratio", |f| f.zstd_bytes),
    ];
    for (label, bytes) in sizes {
        let mut row = vec![label.to_owned()];
        row.extend(figures.iter().map(|f| {
            let share = bytes(f) as f64 / (f.memory_mib << 20) as f64;
            format!("{} {share:>6.3}x", human_bytes(bytes(f)))
        }));
        table.footer(row);
    }
    table
}

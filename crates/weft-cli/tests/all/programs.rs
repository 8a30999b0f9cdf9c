//! The C conformance programs (`crates/weft-conformance/programs`) through
//! `weft run` and `weft resume`: every way of running them must print
//! byte for byte what their native gcc build prints, and exit the same.
//!
//! * `weft run`, straight;
//! * `weft run --slice 1000 --roundtrip`: preempted every 1000 units of
//!   fuel, and at every preemption encoded to a snapshot and restored into
//!   a fresh instance, from start to end (thousands of round trips);
//! * a chain of separate processes: `weft run --stop-after N --save S`,
//!   then `weft resume S --stop-after N' --save S'` again and again, at
//!   [`CHAIN_STOPS`] pseudo-random points spread over the whole run, each
//!   process's output appended to the previous ones;
//! * `weft run --slice 1000` at a larger scale, [`SLICED_SCALE`].

use crate::util::{cache_dir, stderr, weft};
use std::path::{Path, PathBuf};
use weft_conformance::programs::{self, Program, Target, Toolchain};

/// How many times the chain stops and saves the program.
const CHAIN_STOPS: usize = 24;

/// The scale of the run that is only preempted (`--slice 1000`), large
/// enough for the pauses to meet every part of the program many times.
const SLICED_SCALE: u32 = 10;

/// Compiled programs are cached next to the other build outputs, where the
/// conformance tests keep them too.
fn toolchain() -> Toolchain {
    let target_tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let target = target_tmp.parent().map(PathBuf::from).unwrap_or(target_tmp);
    Toolchain::new(target.join("weft-programs"))
}

/// What one process printed.
struct Run {
    stdout: Vec<u8>,
    status: i32,
    stats: serde_json::Value,
}

/// Runs `weft` with `--stats-json` (after the subcommand) and reads the
/// statistics line it prints last on standard error.
fn weft_with_stats(args: &[&str]) -> Run {
    let mut full = vec![args[0], "--stats-json"];
    full.extend_from_slice(&args[1..]);
    let out = weft(&full);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "weft panicked: {err}");
    let stats = err
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap_or_else(|| panic!("no statistics from weft {args:?}: {err}"));
    Run {
        stdout: out.stdout,
        status: out.status.code().expect("weft exited"),
        stats,
    }
}

/// `words` (ending in the module), then `--` and the program's arguments
/// (`args` without the program name).
fn with_args<'a>(words: &[&'a str], args: &'a [String]) -> Vec<&'a str> {
    let mut out = words.to_vec();
    out.push("--");
    out.extend(args[1..].iter().map(String::as_str));
    out
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Draws `count` distinct points in `1..total`, sorted, from `seed`.
fn stop_points(seed: u64, total: u64, count: usize) -> Vec<u64> {
    let mut state = seed | 1;
    let mut points = std::collections::BTreeSet::new();
    while points.len() < count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        points.insert(1 + state % (total - 1));
    }
    points.into_iter().collect()
}

fn check(name: &str) {
    let _ = std::fs::create_dir_all(cache_dir());
    let program = Program::named(name).expect("program");
    let toolchain = toolchain();
    let native = toolchain
        .compile(&program.source, Target::Native)
        .expect("gcc build");
    let wasm = toolchain
        .compile(&program.source, Target::Wasm)
        .expect("clang build");
    let wasm = path(&wasm).to_string();
    let args = program.args(None);
    let expected = programs::run_native(&native, &args).expect("native run");
    let same = |what: &str, stdout: &[u8], status: i32| {
        assert!(
            stdout == expected.stdout.as_slice(),
            "{name}, {what}: stdout differs from the native build's\n--- native\n{}\n--- weft\n{}",
            String::from_utf8_lossy(&expected.stdout),
            String::from_utf8_lossy(stdout)
        );
        assert_eq!(status, expected.exit_code, "{name}, {what}: exit status");
    };

    // Straight.
    let straight = weft_with_stats(&with_args(&["run", &wasm], &args));
    same("weft run", &straight.stdout, straight.status);
    let total = straight.stats["total_fuel"].as_u64().expect("total fuel");
    assert!(
        total > 10 * CHAIN_STOPS as u64,
        "{name} used only {total} fuel"
    );

    let dir = tempfile::tempdir().expect("tempdir");

    // Preempted every 1000 units, with a round trip every time, to the end.
    let roundtrip = weft_with_stats(&with_args(
        &["run", "--slice", "1000", "--roundtrip", &wasm],
        &args,
    ));
    same(
        "weft run --slice 1000 --roundtrip",
        &roundtrip.stdout,
        roundtrip.status,
    );
    let roundtrips = roundtrip.stats["roundtrips"].as_u64().expect("round trips");
    // A slice ends at the first check after its fuel is spent, and a check
    // may charge for a long stretch of code: slices run over.
    assert!(
        roundtrips >= total / 1000 / 5,
        "{name}: {roundtrips} round trips in {total} units of fuel"
    );

    // A chain of processes.
    let points = stop_points(total ^ 0x9e37_79b9, total, CHAIN_STOPS);
    let mut stdout = Vec::new();
    let mut at = 0;
    let mut previous: Option<PathBuf> = None;
    let mut stops = 0;
    let mut status = None;
    for (i, point) in points.iter().enumerate() {
        let step = point.saturating_sub(at).max(1).to_string();
        let snapshot = dir.path().join(format!("chain-{i}.snap"));
        let slice = if i % 3 == 1 { Some("7919") } else { None };
        let mut argv = match &previous {
            None => vec!["run"],
            Some(_) => vec!["resume"],
        };
        if let Some(slice) = slice {
            argv.extend(["--slice", slice]);
        }
        argv.extend(["--stop-after", &step, "--save", path(&snapshot)]);
        let run = match &previous {
            None => {
                argv.push(&wasm);
                weft_with_stats(&with_args(&argv, &args))
            }
            Some(p) => {
                argv.push(path(p));
                weft_with_stats(&argv)
            }
        };
        stdout.extend(run.stdout);
        at = run.stats["total_fuel"].as_u64().expect("total fuel");
        if run.stats["outcome"] != "saved" {
            // The stops overshoot a little; the program may end early.
            status = Some(run.status);
            break;
        }
        assert_eq!(run.status, 0, "{name}: a saving process exits 0");
        stops += 1;
        previous = Some(snapshot);
    }
    let status = match (status, previous) {
        (Some(status), _) => status,
        (None, Some(last)) => {
            let run = weft_with_stats(&["resume", path(&last)]);
            stdout.extend(run.stdout);
            run.status
        }
        (None, None) => unreachable!("the chain has stops"),
    };
    assert!(stops >= 20, "{name}: only {stops} stops before the end");
    same(
        &format!("a chain of {} processes", stops + 1),
        &stdout,
        status,
    );

    // Preempted every 1000 units over a longer run.
    let args = program.args(Some(SLICED_SCALE));
    let expected = programs::run_native(&native, &args).expect("native run");
    let sliced = weft_with_stats(&with_args(&["run", "--slice", "1000", &wasm], &args));
    assert!(
        sliced.stdout == expected.stdout && sliced.status == expected.exit_code,
        "{name}, weft run --slice 1000 at scale {SLICED_SCALE}: differs from the native build \
         (status {} against {})\n--- native\n{}\n--- weft\n{}",
        sliced.status,
        expected.exit_code,
        String::from_utf8_lossy(&expected.stdout),
        String::from_utf8_lossy(&sliced.stdout)
    );
}

#[test]
fn kernels() {
    check("kernels");
}

#[test]
fn recursion() {
    check("recursion");
}

#[test]
fn dispatch() {
    check("dispatch");
}

#[test]
fn vm() {
    check("vm");
}

#[test]
fn strings() {
    check("strings");
}

#[test]
fn floats() {
    check("floats");
}

#[test]
fn nbody() {
    check("nbody");
}

#[test]
fn json() {
    check("json");
}

#[test]
fn bignum() {
    check("bignum");
}

//! Hostile scripts and broken snapshots: each gets a clear error or a clean
//! trap, and weft never crashes.

use crate::util::{assert_clean_failure, stderr, weft, write};
use std::path::Path;

/// Grows its memory 16 pages at a time until `memory.grow` fails, then
/// prints how many pages it got and exits with status 3.
const MEMORY_BOMB: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $pages i32) (local $n i32) (local $at i32)
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $grow)))
    ;; Print the page count in decimal at 100.., backwards from 120.
    (local.set $pages (memory.size))
    (local.set $at (i32.const 120))
    (i32.store8 (local.get $at) (i32.const 10))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (local.get $pages) (i32.const 10))))
      (local.set $pages (i32.div_u (local.get $pages) (i32.const 10)))
      (br_if $digit (local.get $pages)))
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.sub (i32.const 121) (local.get $at)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 3))))
"#;

/// Recurses without end.
const RECURSION: &str = r#"
(module
  (func $dive (param i32) (result i32)
    (i32.add (call $dive (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "_start") (drop (call $dive (i32.const 0)))))
"#;

/// Spins forever after recursing three levels deep.
const ENDLESS: &str = r#"
(module
  (func $spin (param $depth i32)
    (if (local.get $depth)
      (then (call $spin (i32.sub (local.get $depth) (i32.const 1))))
      (else (loop $forever (br $forever)))))
  (func (export "_start") (call $spin (i32.const 3))))
"#;

#[test]
fn memory_bomb_stops_at_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = write(dir.path(), "bomb.wat", MEMORY_BOMB.as_bytes());
    let out = weft(&["run", "--max-memory", "8M", &bomb]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let pages: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("page count");
    // 8 MiB is 128 pages, less the state memory; growth is by 16.
    assert!((97..=128).contains(&pages), "the bomb got {pages} pages");

    // Without a limit the bomb is stopped by wasm32's 4 GiB ceiling: one
    // page, and as many 16-page steps as fit under 65536 pages.
    let out = weft(&["run", &bomb]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let ceiling = 1 + 16 * ((65536 - 1) / 16);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        ceiling.to_string()
    );
}

#[test]
fn unbounded_recursion_traps_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = write(dir.path(), "deep.wat", RECURSION.as_bytes());
    let out = weft(&["run", &deep]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(134), "{err}");
    assert!(err.contains("call stack exhausted"), "{err}");
    assert!(err.contains("wasm backtrace"), "{err}");
    assert!(
        err.contains("dive"),
        "the backtrace names the function: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn endless_loop_stops_saves_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let endless = write(dir.path(), "endless.wat", ENDLESS.as_bytes());
    let first = dir.path().join("first.snap");
    let out = weft(&[
        "run",
        "--stop-after",
        "1000000",
        "--save",
        first.to_str().expect("utf-8"),
        &endless,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let inspect = weft(&["inspect", "--json", first.to_str().expect("utf-8")]);
    assert_eq!(inspect.status.code(), Some(0), "{}", stderr(&inspect));
    let report: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(report["state"], "paused");
    assert!(report["fuel_used"].as_u64().expect("fuel") >= 1_000_000);
    let stack = report["call_stack"].as_array().expect("call stack");
    // `_start`, then `spin` at depths 3, 2, 1, 0; innermost first.
    assert_eq!(stack.len(), 5, "{report}");
    assert_eq!(stack[0]["name"], "spin");
    assert!(stack.iter().filter(|f| f["name"] == "spin").count() == 4);

    let second = dir.path().join("second.snap");
    let out = weft(&[
        "resume",
        "--slice",
        "1000",
        "--stop-after",
        "50000",
        "--save",
        second.to_str().expect("utf-8"),
        first.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let inspect = weft(&["inspect", "--json", second.to_str().expect("utf-8")]);
    let report: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert!(report["fuel_used"].as_u64().expect("fuel") >= 1_050_000);
}

#[test]
fn unknown_imports_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = write(
        dir.path(),
        "imports.wat",
        br#"(module (import "env" "launch_missiles" (func (param i32))) (func (export "_start")))"#,
    );
    assert_clean_failure(&weft(&["run", &module]), "env::launch_missiles");
    let no_entry = write(dir.path(), "lib.wat", br#"(module (func (export "f")))"#);
    assert_clean_failure(&weft(&["run", &no_entry]), "no function `_start`");
}

/// A paused snapshot of [`ENDLESS`], and its bytes.
fn paused_snapshot(dir: &Path) -> (String, Vec<u8>) {
    let endless = write(dir, "endless.wat", ENDLESS.as_bytes());
    let snapshot = dir.join("paused.snap");
    let out = weft(&[
        "run",
        "--stop-after",
        "10000",
        "--save",
        snapshot.to_str().expect("utf-8"),
        &endless,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(&snapshot).expect("snapshot written");
    (snapshot.to_string_lossy().into_owned(), bytes)
}

#[test]
fn broken_snapshots_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, bytes) = paused_snapshot(dir.path());

    let truncated = write(dir.path(), "truncated.snap", &bytes[..bytes.len() / 2]);
    assert_clean_failure(&weft(&["resume", &truncated]), "truncated");
    assert_clean_failure(&weft(&["inspect", &truncated]), "truncated");

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    let flipped = write(dir.path(), "flipped.snap", &flipped);
    assert_clean_failure(&weft(&["resume", &flipped]), "checksum");

    let garbage = write(dir.path(), "garbage.snap", b"this is not a snapshot at all");
    assert_clean_failure(&weft(&["resume", &garbage]), "not a weft snapshot");

    let missing = dir.path().join("missing.snap");
    assert_clean_failure(
        &weft(&["resume", missing.to_str().expect("utf-8")]),
        "cannot read",
    );
}

#[test]
fn snapshots_of_another_module_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snapshot, bytes) = paused_snapshot(dir.path());
    let other = write(dir.path(), "other.wat", RECURSION.as_bytes());

    // Resuming with another module named on the command line.
    assert_clean_failure(
        &weft(&["resume", "--module", &other, &snapshot]),
        "was taken from module",
    );

    // A snapshot whose carried module was swapped for another one.
    let mut decoded =
        weft_snapshot::decode(&bytes, &Default::default()).expect("the snapshot decodes");
    decoded.wasm = Some(wat::parse_str(RECURSION).expect("wat"));
    let swapped = weft_snapshot::encode(&decoded).expect("encodes");
    let swapped = write(dir.path(), "swapped.snap", &swapped);
    assert_clean_failure(
        &weft(&["resume", &swapped]),
        "not the module it was taken from",
    );

    // The module and hash both swapped: the state does not fit the module
    // (it has no memory, the other module has one).
    decoded.wasm = Some(wat::parse_str(MEMORY_BOMB).expect("wat"));
    decoded.module.hash = weft_runtime::module_hash(decoded.wasm.as_deref().expect("wasm"));
    let relabelled = weft_snapshot::encode(&decoded).expect("encodes");
    let relabelled = write(dir.path(), "relabelled.snap", &relabelled);
    assert_clean_failure(&weft(&["resume", &relabelled]), "does not fit the module");
}

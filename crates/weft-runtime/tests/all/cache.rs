//! The disk cache of compiled code, shared by runtimes (processes).

use crate::{config, runtime_with};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use weft_runtime::{Budget, Runtime, RuntimeConfig, Script, ScriptOptions, Status, Stdio};

const EXITING: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                 (i32.const 10000))))
    (call $proc_exit (i32.const 42))))"#;

fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    files.sort();
    files
}

fn cached_runtime(dir: &Path, instrumentation: weft_instrument::Config) -> Runtime {
    runtime_with(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        instrumentation,
        ..config()
    })
}

/// Loads the module in a new runtime and runs it (in slices, with a round
/// trip, so the loaded code is exercised beyond one call).
fn load_and_run(dir: &Path) {
    let runtime = cached_runtime(dir, weft_instrument::Config::fuel());
    let module = runtime.load(&wat::parse_str(EXITING).unwrap()).unwrap();
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Fuel(1_000)).unwrap(), &Status::Paused);
    let snapshot = script.snapshot().unwrap();
    let mut script = Script::restore(&runtime, &module, &snapshot, None, Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(42));
}

#[test]
fn second_runtime_uses_the_first_ones_code() {
    let dir = tempfile::tempdir().unwrap();
    load_and_run(dir.path());
    let files = cache_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let written = std::fs::metadata(&files[0]).unwrap();
    load_and_run(dir.path());
    // Found, not compiled and written again.
    assert_eq!(cache_files(dir.path()), files);
    let found = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(
        (found.ino(), found.mtime_nsec()),
        (written.ino(), written.mtime_nsec())
    );
    // Another instrumentation is other code, in another file.
    let flag = cached_runtime(dir.path(), weft_instrument::Config::flag(false));
    flag.load(&wat::parse_str(EXITING).unwrap()).unwrap();
    assert_eq!(cache_files(dir.path()).len(), 2);
    // So is the same instrumentation emitting other code: files are keyed
    // by the instrumented module, not by the settings' name.
    let compact = cached_runtime(
        dir.path(),
        weft_instrument::Config::fuel().with_copies(weft_instrument::Copies::None),
    );
    compact.load(&wat::parse_str(EXITING).unwrap()).unwrap();
    assert_eq!(cache_files(dir.path()).len(), 3);
}

#[test]
fn corrupt_cache_files_are_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    load_and_run(dir.path());
    let [file] = &cache_files(dir.path())[..] else {
        panic!("one cache file expected");
    };
    let good = std::fs::read(file).unwrap();
    let mut corruptions: Vec<Vec<u8>> = Vec::new();
    for at in [0, 31, 32, 40, good.len() / 2, good.len() - 1] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x55;
        corruptions.push(bytes);
    }
    corruptions.push(good[..good.len() / 2].to_vec());
    corruptions.push(good[..10].to_vec());
    corruptions.push(Vec::new());
    for corrupt in corruptions {
        std::fs::write(file, &corrupt).unwrap();
        load_and_run(dir.path());
        let rewritten = std::fs::read(file).unwrap();
        assert_ne!(rewritten, corrupt, "the corrupt file was kept");
        assert_eq!(rewritten.len(), good.len());
    }
    assert_eq!(cache_files(dir.path()).len(), 1, "no stray files");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary files left"
    );
}

#[test]
fn precompiled_code_runs_in_another_runtime_with_the_same_engine() {
    let wasm = wat::parse_str(EXITING).unwrap();
    let sender = crate::runtime();
    let code = sender.precompiled(&sender.load(&wasm).unwrap()).unwrap();
    assert_eq!(code.engine, sender.engine_fingerprint());
    assert_eq!(code.instrumentation, "fuel");

    let dir = tempfile::tempdir().unwrap();
    let receiver = cached_runtime(dir.path(), weft_instrument::Config::fuel());
    assert_eq!(receiver.engine_fingerprint(), sender.engine_fingerprint());
    // SAFETY: the code comes from `sender`, a runtime of this process.
    let module = unsafe { receiver.load_precompiled(&wasm, &code) }.unwrap();
    let mut script =
        Script::spawn(&receiver, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(42));
    // The code went into the receiver's disk cache, as if compiled there.
    assert_eq!(cache_files(dir.path()).len(), 1);
}

#[test]
fn precompiled_code_of_another_engine_or_instrumentation_is_refused() {
    let wasm = wat::parse_str(EXITING).unwrap();
    let fuel = crate::runtime();
    let code = fuel.precompiled(&fuel.load(&wasm).unwrap()).unwrap();

    // Another engine configuration: another fingerprint.
    let nans = runtime_with(RuntimeConfig {
        canonical_nans: true,
        ..config()
    });
    assert_ne!(nans.engine_fingerprint(), fuel.engine_fingerprint());
    // SAFETY: refused before any code is loaded.
    let refused = unsafe { nans.load_precompiled(&wasm, &code) }.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("another version or configuration"),
        "{refused}"
    );

    // The same engine, another instrumentation.
    let flag = runtime_with(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(false),
        ..config()
    });
    assert_eq!(flag.engine_fingerprint(), fuel.engine_fingerprint());
    // SAFETY: refused before any code is loaded.
    let refused = unsafe { flag.load_precompiled(&wasm, &code) }.unwrap_err();
    assert!(
        refused.to_string().contains("instrumented for `fuel`"),
        "{refused}"
    );

    // Bytes that are not Wasmtime's: refused by its header check.
    let mut garbage = code.clone();
    garbage.code = b"not code at all".to_vec();
    // SAFETY: Wasmtime rejects these bytes by their header before running
    // anything.
    let refused = unsafe { crate::runtime().load_precompiled(&wasm, &garbage) }.unwrap_err();
    assert!(
        refused.to_string().contains("does not load here"),
        "{refused}"
    );
}

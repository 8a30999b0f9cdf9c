//! Per-script limits on memory and fuel, and the WebAssembly stack limit.

use crate::{config, load, on_big_stack, runtime, runtime_with};
use weft_runtime::{Budget, RuntimeConfig, Script, ScriptOptions, Status, Stdio};
use weft_snapshot::Limits;

const PAGE: u64 = 65536;

/// Grows memory one page at a time until `memory.grow` fails, then exits
/// with the number of pages it got (the script keeps running after the
/// failure).
const GROWING: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $grown i32)
    (block $full
      (loop $more
        (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $grown (i32.add (local.get $grown) (i32.const 1)))
        (br_if $more (i32.lt_u (local.get $grown) (i32.const 1000)))))
    ;; Still running: the new pages are usable, the size is what grew.
    (i32.store (i32.mul (i32.sub (memory.size) (i32.const 1)) (i32.const 65536)) (i32.const 1))
    (call $proc_exit (i32.add (i32.mul (memory.size) (i32.const 10000)) (local.get $grown)))))"#;

fn with_limits(limits: Limits) -> ScriptOptions {
    ScriptOptions {
        limits,
        ..ScriptOptions::default()
    }
}

#[test]
fn memory_grow_fails_beyond_the_limit() {
    let runtime = runtime();
    let module = load(&runtime, GROWING);
    // The limit counts every memory of the instance, its state memory too.
    let unlimited =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    let initial = unlimited.memory_bytes();
    assert!(
        initial >= 2 * PAGE,
        "memory and state memory: {initial} bytes"
    );
    for extra in [0, 1, 3] {
        let limits = Limits {
            memory_bytes: Some(initial + extra * PAGE + PAGE / 2),
            ..Limits::default()
        };
        let mut script =
            Script::spawn(&runtime, &module, with_limits(limits), Stdio::null()).unwrap();
        let status = script.run(Budget::Unlimited).unwrap();
        let pages = 1 + extra as i32;
        assert_eq!(status, &Status::Exited(pages * 10_000 + extra as i32));
        assert_eq!(script.memory_bytes(), initial + extra * PAGE);
    }
}

#[test]
fn initial_memory_over_the_limit_fails_at_spawn() {
    let runtime = runtime();
    let module = load(
        &runtime,
        r#"(module (memory (export "memory") 10) (func (export "_start")))"#,
    );
    let limits = Limits {
        memory_bytes: Some(4 * PAGE),
        ..Limits::default()
    };
    let err = Script::spawn(&runtime, &module, with_limits(limits), Stdio::null()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("cannot instantiate"), "{message}");
    assert!(message.contains("exceeds memory limits"), "{message}");
}

/// Spins forever.
const SPINNING: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $forever
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $forever))))"#;

#[test]
fn fuel_limit_traps_the_script() {
    let runtime = runtime();
    let module = load(&runtime, SPINNING);
    let limit = 100_000;
    let limits = Limits {
        fuel: Some(limit),
        ..Limits::default()
    };
    let mut script = Script::spawn(&runtime, &module, with_limits(limits), Stdio::null()).unwrap();
    let status = script.run(Budget::Unlimited).unwrap();
    let Status::Trapped(trap) = status else {
        panic!("an unlimited run of a script with a fuel limit ended {status:?}");
    };
    assert!(
        trap.message.contains("fuel limit of 100000"),
        "{}",
        trap.message
    );
    let used = script.accounting().fuel_used;
    assert!((limit..limit + 1_000).contains(&used), "used {used} fuel");
}

#[test]
fn fuel_limit_over_many_slices() {
    let runtime = runtime();
    let module = load(&runtime, SPINNING);
    let limits = Limits {
        fuel: Some(50_000),
        ..Limits::default()
    };
    let mut script = Script::spawn(&runtime, &module, with_limits(limits), Stdio::null()).unwrap();
    let mut slices = 0;
    while script.run(Budget::Fuel(7_000)).unwrap() == &Status::Paused {
        slices += 1;
        assert!(slices < 100, "never stopped");
        // Snapshots of a script within its limit restore.
        let snapshot = script.snapshot().unwrap();
        script =
            Script::restore(&runtime, script.module(), &snapshot, None, Stdio::null()).unwrap();
    }
    assert!(
        matches!(script.status(), Status::Trapped(_)),
        "{:?}",
        script.status()
    );
    assert_eq!(slices, 50_000 / 7_000);
}

#[test]
fn snapshot_over_a_tighter_limit_is_refused() {
    let runtime = runtime();
    let module = load(&runtime, SPINNING);
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Fuel(20_000)).unwrap(), &Status::Paused);
    let snapshot = script.snapshot().unwrap();
    for limits in [
        Limits {
            fuel: Some(10_000),
            ..Limits::default()
        },
        Limits {
            memory_bytes: Some(PAGE / 2),
            ..Limits::default()
        },
    ] {
        let err =
            Script::restore(&runtime, &module, &snapshot, Some(limits), Stdio::null()).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }
}

#[test]
fn unbounded_recursion_exhausts_the_stack() {
    let wasm_stack = 1 << 20;
    let trap = on_big_stack(wasm_stack, || {
        let runtime = runtime_with(RuntimeConfig {
            max_wasm_stack: wasm_stack,
            ..config()
        });
        let module = load(
            &runtime,
            r#"(module
  (memory (export "memory") 1)
  (func $deeper (param $n i32) (result i32)
    (i32.add (call $deeper (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func $main (export "_start") (drop (call $deeper (i32.const 0)))))"#,
        );
        let mut script =
            Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
        match script.run(Budget::Unlimited).unwrap() {
            Status::Trapped(trap) => trap.clone(),
            other => panic!("expected a trap, got {other:?}"),
        }
    });
    assert!(
        trap.message.contains("call stack exhausted"),
        "{}",
        trap.message
    );
    // Wasmtime keeps the innermost frames of a deep stack.
    assert!(
        trap.backtrace.len() >= 10,
        "{} frames",
        trap.backtrace.len()
    );
    assert!(
        trap.backtrace
            .iter()
            .all(|f| f.name.as_deref() == Some("deeper"))
    );
    // Deep recursion prints as one repeated line.
    let printed = trap.to_string();
    assert!(printed.contains("deeper (function 0) x "), "{printed}");
    assert!(printed.lines().count() < 10, "{printed}");
}

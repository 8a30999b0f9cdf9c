//! Interrupting a flag-instrumented script from another thread.

use crate::{config, load, runtime_with};
use std::sync::mpsc;
use std::time::Duration;
use weft_runtime::{Budget, InterruptHandle, RuntimeConfig, Script, ScriptOptions, Status, Stdio};
use weft_snapshot::Snapshot;

/// Counts in the `i64` at address 0, forever.
const SPINNING: &str = r#"(module
  (memory (export "memory") 1)
  (func $spin (export "_start")
    (loop $forever
      (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
      (br $forever))))"#;

fn counter(snapshot: &Snapshot) -> i64 {
    let memory = snapshot.memories[0].to_bytes().unwrap();
    i64::from_le_bytes(memory[..8].try_into().unwrap())
}

#[test]
fn interrupt_pauses_a_script_spinning_on_another_thread() {
    let wasm_stack = 1 << 20;
    let runtime = runtime_with(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(false),
        max_wasm_stack: wasm_stack,
        ..config()
    });
    let module = load(&runtime, SPINNING);
    let (handles, interrupts) = mpsc::channel::<InterruptHandle>();
    let counters = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .stack_size(weft_runtime::thread_stack_size(wasm_stack))
            .spawn_scoped(scope, || {
                let mut script =
                    Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null())
                        .unwrap();
                let mut counters = Vec::new();
                for round in 0..4 {
                    handles.send(script.interrupt_handle()).unwrap();
                    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Paused);
                    let snapshot = script.snapshot().unwrap();
                    counters.push(counter(&snapshot));
                    if round % 2 == 1 {
                        // Continue in a fresh instance, with a new flag.
                        script = Script::restore(&runtime, &module, &snapshot, None, Stdio::null())
                            .unwrap();
                    }
                }
                drop(handles);
                counters
            })
            .unwrap();
        for handle in interrupts {
            std::thread::sleep(Duration::from_millis(20));
            handle.interrupt();
        }
        worker.join().unwrap()
    });
    assert!(counters.windows(2).all(|w| w[0] <= w[1]), "{counters:?}");
    assert!(counters[3] > 0, "the script never ran: {counters:?}");
}

#[test]
fn interrupting_a_dropped_script_does_nothing() {
    let runtime = runtime_with(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(false),
        ..config()
    });
    let module = load(&runtime, SPINNING);
    let script = Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    let handle = script.interrupt_handle();
    let copy = handle.clone();
    drop(script);
    handle.interrupt();
    copy.interrupt();
}

#[test]
fn interrupt_before_a_run_pauses_it_at_once() {
    let runtime = runtime_with(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(true),
        ..config()
    });
    let module = load(
        &runtime,
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                 (i32.const 100000))))
    (call $proc_exit (i32.const 3))))"#,
    );
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    script.interrupt_handle().interrupt();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Paused);
    let first = script.accounting().fuel_used;
    assert!(first < 100, "ran {first} fuel before pausing");
    // The flag was cleared: the next run goes to the end.
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(3));
    assert!(script.accounting().fuel_used > 100_000);
}

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

/// Writes "n\n" for n = 0, 1, 2, ... forever, one `fd_write` each.
const WRITING: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 2))
    (loop $forever
      (i32.store8 (i32.const 64) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (i32.store8 (i32.const 65) (i32.const 10))
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $forever))))"#;

/// A standard output that takes 2 ms a write.
struct Slow(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Slow {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_script_that_checks_only_fuel_pauses_after_a_slow_host_call() {
    // Fuel instrumentation: the loop never looks at the flag, but the host
    // call does when it returns.
    let runtime = crate::runtime();
    let module = load(&runtime, WRITING);
    let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stdio = Stdio {
        stdout: Box::new(Slow(written.clone())),
        stderr: Box::new(std::io::sink()),
        stdin: Box::new(std::io::empty()),
    };
    let mut script = Script::spawn(&runtime, &module, ScriptOptions::default(), stdio).unwrap();
    let mut lines = 0;
    for _ in 0..3 {
        let handle = script.interrupt_handle();
        let interrupter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(15));
            handle.interrupt();
        });
        // Without the interrupt, an unlimited run would never return.
        assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Paused);
        interrupter.join().unwrap();
        let now = written.lock().unwrap().len() / 2;
        assert!(now > lines, "no write between two pauses");
        lines = now;
    }
    // Every write happened once, in order: a paused call is not repeated.
    let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    let expected: String = (0..lines).map(|n| format!("{}\n", n % 10)).collect();
    assert_eq!(text, expected);
    // And it survives a snapshot taken there.
    let snapshot = script.snapshot().unwrap();
    let restored = Script::restore(&runtime, &module, &snapshot, None, Stdio::null());
    assert_eq!(restored.unwrap().status(), &Status::Paused);
}

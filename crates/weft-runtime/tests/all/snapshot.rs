//! Snapshots: the frames they hold, and what `Script::restore` refuses.

use crate::{config, load, runtime, runtime_with};
use std::sync::Arc;
use weft_runtime::{
    Budget, Error, Pending, Runtime, RuntimeConfig, SavedFrame, Script, ScriptModule,
    ScriptOptions, Status, Stdio, host_state, saved_frames,
};
use weft_snapshot::Snapshot;

/// `$main` calls `$rec 1`, which recurses to depth 3 and spins there,
/// counting in global `$counter` and memory, until the counter reaches a
/// million; then `_start` exits with the low 7 bits of the counter sum.
const RECURSIVE: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (global $counter (mut i32) (i32.const 0))
  (table 2 funcref)
  (elem (i32.const 0) $rec)
  (type $rec_type (func (param i32)))
  (func $rec (param $depth i32)
    (if (i32.lt_u (local.get $depth) (i32.const 3))
      (then (call_indirect (type $rec_type) (i32.add (local.get $depth) (i32.const 1))
                                            (i32.const 0)))
      (else
        (loop $spin
          (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
          (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (global.get $counter)))
          (br_if $spin (i32.lt_u (global.get $counter) (i32.const 100000)))))))
  (func $main (export "_start")
    (call $rec (i32.const 1))
    (call $proc_exit (i32.and (i32.load (i32.const 64)) (i32.const 127)))))"#;

fn expected_exit() -> i32 {
    let sum = (1..=100_000u32).fold(0u32, |s, c| s.wrapping_add(c));
    (sum & 127) as i32
}

fn paused(runtime: &Runtime, module: &Arc<ScriptModule>) -> Script {
    let mut script =
        Script::spawn(runtime, module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Fuel(5_000)).unwrap(), &Status::Paused);
    script
}

#[test]
fn saved_frames_list_the_paused_call_stack_innermost_first() {
    let runtime = runtime();
    let module = load(&runtime, RECURSIVE);
    let mut script = paused(&runtime, &module);
    let stack = script.call_stack().unwrap();
    let names: Vec<_> = stack.iter().map(|f| f.name.as_deref()).collect();
    assert_eq!(names, [Some("rec"), Some("rec"), Some("rec"), Some("main")]);
    let functions: Vec<_> = stack.iter().map(|f| f.function).collect();
    assert_eq!(functions, [1, 1, 1, 2]);
    // The two outer `rec` frames wait in the same call, the innermost in its loop.
    assert_eq!(stack[1].resume_point, stack[2].resume_point);
    assert_ne!(stack[0].resume_point, stack[1].resume_point);
    let snapshot = script.snapshot().unwrap();
    assert_eq!(
        saved_frames(&snapshot.state_memory, module.info()).unwrap(),
        stack
    );
    // Restored, it has the same frames and finishes as a straight run does.
    let mut restored = Script::restore(&runtime, &module, &snapshot, None, Stdio::null()).unwrap();
    assert_eq!(restored.call_stack().unwrap(), stack);
    assert_eq!(
        restored.run(Budget::Unlimited).unwrap(),
        &Status::Exited(expected_exit())
    );
    assert_eq!(restored.call_stack().unwrap(), Vec::<SavedFrame>::new());
}

#[test]
fn created_script_round_trips() {
    let runtime = runtime();
    let module = load(&runtime, RECURSIVE);
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    let snapshot = script.snapshot().unwrap();
    assert!(snapshot.state_memory.len() == 16, "no frames yet");
    let mut restored = Script::restore(&runtime, &module, &snapshot, None, Stdio::null()).unwrap();
    assert_eq!(restored.status(), &Status::Created);
    assert_eq!(
        restored.run(Budget::Unlimited).unwrap(),
        &Status::Exited(expected_exit())
    );
}

fn restore_error(runtime: &Runtime, module: &Arc<ScriptModule>, snapshot: &Snapshot) -> String {
    match Script::restore(runtime, module, snapshot, None, Stdio::null()) {
        Err(e @ Error::Snapshot(_)) => e.to_string(),
        Err(e) => panic!("not a snapshot error: {e:?}"),
        Ok(_) => panic!("a tampered snapshot restored"),
    }
}

#[test]
fn snapshot_of_another_module_is_refused() {
    let runtime = runtime();
    let module = load(&runtime, RECURSIVE);
    let other = load(&runtime, &RECURSIVE.replace("100000", "100001"));
    let snapshot = paused(&runtime, &module).snapshot().unwrap();
    let message = restore_error(&runtime, &other, &snapshot);
    assert!(message.contains("different module"), "{message}");
    // The same module with another instrumentation is another module too.
    let flag = runtime_with(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(true),
        ..config()
    });
    let flagged = load(&flag, RECURSIVE);
    let message = restore_error(&flag, &flagged, &snapshot);
    assert!(message.contains("different module"), "{message}");
}

/// Overwrites the `u32` at `offset` from the end of the state memory: the
/// header of the top (outermost) frame is its last 16 bytes: function
/// index, resume point, fuel boost, frame size.
fn with_word(snapshot: &Snapshot, from_end: usize, value: u32) -> Snapshot {
    let mut tampered = snapshot.clone();
    let at = tampered.state_memory.len() - from_end;
    tampered.state_memory[at..at + 4].copy_from_slice(&value.to_le_bytes());
    tampered
}

#[test]
fn tampered_frames_are_refused() {
    let runtime = runtime();
    let module = load(&runtime, RECURSIVE);
    let snapshot = paused(&runtime, &module).snapshot().unwrap();
    let len = snapshot.state_memory.len();
    let main_size = module.info().functions[2].frame_size;
    let cases: Vec<(&str, Snapshot, &str)> = vec![
        (
            "function index out of range",
            with_word(&snapshot, 16, 99),
            "names function 99",
        ),
        (
            "an import's frame",
            with_word(&snapshot, 16, 0),
            "cannot be paused",
        ),
        (
            "function index flipped",
            with_word(&snapshot, 16, 2 ^ 0x8000),
            "names function",
        ),
        (
            "frame size plus 8",
            with_word(&snapshot, 4, main_size + 8),
            "has size",
        ),
        ("frame size zero", with_word(&snapshot, 4, 0), "has size"),
        (
            "frame size huge",
            with_word(&snapshot, 4, u32::MAX),
            "has size",
        ),
        (
            "resume point",
            with_word(&snapshot, 12, 1_000),
            "at point 1000",
        ),
        (
            "cut by one byte",
            cut(&snapshot, len - 1),
            "frame 0 from the top",
        ),
        ("cut inside a header", cut(&snapshot, 16 + 8), "cut off"),
        ("shorter than its header", cut(&snapshot, 15), "header"),
        ("empty", cut(&snapshot, 0), "header"),
        ("garbage on top", grown(&snapshot, &[0xff; 16]), "frame 0"),
        ("zeros on top", grown(&snapshot, &[0; 16]), "frame 0"),
    ];
    for (what, tampered, expected) in cases {
        let message = restore_error(&runtime, &module, &tampered);
        assert!(message.contains(expected), "{what}: {message}");
        // Through the bytes too: decoding does not look at frames.
        let bytes = weft_snapshot::encode(&tampered).unwrap();
        let decoded = weft_snapshot::decode(&bytes, &Default::default()).unwrap();
        assert_eq!(restore_error(&runtime, &module, &decoded), message);
    }
}

fn cut(snapshot: &Snapshot, len: usize) -> Snapshot {
    let mut tampered = snapshot.clone();
    tampered.state_memory.truncate(len);
    tampered
}

fn grown(snapshot: &Snapshot, extra: &[u8]) -> Snapshot {
    let mut tampered = snapshot.clone();
    tampered.state_memory.extend_from_slice(extra);
    tampered
}

#[test]
fn inconsistent_control_and_host_state_are_refused() {
    let runtime = runtime();
    let module = load(&runtime, RECURSIVE);
    let mut script = paused(&runtime, &module);
    let snapshot = script.snapshot().unwrap();
    let mut normal = snapshot.clone();
    normal.control_state = 0;
    assert!(restore_error(&runtime, &module, &normal).contains("control state"));
    let mut garbage = snapshot.clone();
    garbage.host = vec![0xff; 7];
    assert!(restore_error(&runtime, &module, &garbage).contains("host state"));
    // No frames but a call under way, according to the host state.
    let fresh = Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null())
        .unwrap()
        .snapshot()
        .unwrap();
    let mut no_frames = fresh.clone();
    no_frames.host = snapshot.host.clone();
    assert!(restore_error(&runtime, &module, &no_frames).contains("saved frames"));
    let mut fuel = snapshot.clone();
    fuel.fuel = None;
    assert!(restore_error(&runtime, &module, &fuel).contains("fuel"));
    // An entry point the module does not have.
    let mut host = host_state(&snapshot).unwrap();
    host.entry = 5;
    let mut entry = snapshot.clone();
    entry.host = postcard::to_allocvec(&host).unwrap();
    assert!(restore_error(&runtime, &module, &entry).contains("entry point 5"));
}

#[test]
fn carried_module_must_be_the_one_named() {
    let runtime = runtime();
    let module = load(&runtime, RECURSIVE);
    let mut snapshot = paused(&runtime, &module).snapshot().unwrap();
    assert!(matches!(
        runtime.load_snapshot_module(&snapshot),
        Err(Error::State(_))
    ));
    snapshot.wasm = Some(module.original().to_vec());
    let loaded = runtime.load_snapshot_module(&snapshot).unwrap();
    let mut script = Script::restore(&runtime, &loaded, &snapshot, None, Stdio::null()).unwrap();
    assert_eq!(
        script.run(Budget::Unlimited).unwrap(),
        &Status::Exited(expected_exit())
    );
    let mut other = module.original().to_vec();
    *other.last_mut().unwrap() ^= 1;
    snapshot.wasm = Some(other);
    let err = runtime.load_snapshot_module(&snapshot).unwrap_err();
    assert!(err.to_string().contains("hash mismatch"), "{err}");
}

/// A script sleeping in `poll_oneoff` whose snapshot claims that the
/// subscription that fires is one far beyond guest memory.
#[test]
fn sleep_with_a_subscription_out_of_range_does_not_panic() {
    let runtime = runtime();
    let module = load(
        &runtime,
        &crate::wasi_module(
            r#"
    (i32.store (i32.const 0x110) (i32.const 1))
    (i64.store (i32.const 0x118) (i64.const 1000))
    (call $record (call $poll_oneoff (i32.const 0x100) (i32.const 0x200) (i32.const 1) (i32.const 0x300)))"#,
        ),
    );
    let options = ScriptOptions {
        deterministic: Some(1),
        ..ScriptOptions::default()
    };
    let mut script = Script::spawn(&runtime, &module, options, Stdio::null()).unwrap();
    assert!(matches!(
        script.run(Budget::Unlimited).unwrap(),
        Status::Parked(_)
    ));
    let snapshot = script.snapshot().unwrap();
    // Within memory, whatever lies there is read as the subscription;
    // beyond it (the offset overflowing 32 bits, too), EFAULT.
    for (subscription, errno) in [(1, 0), (1_000, 0), (89_478_485, 21), (u32::MAX, 21)] {
        let mut host = host_state(&snapshot).unwrap();
        let Some(Pending::Sleep { deadline, .. }) = host.pending else {
            panic!("not sleeping: {host:?}");
        };
        host.pending = Some(Pending::Sleep {
            deadline,
            subscription,
        });
        let mut tampered = snapshot.clone();
        tampered.host = postcard::to_allocvec(&host).unwrap();
        let (stdio, output) = Stdio::captured();
        let mut script = Script::restore(&runtime, &module, &tampered, None, stdio).unwrap();
        assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
        assert_eq!(
            crate::records(&output.stderr()),
            [errno],
            "subscription {subscription}"
        );
    }
}

/// A snapshot whose host state says nearly 2^64 bytes were written.
#[test]
fn output_counters_near_their_end_do_not_overflow() {
    let runtime = runtime();
    let module = load(
        &runtime,
        &crate::wasi_module(
            r#"
    (drop (call $sched_yield))
    (i32.store (i32.const 0) (i32.const 0x216968)) ;; "hi!"
    (call $record (call $write (i32.const 1) (i32.const 0) (i32.const 3)))"#,
        ),
    );
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Paused);
    let snapshot = script.snapshot().unwrap();
    let mut host = host_state(&snapshot).unwrap();
    host.stdout_bytes = u64::MAX - 1;
    host.stderr_bytes = u64::MAX;
    let mut tampered = snapshot.clone();
    tampered.host = postcard::to_allocvec(&host).unwrap();
    let (stdio, output) = Stdio::captured();
    let mut script = Script::restore(&runtime, &module, &tampered, None, stdio).unwrap();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
    assert_eq!(output.stdout(), b"hi!");
    assert_eq!(crate::records(&output.stderr()), [0]);
}

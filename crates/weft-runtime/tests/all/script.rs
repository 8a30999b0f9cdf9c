//! The state machine of a script: created, paused, exited, trapped, killed.

use crate::{load, run_to_end, runtime, runtime_with};
use weft_runtime::{Budget, Error, RuntimeConfig, Script, ScriptOptions, Status, Stdio, Trap};

/// Sums `i * i` for `i` below 20,000 and exits with the low 7 bits of the
/// sum (or returns from `_start` with `$exit` 0).
fn summing(exit: bool) -> String {
    let end = if exit {
        "(call $proc_exit (i32.and (local.get $sum) (i32.const 127)))"
    } else {
        "(global.set $result (local.get $sum))"
    };
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (global $result (export "result") (mut i32) (i32.const 0))
  (func $main (export "_start") (local $i i32) (local $sum i32)
    (loop $again
      (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $i) (local.get $i))))
      (br_if $again (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                              (i32.const 20000))))
    {end}))"#
    )
}

fn expected_sum() -> u32 {
    (0..20_000u32).fold(0u32, |sum, i| sum.wrapping_add(i.wrapping_mul(i)))
}

#[test]
fn created_paused_then_exited_by_proc_exit() {
    let runtime = runtime();
    let module = load(&runtime, &summing(true));
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.status(), &Status::Created);
    let mut pauses = 0;
    let mut fuel_seen = 0;
    loop {
        match script.run(Budget::Fuel(5_000)).unwrap().clone() {
            Status::Paused => {
                pauses += 1;
                let used = script.accounting().fuel_used;
                assert!(
                    used > fuel_seen,
                    "fuel used went from {fuel_seen} to {used}"
                );
                fuel_seen = used;
            }
            Status::Exited(code) => {
                assert_eq!(code as u32, expected_sum() & 127);
                break;
            }
            other => panic!("unexpected status {other:?}"),
        }
    }
    // 20,000 iterations take well over 5,000 fuel per slice of them.
    assert!(pauses >= 5, "paused only {pauses} times");
    assert!(script.accounting().fuel_used > fuel_seen);
}

#[test]
fn start_returning_exits_with_zero() {
    let runtime = runtime();
    let module = load(&runtime, &summing(false));
    let ended = run_to_end(&runtime, &module, ScriptOptions::default());
    assert_eq!(ended.status, Status::Exited(0));
}

#[test]
fn start_function_runs_before_the_entry_point() {
    let runtime = runtime();
    let module = load(
        &runtime,
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 1))
  (func $init (local $i i32)
    (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                 (i32.const 1000))))
    (global.set $g (i32.add (global.get $g) (local.get $i))))
  (start $init)
  (func (export "_start") (call $proc_exit (global.get $g))))"#,
    );
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    // The start function is deferred: pausable like the rest.
    assert_eq!(script.run(Budget::Fuel(10)).unwrap(), &Status::Paused);
    assert_eq!(
        script.run(Budget::Unlimited).unwrap(),
        &Status::Exited(1001)
    );
}

fn trapped(status: &Status) -> &Trap {
    match status {
        Status::Trapped(trap) => trap,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn trap_names_its_functions() {
    let runtime = runtime();
    let module = load(
        &runtime,
        r#"(module
  (memory (export "memory") 1)
  (func $innermost (param i32) (if (local.get 0) (then unreachable)))
  (func $middle (call $innermost (i32.const 1)))
  (func $main (export "_start") (call $middle)))"#,
    );
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    let trap = trapped(script.run(Budget::Unlimited).unwrap()).clone();
    assert!(trap.message.contains("unreachable"), "{}", trap.message);
    let names: Vec<_> = trap.backtrace.iter().map(|f| f.name.as_deref()).collect();
    assert_eq!(names, [Some("innermost"), Some("middle"), Some("main")]);
    let indices: Vec<_> = trap.backtrace.iter().map(|f| f.function).collect();
    assert_eq!(indices, [0, 1, 2]);
    let printed = trap.to_string();
    assert!(printed.contains("innermost (function 0)"), "{printed}");
    // A trapped script stays trapped.
    assert!(matches!(
        script.run(Budget::Unlimited),
        Err(Error::State(_))
    ));
    assert!(matches!(script.snapshot(), Err(Error::State(_))));
}

#[test]
fn trap_after_a_pause_and_a_round_trip_names_the_same_frames() {
    let runtime = runtime();
    let module = load(
        &runtime,
        r#"(module
  (memory (export "memory") 1)
  (func $divide (param $n i32) (result i32) (local $i i32)
    (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                 (i32.const 3000))))
    (i32.div_u (i32.const 1) (local.get $n)))
  (func $main (export "_start") (drop (call $divide (i32.const 0)))))"#,
    );
    let straight = run_to_end(&runtime, &module, ScriptOptions::default()).status;
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Fuel(100)).unwrap(), &Status::Paused);
    let snapshot = script.snapshot().unwrap();
    let mut script = Script::restore(&runtime, &module, &snapshot, None, Stdio::null()).unwrap();
    let status = script.run(Budget::Unlimited).unwrap();
    assert!(trapped(status).message.contains("divide by zero"));
    assert_eq!(trapped(status).backtrace, trapped(&straight).backtrace);
}

#[test]
fn exited_script_does_not_run_again() {
    let runtime = runtime();
    let module = load(&runtime, &summing(true));
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    let status = script.run(Budget::Unlimited).unwrap().clone();
    assert!(matches!(status, Status::Exited(_)));
    let err = script.run(Budget::Unlimited).unwrap_err();
    assert!(matches!(err, Error::State(_)), "{err:?}");
    assert!(err.to_string().contains("exited"), "{err}");
    assert!(matches!(script.snapshot(), Err(Error::State(_))));
    assert_eq!(script.status(), &status);
}

#[test]
fn killed_script_does_not_run_again() {
    let runtime = runtime();
    let module = load(&runtime, &summing(true));
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Fuel(1_000)).unwrap(), &Status::Paused);
    script.kill();
    assert_eq!(script.status(), &Status::Killed);
    let err = script.run(Budget::Fuel(1_000)).unwrap_err();
    assert!(matches!(err, Error::State(_)), "{err:?}");
    assert!(err.to_string().contains("killed"), "{err}");
    assert!(matches!(script.snapshot(), Err(Error::State(_))));
}

#[test]
fn fuel_budget_needs_a_fuel_counting_module() {
    let runtime = runtime_with(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(false),
        ..crate::config()
    });
    let module = load(&runtime, &summing(true));
    let mut script =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap();
    assert!(matches!(
        script.run(Budget::Fuel(100)),
        Err(Error::State(_))
    ));
    // The refusal does not change the script: it still runs to its end.
    assert_eq!(script.status(), &Status::Created);
    assert!(matches!(
        script.run(Budget::Unlimited).unwrap(),
        Status::Exited(_)
    ));
    let deterministic = ScriptOptions {
        deterministic: Some(1),
        ..ScriptOptions::default()
    };
    let err = Script::spawn(&runtime, &module, deterministic, Stdio::null()).unwrap_err();
    assert!(matches!(err, Error::State(_)), "{err:?}");
}

#[test]
fn missing_entry_point_is_a_clear_error() {
    let runtime = runtime();
    let module = load(&runtime, r#"(module (func (export "main")))"#);
    let err =
        Script::spawn(&runtime, &module, ScriptOptions::default(), Stdio::null()).unwrap_err();
    assert!(err.to_string().contains("`_start`"), "{err}");
    let options = ScriptOptions {
        entry: "main".into(),
        ..ScriptOptions::default()
    };
    let mut script = Script::spawn(&runtime, &module, options, Stdio::null()).unwrap();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
}

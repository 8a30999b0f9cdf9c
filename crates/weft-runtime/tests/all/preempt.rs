//! Preemptible functions: `Runtime::launch`, continuations, timeouts.

use crate::{config, load, runtime_with};
use std::time::{Duration, Instant};
use wasmtime::Val;
use weft_runtime::{Continuation, Outcome, Quantum, Runtime, RuntimeConfig};

/// `sum(n)`: 0 + 1 + ... + (n - 1), by a loop; `add(a, b)`; `boom()` traps.
const FUNCTIONS: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func $sum (export "sum") (param $n i64) (result i64) (local $i i64) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "twice") (param $n i64) (result i64 i64)
    (call $sum (local.get $n))
    (call $sum (i64.add (local.get $n) (i64.const 1))))
  (func (export "boom") (result i32)
    (i32.div_u (i32.const 1) (i32.const 0)))
  (func (export "takes_ref") (param externref)))"#;

/// The closed form of `sum(n)`, wrapping like the module's `i64.add`.
fn expected_sum(n: u64) -> i64 {
    (u128::from(n) * u128::from(n.saturating_sub(1)) / 2) as u64 as i64
}

fn flag_runtime(count_fuel: bool) -> Runtime {
    runtime_with(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(count_fuel),
        ..config()
    })
}

/// Resumes until the call completes, counting the pauses.
fn finish(mut outcome: Outcome, quantum: Quantum) -> (Vec<Val>, usize) {
    let mut pauses = 0;
    loop {
        match outcome {
            Outcome::Complete { results, .. } => return (results, pauses),
            Outcome::Paused(c) => {
                pauses += 1;
                outcome = c.resume(quantum).expect("resumes");
            }
            other => panic!("the call ended with {other:?}"),
        }
    }
}

fn i64s(results: &[Val]) -> Vec<i64> {
    results.iter().map(|v| v.unwrap_i64()).collect()
}

#[test]
fn a_quick_function_completes_within_its_quantum() {
    let runtime = flag_runtime(false);
    let module = load(&runtime, FUNCTIONS);
    let outcome = runtime
        .launch(
            &module,
            "add",
            &[Val::I32(40), Val::I32(2)],
            Duration::from_secs(10),
        )
        .expect("launches");
    let results = outcome.complete().expect("completes");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].unwrap_i32(), 42);
}

#[test]
fn a_long_function_is_paused_by_its_timeout_and_resumed_to_the_right_result() {
    let runtime = flag_runtime(false);
    let module = load(&runtime, FUNCTIONS);
    let n = 300_000_000u64;
    let quantum = Duration::from_millis(2);
    let started = Instant::now();
    let first = runtime
        .launch(&module, "sum", &[Val::I64(n as i64)], quantum)
        .expect("launches");
    let first_quantum = started.elapsed();
    assert!(
        matches!(first, Outcome::Paused(_)),
        "{n} iterations finished within {quantum:?}: {first:?}"
    );
    // Paused no earlier than asked (allowing for the clock's granularity).
    assert!(
        first_quantum >= quantum - Duration::from_micros(100),
        "{first_quantum:?}"
    );
    let (results, pauses) = finish(first, quantum.into());
    assert_eq!(i64s(&results), vec![expected_sum(n)]);
    assert!(pauses >= 2, "{pauses} pauses");
}

#[test]
fn multiple_results_come_back_after_pauses() {
    let runtime = flag_runtime(false);
    let module = load(&runtime, FUNCTIONS);
    let n = 50_000_000u64;
    let outcome = runtime
        .launch(
            &module,
            "twice",
            &[Val::I64(n as i64)],
            Duration::from_micros(500),
        )
        .expect("launches");
    let (results, pauses) = finish(outcome, Duration::from_micros(500).into());
    assert_eq!(i64s(&results), vec![expected_sum(n), expected_sum(n + 1)]);
    assert!(pauses >= 1);
}

#[test]
fn a_continuation_resumes_on_another_thread() {
    let runtime = flag_runtime(false);
    let module = load(&runtime, FUNCTIONS);
    let n = 100_000_000u64;
    let paused: Continuation = runtime
        .launch(
            &module,
            "sum",
            &[Val::I64(n as i64)],
            Duration::from_millis(1),
        )
        .expect("launches")
        .paused()
        .expect("paused");
    let results = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                finish(
                    paused.resume(Duration::from_secs(60)).unwrap(),
                    Quantum::Time(Duration::from_secs(60)),
                )
                .0
            })
            .join()
            .expect("the other thread")
    });
    assert_eq!(i64s(&results), vec![expected_sum(n)]);
}

#[test]
fn a_paused_call_is_a_snapshot_that_continues_in_a_fresh_instance() {
    let runtime = flag_runtime(true);
    let module = load(&runtime, FUNCTIONS);
    let n = 100_000_000u64;
    let mut paused = runtime
        .launch(
            &module,
            "sum",
            &[Val::I64(n as i64)],
            Duration::from_millis(1),
        )
        .expect("launches")
        .paused()
        .expect("paused");
    let bytes = weft_snapshot::encode(&paused.snapshot().expect("captures")).expect("encodes");
    paused.cancel();
    let snapshot = weft_snapshot::decode(&bytes, &Default::default()).expect("decodes");
    let restored = runtime
        .restore_continuation(&module, &snapshot, weft_runtime::Stdio::null())
        .expect("restores");
    let (results, _) = finish(
        restored.resume(Duration::from_secs(60)).expect("resumes"),
        Quantum::Time(Duration::from_secs(60)),
    );
    assert_eq!(i64s(&results), vec![expected_sum(n)]);
}

#[test]
fn counted_fuel_is_exact_however_the_call_is_interrupted() {
    // Flag checks with fuel counted: the fuel of a call interrupted many
    // times is the fuel of the same call run in one go.
    let runtime = flag_runtime(true);
    let module = load(&runtime, FUNCTIONS);
    let n = 20_000_000u64;
    let run = |quantum: Duration| {
        let mut outcome = runtime
            .launch(&module, "sum", &[Val::I64(n as i64)], quantum)
            .expect("launches");
        let mut pauses = 0;
        loop {
            match outcome {
                Outcome::Paused(c) => {
                    pauses += 1;
                    outcome = c.resume(quantum).expect("resumes");
                }
                Outcome::Complete {
                    results,
                    accounting,
                } => {
                    assert_eq!(i64s(&results), vec![expected_sum(n)]);
                    return (pauses, accounting.fuel_used);
                }
                other => panic!("{other:?}"),
            }
        }
    };
    let (straight_pauses, straight) = run(Duration::from_secs(60));
    let (pauses, interrupted) = run(Duration::from_micros(300));
    assert_eq!(straight_pauses, 0);
    assert!(pauses >= 2, "{pauses} pauses");
    assert_eq!(straight, interrupted);
    assert!(straight > n, "{straight} units of fuel for {n} iterations");
}

#[test]
fn fuel_quanta_pause_deterministically() {
    let runtime = runtime_with(config());
    let module = load(&runtime, FUNCTIONS);
    let n = 2_000_000u64;
    let pauses_and_fuel = || {
        let mut outcome = runtime
            .launch(
                &module,
                "sum",
                &[Val::I64(n as i64)],
                Quantum::Fuel(100_000),
            )
            .expect("launches");
        let mut fuel = Vec::new();
        loop {
            match outcome {
                Outcome::Paused(c) => {
                    fuel.push(c.accounting().fuel_used);
                    outcome = c.resume(Quantum::Fuel(100_000)).expect("resumes");
                }
                Outcome::Complete { results, .. } => return (fuel, i64s(&results)),
                other => panic!("{other:?}"),
            }
        }
    };
    let (first, results) = pauses_and_fuel();
    assert!(first.len() >= 10, "{} pauses", first.len());
    assert_eq!(results, vec![expected_sum(n)]);
    assert_eq!(pauses_and_fuel(), (first, results));
}

#[test]
fn traps_and_exits_are_outcomes() {
    let runtime = flag_runtime(false);
    let module = load(&runtime, FUNCTIONS);
    match runtime
        .launch(&module, "boom", &[], Duration::from_secs(1))
        .expect("launches")
    {
        Outcome::Trapped(trap) => assert!(trap.message.contains("divide by zero"), "{trap}"),
        other => panic!("{other:?}"),
    }
    let exits = load(
        &runtime,
        r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func (export "quit") (result i32) (call $exit (i32.const 3)) (i32.const 0)))"#,
    );
    assert!(matches!(
        runtime.launch(&exits, "quit", &[], Duration::from_secs(1)),
        Ok(Outcome::Exited(3))
    ));
}

#[test]
fn bad_launches_get_clear_errors() {
    let runtime = flag_runtime(false);
    let module = load(&runtime, FUNCTIONS);
    let second = Duration::from_secs(1);
    let error = |r: weft_runtime::Result<Outcome>| r.expect_err("refused").to_string();
    let e = error(runtime.launch(&module, "nope", &[], second));
    assert!(e.contains("exports no function `nope`"), "{e}");
    let e = error(runtime.launch(&module, "add", &[Val::I32(1)], second));
    assert!(e.contains("cannot be called with (i32)"), "{e}");
    let e = error(runtime.launch(&module, "add", &[Val::I64(1), Val::I32(2)], second));
    assert!(e.contains("cannot be called with (i64, i32)"), "{e}");
    let e = error(runtime.launch(&module, "takes_ref", &[Val::ExternRef(None)], second));
    assert!(e.contains("not references"), "{e}");
    let e = error(runtime.launch(&module, "sum", &[Val::I64(1)], Quantum::Fuel(10)));
    assert!(e.contains("fuel checks"), "{e}");
    let fuel_runtime = runtime_with(config());
    let fuel_module = load(&fuel_runtime, FUNCTIONS);
    let e = error(fuel_runtime.launch(&fuel_module, "sum", &[Val::I64(1)], second));
    assert!(e.contains("flag mode"), "{e}");
}

#[test]
fn a_cancelled_call_leaves_the_timer_serving_the_next() {
    let runtime = flag_runtime(false);
    let module = load(&runtime, FUNCTIONS);
    for _ in 0..20 {
        let paused = runtime
            .launch(
                &module,
                "sum",
                &[Val::I64(i64::MAX)],
                Duration::from_micros(200),
            )
            .expect("launches")
            .paused()
            .expect("paused");
        paused.cancel();
    }
    let started = Instant::now();
    let outcome = runtime
        .launch(
            &module,
            "sum",
            &[Val::I64(i64::MAX)],
            Duration::from_millis(5),
        )
        .expect("launches");
    assert!(matches!(outcome, Outcome::Paused(_)));
    assert!(started.elapsed() >= Duration::from_millis(4));
}

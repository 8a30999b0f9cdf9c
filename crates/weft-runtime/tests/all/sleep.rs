//! Sleeping with `poll_oneoff` parks a script instead of blocking its
//! thread; `sched_yield` pauses it.

use crate::{Ended, load, records, run_to_end, runtime, wasi_module};
use std::time::Duration;
use weft_runtime::{Budget, Captured, Runtime, Script, ScriptOptions, Status, Stdio, Wake};

const LATE_USERDATA: i64 = 0x0aaa_aaaa_aaaa;
const EARLY_USERDATA: i64 = 0x1234_5678_9abc_def0;

/// Two relative monotonic clock subscriptions, the later one first; reads
/// the monotonic clock before and after `poll_oneoff`, and records: the
/// clock before, the errno, the clock after, the number of events, and the
/// first event's userdata, error and type.
fn sleeping(early_nanos: u64) -> String {
    wasi_module(&format!(
        r#"
    (i64.store (i32.const 0x100) (i64.const {LATE_USERDATA}))
    (i32.store (i32.const 0x110) (i32.const 1))
    (i64.store (i32.const 0x118) (i64.const 3600000000000))
    (i64.store (i32.const 0x130) (i64.const {EARLY_USERDATA}))
    (i32.store (i32.const 0x140) (i32.const 1))
    (i64.store (i32.const 0x148) (i64.const {early_nanos}))
    (i32.store (i32.const 0x300) (i32.const 77))
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))
    (call $record (call $poll_oneoff (i32.const 0x100) (i32.const 0x200) (i32.const 2) (i32.const 0x300)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))
    (call $record (i32.load (i32.const 0x300)))
    (call $record64 (i64.load (i32.const 0x200)))
    (call $record (i32.load16_u (i32.const 0x208)))
    (call $record (i32.load8_u (i32.const 0x20a)))"#
    ))
}

/// Checks the records of `sleeping(early)` and returns how long the script
/// saw itself sleep.
fn check_woken(ended: &Ended, early: Duration) -> Duration {
    assert_eq!(ended.status, Status::Exited(0));
    let r = records(&ended.stderr);
    assert_eq!(r[1], 0, "errno");
    assert_eq!(
        r[3..],
        [1, EARLY_USERDATA, 0, 0],
        "one clock event, the early one"
    );
    let slept = Duration::from_nanos((r[2] - r[0]) as u64);
    assert!(slept >= early, "slept {slept:?}, asked for {early:?}");
    slept
}

fn deterministic() -> ScriptOptions {
    ScriptOptions {
        deterministic: Some(9),
        ..ScriptOptions::default()
    }
}

fn parked_at(script: &Script) -> Duration {
    match script.status() {
        Status::Parked(Wake::At(at)) => *at,
        other => panic!("expected a parked script, got {other:?}"),
    }
}

fn spawn(runtime: &Runtime, wat: &str, options: ScriptOptions) -> (Script, Captured) {
    let module = load(runtime, wat);
    let (stdio, output) = Stdio::captured();
    (
        Script::spawn(runtime, &module, options, stdio).unwrap(),
        output,
    )
}

/// Snapshots the script, encodes and decodes the snapshot and restores it,
/// handing on its standard streams; it comes back as it was.
fn round_trip(runtime: &Runtime, mut script: Script) -> Script {
    let status = script.status().clone();
    let bytes = weft_snapshot::encode(&script.snapshot().unwrap()).unwrap();
    let snapshot = weft_snapshot::decode(&bytes, &Default::default()).unwrap();
    let stdio = script.take_stdio();
    let module = script.module().clone();
    drop(script);
    let restored = Script::restore(runtime, &module, &snapshot, None, stdio).unwrap();
    assert_eq!(restored.status(), &status, "restored as it was captured");
    restored
}

fn ended(script: &Script, output: &Captured) -> Ended {
    Ended {
        status: script.status().clone(),
        stdout: output.stdout(),
        stderr: output.stderr(),
    }
}

#[test]
fn sleep_parks_for_the_requested_time() {
    let early = Duration::from_millis(100);
    let runtime = runtime();
    let (mut script, output) = spawn(
        &runtime,
        &sleeping(early.as_nanos() as u64),
        ScriptOptions::default(),
    );
    script.run(Budget::Unlimited).unwrap();
    let at = parked_at(&script);
    let remaining = script.park_remaining().unwrap();
    assert!(remaining <= early, "{remaining:?} left of {early:?}");
    std::thread::sleep(remaining);
    // Wakes up on time, however late the run comes.
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
    assert_eq!(script.park_remaining(), None);
    let ended = ended(&script, &output);
    check_woken(&ended, early);
    // The wake-up time is the clock at the call plus the sleep.
    let before = Duration::from_nanos(records(&ended.stderr)[0] as u64);
    assert!(at >= before + early && at < before + early + Duration::from_secs(1));
}

#[test]
fn running_a_sleeping_script_early_sleeps_on() {
    let runtime = runtime();
    let (mut script, output) = spawn(
        &runtime,
        &sleeping(600_000_000_000),
        ScriptOptions::default(),
    );
    script.run(Budget::Unlimited).unwrap();
    let at = parked_at(&script);
    for _ in 0..3 {
        assert_eq!(
            script.run(Budget::Unlimited).unwrap(),
            &Status::Parked(Wake::At(at))
        );
    }
    // Still parked after a round trip, with the same deadline: the clock
    // continues from where it was.
    let script = round_trip(&runtime, script);
    assert_eq!(parked_at(&script), at);
    assert!(script.park_remaining().unwrap() > Duration::from_secs(590));
    assert_eq!(output.stderr(), b"", "nothing recorded yet");
}

#[test]
fn deterministic_sleep_takes_no_time_and_advances_the_clock() {
    let early = Duration::from_secs(5);
    for restore in [false, true] {
        let runtime = runtime();
        let (mut script, output) = spawn(
            &runtime,
            &sleeping(early.as_nanos() as u64),
            deterministic(),
        );
        script.run(Budget::Unlimited).unwrap();
        parked_at(&script);
        assert_eq!(script.park_remaining(), Some(Duration::ZERO));
        if restore {
            script = round_trip(&runtime, script);
            assert_eq!(script.park_remaining(), Some(Duration::ZERO));
        }
        let started = std::time::Instant::now();
        assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
        assert!(started.elapsed() < early, "slept for real");
        let slept = check_woken(&ended(&script, &output), early);
        // The virtual clock moved by the sleep and the fuel in between.
        assert!(slept < early + Duration::from_micros(10), "slept {slept:?}");
    }
}

#[test]
fn parked_script_restored_wakes_with_the_right_event() {
    let early = Duration::from_millis(30);
    let runtime = runtime();
    let (mut script, output) = spawn(
        &runtime,
        &sleeping(early.as_nanos() as u64),
        ScriptOptions::default(),
    );
    script.run(Budget::Unlimited).unwrap();
    let mut script = round_trip(&runtime, script);
    std::thread::sleep(script.park_remaining().unwrap());
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
    check_woken(&ended(&script, &output), early);
}

#[test]
fn deterministic_sleeps_are_reproducible() {
    let runtime = runtime();
    let module = load(&runtime, &sleeping(1_000_000));
    let (stdio, straight) = Stdio::captured();
    let mut script = Script::spawn(&runtime, &module, deterministic(), stdio).unwrap();
    while script.run(Budget::Unlimited).unwrap().is_runnable() {}
    assert_eq!(script.status(), &Status::Exited(0));
    // Run again in slices with round trips, parked or paused.
    let (stdio, output) = Stdio::captured();
    let mut script = Script::spawn(&runtime, &module, deterministic(), stdio).unwrap();
    let mut parked = 0;
    while script.status().is_runnable() {
        if matches!(script.run(Budget::Fuel(20)).unwrap(), Status::Parked(_)) {
            parked += 1;
        }
        if script.status().is_runnable() {
            script = round_trip(&runtime, script);
        }
    }
    assert_eq!(parked, 1);
    assert_eq!(output.stderr(), straight.stderr());
}

#[test]
fn ready_descriptors_and_past_deadlines_do_not_park() {
    let runtime = runtime();
    let ended = run_to_end(
        &runtime,
        &load(
            &runtime,
            &wasi_module(
                r#"
    ;; A clock in an hour and stdout ready for writing: the descriptor wins.
    (i64.store (i32.const 0x100) (i64.const 1))
    (i32.store (i32.const 0x110) (i32.const 1))
    (i64.store (i32.const 0x118) (i64.const 3600000000000))
    (i64.store (i32.const 0x130) (i64.const 2))
    (i32.store8 (i32.const 0x138) (i32.const 2))
    (i32.store (i32.const 0x140) (i32.const 1))
    (call $record (call $poll_oneoff (i32.const 0x100) (i32.const 0x200) (i32.const 2) (i32.const 0x300)))
    (call $record (i32.load (i32.const 0x300)))
    (call $record64 (i64.load (i32.const 0x200)))
    (call $record (i32.load8_u (i32.const 0x20a)))
    ;; An absolute deadline at monotonic time 1: long past.
    (i64.store (i32.const 0x100) (i64.const 3))
    (i64.store (i32.const 0x118) (i64.const 1))
    (i32.store16 (i32.const 0x128) (i32.const 1))
    (call $record (call $poll_oneoff (i32.const 0x100) (i32.const 0x200) (i32.const 1) (i32.const 0x300)))
    (call $record (i32.load (i32.const 0x300)))
    (call $record64 (i64.load (i32.const 0x200)))
    (call $record (i32.load8_u (i32.const 0x20a)))
    ;; No subscriptions at all, and an unknown subscription type.
    (call $record (call $poll_oneoff (i32.const 0x100) (i32.const 0x200) (i32.const 0) (i32.const 0x300)))
    (i32.store8 (i32.const 0x108) (i32.const 9))
    (call $record (call $poll_oneoff (i32.const 0x100) (i32.const 0x200) (i32.const 1) (i32.const 0x300)))"#,
            ),
        ),
        ScriptOptions::default(),
    );
    assert_eq!(ended.status, Status::Exited(0));
    const FD_WRITE: i64 = 2;
    const EINVAL: i64 = 28;
    assert_eq!(
        records(&ended.stderr),
        [0, 1, 2, FD_WRITE, 0, 1, 3, 0, EINVAL, EINVAL]
    );
}

#[test]
fn sched_yield_pauses_and_continues() {
    let runtime = runtime();
    let body = r#"
    (call $record (call $sched_yield))
    (call $record (i32.const 1))
    (call $record (call $sched_yield))
    (call $record (i32.const 2))
    (call $record (call $sched_yield))"#;
    let (mut script, output) = spawn(&runtime, &wasi_module(body), ScriptOptions::default());
    let mut pauses = 0;
    while script.run(Budget::Unlimited).unwrap() == &Status::Paused {
        pauses += 1;
        if pauses == 2 {
            script = round_trip(&runtime, script);
        }
    }
    assert_eq!(script.status(), &Status::Exited(0));
    assert_eq!(pauses, 3);
    assert_eq!(records(&output.stderr()), [0, 1, 0, 2, 0]);
}

#[test]
fn a_sleep_goes_on_in_real_time_while_the_script_is_on_disk() {
    let early = Duration::from_millis(80);
    let runtime = runtime();
    let (mut script, output) = spawn(
        &runtime,
        &sleeping(early.as_nanos() as u64),
        ScriptOptions::default(),
    );
    script.run(Budget::Unlimited).unwrap();
    let bytes = weft_snapshot::encode(&script.snapshot().unwrap()).unwrap();
    let stdio = script.take_stdio();
    let module = script.module().clone();
    drop(script);
    // Longer than the sleep, away from memory...
    std::thread::sleep(early + Duration::from_millis(20));
    let snapshot = weft_snapshot::decode(&bytes, &Default::default()).unwrap();
    let mut script = Script::restore(&runtime, &module, &snapshot, None, stdio).unwrap();
    // ...so it is due at once, and wakes.
    assert_eq!(script.park_remaining(), Some(Duration::ZERO));
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
    check_woken(&ended(&script, &output), early);
}

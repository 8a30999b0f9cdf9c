//! Scripts under the scheduler: fair shares between owners, hibernation
//! and transparent return, pause and kill.

use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_node::{ScriptTask, StdioFactory};
use weft_runtime::{Runtime, RuntimeConfig, Script, ScriptModule, ScriptOptions, Stdio};
use weft_sched::{Config, Scheduler, TaskState};

/// `while (true)` with a counter in memory word 0.
const SPINNER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $spin
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (br $spin))))"#;

/// Counts wake-ups in memory word 0, sleeping 5 ms between them.
const SLEEPER: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 5000000))
    (loop $forever
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 8)))
      (br $forever))))"#;

fn runtime() -> Arc<Runtime> {
    runtime_with(weft_instrument::Config::fuel())
}

fn runtime_with(instrumentation: weft_instrument::Config) -> Arc<Runtime> {
    Arc::new(
        Runtime::new(RuntimeConfig {
            instrumentation,
            cache_dir: None,
            max_wasm_stack: 512 << 10,
            ..RuntimeConfig::default()
        })
        .unwrap(),
    )
}

fn task(runtime: &Arc<Runtime>, module: &Arc<ScriptModule>) -> ScriptTask {
    let script = Script::spawn(runtime, module, ScriptOptions::default(), Stdio::null()).unwrap();
    let stdio: StdioFactory = Arc::new(Stdio::null);
    ScriptTask::new(runtime.clone(), script, stdio)
}

fn counter(task: ScriptTask) -> u32 {
    let mut script = task.into_script().unwrap();
    let memory = script.snapshot().unwrap().memories[0].to_bytes().unwrap();
    u32::from_le_bytes(memory[..4].try_into().unwrap())
}

fn config() -> Config {
    Config {
        workers: 2,
        slice: Duration::from_millis(2),
        first_slice_fuel: Some(weft_node::FIRST_SLICE_FUEL),
        ..Config::default()
    }
}

#[test]
fn an_owner_with_many_scripts_shares_equally_with_an_owner_with_one() {
    let runtime = runtime();
    let module = runtime.load(&wat::parse_str(SPINNER).unwrap()).unwrap();
    let scheduler = Scheduler::new(config()).unwrap();
    for _ in 0..100 {
        scheduler.spawn("many", 1, task(&runtime, &module)).unwrap();
    }
    scheduler.spawn("one", 1, task(&runtime, &module)).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let owners = scheduler.owners();
    let cpu = |name: &str| {
        owners
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.cpu.as_secs_f64())
            .unwrap()
    };
    let share = cpu("one") / (cpu("one") + cpu("many"));
    assert!(
        (0.35..0.65).contains(&share),
        "the single script's owner got {share}"
    );
    let tasks = scheduler.shutdown();
    assert_eq!(tasks.len(), 101);
    // Every one of them ran: its counter moved.
    for (_, _, task) in tasks {
        assert!(counter(task) > 0);
    }
}

#[test]
fn an_idle_script_hibernates_and_comes_back_where_it_was() {
    let runtime = runtime();
    let module = runtime.load(&wat::parse_str(SLEEPER).unwrap()).unwrap();
    let scheduler = Scheduler::new(Config {
        hibernate_after: Some(Duration::from_millis(1)),
        ..config()
    })
    .unwrap();
    let id = scheduler
        .spawn("sleepy", 1, task(&runtime, &module))
        .unwrap();
    let started = Instant::now();
    while scheduler.counters().hibernations < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never hibernated"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = scheduler.stats(id).unwrap();
    assert!(stats.slices >= 5, "{stats:?}");
    let tasks = scheduler.shutdown();
    let (_, _, task) = tasks.into_iter().next().unwrap();
    // Each wake-up after a hibernation restored the script from its
    // snapshot and went on counting from where it was.
    let counted = counter(task) as u64;
    // (A wake-up a little early parks again without counting.)
    assert!(
        counted + 1 >= stats.slices,
        "{counted} wake-ups in {} slices",
        stats.slices
    );
}

#[test]
fn pause_and_kill_take_effect_within_a_slice() {
    // A fuel-checking script sees a pause at its next host call or at the
    // end of its slice's fuel; one that checks the interrupt flag sees it
    // at its next check, which is what this shows.
    let runtime = runtime_with(weft_instrument::Config::flag(true));
    let module = runtime.load(&wat::parse_str(SPINNER).unwrap()).unwrap();
    let scheduler = Scheduler::new(Config {
        workers: 1,
        slice: Duration::from_secs(5),
        first_slice_fuel: None,
        ..config()
    })
    .unwrap();
    // Slices of 5 s, ended by the interrupt flag: pausing must not wait.
    let id = scheduler.spawn("o", 1, task(&runtime, &module)).unwrap();
    let started = Instant::now();
    while scheduler.state(id) != Some(TaskState::Running) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    scheduler.pause(id).unwrap();
    while scheduler.state(id) != Some(TaskState::Paused) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the pause waited for the slice"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    scheduler.resume(id).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    scheduler.kill(id).unwrap();
    while scheduler.state(id).is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the kill waited for the slice"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(scheduler.shutdown().is_empty());
}

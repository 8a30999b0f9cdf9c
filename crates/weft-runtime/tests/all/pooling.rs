//! Runtimes that take instances from a pool (`RuntimeConfig::pooled_instances`).

use crate::{config, load, runtime_with};
use weft_runtime::{Budget, Runtime, RuntimeConfig, Script, ScriptOptions, Status, Stdio};

/// Writes its argument count + 1 into the `i64` at every 4 KiB of its 64
/// pages of memory after the first, yielding at the start of every page.
const SCRIBBLER: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 64)
  (func (export "_start") (local $at i32) (local $mark i64)
    (drop (call $sizes (i32.const 0) (i32.const 8)))
    (local.set $mark (i64.add (i64.load32_u (i32.const 0)) (i64.const 1)))
    (local.set $at (i32.const 65536))
    (loop $next
      (i64.store (local.get $at) (local.get $mark))
      (if (i32.eqz (i32.and (local.get $at) (i32.const 65535)))
        (then (drop (call $yield))))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.lt_u (local.get $at) (i32.const 4194304))))))"#;

fn pooled(instances: u32) -> Runtime {
    runtime_with(RuntimeConfig {
        pooled_instances: Some(instances),
        ..config()
    })
}

fn spawn(
    runtime: &Runtime,
    module: &std::sync::Arc<weft_runtime::ScriptModule>,
    args: usize,
) -> weft_runtime::Result<Script> {
    let options = ScriptOptions {
        args: (0..args).map(|i| format!("arg{i}")).collect(),
        ..ScriptOptions::default()
    };
    Script::spawn(runtime, module, options, Stdio::null())
}

/// The `i64` at every 4 KiB of a snapshot's first memory.
fn marks(snapshot: &weft_snapshot::Snapshot) -> Vec<i64> {
    let memory = snapshot.memories[0].to_bytes().unwrap();
    memory
        .chunks_exact(4096)
        .map(|c| i64::from_le_bytes(c[..8].try_into().unwrap()))
        .collect()
}

#[test]
fn a_reused_slot_shows_nothing_of_the_script_before() {
    let runtime = pooled(1);
    let module = load(&runtime, SCRIBBLER);
    // A script fills its memory and goes, leaving the one slot.
    let mut first = spawn(&runtime, &module, 6).unwrap();
    assert_eq!(first.run(Budget::Unlimited).unwrap(), &Status::Paused);
    while first.run(Budget::Unlimited).unwrap() == &Status::Paused {}
    assert_eq!(first.status(), &Status::Exited(0));
    drop(first);
    // The next one, in the same slot, is paused a quarter of the way.
    let mut second = spawn(&runtime, &module, 2).unwrap();
    for _ in 0..16 {
        assert_eq!(second.run(Budget::Unlimited).unwrap(), &Status::Paused);
    }
    let snapshot = second.snapshot().unwrap();
    let seen = marks(&snapshot);
    // Page 0 holds the argument sizes; then the marks (3) up to where the
    // second script got to, zero beyond. The first run writes one mark and
    // yields at the start of page 1; every other run writes 16 more.
    let written = 1 + 15 * 16;
    assert!(
        seen[16..16 + written].iter().all(|m| *m == 3),
        "{:?}",
        &seen[16..16 + written]
    );
    assert!(
        seen[16 + written..].iter().all(|m| *m == 0),
        "stale data: {:?}",
        &seen[16 + written..]
    );
    // Restored into the slot it frees, it continues and sees the same.
    drop(second);
    let mut restored = Script::restore(&runtime, &module, &snapshot, None, Stdio::null()).unwrap();
    assert_eq!(marks(&restored.snapshot().unwrap()), seen);
    while restored.run(Budget::Unlimited).unwrap() == &Status::Paused {}
    assert_eq!(restored.status(), &Status::Exited(0));
}

#[test]
fn a_script_beyond_the_pool_gets_a_clear_error() {
    let runtime = pooled(2);
    let module = load(&runtime, SCRIBBLER);
    let a = spawn(&runtime, &module, 0).unwrap();
    let _b = spawn(&runtime, &module, 0).unwrap();
    let error = spawn(&runtime, &module, 0).unwrap_err().to_string();
    assert!(error.contains("cannot instantiate"), "{error}");
    assert!(error.contains("limit"), "{error}");
    // A slot given back is usable again.
    drop(a);
    spawn(&runtime, &module, 0).unwrap();
}

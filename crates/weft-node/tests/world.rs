//! Worlds: messages routed in order between scripts, scripts spawned by
//! scripts, a script evicted and restored while messages keep coming (none
//! lost, none twice), a script never running twice, and a whole world
//! saved and loaded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft_node::{OutputFactory, World, WorldError};
use weft_runtime::{Captured, Runtime, RuntimeConfig, Stdio};
use weft_sched::Config;
use weft_snapshot::Limits;

/// The API imports the test scripts use.
const IMPORTS: &str = r#"
  (import "weft" "log" (func $log (param i32 i32)))
  (import "weft" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "weft" "recv" (func $recv (param i64 i32 i32 i32 i32) (result i32)))
  (import "weft" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i32)))"#;

/// Logs every message it receives, for ever.
fn logger() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (loop $forever
      (local.set $n (call $recv (i64.const -1) (i32.const 0x1000) (i32.const 256)
                                (i32.const 0x2000) (i32.const 128)))
      (call $log (i32.const 0x1000) (local.get $n))
      (br $forever))))"#
    )
}

/// Forwards every message it receives to `logger`, prefixed with a letter
/// that counts the messages it forwarded before ('A' + count % 26, from a
/// counter in its memory, so that an evicted and restored echo goes on
/// counting).
fn echo() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0x10) "logger")
  (func (export "_start") (local $n i32)
    (loop $forever
      (local.set $n (call $recv (i64.const -1) (i32.const 0x1004) (i32.const 252)
                                (i32.const 0x2000) (i32.const 128)))
      (i32.store8 (i32.const 0x1003)
        (i32.add (i32.const 0x41) (i32.rem_u (i32.load (i32.const 0x100)) (i32.const 26))))
      (i32.store (i32.const 0x100) (i32.add (i32.load (i32.const 0x100)) (i32.const 1)))
      (drop (call $send (i32.const 0x10) (i32.const 6) (i32.const 0x1003)
                        (i32.add (local.get $n) (i32.const 1))))
      (br $forever))))"#
    )
}

/// Spawns a `logger` and sends it one message.
fn spawner() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0x10) "logger")
  (data (i32.const 0x20) "spawned you")
  (func (export "_start") (local $n i32)
    (local.set $n (call $spawn (i32.const 0x10) (i32.const 6) (i32.const 0) (i32.const 0)
                               (i32.const 0x100) (i32.const 64)))
    (drop (call $send (i32.const 0x100) (local.get $n) (i32.const 0x20) (i32.const 11)))))"#
    )
}

fn runtime() -> Arc<Runtime> {
    Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: None,
            max_wasm_stack: 512 << 10,
            ..RuntimeConfig::default()
        })
        .unwrap(),
    )
}

fn config() -> Config {
    Config {
        workers: 2,
        slice: Duration::from_millis(2),
        first_slice_fuel: Some(weft_node::FIRST_SLICE_FUEL),
        ..Config::default()
    }
}

/// Every script's captured output, by id (a restored script appends to the
/// same buffers).
#[derive(Clone, Default)]
struct Outputs(Arc<Mutex<HashMap<String, Captured>>>);

impl Outputs {
    fn factory(&self) -> OutputFactory {
        let outputs = self.clone();
        Arc::new(move |id: &str| {
            let captured = outputs
                .0
                .lock()
                .unwrap()
                .entry(id.to_string())
                .or_default()
                .clone();
            Stdio {
                stdout: Box::new(captured.stdout_writer()),
                stderr: Box::new(captured.stderr_writer()),
                stdin: Box::new(std::io::empty()),
            }
        })
    }

    fn lines(&self, id: &str) -> Vec<String> {
        let out = self
            .0
            .lock()
            .unwrap()
            .get(id)
            .map(|c| c.stdout())
            .unwrap_or_default();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until `id` has printed `n` lines.
    fn wait_lines(&self, id: &str, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let lines = self.lines(id);
            if lines.len() >= n || Instant::now() > end {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn world(outputs: &Outputs) -> (Arc<Runtime>, World) {
    let runtime = runtime();
    let world = World::new(
        runtime.clone(),
        config(),
        Limits::default(),
        outputs.factory(),
    )
    .unwrap();
    for (name, wat) in [
        ("logger", logger()),
        ("echo", echo()),
        ("spawner", spawner()),
    ] {
        let module = runtime.load(&wat::parse_str(wat).unwrap()).unwrap();
        world.add_module(name, module);
    }
    (runtime, world)
}

/// What `echo` makes of message `i`: its count, then the body.
fn echoed(count: u32, body: &str) -> String {
    let letter = char::from(b'A' + (count % 26) as u8);
    format!("{letter}{body}")
}

#[test]
fn messages_arrive_in_order_through_a_relay() {
    let outputs = Outputs::default();
    let (_, world) = world(&outputs);
    world.spawn("logger", "logger", "a", vec![]).unwrap();
    world.spawn("echo", "echo", "a", vec![]).unwrap();
    for i in 0..300 {
        world.send("test", "echo", format!("m{i}").into_bytes());
    }
    let lines = outputs.wait_lines("logger", 300);
    let expected: Vec<String> = (0..300).map(|i| echoed(i, &format!("m{i}"))).collect();
    assert_eq!(lines, expected);
    assert_eq!(world.dropped_messages(), 0);
    world.send("test", "nobody", b"lost".to_vec());
    assert_eq!(world.dropped_messages(), 1);
}

#[test]
fn an_evicted_script_gets_the_messages_sent_while_it_was_away() {
    let outputs = Outputs::default();
    let (_, world) = world(&outputs);
    world.spawn("logger", "logger", "a", vec![]).unwrap();
    world.spawn("echo", "echo", "a", vec![]).unwrap();
    for i in 0..50 {
        world.send("test", "echo", format!("m{i}").into_bytes());
    }
    outputs.wait_lines("logger", 50);
    let snapshot = world.evict("echo", Duration::from_secs(10)).unwrap();
    // Through the encoded form, as a file would hold it.
    let bytes = weft_snapshot::encode(&snapshot).unwrap();
    // Away: a second eviction is refused; messages wait in its mailbox.
    assert!(matches!(
        world.evict("echo", Duration::from_secs(1)),
        Err(WorldError::NotRunning(_))
    ));
    for i in 50..100 {
        world.send("test", "echo", format!("m{i}").into_bytes());
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(outputs.lines("logger").len(), 50, "echo ran while away");
    let decoded = weft_snapshot::decode(&bytes, &Default::default()).unwrap();
    assert_eq!(world.restore(&decoded, "echo").unwrap(), "echo");
    // A second copy is refused: a script runs in one place only.
    assert!(matches!(
        world.restore(&decoded, "echo"),
        Err(WorldError::Duplicate(_))
    ));
    for i in 100..150 {
        world.send("test", "echo", format!("m{i}").into_bytes());
    }
    let lines = outputs.wait_lines("logger", 150);
    let expected: Vec<String> = (0..150).map(|i| echoed(i, &format!("m{i}"))).collect();
    assert_eq!(lines, expected);
    assert_eq!(world.dropped_messages(), 0);
    assert!(matches!(
        world.evict("nobody", Duration::from_secs(1)),
        Err(WorldError::UnknownScript(_))
    ));
}

#[test]
fn scripts_spawn_scripts() {
    let outputs = Outputs::default();
    let (_, world) = world(&outputs);
    world.spawn("boss", "spawner", "a", vec![]).unwrap();
    assert_eq!(outputs.wait_lines("boss.1", 1), ["spawned you"]);
    let scripts = world.scripts();
    let spawned = scripts.iter().find(|s| s.id == "boss.1").unwrap();
    assert_eq!(
        (spawned.owner.as_str(), spawned.module.as_str()),
        ("a", "logger")
    );
    let end = Instant::now() + Duration::from_secs(10);
    let boss = loop {
        let boss = world
            .scripts()
            .into_iter()
            .find(|s| s.id == "boss")
            .unwrap();
        if boss.exit.is_some() || Instant::now() > end {
            break boss;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(boss.exit.as_deref(), Some("exited with status 0"));
    assert_eq!(world.scripts().len(), 2);
    assert!(world.spawn_failures().is_empty());
    assert!(matches!(
        world.spawn("x", "nothing", "a", vec![]),
        Err(WorldError::UnknownModule(..))
    ));
    assert!(matches!(
        world.spawn("boss", "logger", "a", vec![]),
        Err(WorldError::Duplicate(_))
    ));
    assert!(matches!(
        world.spawn("a/b", "logger", "a", vec![]),
        Err(WorldError::BadId(_))
    ));
}

#[test]
fn a_saved_world_continues_with_its_mail() {
    let outputs = Outputs::default();
    let (runtime, world) = world(&outputs);
    world.spawn("logger", "logger", "a", vec![]).unwrap();
    world.spawn("echo", "echo", "a", vec![]).unwrap();
    for i in 0..20 {
        world.send("test", "echo", format!("m{i}").into_bytes());
    }
    outputs.wait_lines("logger", 20);
    let away = world.evict("echo", Duration::from_secs(10)).unwrap();
    for i in 20..30 {
        world.send("test", "echo", format!("m{i}").into_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let report = world.save(dir.path()).unwrap();
    assert_eq!(report.scripts, 1, "only the logger was running");

    let loaded = World::load(
        runtime,
        config(),
        Limits::default(),
        outputs.factory(),
        dir.path(),
    )
    .unwrap();
    loaded.restore(&away, "echo").unwrap();
    let lines = outputs.wait_lines("logger", 30);
    let expected: Vec<String> = (0..30).map(|i| echoed(i, &format!("m{i}"))).collect();
    assert_eq!(lines, expected);

    // A manifest that points outside its directory is refused.
    let manifest = dir.path().join("world.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("modules/0.wasm", "../0.wasm")).unwrap();
    let refused = World::load(
        self::runtime(),
        config(),
        Limits::default(),
        outputs.factory(),
        dir.path(),
    );
    assert!(matches!(refused, Err(WorldError::Saved(_))));
}

//! The examples under `examples/`, compiled from source by `weft compile`
//! with each language's real toolchain and run together by `weft up`: a
//! counter, ping-pong (within and across languages, and with one side
//! stopped, saved and resumed in the middle), a timer-driven script, a chat
//! room relaying to the members it spawned, and hostile scripts (an endless
//! loop, a memory bomb) that the others survive.

use crate::util::{cache_dir, stderr, weft};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The languages every example is written in, with their extensions.
const LANGUAGES: &[(&str, &str)] = &[("c", "c"), ("zig", "zig"), ("assemblyscript", "ts")];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Compiles `examples/<language>/<name>.<ext>` with `weft compile` and
/// returns the module's path (named `<name>.wasm`, so that `weft up` names
/// the script `name`).
fn compiled(language: &str, name: &str) -> PathBuf {
    let ext = LANGUAGES
        .iter()
        .find(|(l, _)| *l == language)
        .map(|(_, e)| *e)
        .expect("a known language");
    let source = examples_dir().join(language).join(format!("{name}.{ext}"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("examples")
        .join(language);
    std::fs::create_dir_all(&dir).expect("creates the output directory");
    let output = dir.join(format!("{name}.wasm"));
    let out = weft(&[
        "compile",
        &source.to_string_lossy(),
        "-o",
        &output.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "weft compile {}: {}",
        source.display(),
        stderr(&out)
    );
    output
}

/// Runs `weft up` with `args` and returns the script lines of each id in
/// order, and the JSON summary.
fn up(args: &[&str]) -> (Vec<(String, String)>, Value) {
    let mut all = vec!["up", "--json"];
    all.extend_from_slice(args);
    let out = weft(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines: Vec<&str> = stdout.lines().collect();
    let summary: Value = serde_json::from_str(lines.pop().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}): {stdout}\n{}", stderr(&out)));
    let lines = lines
        .into_iter()
        .map(|line| {
            let (id, text) = line.split_once(": ").expect("an `id: line` line");
            (id.to_string(), text.to_string())
        })
        .collect();
    (lines, summary)
}

fn lines_of<'a>(lines: &'a [(String, String)], id: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|(i, _)| i == id)
        .map(|(_, l)| l.as_str())
        .collect()
}

fn exit_of(summary: &Value, id: &str) -> Value {
    summary["scripts"]
        .as_array()
        .expect("a script list")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no script {id} in {summary}"))["exit"]
        .clone()
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// What ping logs for a complete game, as the protocol in examples/README.md
/// describes it.
fn ping_lines(rounds: u32) -> Vec<String> {
    let mut expected: Vec<String> = (1..=rounds).map(|i| format!("ping got pong {i}")).collect();
    expected.push("ping done".into());
    expected
}

#[test]
fn counter_counts_in_every_language() {
    for (language, _) in LANGUAGES {
        let counter = compiled(language, "counter");
        let (lines, summary) = up(&[&path(&counter)]);
        let expected: Vec<String> = (1..=10).map(|i| format!("count {i}")).collect();
        assert_eq!(lines_of(&lines, "counter"), expected, "{language}");
        assert_eq!(exit_of(&summary, "counter"), "exited with status 0");
    }
    // C++, through the same C header.
    let source = examples_dir().join("cpp/counter.cpp");
    let output = Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples/counter.wasm");
    std::fs::create_dir_all(output.parent().expect("a parent")).expect("creates the directory");
    let out = weft(&["compile", &path(&source), "-o", &path(&output)]);
    assert!(
        out.status.success(),
        "weft compile counter.cpp: {}",
        stderr(&out)
    );
    let (lines, _) = up(&[&path(&output)]);
    let expected: Vec<String> = (1..=10).map(|i| format!("count {i}")).collect();
    assert_eq!(lines_of(&lines, "counter"), expected, "c++");
    let wat = examples_dir().join("wat/counter.wat");
    let (lines, _) = up(&[&path(&wat)]);
    let expected: Vec<String> = (1..=10).map(|i| format!("count {i}")).collect();
    assert_eq!(lines_of(&lines, "counter"), expected, "wat");
}

#[test]
fn ping_pong_within_and_across_languages() {
    let pairs = [
        ("c", "c"),
        ("zig", "zig"),
        ("assemblyscript", "assemblyscript"),
        ("c", "zig"),
        ("zig", "assemblyscript"),
        ("assemblyscript", "c"),
    ];
    for (ping_language, pong_language) in pairs {
        let ping = compiled(ping_language, "ping");
        let pong = compiled(pong_language, "pong");
        let (lines, summary) = up(&[&path(&ping), &path(&pong)]);
        let context = format!("ping in {ping_language}, pong in {pong_language}");
        assert_eq!(lines_of(&lines, "ping"), ping_lines(100), "{context}");
        assert_eq!(
            lines_of(&lines, "pong"),
            ["pong done after 100"],
            "{context}"
        );
        assert_eq!(exit_of(&summary, "ping"), "exited with status 0");
        assert_eq!(exit_of(&summary, "pong"), "exited with status 0");
        assert_eq!(summary["dropped_messages"], 0, "{context}");
    }
}

#[test]
fn timer_ticks_until_its_one_shot_timer() {
    for (language, _) in LANGUAGES {
        let timer = compiled(language, "timer");
        let (lines, summary) = up(&[&path(&timer)]);
        let got = lines_of(&lines, "timer");
        let (last, ticks) = got.split_last().expect("some output");
        // A 20 ms period before a 110 ms one-shot: five ticks, fewer only
        // if the script was kept off the CPU for whole periods.
        assert!((1..=5).contains(&ticks.len()), "{language}: {got:?}");
        let expected: Vec<String> = (1..=ticks.len()).map(|k| format!("tick {k}")).collect();
        assert_eq!(ticks, expected, "{language}");
        assert_eq!(*last, format!("done after {} ticks", ticks.len()));
        assert_eq!(exit_of(&summary, "timer"), "exited with status 0");
    }
}

#[test]
fn chat_room_relays_to_the_members_it_spawned() {
    for (language, _) in LANGUAGES {
        let room = compiled(language, "room");
        let member = compiled(language, "member");
        let (lines, summary) = up(&[&path(&room), "--module", &path(&member)]);
        assert_eq!(
            lines_of(&lines, "room"),
            ["room done: 5 members, 15 messages relayed to 60"],
            "{language}"
        );
        for i in 1..=5 {
            let id = format!("room.{i}");
            assert_eq!(
                lines_of(&lines, &id),
                [format!("member {id} heard 12")],
                "{language}"
            );
            assert_eq!(exit_of(&summary, &id), "exited with status 0");
        }
        assert_eq!(exit_of(&summary, "room"), "exited with status 0");
        assert_eq!(summary["spawn_failures"], Value::Array(vec![]));
    }
}

#[test]
fn others_survive_an_endless_loop_and_a_memory_bomb() {
    for (language, _) in LANGUAGES {
        let spin = compiled(language, "spin");
        let bomb = compiled(language, "bomb");
        let counter = compiled(language, "counter");
        let started = Instant::now();
        let (lines, summary) = up(&[
            &path(&spin),
            &path(&bomb),
            &path(&counter),
            "--wait-for",
            "counter",
            "--max-memory",
            "64M",
            "--seconds",
            "60",
        ]);
        assert_eq!(summary["outcome"], "ended", "{language}: {summary}");
        let expected: Vec<String> = (1..=10).map(|i| format!("count {i}")).collect();
        assert_eq!(lines_of(&lines, "counter"), expected, "{language}");
        assert_eq!(exit_of(&summary, "counter"), "exited with status 0");
        // The loop is still spinning; the bomb is stopped at its limit (it
        // either traps or goes on without more memory).
        assert_eq!(exit_of(&summary, "spin"), Value::Null, "{language}");
        let bomb_exit = exit_of(&summary, "bomb");
        assert!(
            bomb_exit.is_null() || bomb_exit.as_str().is_some_and(|e| e.starts_with("trapped")),
            "{language}: {bomb_exit}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{language}: the counter took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_saved_world_resumes_where_it_was() {
    let counter = compiled("c", "counter");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let saved = dir.path().join("world");
    let (before, summary) = up(&[
        &path(&counter),
        "--seconds",
        "0.04",
        "--save",
        &path(&saved),
    ]);
    assert_eq!(summary["outcome"], "saved", "{summary}");
    let (after, summary) = up(&["--resume", &path(&saved)]);
    assert_eq!(exit_of(&summary, "counter"), "exited with status 0");
    let mut all = lines_of(&before, "counter");
    assert!(all.len() < 10, "the counter ended before the save: {all:?}");
    all.extend(lines_of(&after, "counter"));
    let expected: Vec<String> = (1..=10).map(|i| format!("count {i}")).collect();
    assert_eq!(all, expected);
}

/// One side of a ping-pong game is stopped in the middle, saved to a file,
/// and restored from it; the game goes on with no message lost or repeated.
#[test]
fn ping_pong_with_pong_saved_and_resumed_in_the_middle() {
    use weft_node::{NewScript, World};
    use weft_runtime::{Captured, Runtime, RuntimeConfig, Stdio};

    let ping = compiled("c", "ping");
    let pong = compiled("zig", "pong");
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(cache_dir()),
            ..RuntimeConfig::default()
        })
        .expect("a runtime"),
    );
    let outputs: Arc<Mutex<Vec<(String, Captured)>>> = Arc::default();
    let factory = {
        let outputs = outputs.clone();
        Arc::new(move |id: &str| {
            let mut outputs = outputs.lock().unwrap();
            let captured = match outputs.iter().find(|(i, _)| i == id) {
                Some((_, c)) => c.clone(),
                None => {
                    let c = Captured::default();
                    outputs.push((id.to_string(), c.clone()));
                    c
                }
            };
            Stdio {
                stdout: Box::new(captured.stdout_writer()),
                stderr: Box::new(captured.stderr_writer()),
                stdin: Box::new(std::io::empty()),
            }
        })
    };
    let ping_lines_now = || -> Vec<String> {
        let outputs = outputs.lock().unwrap();
        let out = outputs
            .iter()
            .find(|(i, _)| i == "ping")
            .map(|(_, c)| c.stdout())
            .unwrap_or_default();
        String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let config = weft_sched::Config {
        slice: Duration::from_millis(2),
        first_slice_fuel: Some(weft_node::FIRST_SLICE_FUEL),
        ..weft_sched::Config::default()
    };
    let world = World::new(runtime.clone(), config, Default::default(), factory).expect("a world");
    for (name, file) in [("ping", &ping), ("pong", &pong)] {
        let wasm = std::fs::read(file).expect("reads the module");
        world.add_module(name, runtime.load(&wasm).expect("loads"));
    }
    // A long game (a round takes microseconds), so that there is a middle.
    const ROUNDS: u32 = 20_000;
    let new = |id: &str, args: &[&str]| NewScript {
        id: id.into(),
        module: id.into(),
        owner: "user".into(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    world
        .spawn_all(vec![
            new("ping", &["ping", &ROUNDS.to_string()]),
            new("pong", &["pong"]),
        ])
        .expect("starts");

    let wait_for = |n: usize| {
        let end = Instant::now() + Duration::from_secs(20);
        while ping_lines_now().len() < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        ping_lines_now()
    };
    // Hold ping a moment (a game takes a few milliseconds) so that pong
    // surely leaves in the middle; ping goes on once pong is away.
    assert!(wait_for(10).len() >= 10, "{:?}", ping_lines_now());
    let task_of = |id: &str| {
        world
            .scripts()
            .into_iter()
            .find(|s| s.id == id)
            .and_then(|s| s.task)
            .expect("running")
    };
    let ping_task = task_of("ping");
    world
        .with_scheduler(|s| s.pause(ping_task))
        .expect("a scheduler")
        .expect("ping pauses");
    let snapshot = world
        .evict("pong", Duration::from_secs(10))
        .expect("pong stops");
    let file = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(
        file.path(),
        weft_snapshot::encode(&snapshot).expect("encodes"),
    )
    .expect("writes");
    let stopped_at = ping_lines_now().len();
    assert!(
        stopped_at < ROUNDS as usize,
        "the game ended before pong stopped"
    );
    world
        .with_scheduler(|s| s.resume(ping_task))
        .expect("a scheduler")
        .expect("ping resumes");
    // With pong away, ping waits for its answer.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ping_lines_now().len() <= stopped_at + 1,
        "ping went on without pong: {:?}",
        ping_lines_now()
    );
    let bytes = std::fs::read(file.path()).expect("reads");
    let decoded = weft_snapshot::decode(&bytes, &Default::default()).expect("decodes");
    world.restore(&decoded, "pong").expect("pong comes back");
    assert!(world.wait(Duration::from_secs(30)), "the game did not end");
    assert_eq!(ping_lines_now(), ping_lines(ROUNDS));
    let scripts = world.scripts();
    for id in ["ping", "pong"] {
        let s = scripts.iter().find(|s| s.id == id).expect("listed");
        assert_eq!(s.exit.as_deref(), Some("exited with status 0"), "{id}");
    }
    assert_eq!(world.dropped_messages(), 0);
}

//! The weft host API (import module `weft`, see docs/host-api.md): results
//! and error codes of every function, parking in `sleep` and `recv`, timers,
//! spawn requests, the limits, and all of its state surviving a snapshot.

use crate::{load, records, runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_runtime::api::{Outgoing, code, limits};
use weft_runtime::{
    Budget, Runtime, Script, ScriptModule, ScriptOptions, Status, Stdio, Wake, host_state,
};

/// A module importing the whole API, with `$record` (results appended to a
/// buffer that `_start` writes to stderr at the end, as 8-byte values) and
/// these constants in memory: 0x100 "me", 0x110 "bob", 0x120 "hello",
/// 0x130 "member", 0x140 "member\0x", 0x150 "nope". Scratch from 0x1000,
/// receive buffer 0x2000 (64 bytes), sender buffer 0x2100 (128 bytes),
/// records from 0x8000; pages 2..4 free for large values.
fn api_module(body: &str) -> String {
    format!(
        r#"(module
  (import "weft" "log" (func $log (param i32 i32)))
  (import "weft" "now" (func $now (result i64)))
  (import "weft" "sleep" (func $sleep (param i64)))
  (import "weft" "yield" (func $yield))
  (import "weft" "id" (func $id (param i32 i32) (result i32)))
  (import "weft" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "weft" "recv" (func $recv (param i64 i32 i32 i32 i32) (result i32)))
  (import "weft" "timer_set" (func $timer_set (param i64 i64 i64) (result i32)))
  (import "weft" "timer_cancel" (func $timer_cancel (param i32) (result i32)))
  (import "weft" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "weft" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "weft" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (data (i32.const 0x100) "me")
  (data (i32.const 0x110) "bob")
  (data (i32.const 0x120) "hello")
  (data (i32.const 0x130) "member")
  (data (i32.const 0x140) "member\00x")
  (data (i32.const 0x150) "nope")
  (global $records (mut i32) (i32.const 0))
  (func $record64 (param $v i64)
    (i64.store (i32.add (i32.const 0x8000) (i32.mul (global.get $records) (i32.const 8)))
               (local.get $v))
    (global.set $records (i32.add (global.get $records) (i32.const 1))))
  (func $record (param $v i32)
    (call $record64 (i64.extend_i32_s (local.get $v))))
  ;; Receives with `timeout` into the buffers; records the result, then the
  ;; first 8 bytes of the body and of the sender.
  (func $recv_record (param $timeout i64)
    (i64.store (i32.const 0x2000) (i64.const 0))
    (i64.store (i32.const 0x2100) (i64.const 0))
    (call $record (call $recv (local.get $timeout) (i32.const 0x2000) (i32.const 64)
                               (i32.const 0x2100) (i32.const 128)))
    (call $record64 (i64.load (i32.const 0x2000)))
    (call $record64 (i64.load (i32.const 0x2100))))
  (func $main (export "_start")
    (local $i i32)
    {body}
    (i32.store (i32.const 0x7000) (i32.const 0x8000))
    (i32.store (i32.const 0x7004) (i32.mul (global.get $records) (i32.const 8)))
    (drop (call $fd_write (i32.const 2) (i32.const 0x7000) (i32.const 1) (i32.const 0x7008)))))
"#
    )
}

/// Little-endian bytes of `text`, zero-padded to 8, as an `i64`.
fn word(text: &[u8]) -> i64 {
    let mut bytes = [0u8; 8];
    bytes[..text.len()].copy_from_slice(text);
    i64::from_le_bytes(bytes)
}

fn spawn_me(runtime: &Runtime, module: &Arc<ScriptModule>) -> (Script, weft_runtime::Captured) {
    let (stdio, output) = Stdio::captured();
    let options = ScriptOptions {
        id: "me".into(),
        ..ScriptOptions::default()
    };
    (
        Script::spawn(runtime, module, options, stdio).expect("spawns"),
        output,
    )
}

/// Runs a script to its end, sleeping through its parks (as `weft run`
/// does), and returns its records.
fn run_through(script: &mut Script, output: &weft_runtime::Captured) -> Vec<i64> {
    loop {
        match script.run(Budget::Unlimited).expect("runs").clone() {
            Status::Exited(0) => break,
            Status::Paused => {}
            Status::Parked(_) => {
                let wait = script.park_remaining().expect("parked");
                assert!(wait < Duration::from_secs(10), "parked for {wait:?}");
                std::thread::sleep(wait);
            }
            other => panic!("unexpected status {other:?}"),
        }
    }
    records(&output.stderr())
}

fn run_body(body: &str) -> Vec<i64> {
    let runtime = runtime();
    let module = load(&runtime, &api_module(body));
    let (mut script, output) = spawn_me(&runtime, &module);
    run_through(&mut script, &output)
}

#[test]
fn key_value_store_results_and_limits() {
    let got = run_body(
        r#"
    (call $record (call $kv_set (i32.const 0x110) (i32.const 3) (i32.const 0x120) (i32.const 5)))
    (call $record (call $kv_get (i32.const 0x110) (i32.const 3) (i32.const 0x2000) (i32.const 64)))
    (call $record64 (i64.load (i32.const 0x2000)))
    ;; A buffer too small: the full length, the value truncated.
    (i64.store (i32.const 0x2000) (i64.const 0))
    (call $record (call $kv_get (i32.const 0x110) (i32.const 3) (i32.const 0x2000) (i32.const 2)))
    (call $record64 (i64.load (i32.const 0x2000)))
    (call $record (call $kv_get (i32.const 0x120) (i32.const 5) (i32.const 0x2000) (i32.const 64)))
    (call $record (call $kv_delete (i32.const 0x110) (i32.const 3)))
    (call $record (call $kv_delete (i32.const 0x110) (i32.const 3)))
    (call $record (call $kv_set (i32.const 0x110) (i32.const 1025) (i32.const 0x120) (i32.const 5)))
    (call $record (call $kv_set (i32.const 0x110) (i32.const 3) (i32.const 0x10000) (i32.const 65537)))
    (call $record (call $kv_set (i32.const 0x110) (i32.const 3) (i32.const 0x3fff0) (i32.const 100)))
    (call $record (call $kv_set (i32.const 0x110) (i32.const -1) (i32.const 0x120) (i32.const 5)))
    ;; Fill the store with 64 KiB values under one-byte keys 'a', 'b', ...
    (local.set $i (i32.const 0))
    (loop $fill
      (i32.store8 (i32.const 0x1000) (i32.add (i32.const 0x61) (local.get $i)))
      (call $record (call $kv_set (i32.const 0x1000) (i32.const 1) (i32.const 0x10000) (i32.const 65536)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 17))))
    ;; Replacing a value within the quota works even when the store is full.
    (i32.store8 (i32.const 0x1000) (i32.const 0x61))
    (call $record (call $kv_set (i32.const 0x1000) (i32.const 1) (i32.const 0x120) (i32.const 5)))
    "#,
    );
    let per_entry = 1 + limits::VALUE_BYTES;
    let fit = limits::STORE_BYTES / per_entry;
    assert_eq!(fit, 15);
    let mut expected = vec![
        0,
        5,
        word(b"hello"),
        5,
        word(b"he"),
        i64::from(code::NOTFOUND),
        0,
        i64::from(code::NOTFOUND),
        i64::from(code::TOOBIG),
        i64::from(code::TOOBIG),
        i64::from(code::FAULT),
        i64::from(code::INVAL),
    ];
    expected.extend(std::iter::repeat_n(0, fit));
    expected.extend(std::iter::repeat_n(i64::from(code::FULL), 17 - fit));
    expected.push(0);
    assert_eq!(got, expected);
}

#[test]
fn messages_to_self_ids_and_bad_arguments() {
    let got = run_body(
        r#"
    (call $record (call $id (i32.const 0x1000) (i32.const 16)))
    (call $record64 (i64.load (i32.const 0x1000)))
    (call $record (call $send (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 5)))
    (call $recv_record (i64.const 0))
    (call $recv_record (i64.const 0))
    (call $record (call $send (i32.const 0x100) (i32.const 0) (i32.const 0x120) (i32.const 5)))
    (call $record (call $send (i32.const 0x100) (i32.const 2) (i32.const 0x10000) (i32.const 65537)))
    (call $record (call $send (i32.const 0x3fffe) (i32.const 8) (i32.const 0x120) (i32.const 5)))
    (call $record (call $recv (i64.const 0) (i32.const 0x3fffe) (i32.const 64) (i32.const 0x2100) (i32.const 8)))
    ;; To another script: queued in the outbox for the embedder.
    (call $record (call $send (i32.const 0x110) (i32.const 3) (i32.const 0x120) (i32.const 5)))
    (call $record (call $spawn (i32.const 0x130) (i32.const 6) (i32.const 0) (i32.const 0)
                               (i32.const 0x1000) (i32.const 16)))
    "#,
    );
    let expected = vec![
        2,
        word(b"me"),
        0,
        5,
        word(b"hello"),
        word(b"me\0"),
        i64::from(code::TIMEDOUT),
        0,
        0,
        i64::from(code::INVAL),
        i64::from(code::TOOBIG),
        i64::from(code::FAULT),
        i64::from(code::FAULT),
        0,
        i64::from(code::NOTSUP),
    ];
    assert_eq!(got, expected);
}

#[test]
fn sends_and_spawns_reach_the_outbox_in_order() {
    let runtime = runtime();
    let module = load(
        &runtime,
        &api_module(
            r#"
    (call $record (call $send (i32.const 0x110) (i32.const 3) (i32.const 0x120) (i32.const 5)))
    (call $record (call $spawn (i32.const 0x130) (i32.const 6) (i32.const 0x140) (i32.const 8)
                               (i32.const 0x1000) (i32.const 16)))
    (call $record64 (i64.load (i32.const 0x1000)))
    (call $record (call $spawn (i32.const 0x150) (i32.const 4) (i32.const 0) (i32.const 0)
                               (i32.const 0x1000) (i32.const 16)))
    (call $record (call $spawn (i32.const 0x130) (i32.const 6) (i32.const 0) (i32.const 0)
                               (i32.const 0x1000) (i32.const 16)))
    (call $record (call $send (i32.const 0x1000) (i32.const 4) (i32.const 0x120) (i32.const 5)))
    "#,
        ),
    );
    let (mut script, output) = spawn_me(&runtime, &module);
    script.set_spawnable(Arc::new(|name: &str| name == "member"));
    let got = run_through(&mut script, &output);
    assert_eq!(
        got,
        vec![0, 4, word(b"me.1"), i64::from(code::NOTFOUND), 4, 0]
    );
    let message = |to: &str| Outgoing::Message {
        to: to.into(),
        body: b"hello".to_vec(),
    };
    assert_eq!(
        script.take_outbox(),
        vec![
            message("bob"),
            Outgoing::Spawn {
                id: "me.1".into(),
                module: "member".into(),
                args: vec!["member".into(), "x".into()],
            },
            Outgoing::Spawn {
                id: "me.2".into(),
                module: "member".into(),
                args: vec!["member".into()],
            },
            message("me.2"),
        ]
    );
    assert!(script.take_outbox().is_empty(), "taking empties the outbox");
}

#[test]
fn timers_fire_as_messages_and_cancel() {
    let started = Instant::now();
    let got = run_body(
        r#"
    ;; A one-shot timer in 45 ms (tag 42) and a periodic one every 10 ms (tag 7).
    (call $record (call $timer_set (i64.const 45000000) (i64.const 0) (i64.const 42)))
    (call $record (call $timer_set (i64.const 10000000) (i64.const 10000000) (i64.const 7)))
    (call $recv_record (i64.const -1))
    (call $recv_record (i64.const -1))
    (call $recv_record (i64.const -1))
    (call $record (call $timer_cancel (i32.const 1)))
    (call $record (call $timer_cancel (i32.const 1)))
    (call $record (call $timer_set (i64.const -1) (i64.const 0) (i64.const 0)))
    ;; The one-shot is all that is left: it comes next (maybe after a
    ;; periodic firing already in the mailbox).
    (block $done
      (loop $wait
        (call $recv_record (i64.const -1))
        (br_if $done (i64.eq (i64.load (i32.const 0x2000)) (i64.const 42)))
        (br $wait)))
    (call $record (call $timer_cancel (i32.const 0)))
    (call $record (call $recv (i64.const 20000000) (i32.const 0x2000) (i32.const 64) (i32.const 0x2100) (i32.const 128)))
    "#,
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    let firing = |tag: i64| [8, tag, 0];
    assert_eq!(got[..2], [0, 1]);
    assert_eq!(got[2..5], firing(7));
    assert_eq!(got[5..8], firing(7));
    assert_eq!(got[8..11], firing(7));
    assert_eq!(
        got[11..14],
        [0, i64::from(code::NOTFOUND), i64::from(code::INVAL)]
    );
    let rest = &got[14..];
    assert_eq!(rest.len() % 3, 2, "{rest:?}");
    let (firings, tail) = rest.split_at(rest.len() - 2);
    assert!(firings.chunks(3).all(|f| f == firing(7) || f == firing(42)));
    assert_eq!(firings[firings.len() - 3..], firing(42));
    assert_eq!(tail, [i64::from(code::NOTFOUND), i64::from(code::TIMEDOUT)]);
}

#[test]
fn sleep_parks_for_its_time() {
    let runtime = runtime();
    let module = load(
        &runtime,
        &api_module(
            r#"
    (local $t i64)
    (local.set $t (call $now))
    (call $sleep (i64.const 30000000))
    (call $record64 (i64.sub (call $now) (local.get $t)))
    (call $sleep (i64.const -5))
    (call $yield)
    "#,
        ),
    );
    let (mut script, output) = spawn_me(&runtime, &module);
    let status = script.run(Budget::Unlimited).expect("runs").clone();
    assert!(matches!(status, Status::Parked(Wake::At(_))), "{status:?}");
    let got = run_through(&mut script, &output);
    assert!(got[0] >= 30_000_000, "slept {} ns", got[0]);
}

#[test]
fn a_waiting_receive_parks_until_a_message_and_survives_a_snapshot() {
    let runtime = runtime();
    let module = load(
        &runtime,
        &api_module(
            r#"
    (call $record (call $kv_set (i32.const 0x110) (i32.const 3) (i32.const 0x120) (i32.const 5)))
    (call $record (call $timer_set (i64.const 3600000000000) (i64.const 0) (i64.const 9)))
    (call $recv_record (i64.const -1))
    (call $recv_record (i64.const -1))
    (call $record (call $kv_get (i32.const 0x110) (i32.const 3) (i32.const 0x2000) (i32.const 64)))
    (call $record (call $timer_cancel (i32.const 0)))
    "#,
        ),
    );
    let (mut script, _) = spawn_me(&runtime, &module);
    let status = script.run(Budget::Unlimited).expect("runs").clone();
    // Parked until a message, or the timer an hour away.
    let Status::Parked(Wake::Message {
        deadline: Some(deadline),
    }) = status
    else {
        panic!("not parked on a message: {status:?}");
    };
    assert!(deadline > Duration::from_secs(3599), "{deadline:?}");
    assert!(script.park_remaining().expect("parked") > Duration::from_secs(3500));
    assert!(!script.has_mail());
    // Run early: it parks again.
    let again = script.run(Budget::Unlimited).expect("runs").clone();
    assert_eq!(again, status);
    assert!(script.deliver("bob", b"first".to_vec()));
    assert!(script.deliver("bob", b"second".to_vec()));
    assert_eq!(script.park_remaining(), Some(Duration::ZERO));

    // Move it, mailbox, timer and store included, into a fresh instance.
    let snapshot = script.snapshot().expect("captures");
    let state = host_state(&snapshot).expect("host state");
    assert_eq!(state.api.inbox.len(), 2);
    assert_eq!(state.api.timers.len(), 1);
    assert_eq!(state.api.store.len(), 1);
    let bytes = weft_snapshot::encode(&snapshot).expect("encodes");
    drop(script);
    let decoded = weft_snapshot::decode(&bytes, &Default::default()).expect("decodes");
    let (stdio, output) = Stdio::captured();
    let mut restored = Script::restore(&runtime, &module, &decoded, None, stdio).expect("restores");
    let got = run_through(&mut restored, &output);
    assert_eq!(
        got,
        vec![
            0,
            0,
            5,
            word(b"first"),
            word(b"bob\0"),
            6,
            word(b"second"),
            word(b"bob\0"),
            5,
            0
        ]
    );
}

#[test]
fn a_full_mailbox_drops_and_counts() {
    let runtime = runtime();
    let module = load(&runtime, &api_module("(call $recv_record (i64.const -1))"));
    let (mut script, _) = spawn_me(&runtime, &module);
    for i in 0..limits::MAILBOX {
        assert!(script.deliver("bob", i.to_le_bytes().to_vec()));
    }
    assert!(!script.deliver("bob", b"one too many".to_vec()));
    assert_eq!(script.api_state().dropped, 1);
    assert_eq!(script.api_state().inbox.len(), limits::MAILBOX);
}

#[test]
fn a_snapshot_over_the_api_limits_is_refused() {
    let runtime = runtime();
    let module = load(&runtime, &api_module("(call $recv_record (i64.const -1))"));
    let (mut script, _) = spawn_me(&runtime, &module);
    script.run(Budget::Unlimited).expect("runs");
    let snapshot = script.snapshot().expect("captures");
    let mut state = host_state(&snapshot).expect("host state");
    let tamper = |state: &weft_runtime::HostState| {
        let mut bad = snapshot.clone();
        bad.host = postcard::to_allocvec(state).expect("encodes");
        match Script::restore(&runtime, &module, &bad, None, Stdio::null()) {
            Ok(_) => panic!("a tampered snapshot restored"),
            Err(e) => e.to_string(),
        }
    };
    let message = weft_runtime::api::Message {
        from: "bob".into(),
        body: Vec::new(),
    };
    state.api.inbox = std::iter::repeat_n(message, limits::MAILBOX + 1).collect();
    let error = tamper(&state);
    assert!(error.contains("mailbox"), "{error}");
    state.api.inbox.clear();
    state
        .api
        .store
        .insert(vec![0; limits::KEY_BYTES + 1], Vec::new());
    let error = tamper(&state);
    assert!(error.contains("key-value store"), "{error}");
}

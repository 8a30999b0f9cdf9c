//! `weft serve` as real processes on 127.0.0.1: the client commands against
//! it, a clean stop (SIGTERM) after which every script continues exactly
//! where it was, a kill -9 of a node running 1,000 scripts after which all
//! of them continue from their last checkpoint with no line lost or
//! repeated, and bad requests refused while the node keeps serving.

use crate::util::{cache_dir, stderr, weft};
use base64::Engine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `weft serve` child process.
pub(crate) struct Serve {
    child: Child,
    pub(crate) url: String,
}

impl Serve {
    /// Starts a node on a free port with its store in `data`.
    pub(crate) fn start(data: &Path) -> Serve {
        Serve::start_with(data, "127.0.0.1:0", &[], &[])
    }

    /// Starts a node listening on `listen` with its store in `data`, more
    /// arguments and environment variables.
    pub(crate) fn start_with(
        data: &Path,
        listen: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
            .args([
                "serve",
                "--listen",
                listen,
                "--checkpoint-every",
                "0.2",
                "--data",
            ])
            .arg(data)
            .args(args)
            .envs(env.iter().copied())
            .env("WEFT_CACHE_DIR", cache_dir())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("weft serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("weft serve says where it serves")
                .expect("reads stderr");
            if let Some(rest) = line.strip_prefix("weft: serving on ") {
                break rest.split(' ').next().expect("a URL").to_string();
            }
        };
        // Keep draining stderr so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve { child, url }
    }

    fn signal(&mut self, signal: i32) {
        // SAFETY: sending a signal to our own child process.
        let sent = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(sent, 0, "kill({signal})");
    }

    /// SIGTERM, and the exit status.
    pub(crate) fn stop(mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().expect("waits");
        status.code()
    }

    /// SIGKILL: the node dies at once.
    pub(crate) fn crash(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Runs a client command against this node.
    pub(crate) fn weft(&self, args: &[&str]) -> std::process::Output {
        // Right after the subcommand: a deploy's script arguments follow `--`.
        let mut all = vec![args[0], "--node", &self.url];
        all.extend_from_slice(&args[1..]);
        weft(&all)
    }

    pub(crate) fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let mut response = Self::agent()
            .get(&format!("{}{path}", self.url))
            .call()
            .expect("the node answers");
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("a body");
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    pub(crate) fn post(&self, path: &str, body: &[u8], json: bool) -> (u16, Value) {
        let request = Self::agent().post(&format!("{}{path}", self.url));
        let request = if json {
            request.header("content-type", "application/json")
        } else {
            request.header("content-type", "application/octet-stream")
        };
        let mut response = request.send(body).expect("the node answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) fn deploy(&self, wasm: &[u8], name: &str, args: &[&str]) -> String {
        let body = json!({
            "wasm": base64::engine::general_purpose::STANDARD.encode(wasm),
            "name": name,
            "args": args,
        });
        let (status, record) = self.post("/v1/scripts", body.to_string().as_bytes(), true);
        assert_eq!(status, 201, "{record}");
        record["id"].as_str().expect("an id").to_string()
    }

    /// Every line of a script's output, through the paged API.
    pub(crate) fn lines(&self, id: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let mut since = 0;
        loop {
            let (status, page) = self.get(&format!("/v1/scripts/{id}/logs?since={since}"));
            assert_eq!(status, 200, "{page}");
            let got = page["lines"].as_array().expect("lines");
            if got.is_empty() {
                return lines;
            }
            for line in got {
                assert_eq!(line["seq"].as_u64(), Some(lines.len() as u64), "{page}");
                lines.push(line["text"].as_str().expect("text").to_string());
            }
            since = page["next"].as_u64().expect("next");
        }
    }

    pub(crate) fn scripts(&self) -> Vec<Value> {
        let (status, list) = self.get("/v1/scripts");
        assert_eq!(status, 200, "{list}");
        list["scripts"].as_array().expect("scripts").clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tick 1`, `tick 2`, ... every `period_ms`, for ever (a counter in
/// memory, so that a restored script goes on counting).
pub(crate) fn ticker(period_ms: u64) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "weft" "log" (func $log (param i32 i32)))
  (import "weft" "sleep" (func $sleep (param i64)))
  (memory (export "memory") 1)
  (data (i32.const 0x100) "tick ")
  (global $n (mut i32) (i32.const 0))
  ;; Writes `n` in decimal after "tick " and logs the line.
  (func $say (param $n i32) (local $end i32) (local $i i32) (local $len i32)
    ;; digits right to left into 0x200..0x210
    (local.set $i (i32.const 0x210))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (local.get $i) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digits (local.get $n)))
    (local.set $len (i32.sub (i32.const 0x210) (local.get $i)))
    (memory.copy (i32.const 0x105) (local.get $i) (local.get $len))
    (call $log (i32.const 0x100) (i32.add (i32.const 5) (local.get $len))))
  (func (export "_start")
    (loop $forever
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (call $say (global.get $n))
      (call $sleep (i64.const {nanos}))
      (br $forever))))"#,
        nanos = period_ms * 1_000_000
    );
    wat::parse_str(wat).expect("the ticker parses")
}

/// Checks that `lines` is `tick 1` .. `tick n` and returns n.
pub(crate) fn ticks(lines: &[String], context: &str) -> usize {
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("tick {}", i + 1), "{context}: {lines:?}");
    }
    lines.len()
}

pub(crate) fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("node");
    (dir, data)
}

pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn client_commands_against_a_node() {
    let (_dir, data) = data_dir();
    let node = Serve::start(&data);
    let counter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/c/counter.c");
    let out = node.weft(&[
        "deploy",
        &counter.to_string_lossy(),
        "--owner",
        "alice",
        "--",
        "1000000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("counter-"), "{id}");

    wait_until("some output", || node.lines(&id).len() >= 3);
    let out = node.weft(&["pause", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "paused");
    std::thread::sleep(Duration::from_millis(100));
    let paused_at = node.lines(&id).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(node.lines(&id).len(), paused_at, "a paused script printed");

    let out = node.weft(&["ps", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Value = serde_json::from_slice(&out.stdout).expect("ps --json is JSON");
    let record = &list["scripts"][0];
    assert_eq!(
        (
            record["id"].as_str(),
            record["owner"].as_str(),
            record["state"].as_str()
        ),
        (Some(id.as_str()), Some("alice"), Some("paused"))
    );

    let out = node.weft(&["resume", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_until("more output", || node.lines(&id).len() > paused_at + 2);

    // A snapshot carries the module: another node continues it.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("counter.snap");
    let out = node.weft(&["snapshot", &id, "-o", &file.to_string_lossy()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = node.weft(&["kill", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = node.lines(&id);
    let (_other_dir, other_data) = data_dir();
    let other = Serve::start(&other_data);
    let out = other.weft(&["restore", &file.to_string_lossy()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id);
    wait_until("the restored script's output", || {
        !other.lines(&id).is_empty()
    });
    let first: u64 = other.lines(&id)[0]
        .strip_prefix("count ")
        .and_then(|n| n.parse().ok())
        .expect("a count line");
    let last_before: u64 = printed
        .last()
        .and_then(|l| l.strip_prefix("count "))
        .and_then(|n| n.parse().ok())
        .expect("a count line");
    assert!(
        first > 1 && first <= last_before + 1,
        "the restored counter starts at {first}, the original had printed {last_before}"
    );
    // The same snapshot again: the script exists there now.
    let out = other.weft(&["restore", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));

    let out = node.weft(&["logs", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no script"), "{}", stderr(&out));
    assert_eq!(node.stop(), Some(0));
    assert_eq!(other.stop(), Some(0));
}

#[test]
fn a_clean_stop_continues_every_script_exactly() {
    let (_dir, data) = data_dir();
    let node = Serve::start(&data);
    let ids: Vec<String> = (0..20)
        .map(|_| node.deploy(&ticker(20), "ticker", &[]))
        .collect();
    wait_until("ticks", || ids.iter().all(|id| node.lines(id).len() >= 5));
    assert_eq!(node.stop(), Some(0));

    let node = Serve::start(&data);
    let scripts = node.scripts();
    assert_eq!(scripts.len(), ids.len());
    assert!(
        scripts.iter().all(|s| s["state"] == "running"),
        "{scripts:?}"
    );
    let before: Vec<usize> = ids.iter().map(|id| node.lines(id).len()).collect();
    wait_until("ticks after the restart", || {
        ids.iter()
            .zip(&before)
            .all(|(id, n)| node.lines(id).len() >= n + 5)
    });
    for id in &ids {
        ticks(&node.lines(id), id);
    }
    assert_eq!(node.stop(), Some(0));
}

#[test]
fn a_node_killed_with_1000_scripts_resumes_all_of_them() {
    const SCRIPTS: usize = 1000;
    let (_dir, data) = data_dir();
    let node = Serve::start(&data);
    let wasm = ticker(200);
    let ids: Vec<String> = (0..SCRIPTS)
        .map(|_| node.deploy(&wasm, "ticker", &[]))
        .collect();
    // Run until every script has printed and been checkpointed at least
    // once since it started.
    wait_until("every script to tick twice", || {
        node.scripts()
            .iter()
            .all(|s| !s["checkpointed_at"].is_null())
            && ids.iter().take(10).all(|id| node.lines(id).len() >= 2)
    });
    std::thread::sleep(Duration::from_millis(500));
    node.crash();

    let node = Serve::start(&data);
    let scripts = node.scripts();
    assert_eq!(scripts.len(), SCRIPTS, "scripts lost or added");
    let mut listed: Vec<&str> = scripts.iter().filter_map(|s| s["id"].as_str()).collect();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed.len(), SCRIPTS, "a script is listed twice");
    assert!(scripts.iter().all(|s| s["state"] == "running"));
    // Each continues from its checkpoint: its log is `tick 1 .. tick n`
    // with no gap and no repeat, and grows.
    let resumed: Vec<usize> = ids.iter().map(|id| ticks(&node.lines(id), id)).collect();
    assert!(resumed.iter().all(|&n| n >= 1), "a script lost its output");
    wait_until("every script to tick again", || {
        ids.iter()
            .zip(&resumed)
            .all(|(id, &n)| node.lines(id).len() > n)
    });
    for id in &ids {
        ticks(&node.lines(id), id);
    }
    assert_eq!(node.stop(), Some(0));
}

#[test]
fn bad_requests_are_refused_and_the_node_keeps_serving() {
    let (_dir, data) = data_dir();
    let node = Serve::start(&data);
    let id = node.deploy(&ticker(10), "ticker", &[]);

    let bad_wasm = json!({"wasm": base64::engine::general_purpose::STANDARD.encode(b"\0asm junk")});
    let (status, body) = node.post("/v1/scripts", bad_wasm.to_string().as_bytes(), true);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{body}"
    );

    let (status, body) = node.post("/v1/scripts", b"{not json", true);
    assert_eq!(status, 400, "{body}");
    let (status, body) = node.post("/v1/scripts", br#"{"wasm": "%%%"}"#, true);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("base64")),
        "{body}"
    );

    let (status, body) = node.post("/v1/restore", b"not a snapshot at all", false);
    assert_eq!(status, 400, "{body}");
    let (status, body) = node.get("/v1/scripts/nobody");
    assert_eq!(status, 404, "{body}");
    let (status, body) = node.post("/v1/scripts/nobody/pause", b"", false);
    assert_eq!(status, 404, "{body}");

    // A corrupted snapshot of a real script.
    let mut response = Serve::agent()
        .get(&format!("{}/v1/scripts/{id}/snapshot", node.url))
        .call()
        .expect("answers");
    let mut snapshot = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("bytes");
    let middle = snapshot.len() / 2;
    snapshot[middle] ^= 0x55;
    let (status, body) = node.post("/v1/restore", &snapshot, false);
    assert_eq!(status, 400, "{body}");

    let (status, text) = node.get("/healthz");
    assert_eq!((status, text.as_str()), (200, Some("ok")));
    let (status, metrics) = node.get("/metrics");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().expect("text");
    assert!(
        metrics.contains("weft_scripts{state=\"running\"} 1"),
        "{metrics}"
    );
    let (status, openapi) = node.get("/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(openapi["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    wait_until("the script to print on", || node.lines(&id).len() > 1);
    assert_eq!(node.get(&format!("/v1/scripts/{id}")).1["state"], "running");
    assert_eq!(node.stop(), Some(0));
}

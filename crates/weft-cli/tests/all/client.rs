//! The node client commands (`weft deploy`, `ps`, `logs`, `pause`, `resume`,
//! `kill`, `snapshot`, `restore`) against a node that is not there and
//! against a fake node that gives canned answers.

use crate::util::{assert_clean_failure, cache_dir, stderr};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `weft` with `args`, `$WEFT_NODE` set to `node` (or unset).
fn weft_with_node(node: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command.args(args).env("WEFT_CACHE_DIR", cache_dir());
    match node {
        Some(url) => command.env("WEFT_NODE", url),
        None => command.env_remove("WEFT_NODE"),
    };
    command.output().expect("weft runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_success(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
}

/// A request the fake node received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    /// Path and query.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A canned answer.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json(status: u16, value: serde_json::Value) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: value.to_string().into_bytes(),
    }
}

/// A node on 127.0.0.1 that gives `answers` in order, one per connection,
/// and records what it was asked.
struct FakeNode {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeNode {
    fn start(answers: Vec<Answer>) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(request) = read_request(&mut stream) else {
                    return;
                };
                log.lock().expect("log").push(request);
                let head = format!(
                    "HTTP/1.1 {} Canned\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    answer.status,
                    answer.content_type,
                    answer.body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&answer.body);
                let _ = stream.flush();
            }
        });
        FakeNode { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }
}

/// Reads one HTTP/1.1 request (a `Content-Length` or chunked body).
fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(length) = header("content-length") {
        body.resize(length.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Received {
        method,
        target,
        headers,
        body,
    })
}

fn record(id: &str, state: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "name": "counter", "owner": "alice", "module": "ab".repeat(32),
        "state": state, "exit": null, "fuel": 123456, "cpu_seconds": 0.042,
        "memory_bytes": 131072, "checkpointed_at": null,
    })
}

#[test]
fn a_node_that_is_not_there_is_reported() {
    let out = weft_with_node(None, &["ps", "--node", "http://127.0.0.1:1"]);
    assert_clean_failure(&out, "cannot reach the node at http://127.0.0.1:1");
    assert!(
        stderr(&out).contains("is `weft serve` running?"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    // `$WEFT_NODE` names the node when `--node` does not.
    let out = weft_with_node(Some("http://127.0.0.1:1/"), &["pause", "counter-1f3a"]);
    assert_clean_failure(&out, "cannot reach the node at http://127.0.0.1:1:");

    // `weft resume` of a script id that is not a file says why it asked a node.
    let out = weft_with_node(Some("http://127.0.0.1:1"), &["resume", "counter-1f3a"]);
    assert_clean_failure(
        &out,
        "`counter-1f3a` is not a snapshot file; resuming the script of that id on a node: \
         cannot reach the node at http://127.0.0.1:1",
    );

    let out = weft_with_node(None, &["ps", "--node", "https://127.0.0.1:1"]);
    assert_clean_failure(&out, "bad node URL");
}

#[test]
fn node_errors_are_printed_with_their_status() {
    let node = FakeNode::start(vec![
        json(404, serde_json::json!({"error": "no script `x`"})),
        Answer {
            status: 502,
            content_type: "text/plain",
            body: b"bad gateway\n".to_vec(),
        },
    ]);
    let out = weft_with_node(None, &["pause", "--node", &node.url, "x"]);
    assert_clean_failure(&out, "weft: error: no script `x` (HTTP 404)");
    assert!(out.stdout.is_empty());
    let out = weft_with_node(Some(&node.url), &["kill", "x"]);
    assert_clean_failure(&out, "weft: error: bad gateway (HTTP 502)");
    let received = node.received();
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].target, "/v1/scripts/x/pause");
    assert_eq!(received[1].target, "/v1/scripts/x/kill");
}

#[test]
fn pause_resume_and_kill_print_the_new_state() {
    let node = FakeNode::start(vec![
        json(200, record("counter-1f3a", "paused")),
        json(200, record("counter-1f3a", "running")),
        json(200, record("counter-1f3a", "running")),
        json(200, record("counter-1f3a", "killed")),
    ]);
    let out = weft_with_node(None, &["pause", "--node", &node.url, "counter-1f3a"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "paused\n");
    // An id that is not a file goes to the node, even without `--node`.
    let out = weft_with_node(Some(&node.url), &["resume", "counter-1f3a"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "running\n");
    let out = weft_with_node(None, &["resume", "--node", &node.url, "counter-1f3a"]);
    assert_eq!(stdout(&out), "running\n");
    let out = weft_with_node(None, &["kill", "--node", &node.url, "counter-1f3a"]);
    assert_eq!(stdout(&out), "killed\n");
    let targets: Vec<String> = node.received().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/v1/scripts/counter-1f3a/pause",
            "/v1/scripts/counter-1f3a/resume",
            "/v1/scripts/counter-1f3a/resume",
            "/v1/scripts/counter-1f3a/kill"
        ]
    );

    // Local options of `weft resume` make no sense for a script on a node.
    let out = weft_with_node(
        None,
        &[
            "resume",
            "--node",
            "http://127.0.0.1:1",
            "--stats",
            "x-0000",
        ],
    );
    assert_clean_failure(
        &out,
        "--stats can only be used when resuming a snapshot file",
    );
}

#[test]
fn ps_prints_a_table_or_the_json() {
    let mut second = record("counter-2b4c", "exited");
    second["exit"] = "exited with status 0".into();
    let list = serde_json::json!({"scripts": [record("counter-1f3a", "running"), second]});
    let node = FakeNode::start(vec![json(200, list.clone()), json(200, list.clone())]);
    let out = weft_with_node(Some(&node.url), &["ps"]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for column in [
        "ID",
        "NAME",
        "OWNER",
        "STATE",
        "CPU",
        "FUEL",
        "MEMORY",
        "CHECKPOINT AGE",
    ] {
        assert!(lines[0].contains(column), "{column} in {}", lines[0]);
    }
    assert!(lines[1].starts_with("counter-1f3a  counter  alice  running  0.04s  123k  128 KiB"));
    assert!(lines[2].contains("exited"));

    let out = weft_with_node(Some(&node.url), &["ps", "--json"]);
    assert_success(&out);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed, list);
    assert_eq!(node.received()[0].target, "/v1/scripts");
    assert_eq!(node.received()[0].method, "GET");
}

#[test]
fn logs_page_through_the_lines_and_follow_until_the_end() {
    let line = |seq: u64, stream: &str, text: &str| serde_json::json!({"seq": seq, "stream": stream, "text": text});
    let node = FakeNode::start(vec![
        // weft logs
        json(
            200,
            serde_json::json!({"lines": [line(0, "out", "count 1"), line(1, "err", "warn")], "next": 2, "ended": false}),
        ),
        json(
            200,
            serde_json::json!({"lines": [], "next": 2, "ended": false}),
        ),
        // weft logs --follow
        json(
            200,
            serde_json::json!({"lines": [line(0, "out", "count 1")], "next": 1, "ended": false}),
        ),
        json(
            200,
            serde_json::json!({"lines": [], "next": 1, "ended": false}),
        ),
        json(
            200,
            serde_json::json!({"lines": [line(1, "out", "count 2")], "next": 2, "ended": true}),
        ),
    ]);
    let out = weft_with_node(Some(&node.url), &["logs", "counter-1f3a"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "count 1\n");
    assert!(stderr(&out).contains("warn\n"), "{}", stderr(&out));

    let out = weft_with_node(Some(&node.url), &["logs", "--follow", "counter-1f3a"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "count 1\ncount 2\n");
    let targets: Vec<String> = node.received().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/v1/scripts/counter-1f3a/logs?since=0",
            "/v1/scripts/counter-1f3a/logs?since=2",
            "/v1/scripts/counter-1f3a/logs?since=0&wait=25",
            "/v1/scripts/counter-1f3a/logs?since=1&wait=25",
            "/v1/scripts/counter-1f3a/logs?since=1&wait=25",
        ]
    );
}

#[test]
fn snapshots_over_ten_mib_are_written_whole_and_restored() {
    // Over ureq's default body limit (10 MiB).
    let snapshot: Vec<u8> = (0..17 << 20).map(|i: u32| (i % 251) as u8).collect();
    let node = FakeNode::start(vec![
        Answer {
            status: 200,
            content_type: "application/octet-stream",
            body: snapshot.clone(),
        },
        json(201, record("counter-1f3a", "running")),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("counter.snap");
    let path = path.to_str().expect("utf-8");
    let out = weft_with_node(
        None,
        &["snapshot", "--node", &node.url, "counter-1f3a", "-o", path],
    );
    assert_success(&out);
    assert!(out.stdout.is_empty());
    assert!(
        std::fs::read(path).expect("the snapshot") == snapshot,
        "the bytes differ"
    );
    let files = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(files, 1, "no temporary file is left behind");

    let out = weft_with_node(None, &["restore", "--node", &node.url, path]);
    assert_success(&out);
    assert_eq!(stdout(&out), "counter-1f3a\n");
    let received = node.received();
    assert_eq!(
        (received[0].method.as_str(), received[0].target.as_str()),
        ("GET", "/v1/scripts/counter-1f3a/snapshot")
    );
    assert_eq!(
        (received[1].method.as_str(), received[1].target.as_str()),
        ("POST", "/v1/restore")
    );
    assert_eq!(
        received[1].header("content-type"),
        Some("application/octet-stream")
    );
    assert!(received[1].body == snapshot, "the restored bytes differ");
}

#[test]
fn deploy_sends_the_module_and_prints_the_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = crate::util::write(
        dir.path(),
        "counter.wat",
        br#"(module (func (export "_start")) (memory (export "memory") 1))"#,
    );
    let node = FakeNode::start(vec![
        json(201, record("counter-1f3a", "running")),
        json(201, record("other-0001", "running")),
        json(400, serde_json::json!({"error": "invalid wasm: bad magic"})),
    ]);
    let out = weft_with_node(
        None,
        &[
            "deploy", "--node", &node.url, &module, "--owner", "alice", "--", "20",
        ],
    );
    assert_success(&out);
    assert_eq!(stdout(&out), "counter-1f3a\n");
    let out = weft_with_node(Some(&node.url), &["deploy", &module, "--name", "other"]);
    assert_eq!(stdout(&out), "other-0001\n");
    let out = weft_with_node(Some(&node.url), &["deploy", &module]);
    assert_clean_failure(&out, "invalid wasm: bad magic (HTTP 400)");

    let received = node.received();
    assert_eq!(
        (received[0].method.as_str(), received[0].target.as_str()),
        ("POST", "/v1/scripts")
    );
    assert!(
        received[0]
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let body = received[0].json();
    assert_eq!(body["name"], "counter");
    assert_eq!(body["owner"], "alice");
    assert_eq!(body["args"], serde_json::json!(["counter", "20"]));
    let wasm = body["wasm"].as_str().expect("base64");
    use base64::Engine as _;
    let wasm = base64::engine::general_purpose::STANDARD
        .decode(wasm)
        .expect("base64");
    assert!(wasm.starts_with(b"\0asm"), "a binary module");
    let body = received[1].json();
    assert_eq!(body["name"], "other");
    assert!(body.get("owner").is_none(), "the node's default owner");
    assert_eq!(body["args"], serde_json::json!(["other"]));

    // A missing module fails before anything is sent.
    let out = weft_with_node(Some("http://127.0.0.1:1"), &["deploy", "missing.wasm"]);
    assert_clean_failure(&out, "cannot read missing.wasm");
}

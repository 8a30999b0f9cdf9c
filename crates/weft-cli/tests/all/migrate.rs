//! Moving running scripts between two real `weft serve` processes: there
//! and back with the output intact, a fault injected at every step of the
//! two-phase handoff (connection refused, receiver killed while receiving,
//! receiver killed after committing so that its answer is lost, sender
//! killed after the prepare and after the commit), after which the script
//! runs on exactly one node; and a hostile peer refused step by step while
//! the node keeps serving.

use crate::serve::{Serve, data_dir, ticker, ticks, wait_until};
use crate::util::stderr;
use base64::Engine;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SECRET: &str = "a-secret-shared-by-a-and-b";

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("an address").port()
}

/// Two nodes, `a` and `b`, each the other's peer.
struct Pair {
    _dirs: Vec<tempfile::TempDir>,
    data: [PathBuf; 2],
    peers: [PathBuf; 2],
    listen: [String; 2],
    a: Option<Serve>,
    b: Option<Serve>,
}

impl Pair {
    fn new() -> Pair {
        Pair::with_trust("untrusted")
    }

    /// Two nodes that give each other the trust level `trust`.
    fn with_trust(trust: &str) -> Pair {
        let (dir_a, data_a) = data_dir();
        let (dir_b, data_b) = data_dir();
        let listen = [
            format!("127.0.0.1:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        ];
        let peers_file = |dir: &Path, me: &str, other: &str, url: &str| {
            let path = dir.join(format!("peers-{me}.json"));
            let text = json!({
                "node": me,
                "peers": [{
                    "name": other, "url": format!("http://{url}"), "secret": SECRET,
                    "trust": trust,
                }],
            });
            std::fs::write(&path, text.to_string()).expect("writes the peers file");
            path
        };
        let peers = [
            peers_file(dir_a.path(), "a", "b", &listen[1]),
            peers_file(dir_b.path(), "b", "a", &listen[0]),
        ];
        Pair {
            _dirs: vec![dir_a, dir_b],
            data: [data_a, data_b],
            peers,
            listen,
            a: None,
            b: None,
        }
    }

    /// Starts node `i` (0 is a, 1 is b), with a fault to inject if given.
    fn start(&mut self, i: usize, fault: Option<&str>) {
        let env: Vec<(&str, &str)> = fault.map(|f| ("WEFT_FAULT", f)).into_iter().collect();
        let peers = self.peers[i].to_string_lossy().into_owned();
        let node = Serve::start_with(&self.data[i], &self.listen[i], &["--peers", &peers], &env);
        if i == 0 {
            self.a = Some(node);
        } else {
            self.b = Some(node);
        }
    }

    fn a(&self) -> &Serve {
        self.a.as_ref().expect("a runs")
    }

    fn b(&self) -> &Serve {
        self.b.as_ref().expect("b runs")
    }

    /// Waits for node `i`'s process to end (after an injected fault).
    fn wait_dead(&mut self, i: usize) {
        let node = if i == 0 { self.a.take() } else { self.b.take() };
        if let Some(node) = node {
            node.crash();
        }
    }

    /// Waits until exactly one node runs `id` and the other has no record
    /// of it; returns which (0 or 1).
    fn settles(&self, id: &str) -> usize {
        let state = |node: &Serve| {
            node.scripts()
                .into_iter()
                .find(|s| s["id"] == id)
                .map(|s| s["state"].as_str().unwrap_or_default().to_string())
        };
        let mut owner = None;
        wait_until("the script to settle on one node", || {
            owner = match (state(self.a()), state(self.b())) {
                (Some(a), None) if a == "running" => Some(0),
                (None, Some(b)) if b == "running" => Some(1),
                _ => None,
            };
            owner.is_some()
        });
        owner.expect("settled")
    }

    fn node(&self, i: usize) -> &Serve {
        if i == 0 { self.a() } else { self.b() }
    }
}

fn migrate(from: &Serve, id: &str, to: &Serve) -> std::process::Output {
    from.weft(&["migrate", id, "--to", &to.url])
}

/// The script's output on `node` continues: it is `tick 1 .. tick n` and
/// grows past `at_least`.
fn continues(node: &Serve, id: &str, at_least: usize) {
    wait_until("more ticks", || node.lines(id).len() > at_least);
    ticks(&node.lines(id), id);
}

/// Starts two nodes of trust level `trust`, deploys a ticker on a and
/// moves it to b, where it goes on ticking.
fn ticker_moved_to_b(trust: &str) -> (Pair, String) {
    let mut pair = Pair::with_trust(trust);
    pair.start(0, None);
    pair.start(1, None);
    let id = pair.a().deploy(&ticker(10), "ticker", &[]);
    wait_until("ticks on a", || pair.a().lines(&id).len() >= 5);
    let out = migrate(pair.a(), &id, pair.b());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pair.settles(&id), 1);
    continues(pair.b(), &id, 10);
    (pair, id)
}

#[test]
fn a_counter_moves_there_and_back_with_no_gap_and_no_repeat() {
    let (pair, id) = ticker_moved_to_b("untrusted");
    let out = migrate(pair.b(), &id, pair.a());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pair.settles(&id), 0);
    continues(pair.a(), &id, 20);
    // Through the client, as a user reads it.
    let out = pair.a().weft(&["logs", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(ticks(&lines, &id) > 20);
}

#[test]
fn a_refused_connection_leaves_the_script_where_it_was() {
    let mut pair = Pair::new();
    pair.start(0, None);
    let id = pair.a().deploy(&ticker(10), "ticker", &[]);
    wait_until("ticks", || pair.a().lines(&id).len() >= 3);
    let out = pair.a().weft(&[
        "migrate",
        &id,
        "--to",
        &format!("http://{}", pair.listen[1]),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("continues here"), "{}", stderr(&out));
    let n = pair.a().lines(&id).len();
    continues(pair.a(), &id, n + 3);
}

/// Starts both nodes (one with `fault`), moves a ticker from a to b, lets
/// the fault kill its node, restarts it, and returns the node the script
/// settles on and its id.
fn move_with_fault(fault: &str, faulty: usize) -> (Pair, String, usize) {
    let mut pair = Pair::new();
    pair.start(0, (faulty == 0).then_some(fault));
    pair.start(1, (faulty == 1).then_some(fault));
    let id = pair.a().deploy(&ticker(10), "ticker", &[]);
    wait_until("ticks", || pair.a().lines(&id).len() >= 5);
    let out = migrate(pair.a(), &id, pair.b());
    assert_eq!(
        out.status.code(),
        Some(1),
        "the migration should fail at `{fault}`: {}",
        stderr(&out)
    );
    pair.wait_dead(faulty);
    pair.start(faulty, None);
    let owner = pair.settles(&id);
    let n = pair.node(owner).lines(&id).len();
    continues(pair.node(owner), &id, n + 3);
    (pair, id, owner)
}

#[test]
fn receiver_killed_while_receiving() {
    let (_, _, owner) = move_with_fault("receiver-on-prepare", 1);
    assert_eq!(owner, 0, "the script should be back on the sender");
}

#[test]
fn receiver_killed_after_committing_its_answer_lost() {
    let (_, _, owner) = move_with_fault("receiver-after-commit", 1);
    assert_eq!(owner, 1, "the receiver committed: the script is its");
}

#[test]
fn sender_killed_after_the_prepare() {
    let (_, _, owner) = move_with_fault("sender-after-prepare", 0);
    assert_eq!(owner, 0, "not committed: the script is the sender's");
}

#[test]
fn sender_killed_after_the_commit() {
    let (_, _, owner) = move_with_fault("sender-after-commit", 0);
    assert_eq!(owner, 1, "committed: the script is the receiver's");
}

/// A `step` of transfer `t1` sent to `to` as peer `name` (no peer headers
/// without one), signed with `secret`: the status (0 if the connection
/// closed early) and the body.
fn send_step(
    to: &Serve,
    name: Option<&str>,
    secret: &str,
    step: &str,
    body: &[u8],
) -> (u16, String) {
    let path = format!("/v1/transfers/t1/{step}");
    let mut request = Serve::agent().post(&format!("{}{path}", to.url));
    if let Some(name) = name {
        request = request.header("x-weft-peer", name).header(
            "x-weft-signature",
            &weft_node::migrate::sign(secret, "POST", &path, body),
        );
    }
    match request.send(body) {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            (status, text)
        }
        // The node may answer an oversized body before reading all of
        // it, and close the connection: the sender sees it closed.
        Err(e) => (0, e.to_string()),
    }
}

/// The `error` of a JSON error answer.
fn error(text: &str) -> String {
    serde_json::from_str::<Value>(text).expect("a JSON error")["error"]
        .as_str()
        .expect("an error message")
        .to_string()
}

/// `GET /v1/scripts/{id}/snapshot` (the snapshot carries its module).
fn snapshot_of(node: &Serve, id: &str) -> Vec<u8> {
    let mut response = Serve::agent()
        .get(&format!("{}/v1/scripts/{id}/snapshot", node.url))
        .call()
        .expect("the node answers");
    assert_eq!(response.status().as_u16(), 200);
    response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("bytes")
}

/// A `prepare` body for script `id` with `snapshot`, and one more field.
fn transfer_body(id: &str, name: &str, snapshot: &[u8], extra: Option<(&str, Value)>) -> Vec<u8> {
    let mut body = json!({
        "script": id, "name": name, "owner": "default", "args": [name],
        "snapshot": base64::engine::general_purpose::STANDARD.encode(snapshot),
        "logs": [], "log_next": 0,
    });
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    body.to_string().into_bytes()
}

#[test]
fn a_hostile_peer_is_refused_and_the_node_keeps_serving() {
    let mut pair = Pair::new();
    pair.start(0, None);
    // b reads at most 1 MiB per request.
    let peers = pair.peers[1].to_string_lossy().into_owned();
    pair.b = Some(Serve::start_with(
        &pair.data[1],
        &pair.listen[1],
        &["--peers", &peers, "--max-body", "1M"],
        &[],
    ));
    let id = pair.a().deploy(&ticker(10), "ticker", &[]);
    wait_until("ticks", || pair.a().lines(&id).len() >= 3);
    let send = |name: Option<&str>, secret: &str, step: &str, body: &[u8]| {
        send_step(pair.b(), name, secret, step, body)
    };
    // A real transfer body to tamper with.
    let snapshot = snapshot_of(pair.a(), &id);
    let payload = |snapshot: &[u8], extra: Option<(&str, Value)>| {
        transfer_body(&id, "ticker", snapshot, extra)
    };
    let good = payload(&snapshot, None);

    let (status, text) = send(None, SECRET, "prepare", &good);
    assert_eq!(status, 401, "{text}");
    let (status, text) = send(Some("mallory"), SECRET, "prepare", &good);
    assert_eq!(status, 403, "{text}");
    assert!(error(&text).contains("not a peer"), "{text}");
    let (status, text) = send(Some("a"), "not-the-shared-secret", "prepare", &good);
    assert_eq!(status, 401, "{text}");
    assert!(error(&text).contains("signature"), "{text}");

    let mut corrupt = snapshot.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let (status, text) = send(Some("a"), SECRET, "prepare", &payload(&corrupt, None));
    assert_eq!(status, 400, "{text}");

    // A snapshot of the ticker that carries another module.
    let mut decoded = weft_snapshot::decode(&snapshot, &Default::default()).expect("decodes");
    decoded.wasm = Some(ticker(999));
    let other = weft_snapshot::encode(&decoded).expect("encodes");
    let (status, text) = send(Some("a"), SECRET, "prepare", &payload(&other, None));
    assert_eq!(status, 400, "{text}");
    assert!(error(&text).contains("claims module"), "{text}");

    // Code from a peer that is not trusted, however well it claims to fit.
    let code = json!({
        "engine": "0".repeat(64), "instrumentation": "fuel", "code": "f0VMRgIBAQ",
    });
    let precompiled = payload(&snapshot, Some(("precompiled", code)));
    let (status, text) = send(Some("a"), SECRET, "prepare", &precompiled);
    assert_eq!(status, 400, "{text}");
    assert!(
        error(&text).contains("precompiled code from peer `a` is refused"),
        "{text}"
    );

    let huge = vec![b'x'; 2 << 20];
    let (status, text) = send(Some("a"), SECRET, "prepare", &huge);
    // Refused with 413, or the connection closed while the body was still
    // being written (seen as a disconnect, a broken pipe or a reset).
    let closed = ["disconnected", "Broken pipe", "reset"]
        .iter()
        .any(|how| text.contains(how));
    assert!(
        status == 413 || (status == 0 && closed),
        "an oversized body: {status} {text}"
    );

    let (status, text) = send(Some("a"), SECRET, "commit", b"");
    assert_eq!(
        status, 404,
        "an unknown transfer cannot be committed: {text}"
    );

    // b still serves, and a real migration still works.
    let (status, body) = pair.b().get("/healthz");
    assert_eq!((status, body.as_str()), (200, Some("ok")));
    let out = migrate(pair.a(), &id, pair.b());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pair.settles(&id), 1);
    std::thread::sleep(Duration::from_millis(50));
}

/// The value of `weft_transfer_modules_total{how="..."}` on `node`.
fn modules_made(node: &Serve, how: &str) -> u64 {
    let (status, text) = node.get("/metrics");
    assert_eq!(status, 200);
    let text = text.as_str().expect("metrics are text").to_string();
    let key = format!("weft_transfer_modules_total{{how=\"{how}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .parse()
        .expect("a count")
}

#[test]
fn a_trusted_peer_ships_its_compiled_code() {
    let (mut pair, id) = ticker_moved_to_b("trusted");
    // b ran a's code: both run the same weft binary, so the engines match.
    assert_eq!(modules_made(pair.b(), "precompiled"), 1);
    assert_eq!(modules_made(pair.b(), "compiled"), 0);
    // It survives b's restart (its code is in b's store and cache).
    pair.b.take().expect("b runs").stop();
    pair.start(1, None);
    continues(pair.b(), &id, pair.b().lines(&id).len() + 3);
}

/// Checks that `lines` is `count 1` .. `count n` and returns n.
fn counts(lines: &[String], context: &str) -> usize {
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("count {}", i + 1), "{context}: {lines:?}");
    }
    lines.len()
}

#[test]
fn a_source_peer_compiles_the_script_from_its_source() {
    let mut pair = Pair::with_trust("source");
    pair.start(0, None);
    pair.start(1, None);
    let counter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/c/counter.c");
    let out = pair.a().weft(&[
        "deploy",
        counter.to_str().expect("a UTF-8 path"),
        "--",
        "1000000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    wait_until("counts on a", || pair.a().lines(&id).len() >= 5);

    // What a source peer must send, refused step by step: no source, and a
    // source that is not the one the snapshot's module was built from.
    let mut snapshot =
        weft_snapshot::decode(&snapshot_of(pair.a(), &id), &Default::default()).expect("decodes");
    snapshot.wasm = None;
    let snapshot = weft_snapshot::encode(&snapshot).expect("encodes");
    let (status, text) = send_step(
        pair.b(),
        Some("a"),
        SECRET,
        "prepare",
        &transfer_body(&id, "counter", &snapshot, None),
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        error(&text).contains("must carry the script's source"),
        "{text}"
    );
    let text = std::fs::read_to_string(&counter).expect("reads the source");
    let changed = json!({"file": "counter.c", "text": text.replace("count %ld", "Count %ld")});
    let body = transfer_body(&id, "counter", &snapshot, Some(("source", changed)));
    let (status, text) = send_step(pair.b(), Some("a"), SECRET, "prepare", &body);
    assert_eq!(status, 400, "{text}");
    assert!(
        error(&text).contains("its source compiles to module"),
        "{text}"
    );
    assert_eq!(modules_made(pair.b(), "source"), 0);

    let out = migrate(pair.a(), &id, pair.b());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pair.settles(&id), 1);
    // b built the module from the C source with its own clang.
    assert_eq!(modules_made(pair.b(), "source"), 1);
    assert_eq!(modules_made(pair.b(), "compiled"), 0);
    let n = pair.b().lines(&id).len();
    wait_until("more counts on b", || pair.b().lines(&id).len() > n + 5);
    // And back: b kept the source, so it can send it on.
    let out = migrate(pair.b(), &id, pair.a());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pair.settles(&id), 0);
    let n = pair.a().lines(&id).len();
    wait_until("more counts on a", || pair.a().lines(&id).len() > n + 5);
    counts(&pair.a().lines(&id), &id);

    // A script deployed as a module has no source to send: it stays.
    let module = pair.a().deploy(&ticker(10), "ticker", &[]);
    wait_until("ticks", || pair.a().lines(&module).len() >= 3);
    let out = migrate(pair.a(), &module, pair.b());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("takes scripts as source"),
        "{}",
        stderr(&out)
    );
    continues(pair.a(), &module, pair.a().lines(&module).len() + 3);
}

//! Moving a running script to another node by a two-phase handoff, and the
//! peers a node trusts.
//!
//! # The protocol
//!
//! The sender owns the script until the receiver has committed it; every
//! step is recorded durably before the next, on both sides, and every step
//! can be repeated (transfers carry ids):
//!
//! 1. The sender stops the script at a slice boundary and, in one store
//!    transaction, marks it `away` and records the transfer as
//!    `preparing`, with the payload: the snapshot (carrying the original
//!    module), the script's record and its output.
//! 2. `prepare`: the receiver validates everything (the module is
//!    validated, instrumented and compiled by the receiver itself; the
//!    snapshot is decoded within its limits and checked against that
//!    module) and stores the transfer as `prepared`. It does not run it.
//! 3. The sender records `committing`.
//! 4. `commit`: in one transaction the receiver adds the script (record,
//!    output, the snapshot as its first checkpoint) and marks the transfer
//!    `committed`; then it runs the script.
//! 5. The sender deletes the script and the transfer.
//!
//! A failure anywhere is resolved by the sender, from what it recorded
//! (at once when it can, else by its resolver, which retries every second
//! and runs at start): a transfer still `preparing` is aborted on the
//! receiver (which drops it) and the script continues on the sender; a
//! transfer `committing` is committed again (a receiver that committed
//! already answers yes) and the sender then deletes its copy. At every
//! moment exactly one node owns the script, and at most one runs it.
//!
//! # Peers
//!
//! A node accepts transfers only from the peers of its peers file, each
//! authenticated by an HMAC-SHA256 over each request with a secret shared
//! by the two nodes. Each peer has a trust level, which both nodes set the
//! same way in their peers files; it says what a transfer carries:
//!
//! - `untrusted` (the default): the original module with the snapshot. The
//!   receiver validates, instruments and compiles the module and checks the
//!   snapshot against its own limits. Precompiled code is refused.
//! - `trusted`: the same, plus the sender's compiled code. The receiver
//!   runs that code instead of compiling when its engine has the same
//!   fingerprint (Wasmtime version, target, compiler settings) and the same
//!   instrumentation, and compiles the module itself otherwise. Everything
//!   else is checked as for an untrusted peer.
//! - `source`: the script's source instead of the module (so only scripts
//!   deployed from source can move to such a peer). The receiver compiles
//!   it with its own toolchains; the result must be the very module the
//!   snapshot was taken of, else the transfer is refused. Then it is
//!   checked as for an untrusted peer.

use crate::node::{Error, Node, Result};
use crate::source::SourceFile;
use crate::store::{self, Direction, LogLine, ScriptRecord, ScriptState, Stream, Transfer};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use weft_snapshot::DecodeLimits;

/// How much a peer is trusted, from the peers file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Sends its compiled code along, which runs here when the engines
    /// match.
    Trusted,
    /// Sends the original module with the snapshot; everything is checked.
    Untrusted,
    /// Sends the script's source, which this node compiles.
    Source,
}

/// One peer of the peers file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its node name (what it sends in `X-Weft-Peer`).
    pub name: String,
    /// Its base URL.
    pub url: String,
    /// The secret this node and that peer share.
    pub secret: String,
    /// How much it is trusted.
    #[serde(default = "untrusted")]
    pub trust: Trust,
}

fn untrusted() -> Trust {
    Trust::Untrusted
}

/// The peers file: this node's name and its peers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peers {
    /// This node's name.
    pub node: String,
    /// The nodes it exchanges scripts with.
    #[serde(default)]
    pub peers: Vec<Peer>,
}

impl Peers {
    /// Reads a peers file (JSON, see docs/node-api.md).
    pub fn load(path: &Path) -> Result<Peers, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the peers file {}: {e}", path.display()))?;
        let peers: Peers = serde_json::from_str(&text)
            .map_err(|e| format!("the peers file {} is invalid: {e}", path.display()))?;
        if peers.node.is_empty() {
            return Err(format!("the peers file {} names no node", path.display()));
        }
        if let Some(p) = peers.peers.iter().find(|p| p.secret.len() < 16) {
            return Err(format!(
                "the secret shared with peer `{}` is shorter than 16 characters",
                p.name
            ));
        }
        Ok(peers)
    }

    fn by_name(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    fn by_url(&self, url: &str) -> Option<&Peer> {
        let url = url.trim_end_matches('/');
        self.peers
            .iter()
            .find(|p| p.url.trim_end_matches('/') == url || p.name == url)
    }
}

/// The header naming the sending node.
pub const PEER_HEADER: &str = "x-weft-peer";
/// The header carrying the request's HMAC.
pub const SIGNATURE_HEADER: &str = "x-weft-signature";

/// The HMAC-SHA256 of a request, in hex: over the method, the path and the
/// SHA-256 of the body.
pub fn sign(secret: &str, method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(method.as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(hex::encode(Sha256::digest(body)).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a peer's request: known peer, right signature.
pub fn authenticate(
    peers: Option<&Peers>,
    peer: Option<&str>,
    signature: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), (u16, String)> {
    let peers = peers.ok_or((
        403,
        "this node has no peers file: it accepts no transfers".to_string(),
    ))?;
    let name = peer.ok_or((401, format!("no {PEER_HEADER} header: who is sending?")))?;
    let known = peers
        .by_name(name)
        .ok_or((403, format!("`{name}` is not a peer of this node")))?;
    let signature = signature.ok_or((401, format!("no {SIGNATURE_HEADER} header")))?;
    let expected = sign(&known.secret, method, path, body);
    let equal = expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !equal {
        return Err((
            401,
            format!("the signature of peer `{name}` does not match its shared secret"),
        ));
    }
    Ok(())
}

/// What travels in `prepare`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The script's id.
    pub script: String,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// Its command line.
    pub args: Vec<String>,
    /// The snapshot, carrying the original module, in base64.
    pub snapshot: String,
    /// Its output so far, oldest first.
    pub logs: Vec<PayloadLine>,
    /// The sequence number of its next line.
    pub log_next: u64,
    /// The sender's compiled code (from a `trusted` peer only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precompiled: Option<PayloadCode>,
    /// The script's source (to and from a `source` peer, whose snapshot
    /// does not carry the module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceFile>,
}

/// Compiled code in a [`Payload`]: a [`weft_runtime::Precompiled`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadCode {
    /// The compiling engine's fingerprint.
    pub engine: String,
    /// The instrumentation the code was compiled with.
    pub instrumentation: String,
    /// The code, in base64.
    pub code: String,
}

/// One line of output in a [`Payload`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadLine {
    /// Its sequence number.
    pub seq: u64,
    /// `out` or `err`.
    pub stream: String,
    /// The text.
    pub text: String,
}

/// How an outgoing transfer ended.
enum Settled {
    /// The peer has the script.
    Moved,
    /// The script continues here.
    TakenBack,
}

/// The phases of a transfer, as both sides record them.
pub mod phase {
    /// Sender: the script is stopped and the transfer recorded.
    pub const PREPARING: &str = "preparing";
    /// Sender: the receiver has it; committing.
    pub const COMMITTING: &str = "committing";
    /// Receiver: validated and stored, not running.
    pub const PREPARED: &str = "prepared";
    /// Receiver: the script is the receiver's.
    pub const COMMITTED: &str = "committed";
}

/// A fault to inject, for the tests of the protocol (`WEFT_FAULT`).
fn fault(point: &str) {
    if std::env::var("WEFT_FAULT").is_ok_and(|f| f == point) {
        eprintln!("weft: injected fault `{point}`: exiting at once");
        std::process::abort();
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Why a request to a peer got no answer.
struct Unanswered {
    /// Whether the request may have reached the peer (anything but a
    /// failure to connect).
    sent: bool,
    message: String,
}

/// A signed request to a peer; `Ok(status, body)` for any answer.
fn call(peers: &Peers, peer: &Peer, path: &str, body: &[u8]) -> Result<(u16, String), Unanswered> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let url = format!("{}{path}", peer.url.trim_end_matches('/'));
    let signature = sign(&peer.secret, "POST", path, body);
    let mut response = agent
        .post(&url)
        .header(PEER_HEADER, &peers.node)
        .header(SIGNATURE_HEADER, &signature)
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| Unanswered {
            sent: match &e {
                ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => false,
                ureq::Error::Io(io) => io.kind() != std::io::ErrorKind::ConnectionRefused,
                _ => true,
            },
            message: format!("cannot reach peer `{}` at {}: {e}", peer.name, peer.url),
        })?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap_or_default();
    Ok((status, text))
}

fn peer_error(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

impl Node {
    fn peers(&self) -> Result<&Peers> {
        self.peers_config().ok_or_else(|| {
            Error::Conflict("this node has no peers file: it can migrate to nobody".into())
        })
    }

    /// Moves a running script to the peer at `to` (its URL or name); see
    /// the module docs.
    pub fn migrate(&self, id: &str, to: &str) -> Result<String> {
        let peers = self.peers()?.clone();
        let peer = peers
            .by_url(to)
            .ok_or_else(|| Error::BadRequest(format!("`{to}` is not a peer of this node")))?
            .clone();
        let record = self.live_record(id)?;
        if record.state == ScriptState::Paused {
            return Err(Error::Conflict(format!(
                "the script `{id}` is paused: resume it before moving it"
            )));
        }
        // What the peer's trust level says goes along (before the script
        // is stopped, so that a script that cannot go keeps running).
        let source = match peer.trust {
            Trust::Source => Some(self.store().source(&record.module)?.ok_or_else(|| {
                Error::Conflict(format!(
                    "peer `{}` takes scripts as source, and `{id}` was deployed as a module; \
                     deploy it from its source file to move it there",
                    peer.name
                ))
            })?),
            Trust::Trusted | Trust::Untrusted => None,
        };
        let precompiled = match peer.trust {
            Trust::Trusted => Some(self.precompiled_code(&record.module)?),
            Trust::Source | Trust::Untrusted => None,
        };
        let transfer_id = format!("{}-{:016x}", id, rand::random::<u64>());
        // The resolver leaves this transfer alone while this call runs it.
        let _busy = self.busy_transfer(&transfer_id);
        let mut snapshot = self.world().evict(id, Duration::from_secs(10))?;
        let carried = if source.is_some() {
            weft_snapshot::encode(&snapshot)
                .map_err(|e| Error::Internal(format!("cannot encode the snapshot: {e}")))
        } else {
            self.carrying_module(&mut snapshot, id)
        };
        let bytes = match carried {
            Ok(bytes) => bytes,
            Err(e) => {
                self.world()
                    .restore(&snapshot, &hex::encode(record.module))?;
                return Err(e);
            }
        };
        self.commit_pending()?;
        let store = self.store();
        let lines = store.logs(id, 0, store::LOG_LINES_KEPT as usize)?;
        let log_next = store.next_log_seq(id)?;
        let payload = Payload {
            script: id.into(),
            name: record.name.clone(),
            owner: record.owner.clone(),
            args: record.args.clone(),
            snapshot: base64::engine::general_purpose::STANDARD.encode(&bytes),
            logs: lines
                .into_iter()
                .map(|l| PayloadLine {
                    seq: l.seq,
                    stream: l.stream.as_str().into(),
                    text: l.text,
                })
                .collect(),
            log_next,
            precompiled,
            source,
        };
        let body = serde_json::to_vec(&payload)
            .map_err(|e| Error::Internal(format!("cannot encode the transfer: {e}")))?;
        let transfer = Transfer {
            id: transfer_id.clone(),
            script: id.into(),
            peer: peer.name.clone(),
            direction: Direction::Out,
            phase: phase::PREPARING.into(),
            snapshot: Some(bytes),
            updated_at: unix_now(),
        };
        store.transaction(|tx| {
            store::set_state(tx, id, ScriptState::Away, None)?;
            store::put_transfer(tx, &transfer)
        })?;
        self.set_cached_state(id, ScriptState::Away);
        let path = format!("/v1/transfers/{}/prepare", transfer.id);
        match call(&peers, &peer, &path, &body) {
            Ok((200, _)) => {}
            Ok((status, text)) => {
                let why = peer_error(&text);
                self.abort_out(&peers, &peer, &transfer)?;
                return Err(Error::Conflict(format!(
                    "peer `{}` refused the script (HTTP {status}): {why}",
                    peer.name
                )));
            }
            Err(e) if !e.sent => {
                // It never reached the peer: the script is ours.
                self.take_back(&transfer)?;
                return Err(Error::Conflict(format!(
                    "{}; the script continues here",
                    e.message
                )));
            }
            Err(e) => {
                // The peer may have stored it: take it back through an
                // abort, now or when the peer answers.
                self.abort_out(&peers, &peer, &transfer)?;
                return Err(Error::Conflict(format!(
                    "{}; the script continues here",
                    e.message
                )));
            }
        }
        fault("sender-after-prepare");
        let mut committing = transfer.clone();
        committing.phase = phase::COMMITTING.into();
        committing.updated_at = unix_now();
        store.put_transfer(&committing)?;
        match self.commit_out(&peers, &peer, &committing)? {
            Settled::Moved => Ok(peer.url.clone()),
            Settled::TakenBack => Err(Error::Conflict(format!(
                "peer `{}` lost the transfer; the script continues here",
                peer.name
            ))),
        }
    }

    /// Commits an outgoing transfer on the peer, then forgets the script.
    fn commit_out(&self, peers: &Peers, peer: &Peer, transfer: &Transfer) -> Result<Settled> {
        let path = format!("/v1/transfers/{}/commit", transfer.id);
        match call(peers, peer, &path, b"") {
            Ok((200, _)) => {}
            Ok((404, _)) => {
                // The peer does not have it (it lost it): it is ours again.
                self.abort_out(peers, peer, transfer)?;
                return Ok(Settled::TakenBack);
            }
            Ok((status, text)) => {
                return Err(Error::Conflict(format!(
                    "peer `{}` did not commit (HTTP {status}): {}; it will be asked again",
                    peer.name,
                    peer_error(&text)
                )));
            }
            Err(e) => {
                return Err(Error::Conflict(format!(
                    "{}; the move will be completed when the peer answers",
                    e.message
                )));
            }
        }
        fault("sender-after-commit");
        self.store().transaction(|tx| {
            store::delete_script(tx, &transfer.script)?;
            store::delete_transfer(tx, &transfer.id)
        })?;
        self.forget(&transfer.script);
        Ok(Settled::Moved)
    }

    /// Takes an outgoing transfer back: aborts it on the peer, then
    /// continues the script here. If the peer cannot be reached the
    /// transfer stays pending (the script runs nowhere) and the resolver
    /// asks again.
    fn abort_out(&self, peers: &Peers, peer: &Peer, transfer: &Transfer) -> Result<()> {
        let path = format!("/v1/transfers/{}/abort", transfer.id);
        match call(peers, peer, &path, b"") {
            Ok((200, _)) => self.take_back(transfer),
            Ok((status, text)) => Err(Error::Conflict(format!(
                "peer `{}` did not abort the transfer (HTTP {status}): {}",
                peer.name,
                peer_error(&text)
            ))),
            Err(e) => Err(Error::Conflict(format!(
                "{}; the transfer stays pending until the peer answers",
                e.message
            ))),
        }
    }

    /// Continues the script of an outgoing transfer here and forgets the
    /// transfer.
    fn take_back(&self, transfer: &Transfer) -> Result<()> {
        let bytes = transfer
            .snapshot
            .as_deref()
            .ok_or_else(|| Error::Internal("the transfer lost its snapshot".into()))?;
        self.continue_here(&transfer.script, bytes)?;
        self.store().delete_transfer(&transfer.id)?;
        Ok(())
    }

    /// Resolves every pending outgoing transfer (at start and every second).
    pub fn resolve_transfers(&self) {
        let Some(peers) = self.peers_config().cloned() else {
            return;
        };
        let Ok(transfers) = self.store().transfers() else {
            return;
        };
        for transfer in transfers {
            if transfer.direction != Direction::Out {
                continue;
            }
            let Some(peer) = peers.by_name(&transfer.peer).cloned() else {
                continue;
            };
            let Some(_busy) = self.try_busy_transfer(&transfer.id) else {
                // A `migrate` call is running it.
                continue;
            };
            let outcome = match transfer.phase.as_str() {
                phase::PREPARING => self.abort_out(&peers, &peer, &transfer),
                phase::COMMITTING => self.commit_out(&peers, &peer, &transfer).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = outcome {
                tracing::warn!("transfer {} not resolved yet: {e}", transfer.id);
            }
        }
    }

    /// `prepare` from a peer: validates and stores the transfer.
    pub fn receive_prepare(&self, transfer: &str, body: &[u8], from: &str) -> Result<()> {
        let _incoming = self.incoming_lock();
        if let Some(existing) = self.store().transfer(transfer)? {
            return match existing.phase.as_str() {
                phase::PREPARED | phase::COMMITTED => Ok(()),
                other => Err(Error::Conflict(format!("transfer `{transfer}` is {other}"))),
            };
        }
        fault("receiver-on-prepare");
        let payload: Payload = serde_json::from_slice(body)
            .map_err(|e| Error::BadRequest(format!("not a transfer: {e}")))?;
        let trust = self
            .peers_config()
            .and_then(|peers| peers.by_name(from))
            .map_or(Trust::Untrusted, |peer| peer.trust);
        if payload.precompiled.is_some() && trust != Trust::Trusted {
            return Err(Error::BadRequest(format!(
                "precompiled code from peer `{from}` is refused: it is not a trusted peer of \
                 this node, whose modules this node validates, instruments and compiles itself"
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload.snapshot.as_bytes())
            .map_err(|e| Error::BadRequest(format!("the snapshot is not base64: {e}")))?;
        let snapshot = weft_snapshot::decode(&bytes, &DecodeLimits::default())
            .map_err(|e| Error::BadRequest(format!("the snapshot is refused: {e}")))?;
        if snapshot.meta.script_id != payload.script {
            return Err(Error::BadRequest(format!(
                "the snapshot is of `{}`, not of `{}`",
                snapshot.meta.script_id, payload.script
            )));
        }
        let wasm = match trust {
            Trust::Source => self.compile_source(from, payload.source.as_ref())?,
            Trust::Trusted | Trust::Untrusted => snapshot.wasm.clone().ok_or_else(|| {
                Error::BadRequest("the snapshot does not carry its module".into())
            })?,
        };
        let hash = weft_runtime::module_hash(&wasm);
        if snapshot.module.hash != hash {
            return Err(Error::BadRequest(match trust {
                Trust::Source => format!(
                    "the snapshot is of module {}, but its source compiles to module {} on \
                     this node (are the toolchains the same?)",
                    hex::encode(snapshot.module.hash),
                    hex::encode(hash)
                ),
                _ => format!(
                    "the snapshot claims module {}, but carries module {}",
                    hex::encode(snapshot.module.hash),
                    hex::encode(hash)
                ),
            }));
        }
        let module = self.load_incoming(from, &wasm, payload.precompiled.as_ref(), trust)?;
        snapshot
            .validate(module.shape(), &self.config().limits)
            .map_err(|e| Error::BadRequest(format!("the snapshot does not fit: {e}")))?;
        if self.has_script(&payload.script) {
            return Err(Error::Conflict(format!(
                "a script `{}` exists on this node already",
                payload.script
            )));
        }
        self.store().put_module(&hash, &wasm)?;
        if let Some(source) = &payload.source
            && trust == Trust::Source
        {
            self.store().put_source(&hash, source)?;
        }
        self.store().put_transfer(&Transfer {
            id: transfer.into(),
            script: payload.script,
            peer: from.into(),
            direction: Direction::In,
            phase: phase::PREPARED.into(),
            snapshot: Some(body.to_vec()),
            updated_at: unix_now(),
        })?;
        Ok(())
    }

    /// The compiled code of a module this node runs, for a trusted peer.
    fn precompiled_code(&self, hash: &[u8; 32]) -> Result<PayloadCode> {
        let wasm = self.store().module(hash)?.ok_or_else(|| {
            Error::Internal(format!("the store has no module {}", hex::encode(hash)))
        })?;
        let runtime = self.runtime();
        let module = runtime
            .load(&wasm)
            .map_err(|e| Error::Internal(format!("the module does not load: {e}")))?;
        let code = runtime
            .precompiled(&module)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(PayloadCode {
            engine: code.engine,
            instrumentation: code.instrumentation,
            code: base64::engine::general_purpose::STANDARD.encode(&code.code),
        })
    }

    /// Compiles the source a `source` peer sent.
    fn compile_source(&self, from: &str, source: Option<&SourceFile>) -> Result<Vec<u8>> {
        let source = source.ok_or_else(|| {
            Error::BadRequest(format!(
                "peer `{from}` is a source peer of this node: its transfers must carry the \
                 script's source"
            ))
        })?;
        source.check().map_err(Error::BadRequest)?;
        let compiler = self.config().compiler.as_ref().ok_or_else(|| {
            Error::BadRequest(format!(
                "peer `{from}` sent source, and this node has no compiler for it"
            ))
        })?;
        let wasm = compiler.compile(source).map_err(|e| {
            Error::BadRequest(format!(
                "the source `{}` does not compile here: {e}",
                source.file
            ))
        })?;
        Ok(wasm)
    }

    /// Loads the module of an incoming transfer: from the peer's code if it
    /// is trusted and its code runs here, else compiled here.
    fn load_incoming(
        &self,
        from: &str,
        wasm: &[u8],
        code: Option<&PayloadCode>,
        trust: Trust,
    ) -> Result<Arc<weft_runtime::ScriptModule>> {
        let runtime = self.runtime();
        if let Some(code) = code
            && trust == Trust::Trusted
        {
            let code = weft_runtime::Precompiled {
                engine: code.engine.clone(),
                instrumentation: code.instrumentation.clone(),
                code: base64::engine::general_purpose::STANDARD
                    .decode(code.code.as_bytes())
                    .map_err(|e| {
                        Error::BadRequest(format!("the precompiled code is not base64: {e}"))
                    })?,
            };
            // SAFETY: the code comes from a peer this node's peers file
            // marks as trusted, authenticated by its shared secret: running
            // its code is what trusting it means. It is the code of
            // `wasm`, whose hash the snapshot names.
            match unsafe { runtime.load_precompiled(wasm, &code) } {
                Ok(module) => {
                    self.metrics()
                        .modules_precompiled
                        .fetch_add(1, Ordering::Relaxed);
                    return Ok(module);
                }
                Err(weft_runtime::Error::Incompatible(why)) => {
                    tracing::info!(
                        "the code of trusted peer `{from}` does not run here ({why}); \
                         compiling its module"
                    );
                }
                Err(e) => return Err(Error::BadRequest(format!("the module is refused: {e}"))),
            }
        }
        let module = runtime
            .load(wasm)
            .map_err(|e| Error::BadRequest(format!("the module is refused: {e}")))?;
        let counter = match trust {
            Trust::Source => &self.metrics().modules_from_source,
            Trust::Trusted | Trust::Untrusted => &self.metrics().modules_compiled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(module)
    }

    /// `commit` from a peer: the script becomes this node's and runs.
    pub fn receive_commit(&self, transfer: &str) -> Result<()> {
        let _incoming = self.incoming_lock();
        let stored = self
            .store()
            .transfer(transfer)?
            .ok_or_else(|| Error::NotFound(format!("transfer {transfer}")))?;
        if stored.phase == phase::COMMITTED {
            return Ok(());
        }
        let body = stored
            .snapshot
            .as_deref()
            .ok_or_else(|| Error::Internal("the transfer lost its payload".into()))?;
        let payload: Payload = serde_json::from_slice(body)
            .map_err(|e| Error::Internal(format!("the stored transfer is unreadable: {e}")))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload.snapshot.as_bytes())
            .map_err(|e| Error::Internal(format!("the stored snapshot is unreadable: {e}")))?;
        let mut snapshot = weft_snapshot::decode(&bytes, &DecodeLimits::default())
            .map_err(|e| Error::Internal(format!("the stored snapshot is unreadable: {e}")))?;
        // `prepare` checked that the module stored under this hash (carried
        // or compiled from source) is the snapshot's.
        snapshot.wasm = None;
        let hash = snapshot.module.hash;
        let checkpoint_bytes = weft_snapshot::encode(&snapshot)
            .map_err(|e| Error::Internal(format!("cannot encode the checkpoint: {e}")))?;
        let record = ScriptRecord {
            id: payload.script.clone(),
            name: payload.name.clone(),
            owner: payload.owner.clone(),
            module: hash,
            args: payload.args.clone(),
            state: ScriptState::Running,
            exit: None,
            created_at: unix_now(),
        };
        let lines: Vec<LogLine> = payload
            .logs
            .iter()
            .map(|l| LogLine {
                script: payload.script.clone(),
                seq: l.seq,
                stream: if l.stream == "err" {
                    Stream::Err
                } else {
                    Stream::Out
                },
                text: l.text.clone(),
            })
            .collect();
        let mut committed = stored.clone();
        committed.phase = phase::COMMITTED.into();
        committed.snapshot = None;
        committed.updated_at = unix_now();
        self.store().transaction(|tx| {
            store::insert_script(tx, &record)?;
            store::append_logs(tx, &lines)?;
            store::save_checkpoints(
                tx,
                &[store::Checkpoint {
                    script: record.id.clone(),
                    seq: 1,
                    snapshot: checkpoint_bytes.clone(),
                    log_next: payload.log_next,
                    taken_at: unix_now(),
                }],
            )?;
            store::put_transfer(tx, &committed)
        })?;
        fault("receiver-after-commit");
        self.adopt(record, &snapshot, payload.log_next)
    }

    /// `abort` from a peer: drops a prepared transfer.
    pub fn receive_abort(&self, transfer: &str) -> Result<()> {
        let _incoming = self.incoming_lock();
        match self.store().transfer(transfer)? {
            None => Ok(()),
            Some(t) if t.phase == phase::COMMITTED => Err(Error::Conflict(format!(
                "transfer `{transfer}` is committed: the script is this node's"
            ))),
            Some(_) => Ok(self.store().delete_transfer(transfer)?),
        }
    }
}

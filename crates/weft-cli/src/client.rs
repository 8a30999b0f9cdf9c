//! The client side of the node API (docs/node-api.md): [`NodeClient`], a
//! typed blocking client of a `weft serve` node, and the commands built on it
//! (`weft deploy`, `ps`, `logs`, `pause`, `resume`, `kill`, `snapshot`,
//! `restore`).
//!
//! Every request goes to `<node URL><path>`, where the node URL comes from
//! `--node`, else `$WEFT_NODE`, else [`DEFAULT_NODE`]. A request ends in one
//! of three ways, which [`NodeError`] keeps apart so that callers such as
//! `weft migrate` can act on them:
//!
//! - no answer: the connection failed or timed out ([`NodeError::Unreachable`]);
//! - an answer with an error status, whose body is `{"error": "..."}`
//!   ([`NodeError::Status`], shown as `<message> (HTTP <code>)`);
//! - a 2xx answer, whose body is decoded into the serde types below (or
//!   [`NodeError::BadAnswer`] when it is not what the API promises).
//!
//! Answers are read whole, up to [`MAX_ANSWER_BYTES`]: ureq's own default
//! limit (10 MiB) is below the size of a large snapshot.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::Args as _;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use ureq::http::{Response, StatusCode};

/// The node URL when neither `--node` nor `$WEFT_NODE` names one.
pub(crate) const DEFAULT_NODE: &str = "http://127.0.0.1:7878";

/// The environment variable that names the node.
pub(crate) const NODE_ENV: &str = "WEFT_NODE";

/// The largest answer read from a node (a snapshot can be tens of MiB).
pub(crate) const MAX_ANSWER_BYTES: u64 = 1 << 30;

/// How long `weft logs --follow` asks the node to hold a request open when
/// there is no new line (the API allows at most 30).
pub(crate) const FOLLOW_WAIT_SECONDS: u32 = 25;

/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed between two reads (or writes) on an open connection, for
/// requests the node answers at once.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// The same for requests where the node validates, instruments and compiles
/// a module before it answers (deploy, restore).
const COMPILE_TIMEOUT: Duration = Duration::from_secs(300);

/// A script's record, as every script endpoint returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScriptRecord {
    /// `<name>-<4 hex digits>`, unique on the node.
    pub id: String,
    pub name: String,
    pub owner: String,
    /// The SHA-256 of the original module, in hex.
    pub module: String,
    pub state: ScriptState,
    /// How the script ended (`"exited with status 0"`, `"trapped: ..."`),
    /// `None` while it has not.
    pub exit: Option<String>,
    pub fuel: u64,
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
    /// The Unix time of the last durable checkpoint, `None` before the first.
    pub checkpointed_at: Option<f64>,
}

/// Where a script is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ScriptState {
    /// Scheduled (it may be parked, waiting for a message or a timer).
    Running,
    /// Paused by `pause`.
    Paused,
    /// Ended by itself: the record's `exit` says how.
    Exited,
    /// Ended by `kill`.
    Killed,
}

impl fmt::Display for ScriptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScriptState::Running => "running",
            ScriptState::Paused => "paused",
            ScriptState::Exited => "exited",
            ScriptState::Killed => "killed",
        })
    }
}

/// `GET /v1/scripts`.
#[derive(Debug, Deserialize)]
struct ScriptList {
    scripts: Vec<ScriptRecord>,
}

/// One answer of `GET /v1/scripts/{id}/logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LogPage {
    /// The lines from `since` on, oldest first.
    pub lines: Vec<LogLine>,
    /// The `since` of the next request.
    pub next: u64,
    /// The script has ended and every line is out.
    pub ended: bool,
}

/// One line a script wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LogLine {
    pub seq: u64,
    pub stream: LogStream,
    pub text: String,
}

/// The standard stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogStream {
    Out,
    Err,
}

/// What `POST /v1/scripts` deploys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deployment<'a> {
    /// The module (binary WebAssembly).
    pub wasm: &'a [u8],
    /// The start of the id (node default `"script"`).
    pub name: Option<&'a str>,
    /// The owner (tenant) (node default `"default"`).
    pub owner: Option<&'a str>,
    /// The arguments, the first being the program name (node default `[name]`).
    pub args: Option<&'a [String]>,
    /// The source the module was compiled from, kept by the node for peers
    /// that take scripts as source.
    pub source: Option<&'a weft_node::SourceFile>,
}

/// The body of `POST /v1/scripts`.
#[derive(Serialize)]
struct DeployBody<'a> {
    wasm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a weft_node::SourceFile>,
}

/// The body of every error answer.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// Why a request to a node failed.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum NodeError {
    /// The node URL cannot be used.
    BadUrl { url: String, reason: String },
    /// No answer: the connection could not be made, or broke or timed out
    /// before the answer's status line.
    Unreachable { node: String, reason: String },
    /// The node answered with an error status.
    Status { status: u16, message: String },
    /// The node answered 2xx, but not with what the API promises.
    BadAnswer { node: String, reason: String },
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::BadUrl { url, reason } => write!(f, "bad node URL `{url}`: {reason}"),
            NodeError::Unreachable { node, reason } => write!(
                f,
                "cannot reach the node at {node}: {reason}; is `weft serve` running?"
            ),
            NodeError::Status { status, message } => write!(f, "{message} (HTTP {status})"),
            NodeError::BadAnswer { node, reason } => {
                write!(
                    f,
                    "the node at {node} sent an answer weft cannot read: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for NodeError {}

impl NodeError {
    /// The HTTP status of an error answer.
    #[allow(
        dead_code,
        reason = "for callers that act on 404 or 409 (weft migrate)"
    )]
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            NodeError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A blocking client of one node.
pub(crate) struct NodeClient {
    /// The node URL, without a trailing `/`; paths are appended to it.
    base: String,
    agent: ureq::Agent,
}

impl NodeClient {
    /// A client of the node at `url` (`http://host:port`, optionally with a
    /// path prefix; `host:port` alone means `http://host:port`).
    pub(crate) fn new(url: &str) -> Result<Self, NodeError> {
        let base = normalize_url(url)?;
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(IO_TIMEOUT))
            .timeout_per_write(Some(IO_TIMEOUT))
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&base) {
            // A proxy from `$HTTPS_PROXY` or `$ALL_PROXY` cannot reach this machine's node.
            config = config.proxy(None);
        }
        let config = config.build();
        Ok(NodeClient {
            base,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// A client of the node named by `--node` (`option`), else `$WEFT_NODE`,
    /// else [`DEFAULT_NODE`].
    pub(crate) fn from_option(option: Option<&str>) -> Result<Self, NodeError> {
        let env = std::env::var(NODE_ENV).ok();
        Self::new(&node_url(option, env.as_deref()))
    }

    /// The node URL requests go to.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `POST /v1/scripts`: validates, instruments and starts a module.
    pub(crate) fn deploy(&self, deployment: &Deployment<'_>) -> Result<ScriptRecord, NodeError> {
        let body = DeployBody {
            wasm: base64::engine::general_purpose::STANDARD.encode(deployment.wasm),
            name: deployment.name,
            owner: deployment.owner,
            args: deployment.args,
            source: deployment.source,
        };
        let json = serde_json::to_vec(&body).map_err(|e| NodeError::BadAnswer {
            node: self.base.clone(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        let answer = self
            .agent
            .post(self.url("/v1/scripts"))
            .config()
            .timeout_per_read(Some(COMPILE_TIMEOUT))
            .build()
            .content_type("application/json")
            .send(json);
        self.json(answer, "a script record")
    }

    /// `GET /v1/scripts`: every script on the node, in id order.
    #[allow(
        dead_code,
        reason = "`weft ps` prints the node's JSON as is; for weft migrate and tests"
    )]
    pub(crate) fn scripts(&self) -> Result<Vec<ScriptRecord>, NodeError> {
        let answer = self.agent.get(self.url("/v1/scripts")).call();
        Ok(self.json::<ScriptList>(answer, "a script list")?.scripts)
    }

    /// `GET /v1/scripts` as the node wrote it, for `weft ps --json`.
    fn scripts_value(&self) -> Result<serde_json::Value, NodeError> {
        let answer = self.agent.get(self.url("/v1/scripts")).call();
        self.json(answer, "a script list")
    }

    /// `GET /v1/scripts/{id}`.
    #[allow(dead_code, reason = "for weft migrate and tests")]
    pub(crate) fn script(&self, id: &str) -> Result<ScriptRecord, NodeError> {
        let answer = self.agent.get(self.script_url(id, "")).call();
        self.json(answer, "a script record")
    }

    /// `GET /v1/scripts/{id}/logs?since=N[&wait=S]`: the lines from `since`
    /// on; with `wait`, the node holds the request up to that many seconds
    /// while there is none.
    pub(crate) fn logs(
        &self,
        id: &str,
        since: u64,
        wait: Option<u32>,
    ) -> Result<LogPage, NodeError> {
        let query = match wait {
            Some(wait) => format!("/logs?since={since}&wait={wait}"),
            None => format!("/logs?since={since}"),
        };
        // A held request is silent for up to `wait` seconds.
        let read_timeout = IO_TIMEOUT + Duration::from_secs(wait.map_or(0, u64::from));
        let answer = self
            .agent
            .get(self.script_url(id, &query))
            .config()
            .timeout_per_read(Some(read_timeout))
            .build()
            .call();
        self.json(answer, "a page of log lines")
    }

    /// `POST /v1/scripts/{id}/pause`.
    pub(crate) fn pause(&self, id: &str) -> Result<ScriptRecord, NodeError> {
        self.post_empty(id, "/pause")
    }

    /// `POST /v1/scripts/{id}/resume`.
    pub(crate) fn resume(&self, id: &str) -> Result<ScriptRecord, NodeError> {
        self.post_empty(id, "/resume")
    }

    /// `POST /v1/scripts/{id}/kill`.
    pub(crate) fn kill(&self, id: &str) -> Result<ScriptRecord, NodeError> {
        self.post_empty(id, "/kill")
    }

    /// `GET /v1/scripts/{id}/snapshot`: the bytes of a snapshot that carries
    /// its module; the script goes on running.
    pub(crate) fn snapshot(&self, id: &str) -> Result<Vec<u8>, NodeError> {
        let answer = self.agent.get(self.script_url(id, "/snapshot")).call();
        self.bytes(answer)
    }

    /// `POST /v1/restore`: continues a script from a snapshot that carries
    /// its module, under the id it had.
    pub(crate) fn restore(&self, snapshot: &[u8]) -> Result<ScriptRecord, NodeError> {
        let answer = self
            .agent
            .post(self.url("/v1/restore"))
            .config()
            .timeout_per_read(Some(COMPILE_TIMEOUT))
            .build()
            .content_type("application/octet-stream")
            .send(snapshot);
        self.json(answer, "a script record")
    }

    /// `POST /v1/scripts/{id}/migrate`: moves the script to the peer `to`
    /// (its URL or name); returns the peer's URL.
    pub(crate) fn migrate(&self, id: &str, to: &str) -> Result<String, NodeError> {
        #[derive(serde::Deserialize)]
        struct Migrated {
            to: String,
        }
        let body = serde_json::json!({ "to": to }).to_string();
        let answer = self
            .agent
            .post(self.script_url(id, "/migrate"))
            .config()
            .timeout_per_read(Some(COMPILE_TIMEOUT))
            .build()
            .content_type("application/json")
            .send(body.as_bytes());
        let moved: Migrated = self.json(answer, "the migration's outcome")?;
        Ok(moved.to)
    }

    fn post_empty(&self, id: &str, action: &str) -> Result<ScriptRecord, NodeError> {
        let answer = self.agent.post(self.script_url(id, action)).send_empty();
        self.json(answer, "a script record")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/v1/scripts/{id}{rest}`, the id percent-encoded.
    fn script_url(&self, id: &str, rest: &str) -> String {
        format!("{}/v1/scripts/{}{rest}", self.base, encode_path_segment(id))
    }

    /// Decodes a 2xx answer's JSON body (`what` names it for messages).
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        answer: Result<Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> Result<T, NodeError> {
        let body = self.bytes(answer)?;
        serde_json::from_slice(&body).map_err(|e| NodeError::BadAnswer {
            node: self.base.clone(),
            reason: format!("expected {what}: {e}"),
        })
    }

    /// Reads a 2xx answer's body; turns anything else into a [`NodeError`].
    fn bytes(
        &self,
        answer: Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, NodeError> {
        let mut response = answer.map_err(|e| NodeError::Unreachable {
            node: self.base.clone(),
            reason: describe(&e),
        })?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec();
        match (status.is_success(), body) {
            (true, Ok(body)) => Ok(body),
            (true, Err(e)) => Err(NodeError::BadAnswer {
                node: self.base.clone(),
                reason: format!("cannot read the answer's body: {}", describe(&e)),
            }),
            (false, body) => Err(NodeError::Status {
                status: status.as_u16(),
                message: error_message(status, body.as_deref().unwrap_or_default()),
            }),
        }
    }
}

/// The node URL: `--node`, else `$WEFT_NODE` (when not empty), else the default.
fn node_url(option: Option<&str>, env: Option<&str>) -> String {
    option
        .or(env.filter(|v| !v.trim().is_empty()))
        .unwrap_or(DEFAULT_NODE)
        .to_string()
}

/// Checks a node URL and strips its trailing `/`s.
fn normalize_url(url: &str) -> Result<String, NodeError> {
    let bad = |reason: &str| NodeError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = url.trim();
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("http", trimmed));
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Err(bad(
                "weft talks to nodes over plain HTTP; use an http:// URL",
            ));
        }
        _ => return Err(bad("expected http://HOST:PORT")),
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("expected http://HOST:PORT"));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("a node URL has no query or fragment"));
    }
    let base = format!("http://{rest}");
    match base.parse::<ureq::http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(base),
        Ok(_) => Err(bad("expected http://HOST:PORT")),
        Err(e) => Err(bad(&e.to_string())),
    }
}

/// The URL names this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback(base: &str) -> bool {
    let Ok(uri) = base.parse::<ureq::http::Uri>() else {
        return false;
    };
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Percent-encodes a path segment (an id is `<name>-<hex>`, but a name may
/// hold anything).
fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The message of an error answer: its `error` field, else its text, else
/// the status's name.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(ErrorBody { error }) = serde_json::from_slice(body) {
        return error;
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        Some(line) if line.chars().count() > 200 => {
            format!("{}...", line.chars().take(200).collect::<String>())
        }
        Some(line) => line.to_string(),
        None => status
            .canonical_reason()
            .unwrap_or("the node gave no reason")
            .to_string(),
    }
}

/// A transport error, for a person.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(e) => e.to_string(),
        ureq::Error::Timeout(which) => format!("timed out ({which})"),
        other => other.to_string(),
    }
}

/// `--node`, shared by every client command.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct NodeOption {
    /// The node's URL [default: $WEFT_NODE, else http://127.0.0.1:7878].
    #[arg(long, value_name = "URL")]
    node: Option<String>,
}

impl NodeOption {
    fn client(&self) -> Result<NodeClient, NodeError> {
        NodeClient::from_option(self.node.as_deref())
    }
}

/// The commands that talk to a node (`weft resume` is [`ResumeArgs`]).
#[derive(clap::Subcommand, Debug)]
pub(crate) enum NodeCommand {
    /// Deploy a module (or a source file, compiled first as by `weft
    /// compile`) to a node, which starts it; prints the new script's id.
    Deploy(DeployArgs),
    /// List the scripts on a node.
    Ps(PsArgs),
    /// Print what a script on a node wrote (its standard error to standard
    /// error).
    Logs(LogsArgs),
    /// Pause a script on a node; prints its new state.
    Pause(IdArgs),
    /// Kill a script on a node and free its memory; prints its new state.
    Kill(IdArgs),
    /// Save a snapshot of a script on a node (with its module) to a file;
    /// the script goes on running.
    Snapshot(SnapshotArgs),
    /// Continue a script on a node from a snapshot file, under the id it
    /// had; prints the id.
    Restore(RestoreArgs),
    /// Move a running script from a node to one of its peers (two-phase
    /// handoff: it runs on exactly one of them whatever fails).
    Migrate(MigrateArgs),
}

/// `weft migrate`.
#[derive(clap::Args, Debug)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    node: NodeOption,
    /// The script.
    id: String,
    /// The peer to move it to: its URL or its name in the peers file.
    #[arg(long, value_name = "URL")]
    to: String,
}

/// `weft deploy`.
#[derive(clap::Args, Debug)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    node: NodeOption,
    /// The module (.wasm, .wat) or a source file (.c, .cc, .cpp, .zig,
    /// .ts, .rs).
    module: PathBuf,
    /// The owner (tenant) the script runs for [node default: `default`].
    #[arg(long, value_name = "OWNER")]
    owner: Option<String>,
    /// The script's name, the start of its id [default: the file name
    /// without its extension].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The script's arguments (its first argument is always its name).
    #[arg(last = true)]
    args: Vec<String>,
}

/// `weft ps`.
#[derive(clap::Args, Debug)]
pub(crate) struct PsArgs {
    #[command(flatten)]
    node: NodeOption,
    /// Print the node's JSON answer (`{"scripts": [record, ...]}`).
    #[arg(long)]
    json: bool,
}

/// `weft logs`.
#[derive(clap::Args, Debug)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    node: NodeOption,
    /// The script's id.
    id: String,
    /// Keep printing new lines until the script ends (or Ctrl-C).
    #[arg(short, long)]
    follow: bool,
}

/// `weft pause` and `weft kill`.
#[derive(clap::Args, Debug)]
pub(crate) struct IdArgs {
    #[command(flatten)]
    node: NodeOption,
    /// The script's id.
    id: String,
}

/// `weft snapshot`.
#[derive(clap::Args, Debug)]
pub(crate) struct SnapshotArgs {
    #[command(flatten)]
    node: NodeOption,
    /// The script's id.
    id: String,
    /// Where to write the snapshot (replaced at once, never half-written).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

/// `weft restore`.
#[derive(clap::Args, Debug)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    node: NodeOption,
    /// The snapshot (as written by `weft snapshot`, or `weft run --save`).
    snapshot: PathBuf,
}

/// Runs a client command.
pub(crate) fn run(command: NodeCommand) -> Result<()> {
    match command {
        NodeCommand::Deploy(args) => deploy(args),
        NodeCommand::Ps(args) => ps(args),
        NodeCommand::Logs(args) => logs(args),
        NodeCommand::Pause(args) => print_state(args.node.client()?.pause(&args.id)?),
        NodeCommand::Kill(args) => print_state(args.node.client()?.kill(&args.id)?),
        NodeCommand::Snapshot(args) => snapshot(args),
        NodeCommand::Restore(args) => restore(args),
        NodeCommand::Migrate(args) => {
            let to = args.node.client()?.migrate(&args.id, &args.to)?;
            println!("{to}");
            Ok(())
        }
    }
}

fn deploy(args: DeployArgs) -> Result<()> {
    let client = args.node.client()?;
    let wasm = crate::read_module(&args.module)?;
    let source = source_file(&args.module)?;
    let name = args.name.unwrap_or_else(|| default_name(&args.module));
    let script_args = script_args(&name, args.args);
    let record = client.deploy(&Deployment {
        wasm: &wasm,
        name: Some(&name),
        owner: args.owner.as_deref(),
        args: Some(&script_args),
        source: source.as_ref(),
    })?;
    print_stdout(&format!("{}\n", record.id))
}

/// The source of a script deployed from a source file (what a node sends
/// to a `source` peer), `None` for a module.
fn source_file(path: &Path) -> Result<Option<weft_node::SourceFile>> {
    if !crate::compile::Language::of(path).is_some_and(crate::compile::Language::needs_toolchain) {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as text", path.display()))?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Some(weft_node::SourceFile { file, text }))
}

/// A script's name when `--name` is not given: its file's stem.
fn default_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "script".to_string())
}

/// The script's arguments: its name, then those after `--`.
fn script_args(name: &str, rest: Vec<String>) -> Vec<String> {
    std::iter::once(name.to_string()).chain(rest).collect()
}

fn ps(args: PsArgs) -> Result<()> {
    let client = args.node.client()?;
    let answer = client.scripts_value()?;
    if args.json {
        let text = serde_json::to_string_pretty(&answer).context("cannot print the answer")?;
        return print_stdout(&format!("{text}\n"));
    }
    let list: ScriptList = serde_json::from_value(answer).map_err(|e| NodeError::BadAnswer {
        node: client.base().to_string(),
        reason: format!("expected a script list: {e}"),
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    print_stdout(&table(&list.scripts, now))
}

/// `weft ps`'s table, every column left-aligned and as wide as its widest cell.
fn table(scripts: &[ScriptRecord], now: f64) -> String {
    const HEADER: [&str; 8] = [
        "ID",
        "NAME",
        "OWNER",
        "STATE",
        "CPU",
        "FUEL",
        "MEMORY",
        "CHECKPOINT AGE",
    ];
    let rows: Vec<[String; 8]> = scripts
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.name.clone(),
                s.owner.clone(),
                s.state.to_string(),
                format_cpu(s.cpu_seconds),
                format_fuel(s.fuel),
                format_bytes(s.memory_bytes),
                s.checkpointed_at
                    .map_or_else(|| "-".to_string(), |t| format_age(now - t)),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(String::from);
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn format_cpu(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 10.0 {
        format!("{seconds:.2}s")
    } else if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        let whole = seconds as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        let whole = seconds as u64;
        format!("{}h{:02}m", whole / 3600, whole / 60 % 60)
    }
}

fn format_fuel(fuel: u64) -> String {
    scaled(fuel, 1000.0, &["", "k", "M", "G", "T", "P", "E"], "")
}

fn format_bytes(bytes: u64) -> String {
    scaled(
        bytes,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
        " ",
    )
}

/// `value` in the largest unit that keeps it at 1 or more, one decimal below 100.
fn scaled(value: u64, step: f64, units: &[&str], gap: &str) -> String {
    let mut scaled = value as f64;
    let mut unit = 0;
    while scaled >= step && unit + 1 < units.len() {
        scaled /= step;
        unit += 1;
    }
    if unit == 0 {
        format!("{value}{gap}{}", units[0])
    } else if scaled < 100.0 {
        format!("{scaled:.1}{gap}{}", units[unit])
    } else {
        format!("{scaled:.0}{gap}{}", units[unit])
    }
}

fn format_age(seconds: f64) -> String {
    let seconds = seconds.max(0.0) as u64;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

fn logs(args: LogsArgs) -> Result<()> {
    let client = args.node.client()?;
    let wait = args.follow.then_some(FOLLOW_WAIT_SECONDS);
    let mut since = 0;
    loop {
        let asked = Instant::now();
        let page = client.logs(&args.id, since, wait)?;
        if !write_lines(
            &page.lines,
            &mut io::stdout().lock(),
            &mut io::stderr().lock(),
        )? {
            return Ok(()); // standard output was closed (`weft logs ID | head`)
        }
        if page.ended {
            return Ok(());
        }
        let caught_up = page.lines.is_empty();
        since = page.next.max(since);
        if caught_up && !args.follow {
            return Ok(());
        }
        if caught_up && asked.elapsed() < Duration::from_millis(100) {
            // A node that does not hold the request: do not spin.
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Writes each line's text to `out` or `err` by its stream; `false` once
/// `out` is a closed pipe.
fn write_lines(lines: &[LogLine], out: &mut impl Write, err: &mut impl Write) -> Result<bool> {
    for line in lines {
        let written = match line.stream {
            LogStream::Out => writeln!(out, "{}", line.text),
            LogStream::Err => writeln!(err, "{}", line.text),
        };
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
            Err(e) => return Err(e).context("cannot write the script's output"),
        }
    }
    match out.flush().and_then(|()| err.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("cannot write the script's output"),
    }
}

fn print_state(record: ScriptRecord) -> Result<()> {
    print_stdout(&format!("{}\n", record.state))
}

fn snapshot(args: SnapshotArgs) -> Result<()> {
    let bytes = args.node.client()?.snapshot(&args.id)?;
    write_atomically(&args.output, &bytes)?;
    eprintln!(
        "weft: snapshot of {}: {} bytes written to {}",
        args.id,
        bytes.len(),
        args.output.display()
    );
    Ok(())
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over
/// `path`: a reader sees the old file or the whole new one, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut file = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", file.path().display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn restore(args: RestoreArgs) -> Result<()> {
    let client = args.node.client()?;
    let bytes = std::fs::read(&args.snapshot)
        .with_context(|| format!("cannot read {}", args.snapshot.display()))?;
    let record = client.restore(&bytes)?;
    print_stdout(&format!("{}\n", record.id))
}

/// Prints to standard output; a closed pipe is not an error.
fn print_stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

/// `weft resume`: a snapshot file, as `weft resume` always did, or a
/// script on a node.
///
/// The two share the command and its positional argument. The argument is a
/// script id on a node when `--node` is given, or when it is not a file and
/// has an id's shape (`<name>-<4 hex digits>`, no `/`); otherwise it is a
/// snapshot file. clap's derive cannot express that, so this type
/// implements [`clap::Args`] by hand around `script::ResumeOptions`.
#[derive(Debug)]
pub(crate) struct ResumeArgs {
    local: crate::script::ResumeOptions,
    /// The positional argument (`script::ResumeOptions::snapshot`).
    target: PathBuf,
    node: Option<String>,
    /// The options of a local resume given on the command line, as `--name`.
    local_options: Vec<String>,
}

/// The clap id of `script::ResumeOptions`'s positional argument.
const RESUME_TARGET: &str = "snapshot";
/// The clap id of `weft resume --node`.
const RESUME_NODE: &str = "node";

impl clap::FromArgMatches for ResumeArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let local = crate::script::ResumeOptions::from_arg_matches(matches)?;
        let internal = |e: clap::parser::MatchesError| {
            clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, e.to_string())
        };
        let target = matches
            .try_get_one::<PathBuf>(RESUME_TARGET)
            .map_err(internal)?
            .cloned()
            .ok_or_else(|| {
                clap::Error::raw(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "weft resume: missing the snapshot file or script id\n",
                )
            })?;
        let node = matches
            .try_get_one::<String>(RESUME_NODE)
            .map_err(internal)?
            .cloned();
        let local_options =
            crate::script::ResumeOptions::augment_args(clap::Command::new("resume"))
                .get_arguments()
                .filter(|arg| arg.get_id() != RESUME_TARGET)
                .filter(|arg| {
                    matches.value_source(arg.get_id().as_str())
                        == Some(clap::parser::ValueSource::CommandLine)
                })
                .map(|arg| match arg.get_long() {
                    Some(long) => format!("--{long}"),
                    None => arg.get_id().to_string(),
                })
                .collect();
        Ok(ResumeArgs {
            local,
            target,
            node,
            local_options,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for ResumeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        crate::script::ResumeOptions::augment_args(cmd)
            .mut_arg(RESUME_TARGET, |arg| {
                arg.value_name("SNAPSHOT|ID").help(
                    "The snapshot written by `--stop-after ... --save`; or the id of a script \
                     on a node, with `--node`, or when it is not a file and looks like an id \
                     (`counter-1f3a`)",
                )
            })
            .arg(
                clap::Arg::new(RESUME_NODE)
                    .long("node")
                    .value_name("URL")
                    .help("Resume the script of that id on this node (default: $WEFT_NODE, else http://127.0.0.1:7878)"),
            )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// Runs `weft resume` and returns the exit status.
pub(crate) fn resume(args: ResumeArgs) -> Result<i32> {
    let on_node =
        args.node.is_some() || (looks_like_script_id(&args.target) && !args.target.exists());
    if !on_node {
        return crate::script::resume(args.local);
    }
    if !args.local_options.is_empty() {
        bail!(
            "{} can only be used when resuming a snapshot file, not a script on a node",
            args.local_options.join(", ")
        );
    }
    let Some(id) = args.target.to_str() else {
        bail!("{}: a script id is UTF-8 text", args.target.display());
    };
    let client = NodeClient::from_option(args.node.as_deref())?;
    let record = match client.resume(id) {
        Ok(record) => record,
        Err(e) if args.node.is_none() => {
            return Err(anyhow::Error::new(e).context(format!(
                "`{id}` is not a snapshot file; resuming the script of that id on a node"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    print_state(record)?;
    Ok(0)
}

/// `<name>-<4 hex digits>`, with no path separator.
fn looks_like_script_id(target: &Path) -> bool {
    let Some(text) = target.to_str() else {
        return false;
    };
    if text.contains('/') || text.contains(std::path::MAIN_SEPARATOR) {
        return false;
    }
    text.rsplit_once('-').is_some_and(|(name, suffix)| {
        !name.is_empty() && suffix.len() == 4 && suffix.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn parse(args: &[&str]) -> Result<crate::Command, clap::Error> {
        crate::Cli::try_parse_from(std::iter::once("weft").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    fn record(id: &str, state: ScriptState) -> ScriptRecord {
        ScriptRecord {
            id: id.into(),
            name: "counter".into(),
            owner: "alice".into(),
            module: "00".repeat(32),
            state,
            exit: None,
            fuel: 123_456,
            cpu_seconds: 0.042,
            memory_bytes: 131_072,
            checkpointed_at: Some(1_000.0),
        }
    }

    #[test]
    fn node_url_prefers_the_option_then_the_environment() {
        assert_eq!(
            node_url(Some("http://a:1"), Some("http://b:2")),
            "http://a:1"
        );
        assert_eq!(node_url(None, Some("http://b:2")), "http://b:2");
        assert_eq!(node_url(None, Some("  ")), DEFAULT_NODE);
        assert_eq!(node_url(None, None), DEFAULT_NODE);
    }

    #[test]
    fn node_urls_are_checked_and_normalized() {
        assert_eq!(
            normalize_url("http://127.0.0.1:7878/").unwrap(),
            "http://127.0.0.1:7878"
        );
        assert_eq!(
            normalize_url(" localhost:9000 ").unwrap(),
            "http://localhost:9000"
        );
        assert_eq!(
            normalize_url("http://node/weft//").unwrap(),
            "http://node/weft"
        );
        for bad in [
            "",
            "https://node:1",
            "ftp://node",
            "http://",
            "http://node?x=1",
            "http://a b",
        ] {
            let e = normalize_url(bad).expect_err(bad);
            assert!(e.to_string().starts_with("bad node URL"), "{bad}: {e}");
        }
    }

    #[test]
    fn urls_are_built_from_the_base_and_an_encoded_id() {
        let client = NodeClient::new("http://127.0.0.1:7878/").unwrap();
        assert_eq!(
            client.url("/v1/restore"),
            "http://127.0.0.1:7878/v1/restore"
        );
        assert_eq!(
            client.script_url("counter-1f3a", "/pause"),
            "http://127.0.0.1:7878/v1/scripts/counter-1f3a/pause"
        );
        assert_eq!(
            client.script_url("a b/c?d", "/logs?since=3"),
            "http://127.0.0.1:7878/v1/scripts/a%20b%2Fc%3Fd/logs?since=3"
        );
        assert_eq!(encode_path_segment("é"), "%C3%A9");
        assert!(is_loopback("http://127.0.0.1:7878"));
        assert!(is_loopback("http://[::1]:7878"));
        assert!(is_loopback("http://LocalHost:1/x"));
        assert!(!is_loopback("http://10.0.0.1:7878"));
        assert!(!is_loopback("http://node.example:7878"));
    }

    #[test]
    fn error_messages_come_from_the_node() {
        let e = NodeError::Status {
            status: 404,
            message: error_message(StatusCode::NOT_FOUND, br#"{"error": "no script `x`"}"#),
        };
        assert_eq!(e.to_string(), "no script `x` (HTTP 404)");
        assert_eq!(e.status(), Some(404));
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"\n  upstream down\nmore"),
            "upstream down"
        );
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, &[b'x'; 300]).len(),
            203
        );
        let e = NodeError::Unreachable {
            node: "http://127.0.0.1:1".into(),
            reason: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach the node at http://127.0.0.1:1: Connection refused (os error 111); \
             is `weft serve` running?"
        );
        assert_eq!(e.status(), None);
    }

    #[test]
    fn records_and_log_pages_decode() {
        let json = r#"{"id": "counter-1f3a", "name": "counter", "owner": "alice",
            "module": "ab", "state": "running", "exit": null, "fuel": 123456,
            "cpu_seconds": 0.042, "memory_bytes": 131072, "checkpointed_at": null}"#;
        let record: ScriptRecord = serde_json::from_str(json).unwrap();
        assert_eq!(record.state, ScriptState::Running);
        assert_eq!(record.checkpointed_at, None);
        let page: LogPage = serde_json::from_str(
            r#"{"lines": [{"seq": 0, "stream": "err", "text": "oops"}], "next": 1, "ended": true}"#,
        )
        .unwrap();
        assert_eq!(page.lines[0].stream, LogStream::Err);
    }

    #[test]
    fn deploy_bodies_leave_out_what_is_not_given() {
        let args = script_args("counter", vec!["20".into()]);
        let body = DeployBody {
            wasm: base64::engine::general_purpose::STANDARD.encode(b"\0asm"),
            name: Some("counter"),
            owner: None,
            args: Some(&args),
            source: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"wasm": "AGFzbQ==", "name": "counter", "args": ["counter", "20"]})
        );
        assert_eq!(default_name(Path::new("examples/c/counter.c")), "counter");
        assert_eq!(default_name(Path::new("m.weft.wasm")), "m.weft");
    }

    #[test]
    fn client_commands_parse() {
        let command = parse(&[
            "deploy",
            "--node",
            "http://n:1",
            "c.c",
            "--owner",
            "bob",
            "--",
            "20",
            "--x",
        ])
        .unwrap();
        let crate::Command::Node(NodeCommand::Deploy(args)) = command else {
            panic!("not deploy");
        };
        assert_eq!(args.node.node.as_deref(), Some("http://n:1"));
        assert_eq!(args.module, Path::new("c.c"));
        assert_eq!(args.owner.as_deref(), Some("bob"));
        assert_eq!(args.name, None);
        assert_eq!(args.args, ["20", "--x"]);

        assert!(matches!(
            parse(&["ps", "--json"]),
            Ok(crate::Command::Node(NodeCommand::Ps(PsArgs {
                json: true,
                ..
            })))
        ));
        assert!(matches!(
            parse(&["logs", "x", "-f"]),
            Ok(crate::Command::Node(NodeCommand::Logs(LogsArgs {
                follow: true,
                ..
            })))
        ));
        assert!(matches!(
            parse(&["kill", "x"]),
            Ok(crate::Command::Node(NodeCommand::Kill(_)))
        ));
        assert!(parse(&["snapshot", "x"]).is_err(), "-o is required");
        assert!(matches!(
            parse(&["snapshot", "x", "-o", "s.snap"]),
            Ok(crate::Command::Node(NodeCommand::Snapshot(_)))
        ));
        assert!(matches!(
            parse(&["restore", "s.snap"]),
            Ok(crate::Command::Node(NodeCommand::Restore(_)))
        ));
        assert!(parse(&["pause"]).is_err(), "the id is required");
    }

    #[test]
    fn resume_takes_a_snapshot_or_a_script_id() {
        let resume = |args: &[&str]| match parse(args) {
            Ok(crate::Command::Resume(args)) => args,
            Ok(_) => panic!("not resume"),
            Err(e) => panic!("{e}"),
        };
        let local = resume(&["resume", "s.snap", "--slice", "100"]);
        assert_eq!(local.target, Path::new("s.snap"));
        assert_eq!(local.node, None);
        assert_eq!(local.local_options, ["--slice"]);
        let remote = resume(&["resume", "--node", "http://n:1", "counter-1f3a"]);
        assert_eq!(remote.node.as_deref(), Some("http://n:1"));
        assert_eq!(remote.target, Path::new("counter-1f3a"));
        assert!(remote.local_options.is_empty());
        assert!(parse(&["resume"]).is_err());

        assert!(looks_like_script_id(Path::new("counter-1f3a")));
        assert!(looks_like_script_id(Path::new("my-app-00FF")));
        for not_id in [
            "s.snap",
            "counter",
            "-1f3a",
            "dir/counter-1f3a",
            "counter-1f3",
            "counter-1g3a",
        ] {
            assert!(!looks_like_script_id(Path::new(not_id)), "{not_id}");
        }
    }

    #[test]
    fn the_table_has_a_column_per_field() {
        let mut ended = record("counter-0002", ScriptState::Exited);
        ended.checkpointed_at = None;
        ended.memory_bytes = 3 << 20;
        let text = table(
            &[record("counter-0001", ScriptState::Running), ended],
            1_065.0,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID            NAME     OWNER  STATE    CPU    FUEL  MEMORY   CHECKPOINT AGE"
        );
        assert_eq!(
            lines[1],
            "counter-0001  counter  alice  running  0.04s  123k  128 KiB  1m"
        );
        assert_eq!(
            lines[2],
            "counter-0002  counter  alice  exited   0.04s  123k  3.0 MiB  -"
        );
        assert_eq!(table(&[], 0.0).lines().count(), 1);
    }

    #[test]
    fn quantities_are_readable() {
        assert_eq!(format_fuel(999), "999");
        assert_eq!(format_fuel(1_000), "1.0k");
        assert_eq!(format_fuel(250_000_000), "250M");
        assert_eq!(format_fuel(u64::MAX), "18.4E");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(16 << 20), "16.0 MiB");
        assert_eq!(format_cpu(75.5), "1m15s");
        assert_eq!(format_cpu(7_300.0), "2h01m");
        assert_eq!(format_cpu(f64::NAN), "0.00s");
        assert_eq!(format_age(-3.0), "0s");
        assert_eq!(format_age(7_200.0), "2h");
        assert_eq!(format_age(200_000.0), "2d");
    }

    #[test]
    fn log_lines_go_to_their_stream() {
        let line = |seq, stream, text: &str| LogLine {
            seq,
            stream,
            text: text.into(),
        };
        let lines = [
            line(0, LogStream::Out, "one"),
            line(1, LogStream::Err, "two"),
            line(2, LogStream::Out, ""),
        ];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(write_lines(&lines, &mut out, &mut err).unwrap());
        assert_eq!(out, b"one\n\n");
        assert_eq!(err, b"two\n");
    }

    #[test]
    fn snapshots_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snap");
        std::fs::write(&path, b"old").unwrap();
        write_atomically(&path, b"new bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new bytes");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["s.snap"], "no temporary file is left");
        assert!(write_atomically(&dir.path().join("missing/s.snap"), b"x").is_err());
    }
}

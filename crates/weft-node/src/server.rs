//! The node's HTTP + JSON API (docs/node-api.md), served with axum.
//!
//! Node operations block (a snapshot waits for a slice boundary, the store
//! commits to disk), so every handler runs them on tokio's blocking pool.

use crate::node::{Error, Node, Record};
use crate::store::Stream;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// The longest a log request waits for a line.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Serves the API over `node` on `listener` until `shutdown` resolves
/// (requests under way are finished first).
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(node))
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Clone)]
struct App {
    node: Arc<Node>,
    requests: Arc<AtomicU64>,
}

/// The API's routes over `node`.
pub fn router(node: Arc<Node>) -> Router {
    let max_body = node.config().max_body;
    let app = App {
        node,
        requests: Arc::default(),
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/v1/scripts", post(deploy).get(list))
        .route("/v1/scripts/{id}", get(one))
        .route("/v1/scripts/{id}/logs", get(logs))
        .route("/v1/scripts/{id}/pause", post(pause))
        .route("/v1/scripts/{id}/resume", post(resume))
        .route("/v1/scripts/{id}/kill", post(kill))
        .route("/v1/scripts/{id}/snapshot", get(snapshot))
        .route("/v1/restore", post(restore))
        .route("/v1/scripts/{id}/migrate", post(migrate))
        .route("/v1/transfers/{transfer}/{step}", post(transfer))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(app.clone(), count))
        .with_state(app)
}

async fn count(
    State(app): State<App>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    app.requests.fetch_add(1, Ordering::Relaxed);
    next.run(request).await
}

/// An error as the API answers it: `{"error": "..."}` and a status.
struct ApiError(StatusCode, String);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (self.0, Json(Body { error: self.1 })).into_response()
    }
}

/// Runs a blocking node operation off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the operation failed: {e}"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    wasm: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    /// The source the module was compiled from, kept for `source` peers.
    #[serde(default)]
    source: Option<crate::source::SourceFile>,
}

async fn deploy(
    State(app): State<App>,
    body: Result<Json<DeployBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Record>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let wasm = base64::engine::general_purpose::STANDARD
        .decode(body.wasm.as_bytes())
        .map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("`wasm` is not base64: {e}"),
            )
        })?;
    let name = body.name.unwrap_or_else(|| "script".into());
    let owner = body.owner.unwrap_or_else(|| "default".into());
    let node = app.node.clone();
    let record =
        blocking(move || node.deploy(&wasm, &name, &owner, body.args, body.source.as_ref()))
            .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[derive(Serialize)]
struct List {
    scripts: Vec<Record>,
}

async fn list(State(app): State<App>) -> Result<Json<List>, ApiError> {
    let node = app.node.clone();
    let scripts = blocking(move || Ok(node.records())).await?;
    Ok(Json(List { scripts }))
}

async fn one(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Record>, ApiError> {
    let node = app.node.clone();
    Ok(Json(blocking(move || node.record(&id)).await?))
}

#[derive(Deserialize)]
struct LogQuery {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    wait: f64,
}

#[derive(Serialize)]
struct LogLineBody {
    seq: u64,
    stream: &'static str,
    text: String,
}

#[derive(Serialize)]
struct LogsBody {
    lines: Vec<LogLineBody>,
    next: u64,
    ended: bool,
}

async fn logs(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Json<LogsBody>, ApiError> {
    let wait = if query.wait.is_finite() && query.wait > 0.0 {
        Duration::from_secs_f64(query.wait).min(MAX_WAIT)
    } else {
        Duration::ZERO
    };
    let node = app.node.clone();
    let page = blocking(move || node.logs(&id, query.since, wait)).await?;
    Ok(Json(LogsBody {
        lines: page
            .lines
            .into_iter()
            .map(|l| LogLineBody {
                seq: l.seq,
                stream: match l.stream {
                    Stream::Out => "out",
                    Stream::Err => "err",
                },
                text: l.text,
            })
            .collect(),
        next: page.next,
        ended: page.ended,
    }))
}

async fn pause(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Record>, ApiError> {
    let node = app.node.clone();
    Ok(Json(blocking(move || node.pause(&id)).await?))
}

async fn resume(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Record>, ApiError> {
    let node = app.node.clone();
    Ok(Json(blocking(move || node.resume(&id)).await?))
}

async fn kill(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Record>, ApiError> {
    let node = app.node.clone();
    Ok(Json(blocking(move || node.kill(&id)).await?))
}

async fn snapshot(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let node = app.node.clone();
    let bytes = blocking(move || node.snapshot(&id)).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn restore(
    State(app): State<App>,
    body: Bytes,
) -> Result<(StatusCode, Json<Record>), ApiError> {
    let node = app.node.clone();
    let record = blocking(move || node.restore(&body)).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

async fn metrics(State(app): State<App>) -> Response {
    let node = app.node.clone();
    let requests = app.requests.load(Ordering::Relaxed);
    let text = tokio::task::spawn_blocking(move || prometheus(&node, requests))
        .await
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The metrics in Prometheus's text format.
fn prometheus(node: &Node, requests: u64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let records = node.records();
    let _ = writeln!(out, "# HELP weft_scripts Scripts on this node, by state.");
    let _ = writeln!(out, "# TYPE weft_scripts gauge");
    for state in ["running", "paused", "exited", "killed"] {
        let n = records.iter().filter(|r| r.state == state).count();
        let _ = writeln!(out, "weft_scripts{{state=\"{state}\"}} {n}");
    }
    let m = node.metrics();
    let counters = [
        (
            "weft_checkpoints_total",
            "Checkpoints committed to the store.",
            m.checkpoints.load(Ordering::Relaxed) as f64,
        ),
        (
            "weft_checkpoint_seconds_total",
            "Time spent capturing and encoding checkpoints.",
            m.checkpoint_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        ),
        (
            "weft_messages_dropped_total",
            "Messages to unknown or ended scripts, or to full mailboxes.",
            node.dropped_messages() as f64,
        ),
        (
            "weft_http_requests_total",
            "HTTP requests served.",
            requests as f64,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {value}");
    }
    let _ = writeln!(
        out,
        "# HELP weft_transfer_modules_total Modules of incoming transfers, by how they were \
         made ready: the trusted peer's own code, instrumented and compiled here, or compiled \
         here from source."
    );
    let _ = writeln!(out, "# TYPE weft_transfer_modules_total counter");
    for (how, counter) in [
        ("precompiled", &m.modules_precompiled),
        ("compiled", &m.modules_compiled),
        ("source", &m.modules_from_source),
    ] {
        let n = counter.load(Ordering::Relaxed);
        let _ = writeln!(out, "weft_transfer_modules_total{{how=\"{how}\"}} {n}");
    }
    if let Some((c, busy)) = node.scheduler_counters() {
        let _ = writeln!(out, "# HELP weft_scheduler_slices_total Slices run.");
        let _ = writeln!(out, "# TYPE weft_scheduler_slices_total counter");
        let _ = writeln!(out, "weft_scheduler_slices_total {}", c.slices);
        let _ = writeln!(
            out,
            "# HELP weft_scheduler_busy_seconds_total CPU time spent in slices."
        );
        let _ = writeln!(out, "# TYPE weft_scheduler_busy_seconds_total counter");
        let _ = writeln!(
            out,
            "weft_scheduler_busy_seconds_total {}",
            busy.as_secs_f64()
        );
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateBody {
    to: String,
}

#[derive(Serialize)]
struct Migrated {
    id: String,
    to: String,
}

async fn migrate(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Result<Json<MigrateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Migrated>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let node = app.node.clone();
    let moved = id.clone();
    let to = blocking(move || node.migrate(&moved, &body.to)).await?;
    Ok(Json(Migrated { id, to }))
}

/// A step of the migration protocol, from a peer: authenticated first.
async fn transfer(
    State(app): State<App>,
    Path((transfer, step)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let path = format!("/v1/transfers/{transfer}/{step}");
    let peer = header(crate::migrate::PEER_HEADER).map(str::to_string);
    crate::migrate::authenticate(
        app.node.config().peers.as_ref(),
        peer.as_deref(),
        header(crate::migrate::SIGNATURE_HEADER),
        "POST",
        &path,
        &body,
    )
    .map_err(|(status, message)| {
        ApiError(
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            message,
        )
    })?;
    let node = app.node.clone();
    let from = peer.unwrap_or_default();
    let phase = blocking(move || match step.as_str() {
        "prepare" => node
            .receive_prepare(&transfer, &body, &from)
            .map(|()| "prepared"),
        "commit" => node.receive_commit(&transfer).map(|()| "committed"),
        "abort" => node.receive_abort(&transfer).map(|()| "aborted"),
        other => Err(Error::NotFound(format!("transfer step `{other}`"))),
    })
    .await?;
    Ok(Json(serde_json::json!({ "phase": phase })))
}

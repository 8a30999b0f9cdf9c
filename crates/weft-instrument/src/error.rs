use std::fmt;

/// Why a module could not be instrumented.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a WebAssembly binary at all.
    NotWasm(String),
    /// The input is a WebAssembly binary that does not parse or validate.
    Invalid(wasmparser::BinaryReaderError),
    /// The input is malformed in a way the parser does not report itself.
    Malformed(String),
    /// The module uses a feature the pass does not support.
    Unsupported {
        /// The WebAssembly proposal the module needs.
        feature: &'static str,
        /// Where in the module the feature is used.
        detail: String,
    },
    /// The module already exports a name the pass reserves for itself.
    ReservedName(String),
    /// The instrumented module would exceed a limit of the format.
    Limit(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotWasm(why) => write!(f, "not a WebAssembly module: {why}"),
            Error::Invalid(e) => write!(f, "invalid WebAssembly module: {e}"),
            Error::Malformed(why) => write!(f, "invalid WebAssembly module: {why}"),
            Error::Unsupported { feature, detail } => write!(
                f,
                "unsupported WebAssembly feature `{feature}` ({detail}); weft instruments \
                 MVP, multi-value, bulk memory, sign extension, saturating conversions, \
                 reference types, SIMD and multi-memory modules"
            ),
            Error::ReservedName(name) => write!(
                f,
                "the module exports `{name}`, but names starting with `{}` are reserved for weft",
                crate::abi::RESERVED_PREFIX
            ),
            Error::Limit(why) => write!(f, "module too large to instrument: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Error::Invalid(e)
    }
}

/// The result type of the pass.
pub type Result<T, E = Error> = std::result::Result<T, E>;

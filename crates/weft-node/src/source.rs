//! Scripts kept as source: what a node stores of a script deployed from
//! source, and how it compiles the source a peer sends.
//!
//! The node does not know the toolchains itself: whoever starts it (the
//! `weft serve` command) hands it a [`Compiler`]. A node without one takes
//! no source from a peer.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The longest source file a node keeps or compiles.
pub const MAX_SOURCE_BYTES: usize = 4 << 20;

/// One source file: its name (whose extension names the language) and
/// its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// The file name, without a directory, e.g. `counter.c`.
    pub file: String,
    /// The source text.
    pub text: String,
}

impl SourceFile {
    /// Checks what came from outside: a plain file name with an extension,
    /// and a text of at most [`MAX_SOURCE_BYTES`].
    pub fn check(&self) -> Result<(), String> {
        let plain = !self.file.is_empty()
            && self.file.len() <= 255
            && self
                .file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !self.file.starts_with('.')
            && self.file.contains('.');
        if !plain {
            return Err(format!(
                "`{}` is not a source file name: letters, digits, `_`, `-` and `.`, \
                 with an extension naming the language",
                self.file.escape_debug()
            ));
        }
        if self.text.len() > MAX_SOURCE_BYTES {
            return Err(format!(
                "the source `{}` is {} bytes; at most {MAX_SOURCE_BYTES} are taken",
                self.file,
                self.text.len()
            ));
        }
        Ok(())
    }
}

/// Compiles a source file to a WebAssembly module, or says why not (the
/// compiler's diagnostics, or which toolchain is missing).
#[derive(Clone)]
pub struct Compiler(Arc<CompileFn>);

/// What a [`Compiler`] calls.
type CompileFn = dyn Fn(&SourceFile) -> Result<Vec<u8>, String> + Send + Sync;

impl Compiler {
    /// A compiler that calls `compile`.
    pub fn new(
        compile: impl Fn(&SourceFile) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> Compiler {
        Compiler(Arc::new(compile))
    }

    /// Compiles `source`.
    pub fn compile(&self, source: &SourceFile) -> Result<Vec<u8>, String> {
        (self.0)(source)
    }
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiler")
    }
}

//! Compiling the C programs with Debian's clang for `wasm32-wasi` and with
//! gcc for the host, caching the outputs by a hash of everything that goes
//! into them.

use anyhow::{Context, Result, bail};
use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian packages that provide the toolchains.
pub const REQUIRED_PACKAGES: &str = "clang lld wasi-libc libclang-rt-dev-wasm32 gcc";

/// The compiler for WebAssembly.
pub const WASM_COMPILER: &str = "clang";

/// The compiler for the host.
pub const NATIVE_COMPILER: &str = "gcc";

/// The stack size the WebAssembly programs link with; it matches the usual
/// native default so that deep recursion behaves the same on both.
pub const WASM_SHADOW_STACK: u32 = 8 << 20;

/// Floating-point contraction would let a compiler fuse a multiply and an
/// add on one target and not on the other; both builds turn it off.
const COMMON_FLAGS: &[&str] = &["-O2", "-ffp-contract=off"];

/// A compilation target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `wasm32-wasi` with clang, producing a WASI preview1 command module.
    Wasm,
    /// The host, with gcc, producing an executable.
    Native,
}

impl Target {
    fn compiler(self) -> &'static str {
        match self {
            Target::Wasm => WASM_COMPILER,
            Target::Native => NATIVE_COMPILER,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Target::Wasm => "wasm",
            Target::Native => "native",
        }
    }

    /// The compiler arguments, without the input and the output.
    fn flags(self) -> Vec<String> {
        let mut flags: Vec<String> = Vec::new();
        if self == Target::Wasm {
            flags.push("--target=wasm32-wasi".into());
        }
        flags.extend(COMMON_FLAGS.iter().map(|f| f.to_string()));
        if self == Target::Wasm {
            flags.push(format!("-Wl,-z,stack-size={WASM_SHADOW_STACK}"));
        }
        flags
    }
}

/// Compiles C sources into a cache directory, reusing earlier outputs.
#[derive(Debug, Clone)]
pub struct Toolchain {
    cache_dir: PathBuf,
}

impl Toolchain {
    /// A toolchain that keeps its outputs in `cache_dir` (created on demand).
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Toolchain {
            cache_dir: cache_dir.into(),
        }
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Compiles `source` for `target`, or returns the cached output of an
    /// identical earlier compilation (same source, flags and compiler).
    pub fn compile(&self, source: &Path, target: Target) -> Result<PathBuf> {
        let code = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        let compiler = target.compiler();
        let version = compiler_version(compiler)?;
        let flags = target.flags();

        let mut key = Fnv64::new();
        key.write(&code);
        key.write(version.as_bytes());
        for flag in &flags {
            key.write(flag.as_bytes());
        }
        let stem = source
            .file_stem()
            .and_then(OsStr::to_str)
            .unwrap_or("program");
        let output = self.cache_dir.join(format!(
            "{stem}-{:016x}.{}",
            key.finish(),
            target.extension()
        ));
        if output.is_file() {
            return Ok(output);
        }

        fs::create_dir_all(&self.cache_dir).with_context(|| {
            format!("creating the cache directory {}", self.cache_dir.display())
        })?;
        // Compile to a private name, then rename: concurrent test processes
        // never see a partial file.
        let partial = output.with_extension(format!(
            "{}.partial-{}",
            target.extension(),
            std::process::id()
        ));
        let mut command = Command::new(compiler);
        command.args(&flags).arg(source).arg("-o").arg(&partial);
        if target == Target::Native {
            command.arg("-lm");
        }
        let result = command.output().map_err(|e| missing_tool(compiler, e))?;
        if !result.status.success() {
            let _ = fs::remove_file(&partial);
            bail!(
                "{compiler} failed to compile {} for {target:?} ({}):\n{}\n\
                 (the toolchains come from the Debian packages {REQUIRED_PACKAGES})",
                source.display(),
                result.status,
                String::from_utf8_lossy(&result.stderr).trim_end()
            );
        }
        fs::rename(&partial, &output)
            .with_context(|| format!("moving {} to {}", partial.display(), output.display()))?;
        Ok(output)
    }
}

/// The first line of `compiler --version`, which names the exact release.
fn compiler_version(compiler: &str) -> Result<String> {
    let output = Command::new(compiler)
        .arg("--version")
        .output()
        .map_err(|e| missing_tool(compiler, e))?;
    if !output.status.success() {
        bail!("`{compiler} --version` failed ({})", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

fn missing_tool(compiler: &str, error: std::io::Error) -> anyhow::Error {
    if error.kind() == ErrorKind::NotFound {
        anyhow::anyhow!(
            "`{compiler}` was not found on PATH; install the Debian packages {REQUIRED_PACKAGES} \
             (apt-get install {REQUIRED_PACKAGES})"
        )
    } else {
        anyhow::Error::new(error).context(format!("running `{compiler}`"))
    }
}

/// FNV-1a, 64 bits: a stable hash for cache keys (collisions only cost a
/// stale cache entry, and inputs are not adversarial).
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

//! The C programs a benchmark runs: found in a directory, compiled to WASI
//! command modules with clang, and transformed with Binaryen's asyncify.
//!
//! Every module produced by an external tool is cached in a directory under
//! a name derived from everything that determines it (the input bytes, the
//! tool's version and its arguments), so that a rerun only recompiles what
//! changed.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The flags every benchmark program is compiled with: those of the
/// conformance tests, which run the same programs. The programs recurse
/// deeply and link with a shadow stack as large as a usual native stack
/// (8 MiB); without contraction, floating-point results do not depend on
/// whether the compiler fuses multiplies and adds.
const CLANG_FLAGS: &[&str] = &[
    "--target=wasm32-wasi",
    "-O2",
    "-ffp-contract=off",
    "-Wl,-z,stack-size=8388608",
];
/// The libraries every benchmark program is linked with.
const CLANG_LIBS: &[&str] = &["-lm"];
/// The Binaryen passes that produce the asyncify baseline.
const ASYNCIFY_FLAGS: &[&str] = &["--asyncify", "-O2"];

/// The Debian packages that provide a clang able to build WASI programs.
const CLANG_PACKAGES: &str = "clang lld wasi-libc libclang-rt-dev-wasm32";
/// The Debian package that provides `wasm-opt`.
const BINARYEN_PACKAGE: &str = "binaryen";

/// A C source file of the benchmark set.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    /// The file name without its `.c` extension.
    pub name: String,
    /// The source file.
    pub source: PathBuf,
}

/// Lists the `*.c` files of `dir`, sorted by name.
pub(crate) fn discover(dir: &Path) -> Result<Vec<Program>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the programs in {}", dir.display()))?;
    let mut programs = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list the programs in {}", dir.display()))?
            .path();
        if path.extension().is_none_or(|e| e != "c") || !path.is_file() {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{}: the program name is not valid UTF-8", path.display()))?
            .to_owned();
        programs.push(Program { name, source: path });
    }
    if programs.is_empty() {
        bail!("no C programs (*.c) in {}", dir.display());
    }
    programs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(programs)
}

/// A directory of files produced by external tools, keyed by their inputs.
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub(crate) fn new(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
        Ok(Cache { dir })
    }

    /// The contents of the file for `name` and `key`, produced first by
    /// `produce`, which writes it to the path it is given, if not cached.
    fn get_or_produce(
        &self,
        name: &str,
        suffix: &str,
        key: &[&[u8]],
        produce: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let mut hasher = Sha256::new();
        for part in key {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let path = self.dir.join(format!("{name}-{hex}{suffix}"));
        match std::fs::read(&path) {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        // Produce under a private name and rename, so that a concurrent run
        // never reads a half-written file.
        let partial = self.dir.join(format!(
            ".{name}-{hex}{suffix}.{}.partial",
            std::process::id()
        ));
        let produced = produce(&partial);
        if let Err(e) = produced {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))?;
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// Runs `command`, turning a missing executable into an error that says
/// which packages provide it.
fn run_tool(command: &mut Command, tool: &str, packages: &str) -> Result<Output> {
    match command.output() {
        Ok(output) => Ok(output),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bail!("`{tool}` not found: install it (Debian: `apt-get install {packages}`)")
        }
        Err(e) => Err(e).with_context(|| format!("cannot run `{tool}`")),
    }
}

/// The first line of a tool's `--version` output.
fn tool_version(tool: &str, packages: &str) -> Result<String> {
    let output = run_tool(Command::new(tool).arg("--version"), tool, packages)?;
    if !output.status.success() {
        bail!(
            "`{tool} --version` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.lines().next().unwrap_or_default().trim().to_owned())
}

/// clang with a WASI sysroot.
pub(crate) struct Clang {
    version: String,
}

impl Clang {
    /// Finds `clang` on the `PATH`.
    pub(crate) fn find() -> Result<Self> {
        Ok(Clang {
            version: tool_version("clang", CLANG_PACKAGES)?,
        })
    }

    /// The version line clang reports.
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// Compiles `program` to a WASI command module.
    pub(crate) fn compile(&self, cache: &Cache, program: &Program) -> Result<Vec<u8>> {
        let source = std::fs::read(&program.source)
            .with_context(|| format!("cannot read {}", program.source.display()))?;
        let flags = [CLANG_FLAGS, CLANG_LIBS].concat().join(" ");
        let key = [
            b"clang".as_slice(),
            self.version.as_bytes(),
            flags.as_bytes(),
            &source,
        ];
        cache.get_or_produce(&program.name, ".wasm", &key, |out| {
            let output = run_tool(
                Command::new("clang").args(CLANG_FLAGS).arg(&program.source).args(CLANG_LIBS).arg("-o").arg(out),
                "clang",
                CLANG_PACKAGES,
            )?;
            if !output.status.success() {
                bail!(
                    "clang cannot compile {} (a WASI build needs the Debian packages {CLANG_PACKAGES}):\n{}",
                    program.source.display(),
                    String::from_utf8_lossy(&output.stderr).trim_end()
                );
            }
            Ok(())
        })
    }
}

/// Binaryen's optimizer.
pub(crate) struct WasmOpt {
    version: String,
}

impl WasmOpt {
    /// Finds `wasm-opt` on the `PATH`.
    pub(crate) fn find() -> Result<Self> {
        Ok(WasmOpt {
            version: tool_version("wasm-opt", BINARYEN_PACKAGE)?,
        })
    }

    /// The version line wasm-opt reports.
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The asyncify transform of `wasm` (the module of program `name`),
    /// optimized as Binaryen recommends.
    pub(crate) fn asyncify(&self, cache: &Cache, name: &str, wasm: &[u8]) -> Result<Vec<u8>> {
        let flags = ASYNCIFY_FLAGS.join(" ");
        let key = [
            b"wasm-opt".as_slice(),
            self.version.as_bytes(),
            flags.as_bytes(),
            wasm,
        ];
        cache.get_or_produce(name, ".asyncify.wasm", &key, |out| {
            let input = out.with_extension("input.wasm");
            std::fs::write(&input, wasm)
                .with_context(|| format!("cannot write {}", input.display()))?;
            let output = run_tool(
                Command::new("wasm-opt")
                    .arg(&input)
                    .args(ASYNCIFY_FLAGS)
                    .arg("-o")
                    .arg(out),
                "wasm-opt",
                BINARYEN_PACKAGE,
            );
            let _ = std::fs::remove_file(&input);
            let output = output?;
            if !output.status.success() {
                bail!(
                    "`wasm-opt {flags}` failed on the module of {name}:\n{}",
                    String::from_utf8_lossy(&output.stderr).trim_end()
                );
            }
            Ok(())
        })
    }
}

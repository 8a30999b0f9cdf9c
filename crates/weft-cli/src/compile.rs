//! `weft compile`: building a script module from a source file with its
//! language's own toolchain, and the cache of what was built.
//!
//! # What a build depends on
//!
//! A source is built on its own. It is copied into a fresh temporary
//! directory and the compiler runs there on the bare file name, with the
//! SDK (the host API bindings embedded in this binary, [`SDK`]) as its only
//! other input. The output therefore depends on exactly what the cache key
//! covers:
//!
//! * the language and the toolchain's version line (for `asc`, read from
//!   its package's `package.json`: the same line, without starting node),
//! * the flags ([`Language::flags`]),
//! * the source's file name (it appears in `__FILE__`, in AssemblyScript's
//!   abort messages) and its bytes,
//! * the SDK files.
//!
//! Files beside the source are invisible to the compiler: a source that
//! includes or imports one fails to compile, rather than hitting a cache
//! entry made stale by a change to the other file.
//!
//! # The cache
//!
//! An entry is `<cache>/<sha256 of the key>.wasm`, where `<cache>` is
//! `$WEFT_CACHE_DIR/compiled`, else `$XDG_CACHE_HOME/weft/compiled`, else
//! `~/.cache/weft/compiled`. Entries are written through a temporary file and
//! a rename, so a concurrent process never reads a partial module; an entry
//! that does not validate is built again. The SDK files are written to
//! `<cache>/sdk/<hash of the SDK>/`, so two weft binaries with different
//! SDKs never see each other's.
//!
//! # Missing toolchains
//!
//! Each toolchain is found on `PATH` (the Zig compiler as `python3 -m
//! ziglang`, the one the `ziglang` package on PyPI installs), or taken from
//! an environment variable ([`Toolchain::variable`]). When it cannot run, or
//! cannot build for WebAssembly, the error names what is missing and the
//! command that installs it.

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The host API bindings that sources use, as the files a build sees: the
/// path under the SDK directory, and the contents.
pub const SDK: &[(&str, &str)] = &[
    ("c/weft.h", include_str!("../../../sdk/c/weft.h")),
    ("zig/weft.zig", include_str!("../../../sdk/zig/weft.zig")),
    (
        // Where `--path <sdk>/assemblyscript/node_modules` makes
        // `import ... from "weft"` find it.
        "assemblyscript/node_modules/weft/index.ts",
        include_str!("../../../sdk/assemblyscript/weft.ts"),
    ),
];

/// The AssemblyScript abort handler the SDK exports, as the compiler names
/// it: a package file is `~lib/<package>/<file without .ts>`.
const ASSEMBLYSCRIPT_ABORT: &str = "~lib/weft/index/abort";

/// Bumped when the way sources are built changes, so that old cache entries
/// are not reused.
const CACHE_FORMAT: &str = "weft-compile-1";

/// The import modules a script may use.
const PROVIDED_MODULES: &[&str] = &["weft", "wasi_snapshot_preview1"];

/// A source language, known by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// WebAssembly text (`.wat`, `.wast`), parsed in process.
    Wat,
    /// C (`.c`), with clang for `wasm32-wasi` and wasi-libc.
    C,
    /// C++ (`.cc`, `.cpp`, `.cxx`), with clang++ and libc++ for `wasm32-wasi`.
    Cpp,
    /// Zig (`.zig`), with the compiler of the `ziglang` Python package.
    Zig,
    /// AssemblyScript (`.ts`), with `asc`.
    AssemblyScript,
    /// Rust (`.rs`), with rustc and its `wasm32-wasip1` target.
    Rust,
}

impl Language {
    /// The language of `path`, by its extension.
    pub fn of(path: &Path) -> Option<Language> {
        let extension = path.extension()?.to_str()?;
        Some(match extension {
            "wat" | "wast" => Language::Wat,
            "c" => Language::C,
            "cc" | "cpp" | "cxx" => Language::Cpp,
            "zig" => Language::Zig,
            "ts" => Language::AssemblyScript,
            "rs" => Language::Rust,
            _ => return None,
        })
    }

    /// The language's name, as `--json` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Wat => "wat",
            Language::C => "c",
            Language::Cpp => "c++",
            Language::Zig => "zig",
            Language::AssemblyScript => "assemblyscript",
            Language::Rust => "rust",
        }
    }

    /// Whether building it needs an external toolchain.
    pub fn needs_toolchain(self) -> bool {
        self != Language::Wat
    }

    /// The compiler's arguments that do not name a file.
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Language::Wat => &[],
            Language::C => &["--target=wasm32-wasi", "-O2"],
            Language::Cpp => &["--target=wasm32-wasi", "-O2", "-fno-exceptions"],
            // Zig reserves a 16 MiB stack in linear memory by default; 1 MiB
            // is what C gets, and keeps a script's memory small.
            Language::Zig => &[
                "build-exe",
                "-target",
                "wasm32-wasi",
                "-O",
                "ReleaseSmall",
                "--stack",
                "1048576",
            ],
            // The incremental runtime frees memory: a long-lived script that
            // builds strings in a loop would grow without end under `stub`.
            // `_start` makes the module a WASI command whose top-level
            // statements run when it starts.
            Language::AssemblyScript => {
                &["-O3", "--runtime", "incremental", "--exportStart", "_start"]
            }
            Language::Rust => &[
                "--edition",
                "2021",
                "--target",
                "wasm32-wasip1",
                "-C",
                "opt-level=2",
            ],
        }
    }
}

/// How [`compile`] works.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Neither read nor write the cache.
    pub no_cache: bool,
    /// Print `weft: compiling <source>...` on standard error before a
    /// toolchain runs (not when the result comes from the cache).
    pub announce: bool,
}

/// A built module.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The source's language.
    pub language: Language,
    /// The module, validated.
    pub wasm: Vec<u8>,
    /// Whether it came from the cache.
    pub cached: bool,
    /// What the compiler printed although it succeeded (warnings); empty
    /// when the module came from the cache.
    pub diagnostics: String,
}

/// Builds a source file a node received from a `source` peer (the node's
/// [`weft_node::Compiler`]), as [`compile`] would from a file of that name.
pub fn compile_received(source: &weft_node::SourceFile) -> std::result::Result<Vec<u8>, String> {
    let dir = tempfile::Builder::new()
        .prefix("weft-source-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    // `SourceFile::check` let through only a plain file name.
    let path = dir.path().join(&source.file);
    std::fs::write(&path, &source.text)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    compile(&path, &CompileOptions::default())
        .map(|compiled| compiled.wasm)
        .map_err(|e| format!("{e:#}"))
}

/// Builds `source` into a validated module that imports only what weft
/// provides, from the cache when an identical build was made before.
pub fn compile(source: &Path, options: &CompileOptions) -> Result<Compiled> {
    let language = Language::of(source).with_context(|| {
        format!(
            "{}: unknown source language (expected .wat, .c, .cc, .cpp, .cxx, .zig, .ts or .rs)",
            source.display()
        )
    })?;
    let code =
        std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    if language == Language::Wat {
        let wasm = wat::parse_bytes(&code)
            .map(|b| b.into_owned())
            .with_context(|| format!("{}: cannot parse WebAssembly text", source.display()))?;
        check_module(&wasm)
            .with_context(|| format!("{} is not a usable script", source.display()))?;
        return Ok(Compiled {
            language,
            wasm,
            cached: false,
            diagnostics: String::new(),
        });
    }
    let name = source
        .file_name()
        .with_context(|| format!("{} names no file", source.display()))?;
    let toolchain = Toolchain::for_language(language).with_context(|| {
        format!(
            "{}: {} needs no toolchain",
            source.display(),
            language.name()
        )
    })?;
    let version = toolchain
        .version()
        .with_context(|| format!("cannot compile {}", source.display()))?;

    let cache = if options.no_cache { None } else { cache_dir() };
    let key = cache_key(language, &version, name.as_encoded_bytes(), &code);
    let entry = cache.as_ref().map(|dir| dir.join(format!("{key}.wasm")));
    if let Some(entry) = &entry
        && let Ok(wasm) = std::fs::read(entry)
        && check_module(&wasm).is_ok()
    {
        return Ok(Compiled {
            language,
            wasm,
            cached: true,
            diagnostics: String::new(),
        });
    }

    toolchain
        .check_target()
        .with_context(|| format!("cannot compile {}", source.display()))?;
    if options.announce {
        eprintln!("weft: compiling {}...", source.display());
    }
    let work = tempfile::Builder::new()
        .prefix("weft-compile-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    // In the cache when it is writable, else beside the source.
    let shared = cache
        .as_ref()
        .and_then(|dir| write_sdk(&dir.join("sdk").join(&sdk_hash()[..16])).ok());
    let sdk = match shared {
        Some(sdk) => sdk,
        None => write_sdk(&work.path().join("sdk"))?,
    };
    std::fs::write(work.path().join(name), &code).with_context(|| {
        format!(
            "cannot copy {} to {}",
            source.display(),
            work.path().display()
        )
    })?;
    let output = work.path().join("out.wasm");
    let mut command = toolchain.command();
    command
        .current_dir(work.path())
        .args(language.flags())
        .args(file_arguments(
            language,
            name.into(),
            &sdk,
            work.path(),
            &output,
        ));
    let result = command
        .output()
        .map_err(|e| toolchain.not_runnable(&e))
        .with_context(|| format!("cannot compile {}", source.display()))?;
    let diagnostics = printed(&result);
    if !result.status.success() {
        bail!(
            "{} does not compile ({} failed, {}):\n{}",
            source.display(),
            toolchain.describe(),
            result.status,
            diagnostics.trim_end()
        );
    }
    let wasm = std::fs::read(&output).with_context(|| {
        format!(
            "{} reported success but wrote no module for {}",
            toolchain.describe(),
            source.display()
        )
    })?;
    check_module(&wasm).with_context(|| {
        format!(
            "{} built {} into a module weft cannot run",
            toolchain.describe(),
            source.display()
        )
    })?;
    if let Some(entry) = &entry
        && let Err(e) = weft_runtime::write_atomically(entry, &wasm, false)
    {
        eprintln!("weft: warning: cannot cache {}: {e}", entry.display());
    }
    Ok(Compiled {
        language,
        wasm,
        cached: false,
        diagnostics,
    })
}

/// The arguments that name the source, the SDK and the output.
fn file_arguments(
    language: Language,
    name: PathBuf,
    sdk: &Path,
    work: &Path,
    output: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let joined = |prefix: &str, path: &Path| {
        let mut arg = OsString::from(prefix);
        arg.push(path);
        arg
    };
    match language {
        Language::Wat => {}
        Language::C | Language::Cpp => {
            args.push("-I".into());
            args.push(sdk.join("c").into());
            args.push(name.into());
            args.push("-o".into());
            args.push(output.into());
        }
        Language::Zig => {
            args.push("--dep".into());
            args.push("weft".into());
            args.push(joined("-Mroot=", &name));
            args.push(joined("-Mweft=", &sdk.join("zig").join("weft.zig")));
            args.push("--cache-dir".into());
            args.push(work.join("zig-cache").into());
            args.push(joined("-femit-bin=", output));
        }
        Language::AssemblyScript => {
            args.push(name.into());
            args.push("--path".into());
            args.push(sdk.join("assemblyscript").join("node_modules").into());
            args.push("--use".into());
            args.push(format!("abort={ASSEMBLYSCRIPT_ABORT}").into());
            args.push("-o".into());
            args.push(output.into());
        }
        Language::Rust => {
            args.push(name.into());
            args.push("-o".into());
            args.push(output.into());
        }
    }
    args
}

/// What a process printed, standard output first.
fn printed(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

/// Checks that `wasm` is a valid module that imports only from the modules
/// weft provides.
fn check_module(wasm: &[u8]) -> Result<()> {
    wasmparser::Validator::new()
        .validate_all(wasm)
        .context("the module does not validate")?;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(imports) = payload? {
            for import in imports.into_imports() {
                let import = import?;
                if !PROVIDED_MODULES.contains(&import.module) {
                    bail!(
                        "the module imports `{}` from `{}`, but scripts may import only from {}",
                        import.name,
                        import.module,
                        PROVIDED_MODULES
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    );
                }
            }
        }
    }
    Ok(())
}

/// The directory of the cache (see the module documentation).
pub fn cache_dir() -> Option<PathBuf> {
    weft_runtime::default_cache_dir().map(|dir| dir.join("compiled"))
}

/// The SHA-256 of everything a build depends on, in hex. Every field is
/// length-prefixed, so that no two different keys hash the same bytes.
fn cache_key(language: Language, version: &str, name: &[u8], code: &[u8]) -> String {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(CACHE_FORMAT.as_bytes());
    field(language.name().as_bytes());
    field(version.as_bytes());
    for flag in language.flags() {
        field(flag.as_bytes());
    }
    field(ASSEMBLYSCRIPT_ABORT.as_bytes());
    field(name);
    field(code);
    field(sdk_hash().as_bytes());
    hex::encode(hash.finalize())
}

/// The SHA-256 of the SDK files and their paths, in hex.
fn sdk_hash() -> String {
    let mut hash = Sha256::new();
    for (path, contents) in SDK {
        for bytes in [path.as_bytes(), contents.as_bytes()] {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
    }
    hex::encode(hash.finalize())
}

/// Writes the SDK files under `dir` (those not there already) and returns
/// `dir`. Each file is written atomically, so a concurrent build never
/// reads half of one.
fn write_sdk(dir: &Path) -> Result<PathBuf> {
    for (path, contents) in SDK {
        let file = dir.join(path);
        if std::fs::read(&file).is_ok_and(|existing| existing == contents.as_bytes()) {
            continue;
        }
        weft_runtime::write_atomically(&file, contents.as_bytes(), false)
            .with_context(|| format!("cannot write the SDK to {}", dir.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// The compiler of one language, as this process finds it.
#[derive(Debug, Clone)]
pub struct Toolchain {
    language: Language,
    /// The program to run.
    program: OsString,
    /// The arguments that come before the compiler's own (`-m ziglang`).
    prefix: &'static [&'static str],
    /// Whether [`Toolchain::variable`] chose the program.
    overridden: bool,
}

impl Toolchain {
    /// The toolchain of `language` (none for WebAssembly text): the program
    /// named by its environment variable, if set, else the usual command.
    pub fn for_language(language: Language) -> Option<Toolchain> {
        let (default, prefix): (&str, &'static [&'static str]) = match language {
            Language::Wat => return None,
            Language::C => ("clang", &[]),
            Language::Cpp => ("clang++", &[]),
            Language::Zig => ("python3", &["-m", "ziglang"]),
            Language::AssemblyScript => ("asc", &[]),
            Language::Rust => ("rustc", &[]),
        };
        Some(
            match std::env::var_os(Self::variable(language)).filter(|v| !v.is_empty()) {
                Some(program) => Toolchain {
                    language,
                    program,
                    prefix: &[],
                    overridden: true,
                },
                None => Toolchain {
                    language,
                    program: default.into(),
                    prefix,
                    overridden: false,
                },
            },
        )
    }

    /// The environment variable that names the compiler of `language`.
    pub fn variable(language: Language) -> &'static str {
        match language {
            Language::Wat => "",
            Language::C => "WEFT_CLANG",
            Language::Cpp => "WEFT_CLANGXX",
            Language::Zig => "WEFT_ZIG",
            Language::AssemblyScript => "WEFT_ASC",
            Language::Rust => "WEFT_RUSTC",
        }
    }

    /// What the toolchain is called in messages.
    fn what(&self) -> &'static str {
        match self.language {
            Language::Wat => "",
            Language::C => "clang for wasm32-wasi",
            Language::Cpp => "clang++ for wasm32-wasi",
            Language::Zig => "the Zig compiler",
            Language::AssemblyScript => "the AssemblyScript compiler",
            Language::Rust => "rustc",
        }
    }

    /// The command that installs the toolchain.
    pub fn install_command(language: Language) -> &'static str {
        match language {
            Language::Wat => "",
            Language::C => "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32",
            Language::Cpp => {
                "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 libc++-dev-wasm32"
            }
            Language::Zig => "pip install ziglang",
            Language::AssemblyScript => "npm install -g assemblyscript",
            Language::Rust => "rustup target add wasm32-wasip1",
        }
    }

    /// The command line that runs the compiler, as a user would type it.
    fn describe(&self) -> String {
        let mut text = self.program.to_string_lossy().into_owned();
        for arg in self.prefix {
            text.push(' ');
            text.push_str(arg);
        }
        text
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(self.prefix);
        command
    }

    /// The error for a toolchain that is missing: `why` says what failed.
    fn missing(&self, what: Missing, why: &str) -> anyhow::Error {
        let origin = if self.overridden {
            format!(" (from ${})", Self::variable(self.language))
        } else {
            String::new()
        };
        let problem = match what {
            Missing::Program | Missing::Broken => "is not installed",
            Missing::Target => "cannot build for WebAssembly",
        };
        let how = if self.language == Language::Rust && what == Missing::Program {
            "install Rust (https://rustup.rs), then run"
        } else {
            "install it with"
        };
        anyhow!(
            "{} {problem}: `{}`{origin} {why}\n{how}: {}",
            self.what(),
            self.describe(),
            Self::install_command(self.language)
        )
    }

    /// The error for a compiler that could not be started.
    fn not_runnable(&self, error: &std::io::Error) -> anyhow::Error {
        if error.kind() == ErrorKind::NotFound {
            self.missing(Missing::Program, "was not found")
        } else {
            anyhow!("cannot run `{}`: {error}", self.describe())
        }
    }

    /// Runs the compiler with `args` and returns what it printed on
    /// standard output; the error says the toolchain is missing when it
    /// cannot run or fails.
    fn query(&self, args: &[&str]) -> Result<String> {
        let output = self
            .command()
            .args(args)
            .output()
            .map_err(|e| self.not_runnable(&e))?;
        if !output.status.success() {
            let printed = printed(&output);
            let last = printed
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("");
            let why = match last.trim() {
                "" => format!("failed ({})", output.status),
                last => format!("failed ({}): {last}", output.status),
            };
            return Err(self.missing(Missing::Broken, &why));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// The first line of the compiler's version, which names its release.
    pub fn version(&self) -> Result<String> {
        if self.language == Language::AssemblyScript
            && let Some(version) = self.package_version()
        {
            return Ok(version);
        }
        let args: &[&str] = match self.language {
            Language::Zig => &["version"],
            _ => &["--version"],
        };
        let text = self.query(args)?;
        Ok(text.lines().next().unwrap_or_default().trim().to_string())
    }

    /// The version in the `package.json` of the npm package the program
    /// belongs to (`asc` is `<package>/bin/asc.js`), which is what `asc
    /// --version` prints, without the second it takes node to load the
    /// compiler. `None` when the program is not found that way.
    fn package_version(&self) -> Option<String> {
        let program = Path::new(&self.program);
        let found = if program.components().count() > 1 {
            program.to_path_buf()
        } else {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join(program))
                .find(|path| path.is_file())?
        };
        let script = std::fs::canonicalize(found).ok()?;
        for dir in script.ancestors().skip(1).take(3) {
            let Ok(text) = std::fs::read(dir.join("package.json")) else {
                continue;
            };
            let package: serde_json::Value = serde_json::from_slice(&text).ok()?;
            if package["name"] != "assemblyscript" {
                return None;
            }
            let version = package["version"].as_str()?;
            return Some(format!("Version {version}"));
        }
        None
    }

    /// Checks that the compiler can build for WebAssembly: that the C
    /// libraries, the linker and the runtime builtins (C, C++) or the Rust
    /// standard library for the target are installed.
    pub fn check_target(&self) -> Result<()> {
        match self.language {
            Language::C | Language::Cpp => {
                let mut needed = vec![("libc.a", "wasi-libc")];
                if self.language == Language::Cpp {
                    needed.push(("libc++.a", "libc++ for wasm32-wasi"));
                    needed.push(("libc++abi.a", "libc++abi for wasm32-wasi"));
                }
                for (file, what) in needed {
                    let option = format!("-print-file-name={file}");
                    let found = self.query(&["--target=wasm32-wasi", &option])?;
                    if !Path::new(&found).is_absolute() || !Path::new(&found).is_file() {
                        let why = format!("finds no {what} ({file})");
                        return Err(self.missing(Missing::Target, &why));
                    }
                }
                let builtins = self.query(&["--target=wasm32-wasi", "-print-libgcc-file-name"])?;
                if !Path::new(&builtins).is_file() {
                    let why = format!("finds no compiler-rt builtins for wasm32 ({builtins})");
                    return Err(self.missing(Missing::Target, &why));
                }
                let linker = self.query(&["--target=wasm32-wasi", "-print-prog-name=wasm-ld"])?;
                if !Path::new(&linker).is_file() {
                    return Err(self.missing(Missing::Target, "finds no wasm-ld (lld)"));
                }
                Ok(())
            }
            Language::Rust => {
                let args = ["--print", "target-libdir", "--target", "wasm32-wasip1"];
                let dir = self.query(&args)?;
                if !Path::new(&dir).is_dir() {
                    let why =
                        format!("has no standard library for wasm32-wasip1 ({dir} does not exist)");
                    return Err(self.missing(Missing::Target, &why));
                }
                Ok(())
            }
            Language::Wat | Language::Zig | Language::AssemblyScript => Ok(()),
        }
    }
}

/// What part of a toolchain is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// The program is not there.
    Program,
    /// The program is there but fails (`python3` without the `ziglang`
    /// package).
    Broken,
    /// The compiler runs, but the libraries or the linker for WebAssembly
    /// are not installed.
    Target,
}

/// `weft compile`'s summary, as `--json` prints it.
#[derive(Debug, serde::Serialize)]
pub struct Summary<'a> {
    source: &'a Path,
    language: &'static str,
    output: &'a Path,
    bytes: usize,
    cached: bool,
    seconds: f64,
}

/// `weft compile SOURCE -o OUTPUT`.
pub fn run(source: &Path, output: &Path, no_cache: bool, json: bool) -> Result<()> {
    let started = Instant::now();
    let compiled = compile(
        source,
        &CompileOptions {
            no_cache,
            announce: false,
        },
    )?;
    if !compiled.diagnostics.trim().is_empty() {
        eprint!("{}", compiled.diagnostics);
    }
    std::fs::write(output, &compiled.wasm)
        .with_context(|| format!("cannot write {}", output.display()))?;
    let summary = Summary {
        source,
        language: compiled.language.name(),
        output,
        bytes: compiled.wasm.len(),
        cached: compiled.cached,
        seconds: started.elapsed().as_secs_f64(),
    };
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "weft: {} ({}) -> {}: {} bytes{}, {:.2} s",
            source.display(),
            summary.language,
            output.display(),
            summary.bytes,
            if summary.cached { ", cached" } else { "" },
            summary.seconds
        );
    }
    Ok(())
}

/// Reads the module `weft run` runs from a source file; the compiler's
/// warnings, and a line saying it compiles, go to standard error.
pub fn read_source(path: &Path) -> Result<Vec<u8>> {
    let compiled = compile(
        path,
        &CompileOptions {
            no_cache: false,
            announce: true,
        },
    )?;
    if !compiled.diagnostics.trim().is_empty() {
        eprint!("{}", compiled.diagnostics);
    }
    Ok(compiled.wasm)
}

//! `weft compile` and `weft run` of source files: every language builds
//! its hello program (`tests/compile/`) with the SDK and runs; C and Zig
//! programs built by weft print byte for byte what the same program built
//! by its own toolchain prints on an unmodified Wasmtime; compile errors
//! show the compiler's diagnostics; missing toolchains say how to install
//! them; the cache gives back the same module.

use crate::util::{assert_clean_failure, cache_dir, stderr};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use weft_conformance::programs::wasi;

/// The directory of the test sources.
fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compile")
}

fn source(name: &str) -> String {
    sources().join(name).to_string_lossy().into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `weft` with `args`, the cache in `cache` and the extra environment
/// variables `env`.
fn weft_in(cache: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command.args(args).env("WEFT_CACHE_DIR", cache);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("weft runs")
}

/// Runs `weft` with the cache the whole suite shares.
fn weft(args: &[&str]) -> Output {
    weft_in(&cache_dir(), args, &[])
}

/// `weft compile SOURCE -o OUTPUT --json [extra]`: the summary it printed.
fn compile_json(cache: &Path, source: &str, output: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["compile", source, "-o", path(output), "--json"];
    args.extend_from_slice(extra);
    let out = weft_in(cache, &args, &[]);
    assert!(
        out.status.success(),
        "weft compile {source}: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "weft compile --json printed no JSON ({e}): {:?}",
            out.stdout
        )
    })
}

/// The `(module, name)` pairs a module imports.
fn imports(wasm: &[u8]) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(section) = payload.expect("module parses") {
            for import in section.into_imports() {
                let import = import.expect("import parses");
                all.push((import.module.to_string(), import.name.to_string()));
            }
        }
    }
    all
}

/// Compiles `name` from `tests/compile/` with `weft compile`, checks the
/// summary and the module, runs it with `weft run` and checks that it
/// printed `expected` and exited 0.
fn hello(name: &str, language: &str, expected: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join(format!("{name}.wasm"));
    let summary = compile_json(&cache_dir(), &source(name), &output, &[]);
    assert_eq!(summary["language"], language, "{summary}");
    assert_eq!(summary["source"], source(name), "{summary}");
    assert_eq!(summary["output"], path(&output), "{summary}");
    assert!(summary["seconds"].as_f64().is_some(), "{summary}");
    assert!(summary["cached"].is_boolean(), "{summary}");
    let wasm = std::fs::read(&output).expect("module written");
    assert_eq!(
        summary["bytes"].as_u64(),
        Some(wasm.len() as u64),
        "{summary}"
    );
    wasmparser::validate(&wasm).expect("the module validates");
    let imports = imports(&wasm);
    assert!(
        imports.iter().any(|(m, n)| m == "weft" && n == "log"),
        "{name} does not call weft.log: {imports:?}"
    );
    for (module, field) in &imports {
        assert!(
            module == "weft" || module == "wasi_snapshot_preview1",
            "{name} imports {module}.{field}"
        );
    }

    let run = weft(&["run", path(&output)]);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        expected,
        "weft run {name}: {}",
        stderr(&run)
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "weft run {name}: {}",
        stderr(&run)
    );
}

#[test]
fn c() {
    hello(
        "hello.c",
        "c",
        "hello from C, 2 + 3 = 5\nprintf works too\n",
    );
}

#[test]
fn cpp() {
    hello("hello.cpp", "c++", "hello from C++, twice 21 is 42\n");
}

#[test]
fn zig() {
    hello("hello.zig", "zig", "hello from Zig, 1 + ... + 10 = 55\n");
}

#[test]
fn assemblyscript() {
    hello(
        "hello.ts",
        "assemblyscript",
        "hello from AssemblyScript, 1 + ... + 10 = 55\n",
    );
}

#[test]
fn wat() {
    hello("hello.wat", "wat", "hello from WebAssembly text\n");
}

/// Whether this machine's rustc can build for `wasm32-wasip1`.
fn rust_target_installed() -> bool {
    Command::new("rustc")
        .args(["--print", "target-libdir", "--target", "wasm32-wasip1"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_dir())
}

/// Rust builds where the target is installed, and says how to install it
/// where it is not.
#[test]
fn rust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("hello.wasm");
    let out = weft(&["compile", &source("hello.rs"), "-o", path(&output)]);
    if rust_target_installed() {
        assert!(out.status.success(), "{}", stderr(&out));
        let run = weft(&["run", path(&output)]);
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "hello from Rust, 1 + ... + 10 = 55\n"
        );
    } else {
        assert_clean_failure(&out, "rustup target add wasm32-wasip1");
        assert!(stderr(&out).contains("wasm32-wasip1"), "{}", stderr(&out));
        assert!(!output.exists(), "a module was written");
    }
}

/// `weft run` takes a source file, compiles it once, and prints only the
/// script's output on standard output.
#[test]
fn run_compiles_a_source() {
    let cache = tempfile::tempdir().expect("tempdir");
    let expected = "hello from C, 2 + 3 = 5\nprintf works too\n";
    let first = weft_in(cache.path(), &["run", &source("hello.c")], &[]);
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        expected,
        "{}",
        stderr(&first)
    );
    assert_eq!(first.status.code(), Some(0));
    assert!(stderr(&first).contains("compiling"), "{}", stderr(&first));

    let second = weft_in(cache.path(), &["run", &source("hello.c")], &[]);
    assert_eq!(String::from_utf8_lossy(&second.stdout), expected);
    assert!(
        !stderr(&second).contains("compiling"),
        "compiled again: {}",
        stderr(&second)
    );

    // Its arguments reach it as usual.
    let dir = tempfile::tempdir().expect("tempdir");
    let args = crate::util::write(
        dir.path(),
        "args.c",
        b"#include <stdio.h>\nint main(int argc, char **argv) {\n  for (int i = 1; i < argc; i++) printf(\"%s\\n\", argv[i]);\n  return argc;\n}\n",
    );
    let out = weft_in(cache.path(), &["run", &args, "--", "one", "two"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "one\ntwo\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(3));
}

/// A second build comes from the cache and is the same module; `--no-cache`
/// builds again; another source is another entry.
#[test]
fn cache() {
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let (first_out, second_out, third_out) = (
        dir.path().join("1.wasm"),
        dir.path().join("2.wasm"),
        dir.path().join("3.wasm"),
    );
    let first = compile_json(cache.path(), &source("hello.zig"), &first_out, &[]);
    assert_eq!(first["cached"], false, "{first}");
    let second = compile_json(cache.path(), &source("hello.zig"), &second_out, &[]);
    assert_eq!(second["cached"], true, "{second}");
    let bytes = std::fs::read(&first_out).expect("first module");
    assert_eq!(bytes, std::fs::read(&second_out).expect("second module"));
    let entries: Vec<_> = std::fs::read_dir(cache.path().join("compiled"))
        .expect("the cache directory exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(std::fs::read(entries[0].path()).expect("entry"), bytes);

    let third = compile_json(
        cache.path(),
        &source("hello.zig"),
        &third_out,
        &["--no-cache"],
    );
    assert_eq!(third["cached"], false, "{third}");
    assert_eq!(std::fs::read(&third_out).expect("third module"), bytes);

    // A changed source is not served from the cache.
    let text = std::fs::read_to_string(sources().join("hello.zig")).expect("hello.zig");
    let changed = crate::util::write(
        dir.path(),
        "hello.zig",
        text.replace("\"Zig\"", "\"Zig, changed\"").as_bytes(),
    );
    let fourth = compile_json(cache.path(), &changed, &first_out, &[]);
    assert_eq!(fourth["cached"], false, "{fourth}");
    assert_ne!(std::fs::read(&first_out).expect("fourth module"), bytes);
}

/// Writes `text` as `name` and checks that compiling it fails with status
/// 1, writes no module and shows every one of `diagnostics`.
fn compile_error(name: &str, text: &str, diagnostics: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = crate::util::write(dir.path(), name, text.as_bytes());
    let output = dir.path().join("out.wasm");
    let out = weft(&["compile", &input, "-o", path(&output)]);
    assert_clean_failure(&out, "does not compile");
    for needle in diagnostics {
        assert!(
            stderr(&out).contains(needle),
            "no {needle:?} in: {}",
            stderr(&out)
        );
    }
    assert!(!output.exists(), "a module was written");
    let run = weft(&["run", &input]);
    assert_clean_failure(&run, diagnostics[0]);
    assert!(run.stdout.is_empty());
}

#[test]
fn c_compile_error() {
    compile_error(
        "broken.c",
        "#include <stdio.h>\nint main(void) {\n  printf(\"%d\\n\", undefined_thing);\n}\n",
        &[
            "broken.c:3:18: error",
            "undefined_thing",
            "printf(\"%d\\n\", undefined_thing);",
        ],
    );
}

#[test]
fn zig_compile_error() {
    compile_error(
        "broken.zig",
        "pub fn main() void {\n    const x: u32 = \"no\";\n    _ = x;\n}\n",
        &["broken.zig:2:20: error", "expected type 'u32'"],
    );
}

#[test]
fn assemblyscript_compile_error() {
    compile_error(
        "broken.ts",
        "import * as weft from \"weft\";\nlet x: i32 = \"no\";\nweft.log(x.toString());\n",
        &["broken.ts(2,", "not assignable to type 'i32'"],
    );
}

/// A toolchain that is not there is named, with the command that installs
/// it.
#[test]
fn missing_toolchains() {
    let nowhere = OsStr::new("/nonexistent/weft-test/compiler");
    for (name, variable, install) in [
        (
            "hello.c",
            "WEFT_CLANG",
            "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32",
        ),
        (
            "hello.cpp",
            "WEFT_CLANGXX",
            "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 libc++-dev-wasm32",
        ),
        ("hello.zig", "WEFT_ZIG", "pip install ziglang"),
        ("hello.ts", "WEFT_ASC", "npm install -g assemblyscript"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("out.wasm");
        let out = weft_in(
            &cache_dir(),
            &["compile", &source(name), "-o", path(&output)],
            &[(variable, nowhere)],
        );
        assert_clean_failure(&out, install);
        assert!(stderr(&out).contains(variable), "{name}: {}", stderr(&out));
        assert!(!output.exists(), "{name}: a module was written");
        // The cache does not hide it: the toolchain's version is part of the key.
        let run = weft_in(
            &cache_dir(),
            &["run", &source(name)],
            &[(variable, nowhere)],
        );
        assert_clean_failure(&run, install);
    }

    // With nothing on PATH, clang and python3 are not found.
    let empty = tempfile::tempdir().expect("tempdir");
    for (name, install) in [
        ("hello.c", "apt-get install clang"),
        ("hello.zig", "pip install ziglang"),
    ] {
        let out = weft_in(
            &cache_dir(),
            &["run", &source(name)],
            &[("PATH", empty.path().as_os_str())],
        );
        assert_clean_failure(&out, install);
        assert!(stderr(&out).contains("was not found"), "{}", stderr(&out));
    }
}

/// Runs `wasm` unmodified on Wasmtime with WASI preview1 and returns its
/// standard output and exit status.
fn on_wasmtime(wasm: &[u8], program: &str) -> (Vec<u8>, i32) {
    let engine = wasi::engine().expect("engine");
    let module = wasmtime::Module::new(&engine, wasm).expect("the plain build compiles");
    let args = vec![program.to_string()];
    let outcome = wasi::on_large_stack(|| wasi::run_original(&engine, &module, &args))
        .expect("the plain build runs");
    assert!(
        outcome.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&outcome.stderr)
    );
    (outcome.stdout, outcome.exit_code)
}

/// Builds `name` with `weft compile`, runs it with `weft run` and checks
/// that it prints and exits exactly like `plain`, the module built by the
/// language's own toolchain, on an unmodified Wasmtime.
fn same_as_plain_build(name: &str, plain: &Path, dir: &Path) {
    let (expected, expected_status) =
        on_wasmtime(&std::fs::read(plain).expect("plain build"), name);
    // The comparison means something only if the program did its work.
    let text = String::from_utf8_lossy(&expected);
    assert!(
        text.contains("162 bytes of squares") && text.contains("stddev 74.51"),
        "the plain build printed: {text}"
    );
    assert_eq!(expected_status, 3);

    let built = dir.join("weft.wasm");
    let summary = compile_json(&cache_dir(), &source(name), &built, &[]);
    assert_eq!(
        summary["bytes"].as_u64(),
        Some(std::fs::metadata(&built).expect("built").len())
    );
    let run = weft(&["run", path(&built)]);
    assert!(
        run.stdout == expected,
        "{name}: weft run of weft compile's module differs from the plain build on Wasmtime\n\
         --- plain, Wasmtime\n{text}\n--- weft\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        stderr(&run)
    );
    assert_eq!(run.status.code(), Some(expected_status), "{}", stderr(&run));
}

#[test]
fn c_matches_plain_clang_on_wasmtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.wasm");
    let out = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", &source("compare.c"), "-o"])
        .arg(&plain)
        .output()
        .expect("clang runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    same_as_plain_build("compare.c", &plain, dir.path());
}

#[test]
fn zig_matches_plain_zig_on_wasmtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.wasm");
    let mut emit = std::ffi::OsString::from("-femit-bin=");
    emit.push(&plain);
    let out = Command::new("python3")
        .args(["-m", "ziglang", "build-exe", "-target", "wasm32-wasi"])
        .args(["-O", "ReleaseSmall", &source("compare.zig")])
        .arg(emit)
        .arg("--cache-dir")
        .arg(dir.path().join("zig-cache"))
        .current_dir(dir.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    same_as_plain_build("compare.zig", &plain, dir.path());
}

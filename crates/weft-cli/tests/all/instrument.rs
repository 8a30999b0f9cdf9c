//! `weft instrument`: good input is instrumented, bad input gets a clear
//! message and a non-zero exit, never a panic.

use crate::util::{assert_clean_failure, weft, write};
use std::path::Path;

#[test]
fn instruments_text_and_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        dir.path(),
        "loop.wat",
        b"(module (func (export \"f\") (loop (br 0))))",
    );
    let output = dir.path().join("out.wasm");
    for mode in ["fuel", "flag"] {
        let out = weft(&[
            "instrument",
            &input,
            "-o",
            output.to_str().expect("utf-8 path"),
            "--mode",
            mode,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let wasm = std::fs::read(&output).expect("output written");
        wasmparser::validate(&wasm).expect("output validates");
        // The output instruments again only if it avoids reserved names; it does not.
        let again = weft(&[
            "instrument",
            output.to_str().expect("utf-8 path"),
            "-o",
            output.to_str().expect("utf-8 path"),
        ]);
        assert_clean_failure(&again, "reserved");
    }
}

#[test]
fn bad_input_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.wasm");
    let out = out.to_str().expect("utf-8 path");

    let text = write(dir.path(), "notes.txt", b"hello");
    assert_clean_failure(
        &weft(&["instrument", &text, "-o", out]),
        "not a WebAssembly module",
    );

    let bad_wat = write(
        dir.path(),
        "bad.wat",
        b"(module (func (result i32) i64.const 1))",
    );
    assert_clean_failure(&weft(&["instrument", &bad_wat, "-o", out]), "type mismatch");

    let truncated = write(dir.path(), "cut.wasm", b"\0asm\x01\0\0\0\x01\x05\x01\x60");
    assert_clean_failure(
        &weft(&["instrument", &truncated, "-o", out]),
        "invalid WebAssembly module",
    );

    let threads = write(dir.path(), "threads.wat", b"(module (memory 1 1 shared))");
    assert_clean_failure(&weft(&["instrument", &threads, "-o", out]), "threads");

    let missing = dir.path().join("missing.wasm");
    assert_clean_failure(
        &weft(&[
            "instrument",
            missing.to_str().expect("utf-8 path"),
            "-o",
            out,
        ]),
        "cannot read",
    );
    assert!(
        !Path::new(out).exists(),
        "no output is written for bad input"
    );
}

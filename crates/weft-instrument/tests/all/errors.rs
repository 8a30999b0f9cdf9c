//! Bad input gets a clear error, never a panic.

use weft_instrument::{Config, Error, instrument};

fn err(wasm: &[u8]) -> Error {
    instrument(wasm, &Config::default()).expect_err("input must be rejected")
}

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test module parses")
}

#[test]
fn not_wasm() {
    let e = err(b"hello world, this is text");
    assert!(matches!(e, Error::NotWasm(_)), "{e}");
    assert!(e.to_string().contains("magic"), "{e}");
    assert!(matches!(err(b""), Error::NotWasm(_)));
}

#[test]
fn every_truncation_is_an_error_or_a_valid_module() {
    let good = wat(
        r#"(module (memory 1) (func (export "f") (param i32) (result i32)
        (loop (br_if 0 (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))) (local.get 0))
        (data (i32.const 0) "abc"))"#,
    );
    let mut rejected = 0;
    for cut in 0..good.len() {
        // A cut at a section boundary leaves a shorter but valid module.
        match instrument(&good[..cut], &Config::default()) {
            Ok(out) => {
                assert!(
                    wasmparser::validate(&good[..cut]).is_ok(),
                    "cut at {cut} accepted an invalid module"
                );
                wasmparser::validate(&out.wasm).expect("output of a valid prefix validates");
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::Invalid(_) | Error::Malformed(_) | Error::NotWasm(_)
                    ),
                    "cut at {cut}: {e}"
                );
                rejected += 1;
            }
        }
    }
    assert!(
        rejected > good.len() / 2,
        "most truncations must be rejected ({rejected} of {})",
        good.len()
    );
    // A type error: i64 where i32 is expected.
    assert!(matches!(
        err(&wat("(module (func (result i32) i64.const 1))")),
        Error::Invalid(_)
    ));
}

#[test]
fn invalid_body_is_reported() {
    let mut bytes = wat("(module (func (result i32) i32.const 1))");
    // Replace `i32.const` (0x41) with `i64.const` (0x42): a type mismatch.
    let pos = bytes
        .iter()
        .rposition(|b| *b == 0x41)
        .expect("i32.const present");
    bytes[pos] = 0x42;
    let e = err(&bytes);
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(e.to_string().contains("type mismatch"), "{e}");
}

#[test]
fn unsupported_features_are_named() {
    let cases = [
        ("(module (memory 1 1 shared))", "threads"),
        ("(module (memory i64 1))", "memory64"),
        ("(module (tag $t) (func (throw $t)))", "exception handling"),
        ("(module (func $f (return_call $f)))", "tail calls"),
        (
            "(module (type $s (struct (field i32))) (func (result (ref null $s)) ref.null $s))",
            "garbage collection",
        ),
        (
            "(module (type $f (func)) (func (param (ref $f))))",
            "typed function references",
        ),
        (
            "(module (memory 1 1 shared) (func (result i32) i32.const 0 i32.atomic.load))",
            "threads",
        ),
    ];
    for (text, feature) in cases {
        let e = err(&wat(text));
        match &e {
            Error::Unsupported { feature: f, .. } => assert_eq!(*f, feature, "{text}: {e}"),
            other => panic!("{text}: expected unsupported {feature}, got {other}"),
        }
        assert!(e.to_string().contains(feature));
    }
}

#[test]
fn reserved_export_names() {
    let e = err(&wat("(module (func (export \"__weft_state\")))"));
    assert!(
        matches!(e, Error::ReservedName(ref n) if n == "__weft_state"),
        "{e}"
    );
}

#[test]
fn components_are_rejected() {
    let e = err(&wat("(component)"));
    assert!(
        matches!(
            e,
            Error::Unsupported {
                feature: "component model",
                ..
            }
        ),
        "{e}"
    );
}

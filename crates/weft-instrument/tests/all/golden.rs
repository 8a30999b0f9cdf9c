//! Golden-file tests: every `tests/golden/NAME.wat` is instrumented in fuel
//! mode, flag mode, flag mode counting fuel with shared state and second
//! copies of loops only, and flag mode with one copy of all code, and
//! printed; the output must match `NAME.fuel.wat`, `NAME.flag.wat`,
//! `NAME.shared.wat` and `NAME.compact.wat`. Run with `BLESS=1` to
//! regenerate them.

use std::path::{Path, PathBuf};
use weft_instrument::{Config, Copies, instrument};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn print(wasm: &[u8]) -> String {
    let mut config = wasmprinter::Config::new();
    config.fold_instructions(false);
    let mut out = String::new();
    config
        .print(wasm, &mut wasmprinter::PrintFmtWrite(&mut out))
        .expect("instrumented module prints");
    out
}

#[test]
fn golden_files() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "wat")
                && p.file_stem()
                    .is_some_and(|s| !s.to_string_lossy().contains('.'))
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no golden inputs found");
    let mut mismatches = Vec::new();
    for input in &inputs {
        let wasm = wat::parse_file(input).expect("golden input parses");
        let configs = [
            ("fuel", Config::fuel()),
            ("flag", Config::flag(false)),
            (
                "shared",
                Config::flag(true)
                    .with_shared_state()
                    .with_copies(Copies::Loops),
            ),
            ("compact", Config::flag(false).with_copies(Copies::None)),
        ];
        for (suffix, config) in configs {
            let out = instrument(&wasm, &config).expect("golden input instruments");
            wasmparser::validate(&out.wasm).expect("instrumented module validates");
            let printed = print(&out.wasm);
            let expected_path = input.with_extension(format!("{suffix}.wat"));
            if bless {
                std::fs::write(&expected_path, &printed).expect("write golden output");
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            if expected != printed {
                mismatches.push(expected_path.display().to_string());
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden outputs differ (rerun with BLESS=1 to update): {mismatches:#?}"
    );
}

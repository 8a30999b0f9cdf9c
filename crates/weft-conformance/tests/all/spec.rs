//! The WebAssembly spec testsuite through the weft pass, in every mode.

use weft_conformance::spec::{self, Options};

#[test]
fn spec_testsuite_in_every_mode() {
    let report = spec::run(&Options::default()).expect("the suite runs");
    let mut out = Vec::new();
    report.print(&mut out, 10).expect("printing to memory");
    print!("{}", String::from_utf8_lossy(&out));
    assert_eq!(report.failed(), 0, "{}", report.summary_line());
}

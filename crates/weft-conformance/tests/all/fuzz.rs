//! A seeded smoke run of the differential fuzzer: a few hundred generated
//! modules, original against instrumented, must agree.

use weft_conformance::fuzz::{self, Options};

#[test]
fn fuzz_smoke_run_finds_no_divergence() {
    let options = Options {
        seed: 0x5eed_f00d,
        first: 0,
        modules: 400,
        threads: None,
        async_flag: false,
    };
    let summary = fuzz::run(&options, &|_| {}).expect("the fuzzer starts");
    let mut report = String::new();
    for d in &summary.divergences {
        report.push_str(&format!(
            "\nmodule {}: {}\n{}\n  reproduce: {}\n",
            d.index,
            d.class,
            d.detail,
            fuzz::reproduce_command(d)
        ));
    }
    assert!(summary.divergences.is_empty(), "{}{report}", summary.line());
    assert!(
        summary.agreed > options.modules / 2,
        "too few conclusive modules: {}",
        summary.line()
    );
}

//! A seeded smoke run of the snapshot fuzzer: mutated snapshots never make
//! decoding, restore or the restored script panic, and the mutations reach
//! every stage.

use weft_conformance::snapshot_fuzz::{self, Family, Outcome};

#[test]
fn snapshot_fuzz_smoke_run_never_panics() {
    let summary = snapshot_fuzz::fuzz_snapshots(0x5eed_5a75, 3_000).expect("the fuzzer starts");
    let failures: Vec<String> = summary
        .failures
        .iter()
        .map(|c| {
            format!(
                "case {} ({:?}, {}): {:?} after {:?}",
                c.index, c.family, c.base, c.outcome, c.mutations
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n{}",
        summary.lines(),
        failures.join("\n")
    );
    assert_eq!(summary.cases, 3_000);
    let bytes = summary.family(Family::Bytes);
    assert!(bytes.cases > 500, "{}", summary.lines());
    assert!(
        bytes.rejected() * 100 >= bytes.cases * 95,
        "too many byte mutations pass: {}",
        summary.lines()
    );
    // The body decoder sees the damage: it refuses some, and some pass on.
    let body = summary.family(Family::Body);
    assert!(body.rejected_at_decode > 0 && body.rejected_at_decode < body.cases);
    // Field mutations are refused by validation, and some restore and run:
    // the run is not vacuous.
    let fields = summary.family(Family::Fields);
    assert!(
        fields.rejected_at_restore * 10 > fields.cases,
        "{}",
        summary.lines()
    );
    assert!(fields.ran * 10 > fields.cases, "{}", summary.lines());
    assert!(fields.trapped > 0, "{}", summary.lines());
    assert!(
        summary.reasons.len() > 20,
        "few kinds of refusal: {:?}",
        summary.reasons
    );
}

#[test]
fn snapshot_fuzz_cases_are_reproducible() {
    let describe = |seed, range: std::ops::Range<u64>| {
        let mut cases = Vec::new();
        snapshot_fuzz::fuzz_snapshots_with(seed, range, &mut |c| {
            let outcome = match &c.outcome {
                // Wall-clock sleeps may end differently from run to run.
                Outcome::Ran(_) => "ran".to_string(),
                other => format!("{other:?}"),
            };
            cases.push((c.family, c.base, c.mutations.clone(), outcome));
        })
        .expect("the fuzzer starts");
        cases
    };
    let all = describe(11, 0..40);
    assert_eq!(describe(11, 25..30), all[25..30]);
    assert_ne!(describe(12, 0..40), all);
}

//! The benchmarks run and report figures that add up (their values are
//! measurements, printed, never asserted here).

use crate::util::{stderr, weft};
use serde_json::Value;

fn fairness(args: &[&str]) -> Value {
    let mut all = vec!["bench", "fairness", "--json"];
    all.extend_from_slice(args);
    let out = weft(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// What every fairness report must satisfy, whatever the machine.
fn consistent(report: &Value, scripts: u64, owners: usize) {
    assert_eq!(report["scripts"], scripts);
    assert_eq!(report["scripts_that_ran"], scripts, "every script ran");
    let per_owner = report["owners"].as_array().expect("owners");
    assert_eq!(per_owner.len(), owners);
    let held: u64 = per_owner
        .iter()
        .map(|o| o["scripts"].as_u64().expect("count"))
        .sum();
    assert_eq!(held, scripts);
    let shares: f64 = per_owner.iter().map(|o| f(o, "share")).sum();
    assert!((shares - 1.0).abs() < 1e-9, "owner shares sum to {shares}");
    let owner_cpu: f64 = per_owner.iter().map(|o| f(o, "cpu_s")).sum();
    assert!((owner_cpu - f(report, "script_cpu_s")).abs() < 1e-6);
    // The scripts' CPU time is part of the process's: the overhead is a
    // fraction, never negative (which would mean CPU time counted that was
    // not spent in the window).
    let overhead = f(report, "overhead");
    assert!((0.0..1.0).contains(&overhead), "overhead {overhead}");
    for key in ["jain_scripts", "jain_owners"] {
        let jain = f(report, key);
        assert!(jain > 0.0 && jain <= 1.0 + 1e-9, "{key} = {jain}");
    }
    assert!(f(report, "pause_p99_us") >= f(report, "pause_p50_us"));
    assert!(f(report, "rss_per_script_bytes").is_finite());
    assert!(report["slices"]["count"].as_u64().expect("slices") >= scripts);
}

#[test]
fn bench_fairness_reports_a_consistent_window() {
    let report = fairness(&["--scripts", "300", "--owners", "3", "--seconds", "1"]);
    consistent(&report, 300, 3);
    assert!(report["hibernated"].is_null());
}

#[test]
fn bench_fairness_with_hibernated_scripts_reports_a_consistent_window() {
    // Enough spinning scripts that the first spawned are hibernated while
    // they wait for the others.
    let report = fairness(&[
        "--scripts",
        "2000",
        "--owners",
        "2",
        "--seconds",
        "1",
        "--hibernated",
        "500",
    ]);
    consistent(&report, 2000, 2);
    let hibernated = &report["hibernated"];
    assert_eq!(hibernated["scripts"], 500);
    assert!(f(hibernated, "snapshot_bytes") > 0.0);
}

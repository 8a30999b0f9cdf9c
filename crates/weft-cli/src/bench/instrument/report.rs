//! The results of `weft bench instrument`, as tables or as JSON.

use super::{Measurement, Setup, Size, VARIANTS, Variant};
use crate::bench::stats::{Summary, geomean, ratio};
use crate::bench::table::Table;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::Duration;

/// The run-time overhead the pass aims to stay within (geomean).
const TIME_GOAL: f64 = 1.10;
/// The wasm code growth the pass aims to stay within (geomean).
const CODE_GOAL: f64 = 1.30;

/// The time figures of one program and one variant.
pub(super) struct Timing {
    pub summary: Summary,
    /// Median over the original's median.
    pub ratio: f64,
    /// Minimum over the original's minimum.
    pub ratio_min: f64,
}

/// The time figures of every variant of `m`; zero times (and ratios of 0 or
/// NaN) for a variant that was not measured.
pub(super) fn timings(m: &Measurement) -> [Timing; VARIANTS] {
    let summaries = m.samples.each_ref().map(|samples| {
        Summary::of(samples).unwrap_or(Summary {
            median: Duration::ZERO,
            min: Duration::ZERO,
        })
    });
    let base = summaries[Variant::Original.index()];
    summaries.map(|summary| Timing {
        summary,
        ratio: ratio(summary.median, base.median),
        ratio_min: ratio(summary.min, base.min),
    })
}

fn code_bytes(size: &Size) -> usize {
    size.code_bytes
}

fn module_bytes(size: &Size) -> usize {
    size.module_bytes
}

fn machine_code_bytes(size: &Size) -> usize {
    size.machine_code_bytes
}

/// One size of `variant`'s module over the same size of the original's; NaN
/// when either was not measured.
fn size_ratio(m: &Measurement, variant: Variant, bytes: fn(&Size) -> usize) -> f64 {
    match (m.sizes[variant.index()], m.sizes[Variant::Original.index()]) {
        (Some(size), Some(original)) => bytes(&size) as f64 / bytes(&original) as f64,
        _ => f64::NAN,
    }
}

/// The geometric means over all programs of one variant's ratios.
struct Geomeans {
    time: f64,
    time_min: f64,
    code: f64,
    module: f64,
    machine_code: f64,
}

fn geomeans(measurements: &[Measurement], variant: Variant) -> Geomeans {
    let all_timings: Vec<_> = measurements.iter().map(timings).collect();
    let of = |values: Vec<f64>| geomean(values).unwrap_or(f64::NAN);
    Geomeans {
        time: of(all_timings
            .iter()
            .map(|t| t[variant.index()].ratio)
            .collect()),
        time_min: of(all_timings
            .iter()
            .map(|t| t[variant.index()].ratio_min)
            .collect()),
        code: of(measurements
            .iter()
            .map(|m| size_ratio(m, variant, code_bytes))
            .collect()),
        module: of(measurements
            .iter()
            .map(|m| size_ratio(m, variant, module_bytes))
            .collect()),
        machine_code: of(measurements
            .iter()
            .map(|m| size_ratio(m, variant, machine_code_bytes))
            .collect()),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

pub(super) fn times(r: f64) -> String {
    format!("{r:.3}x")
}

fn scale_note(setup: &Setup) -> String {
    match setup.fixed_scale {
        Some(scale) => format!("scale {scale} for every program"),
        None => "scale chosen per program for an original run time of 0.3-1 s".to_owned(),
    }
}

/// The tables printed by default.
pub(super) fn text(setup: &Setup, measurements: &[Measurement]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "weft bench instrument: {} programs in {}",
        measurements.len(),
        setup.programs_dir.display()
    );
    let _ = writeln!(
        out,
        "{}; {}; Wasmtime {}, Cranelift, opt-level speed",
        setup.clang, setup.wasm_opt, WASMTIME_VERSION
    );
    let _ = writeln!(
        out,
        "time = {} of instantiation + run in ms, median (min) of {} interleaved runs after a warm-up, {}",
        setup.clock.describe(),
        setup.runs,
        scale_note(setup)
    );
    let _ = writeln!(
        out,
        "ratio = median / median of the original measured in this run; every run's output checked\n"
    );
    out.push_str(&time_table(measurements).render());
    out.push_str("\nwasm code section, bytes and ratio to the original\n\n");
    out.push_str(&size_table(measurements, &transformed(), code_bytes).render());
    out.push_str("\nmachine code compiled by Wasmtime, bytes and ratio to the original\n\n");
    out.push_str(&size_table(measurements, &Variant::ALL, machine_code_bytes).render());
    out.push('\n');
    out.push_str(&verdict(measurements));
    out
}

fn transformed() -> Vec<Variant> {
    Variant::ALL
        .into_iter()
        .filter(|v| *v == Variant::Original || v.transforms_module())
        .collect()
}

fn time_table(measurements: &[Measurement]) -> Table {
    let mut table = Table::default();
    let mut names = vec!["program".to_owned(), "scale".to_owned()];
    let mut units = vec![String::new(), String::new()];
    for variant in Variant::ALL {
        names.push(variant.label().to_owned());
        units.push("ms".to_owned());
        if variant != Variant::Original {
            names.push(String::new());
            units.push("ratio".to_owned());
        }
    }
    table.header(names);
    table.header(units);
    for m in measurements {
        let timings = timings(m);
        let mut row = vec![m.name.clone(), m.scale.to_string()];
        for variant in Variant::ALL {
            let t = &timings[variant.index()];
            row.push(format!("{} ({})", ms(t.summary.median), ms(t.summary.min)));
            if variant != Variant::Original {
                row.push(times(t.ratio));
            }
        }
        table.row(row);
    }
    let geo: Vec<Geomeans> = Variant::ALL
        .iter()
        .map(|v| geomeans(measurements, *v))
        .collect();
    for (label, pick) in [
        ("geomean", (|g: &Geomeans| g.time) as fn(&Geomeans) -> f64),
        ("geomean of min", |g| g.time_min),
    ] {
        let mut row = vec![label.to_owned(), String::new()];
        for variant in Variant::ALL {
            row.push(String::new());
            if variant != Variant::Original {
                row.push(times(pick(&geo[variant.index()])));
            }
        }
        table.footer(row);
    }
    table
}

fn size_table(
    measurements: &[Measurement],
    variants: &[Variant],
    bytes: fn(&Size) -> usize,
) -> Table {
    let mut table = Table::default();
    let mut names = vec!["program".to_owned()];
    let mut units = vec![String::new()];
    for variant in variants {
        names.push(variant.label().to_owned());
        units.push("bytes".to_owned());
        if *variant != Variant::Original {
            names.push(String::new());
            units.push("ratio".to_owned());
        }
    }
    table.header(names);
    table.header(units);
    for m in measurements {
        let mut row = vec![m.name.clone()];
        for variant in variants {
            row.push(
                m.sizes[variant.index()]
                    .map_or_else(|| "-".to_owned(), |size| bytes(&size).to_string()),
            );
            if *variant != Variant::Original {
                row.push(times(size_ratio(m, *variant, bytes)));
            }
        }
        table.row(row);
    }
    let mut row = vec!["geomean".to_owned()];
    for variant in variants {
        row.push(String::new());
        if *variant != Variant::Original {
            row.push(times(
                geomean(measurements.iter().map(|m| size_ratio(m, *variant, bytes)))
                    .unwrap_or(f64::NAN),
            ));
        }
    }
    table.footer(row);
    table
}

/// How the weft modes compare with the goals.
fn verdict(measurements: &[Measurement]) -> String {
    let wasmtime_fuel = geomeans(measurements, Variant::WasmtimeFuel).time;
    let wasmtime_epoch = geomeans(measurements, Variant::WasmtimeEpoch).time;
    let yes = |ok: bool| if ok { "yes" } else { "NO" };
    let mut out = format!(
        "goals: time geomean <= {TIME_GOAL:.2}x and below both Wasmtime mechanisms; wasm code geomean <= {CODE_GOAL:.2}x\n"
    );
    let weft = [
        Variant::WeftFuel,
        Variant::WeftFlag,
        Variant::WeftFlagCount,
        Variant::WeftFlagLoops,
        Variant::WeftFlagCompact,
    ];
    let width = weft.iter().map(|v| v.label().len()).max().unwrap_or(0);
    for variant in weft {
        let g = geomeans(measurements, variant);
        let _ = writeln!(
            out,
            "  {:<width$}  time {} (<= {TIME_GOAL:.2}x: {}, < wasmtime fuel {}: {}, < wasmtime epoch {}: {})  code {} (<= {CODE_GOAL:.2}x: {})",
            variant.label(),
            times(g.time),
            yes(g.time <= TIME_GOAL),
            times(wasmtime_fuel),
            yes(g.time < wasmtime_fuel),
            times(wasmtime_epoch),
            yes(g.time < wasmtime_epoch),
            times(g.code),
            yes(g.code <= CODE_GOAL),
        );
    }
    out
}

/// The Wasmtime release the benchmark links.
const WASMTIME_VERSION: &str = "48";

/// The JSON object printed with `--json`.
pub(super) fn json(setup: &Setup, measurements: &[Measurement]) -> Value {
    let programs: Vec<Value> = measurements
        .iter()
        .map(|m| {
            let timings = timings(m);
            let configurations: serde_json::Map<String, Value> = Variant::ALL
                .iter()
                .map(|variant| {
                    let t = &timings[variant.index()];
                    let size = m.sizes[variant.index()];
                    let figures = json!({
                        "median_s": t.summary.median.as_secs_f64(),
                        "min_s": t.summary.min.as_secs_f64(),
                        "samples_s": m.samples[variant.index()].iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                        "time_ratio": t.ratio,
                        "time_ratio_min": t.ratio_min,
                        "module_bytes": size.map(|s| s.module_bytes),
                        "module_ratio": size_ratio(m, *variant, module_bytes),
                        "code_bytes": size.map(|s| s.code_bytes),
                        "code_ratio": size_ratio(m, *variant, code_bytes),
                        "machine_code_bytes": size.map(|s| s.machine_code_bytes),
                        "machine_code_ratio": size_ratio(m, *variant, machine_code_bytes),
                    });
                    (variant.key().to_owned(), figures)
                })
                .collect();
            json!({
                "name": m.name,
                "scale": m.scale,
                "stdout_bytes": m.stdout_bytes,
                "configurations": configurations,
            })
        })
        .collect();
    let geomean: serde_json::Map<String, Value> = Variant::ALL
        .iter()
        .map(|variant| {
            let g = geomeans(measurements, *variant);
            let figures = json!({
                "time_ratio": g.time,
                "time_ratio_min": g.time_min,
                "code_ratio": g.code,
                "module_ratio": g.module,
                "machine_code_ratio": g.machine_code,
            });
            (variant.key().to_owned(), figures)
        })
        .collect();
    json!({
        "benchmark": "instrument",
        "programs_dir": setup.programs_dir,
        "runs": setup.runs,
        "scale": setup.fixed_scale.map_or(json!("auto"), |s| json!(s)),
        "clock": setup.clock.describe(),
        "time": "instantiation + run; median and min of the timed runs; ratios against the original in the same run",
        "tools": { "clang": setup.clang, "wasm_opt": setup.wasm_opt, "wasmtime": WASMTIME_VERSION },
        "configurations": Variant::ALL.iter().map(|v| v.key()).collect::<Vec<_>>(),
        "programs": programs,
        "geomean": geomean,
    })
}

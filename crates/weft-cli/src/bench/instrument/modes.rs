//! The time overhead of every interruption mode, for `weft bench preempt`.
//!
//! [`measure`] runs the programs of the instrumentation benchmark exactly as
//! `weft bench instrument` does (same programs, cache, automatic scale and
//! interleaved, output-checked runs, on the thread CPU clock), without
//! asyncify, and keeps only the times: the median of every configuration and,
//! for every interruption mode, the geometric mean over the programs of its
//! median over the original's.

use super::report::{times, timings};
use super::{DEFAULT_CACHE, DEFAULT_PROGRAMS, Harness, Measurement, Options, Variant, normalize};
use crate::bench::programs::{self, Clang};
use crate::bench::runner::Clock;
use crate::bench::stats::geomean;
use crate::bench::table::Table;
use anyhow::Result;
use indicatif::ProgressBar;
use std::path::Path;

/// The interruption modes compared with the original, in the order reported.
pub(crate) const MODES: [Variant; 5] = [
    Variant::WeftFuel,
    Variant::WeftFlag,
    Variant::WeftFlagCount,
    Variant::WasmtimeFuel,
    Variant::WasmtimeEpoch,
];

/// Everything `weft bench preempt` reports about interruption modes.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Modes {
    /// What a time is.
    pub clock: &'static str,
    /// Timed runs of every configuration of every program, after a warm-up.
    pub runs: u32,
    pub programs: Vec<ProgramTimes>,
    /// For every mode of [`MODES`]: the geometric mean over the programs of
    /// its median time over the original's.
    pub geomean_ratio: ByVariant<f64>,
}

/// The times of one program.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ProgramTimes {
    pub name: String,
    /// The SCALE argument the program ran with.
    pub scale: u32,
    /// The median time in milliseconds of the original and of every mode of
    /// [`MODES`].
    pub median_ms: ByVariant<f64>,
}

/// Figures by variant, in a fixed order; serialized as a map from
/// [`Variant::key`] to the figure.
#[derive(Debug, Clone)]
pub(crate) struct ByVariant<T>(pub Vec<(Variant, T)>);

impl<T> ByVariant<T> {
    /// The figure of `variant`, if it has one.
    pub(crate) fn get(&self, variant: Variant) -> Option<&T> {
        self.0.iter().find(|(v, _)| *v == variant).map(|(_, t)| t)
    }
}

impl<T: serde::Serialize> serde::Serialize for ByVariant<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(variant, t)| (variant.key(), t)))
    }
}

/// Measures the programs of the instrumentation benchmark (its default
/// programs directory and cache, the scale chosen per program, thread CPU
/// time) with `runs` timed runs of every configuration after a warm-up.
///
/// `progress` takes one step per run, warm-up runs included: this adds
/// `(runs + 1) * 6` steps per program to its length (the original and the
/// five modes of [`MODES`]), provided it has a length: start it with
/// `ProgressBar::new(0)` or any length (a hidden bar or a spinner keeps
/// none). Runs that choose the scale are not counted. Its prefix is set to
/// the program's name and its message to what is being done.
pub(crate) fn measure(runs: u32, progress: &ProgressBar) -> Result<Modes> {
    let clock = Clock::Cpu;
    clock.check_supported()?;
    let programs = programs::discover(&normalize(Path::new(DEFAULT_PROGRAMS)))?;
    let harness = Harness::new(Clang::find()?, None, Path::new(DEFAULT_CACHE))?;
    let options = Options {
        scale: None,
        runs,
        clock,
    };
    let measurements = harness.measure_all(&programs, &options, progress)?;
    Ok(Modes::new(clock, runs, &measurements))
}

impl Modes {
    fn new(clock: Clock, runs: u32, measurements: &[Measurement]) -> Self {
        let all_timings: Vec<_> = measurements.iter().map(timings).collect();
        let programs = measurements
            .iter()
            .zip(&all_timings)
            .map(|(m, timings)| ProgramTimes {
                name: m.name.clone(),
                scale: m.scale,
                median_ms: ByVariant(
                    std::iter::once(Variant::Original)
                        .chain(MODES)
                        .map(|v| (v, timings[v.index()].summary.median.as_secs_f64() * 1e3))
                        .collect(),
                ),
            })
            .collect();
        let geomean_ratio = ByVariant(
            MODES
                .into_iter()
                .map(|v| {
                    let ratios = all_timings.iter().map(|t| t[v.index()].ratio);
                    (v, geomean(ratios).unwrap_or(f64::NAN))
                })
                .collect(),
        );
        Modes {
            clock: clock.describe(),
            runs,
            programs,
            geomean_ratio,
        }
    }

    /// A table of time ratios to the original: one row per mode of
    /// [`MODES`], with the geometric mean over the programs, then one column
    /// per program. The header gives every program's scale and the median
    /// time of its original module.
    pub(crate) fn table(&self) -> Table {
        let mut table = Table::default();
        let header = |first: &str, cell: &dyn Fn(&ProgramTimes) -> String| {
            [first.to_owned(), String::new()]
                .into_iter()
                .chain(self.programs.iter().map(cell))
                .collect()
        };
        let mut names: Vec<String> = header("time / original", &|p| p.name.clone());
        names[1] = "geomean".to_owned();
        table.header(names);
        table.header(header("scale", &|p| p.scale.to_string()));
        table.header(header("original, ms", &|p| {
            p.median_ms
                .get(Variant::Original)
                .map_or_else(|| "-".to_owned(), |t| format!("{t:.1}"))
        }));
        for mode in MODES {
            let ratio = |p: &ProgramTimes| {
                let original = p.median_ms.get(Variant::Original)?;
                Some(p.median_ms.get(mode)? / original)
            };
            let mut row = vec![
                mode.label().to_owned(),
                self.geomean_ratio
                    .get(mode)
                    .map_or_else(|| "-".to_owned(), |r| times(*r)),
            ];
            row.extend(
                self.programs
                    .iter()
                    .map(|p| ratio(p).map_or_else(|| "-".to_owned(), times)),
            );
            table.row(row);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Size, VARIANTS};
    use super::*;
    use std::time::Duration;

    /// A measurement whose variant `i` of [`Variant::ALL`] ran for
    /// `base_ms * (1 + i / 10)`, asyncify excepted (not measured).
    fn measurement(name: &str, base_ms: u64) -> Measurement {
        let size = Size {
            module_bytes: 1,
            code_bytes: 1,
            machine_code_bytes: 1,
        };
        let mut sizes = [Some(size); VARIANTS];
        sizes[Variant::Asyncify.index()] = None;
        let mut samples: [Vec<Duration>; VARIANTS] = Default::default();
        for variant in Variant::ALL {
            if variant != Variant::Asyncify {
                let ms = base_ms * (10 + variant.index() as u64) / 10;
                samples[variant.index()] = vec![Duration::from_millis(ms)];
            }
        }
        Measurement {
            name: name.to_owned(),
            scale: 3,
            stdout_bytes: 0,
            sizes,
            samples,
        }
    }

    #[test]
    fn reports_every_mode_against_the_original() {
        let modes = Modes::new(
            Clock::Cpu,
            1,
            &[measurement("a", 100), measurement("b", 200)],
        );
        let flag_count = modes
            .geomean_ratio
            .get(Variant::WeftFlagCount)
            .expect("a geomean per mode");
        assert!((flag_count - 1.3).abs() < 1e-9, "{flag_count}");
        assert!(modes.geomean_ratio.get(Variant::Asyncify).is_none());

        let json = serde_json::to_value(&modes).expect("serializable");
        assert_eq!(json["programs"][1]["median_ms"]["original"], 200.0);
        assert_eq!(json["programs"][1]["median_ms"]["weft_flag_count"], 260.0);
        let mut keys: Vec<&str> = json["geomean_ratio"]
            .as_object()
            .expect("a map")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = MODES.map(Variant::key);
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);

        let table = modes.table().render();
        let cells = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
        let lines: Vec<String> = table.lines().map(cells).collect();
        assert_eq!(lines[0], "time / original geomean a b", "{table}");
        assert_eq!(lines[2], "original, ms 100.0 200.0", "{table}");
        assert!(
            lines.contains(&"weft flag+count 1.300x 1.300x 1.300x".to_owned()),
            "{table}"
        );
        assert_eq!(lines.len(), 3 + 1 + MODES.len(), "{table}");
    }
}

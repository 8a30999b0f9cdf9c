//! C programs compiled with clang for `wasm32-wasi` must print exactly what
//! their gcc builds print, unmodified, instrumented, and instrumented while
//! being preempted in every way weft supports (see
//! [`weft_conformance::programs`]).
//!
//! Each program has its own test, so that they run in parallel and fail
//! separately; `fuel_is_exact_across_yields` checks the fuel accounting of
//! the same runs. `--nocapture` shows each program's report: time, yields
//! and fuel of every run, and code sizes.

use anyhow::{Result, anyhow, ensure};
use std::path::PathBuf;
use std::sync::OnceLock;
use wasmtime::Engine;
use weft_conformance::programs::{self, Builds, Mode, Program, Report, Toolchain};

/// Compiled programs are cached next to the other build outputs.
fn toolchain() -> Toolchain {
    let target_tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let target = target_tmp.parent().map(PathBuf::from).unwrap_or(target_tmp);
    Toolchain::new(target.join("weft-programs"))
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| match programs::wasi::engine() {
        Ok(engine) => engine,
        Err(error) => panic!("{error:#}"),
    })
}

/// The scale used to check that `SCALE` reaches the program.
const LARGER_SCALE: u32 = 2;

/// Runs a program in every standard mode, and prints the report.
fn run(name: &str) -> Result<Report> {
    let program = Program::named(name)?;
    let report = programs::run_standard(engine(), &toolchain(), &program)?;
    println!("{report}");
    Ok(report)
}

/// The program's output must be the same everywhere, and every preempted
/// run must have yielded; with a larger `SCALE`, the original module must
/// still agree with the native build, and print something else.
fn check(name: &str, report: &Result<Report>) -> Result<()> {
    let report = report.as_ref().map_err(|e| anyhow!("{e:?}"))?;
    programs::verify_output(report)?;
    programs::verify_yields(report)?;

    let program = Program::named(name)?;
    let builds = Builds::new(&toolchain(), &program)?;
    let scaled = programs::run_modes(
        engine(),
        &program,
        &builds,
        &[Mode::Original],
        Some(LARGER_SCALE),
    )?;
    programs::verify_output(&scaled)?;
    ensure!(
        scaled.native().stdout != report.native().stdout,
        "{name}: SCALE {LARGER_SCALE} printed the same as the default scale"
    );
    Ok(())
}

macro_rules! program_tests {
    ($($name:ident),* $(,)?) => {
        /// Each program's runs, shared by its own test and the fuel test.
        mod reports {
            use super::*;
            $(
                pub fn $name() -> &'static Result<Report> {
                    static REPORT: OnceLock<Result<Report>> = OnceLock::new();
                    REPORT.get_or_init(|| run(stringify!($name)))
                }
            )*
        }

        $(
            #[test]
            fn $name() -> Result<()> {
                check(stringify!($name), reports::$name())
            }
        )*

        #[test]
        fn fuel_is_exact_across_yields() -> Result<()> {
            let mut failures = Vec::new();
            for report in [$(reports::$name()),*] {
                let report = report.as_ref().map_err(|e| anyhow!("{e:?}"))?;
                if let Err(error) = programs::verify_fuel(report) {
                    failures.push(format!("{error:#}"));
                }
            }
            ensure!(failures.is_empty(), "{}", failures.join("\n"));
            Ok(())
        }

        #[test]
        fn every_program_has_a_test() -> Result<()> {
            let tested = [$(stringify!($name)),*];
            for program in programs::all()? {
                ensure!(
                    tested.contains(&program.name.as_str()),
                    "programs/{}.c has no test in tests/all/c_programs.rs",
                    program.name
                );
            }
            Ok(())
        }
    };
}

program_tests!(
    bignum, dispatch, floats, json, kernels, nbody, recursion, strings, vm
);

//! Fuzzing of snapshot decoding, validation and restore.
//!
//! A snapshot is untrusted input: it may come from another machine, or
//! from a file someone edited. Whatever its bytes, decoding, validating,
//! restoring and running it must end in a clear error or in a script that
//! runs inside its sandbox, never in a panic.
//!
//! The fuzzer takes real snapshots ([`bases`]: a module with memory,
//! globals, a funcref table and the funcref stack, paused at recursion
//! depth 2; a WASI command paused at a yield, parked in a sleep, or paused
//! by fuel) and applies seeded mutations ([`mutate`]) in one of three
//! [`Family`]s: to the encoded bytes, to the body of an uncompressed
//! encoding with its checksum fixed up, or to the decoded fields before
//! encoding them again. Each case then goes through
//! [`weft_snapshot::decode`], [`Script::restore`] and, if it restores, a
//! run of [`RUN_FUEL`] fuel; a script still runnable after that is captured
//! again, and that snapshot, which weft took itself, must restore.
//!
//! Case `i` of seed `s` is the same on every machine: re-run it with
//! `fuzz-snapshot --seed s --only i`.

mod bases;
mod mutate;

use anyhow::{Context, Result};
use bases::Base;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};
use weft_runtime::{Budget, Runtime, RuntimeConfig, Script, Status, Stdio};

/// The WebAssembly stack of the fuzzer's runtime.
pub const FUZZ_WASM_STACK: usize = 4 << 20;

/// The fuel a restored script runs for.
pub const RUN_FUEL: u64 = 10_000;

/// What a case mutates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// The encoded bytes as they are: bit flips, truncations, insertions,
    /// header fields. The checksum catches most of these.
    Bytes,
    /// The body of an uncompressed encoding, with lengths and checksum
    /// fixed up, so that the body decoder sees the damage.
    Body,
    /// The decoded snapshot's fields (values, sizes, frames, host state,
    /// module identity, limits), encoded again.
    Fields,
}

/// What became of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `decode` refused the bytes.
    RejectedAtDecode(String),
    /// `Script::restore` (or loading the module it carries) refused it.
    RejectedAtRestore(String),
    /// It restored and ran: paused, parked or exited.
    Ran(String),
    /// It restored and trapped.
    Trapped(String),
    /// A bug: a panic, a restored script that cannot run, or a snapshot of
    /// it that does not restore.
    Failed(String),
}

/// One case: where it started, what was done to it, what became of it.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its index in the run.
    pub index: u64,
    /// What it mutated.
    pub family: Family,
    /// The snapshot it started from.
    pub base: &'static str,
    /// The mutations, in order.
    pub mutations: Vec<String>,
    /// What became of it.
    pub outcome: Outcome,
}

/// Outcomes of the cases of one family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cases of the family.
    pub cases: u64,
    /// Refused by `decode`.
    pub rejected_at_decode: u64,
    /// Refused by `Script::restore`.
    pub rejected_at_restore: u64,
    /// Restored and ran.
    pub ran: u64,
    /// Restored and trapped.
    pub trapped: u64,
    /// Failures.
    pub failed: u64,
}

impl Counts {
    /// Cases refused at decode or restore.
    pub fn rejected(&self) -> u64 {
        self.rejected_at_decode + self.rejected_at_restore
    }

    /// Cases that restored.
    pub fn restored(&self) -> u64 {
        self.ran + self.trapped
    }

    fn line(&self) -> String {
        format!(
            "{} cases: {} rejected at decode, {} at restore, {} ran, {} trapped, {} failed",
            self.cases,
            self.rejected_at_decode,
            self.rejected_at_restore,
            self.ran,
            self.trapped,
            self.failed
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "cases": self.cases,
            "rejected_at_decode": self.rejected_at_decode,
            "rejected_at_restore": self.rejected_at_restore,
            "ran": self.ran,
            "trapped": self.trapped,
            "failed": self.failed,
        })
    }
}

/// The result of a fuzzing run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The run seed.
    pub seed: u64,
    /// Cases run.
    pub cases: u64,
    /// Outcomes by family.
    pub families: BTreeMap<Family, Counts>,
    /// Why cases were refused or trapped: the stage and the message,
    /// numbers elided, with how often.
    pub reasons: BTreeMap<String, u64>,
    /// Every failed case.
    pub failures: Vec<Case>,
    /// How long the cases took.
    pub elapsed: Duration,
}

impl Summary {
    /// The counts of one family.
    pub fn family(&self, family: Family) -> Counts {
        self.families.get(&family).copied().unwrap_or_default()
    }

    fn add(&mut self, case: Case) {
        self.cases += 1;
        let counts = self.families.entry(case.family).or_default();
        counts.cases += 1;
        match &case.outcome {
            Outcome::RejectedAtDecode(why) => {
                counts.rejected_at_decode += 1;
                *self.reasons.entry(reason("decode", why)).or_default() += 1;
            }
            Outcome::RejectedAtRestore(why) => {
                counts.rejected_at_restore += 1;
                *self.reasons.entry(reason("restore", why)).or_default() += 1;
            }
            Outcome::Ran(_) => counts.ran += 1,
            Outcome::Trapped(why) => {
                counts.trapped += 1;
                *self.reasons.entry(reason("trap", why)).or_default() += 1;
            }
            Outcome::Failed(_) => {
                counts.failed += 1;
                self.failures.push(case);
            }
        }
    }

    /// One line per family and a total.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for (family, counts) in &self.families {
            out.push_str(&format!("{family:?}: {}\n", counts.line()));
        }
        let seconds = self.elapsed.as_secs_f64();
        out.push_str(&format!(
            "snapshot fuzz, seed {}: {} cases in {seconds:.1} s ({:.0}/s), {} failures",
            self.seed,
            self.cases,
            self.cases as f64 / seconds.max(1e-9),
            self.failures.len()
        ));
        out
    }

    /// The summary as JSON.
    pub fn json(&self) -> serde_json::Value {
        let families: serde_json::Map<String, serde_json::Value> = self
            .families
            .iter()
            .map(|(f, c)| (format!("{f:?}").to_lowercase(), c.json()))
            .collect();
        serde_json::json!({
            "seed": self.seed,
            "cases": self.cases,
            "seconds": self.elapsed.as_secs_f64(),
            "families": families,
            "reasons": self.reasons,
            "failures": self.failures.iter().map(|c| serde_json::json!({
                "case": c.index,
                "family": format!("{:?}", c.family),
                "base": c.base,
                "mutations": c.mutations,
                "outcome": format!("{:?}", c.outcome),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The stage and the error message, cut short, with every word that holds
/// a digit (a number, in decimal or hex) as `N`.
fn reason(stage: &str, message: &str) -> String {
    let mut words = Vec::new();
    for word in message.split(' ') {
        let is_number = word.chars().any(|c| c.is_ascii_digit());
        words.push(if is_number { "N" } else { word });
    }
    let mut out = format!("{stage}: {}", words.join(" "));
    if let Some((cut, _)) = out.char_indices().nth(90) {
        out.truncate(cut);
    }
    out
}

/// The runtime and the base snapshots: everything a case needs.
pub struct Fuzzer {
    runtime: Runtime,
    bases: Vec<Base>,
}

fn case_rng(seed: u64, index: u64) -> SmallRng {
    // splitmix64 of both, so neighbouring cases are unrelated.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    SmallRng::seed_from_u64(mix(seed ^ mix(index)))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

impl Fuzzer {
    /// Builds the runtime and the base snapshots. Must be called, like
    /// [`Fuzzer::case`], on a thread with a native stack of
    /// [`weft_runtime::thread_stack_size`]`(`[`FUZZ_WASM_STACK`]`)`.
    pub fn new() -> Result<Fuzzer> {
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: None,
            max_wasm_stack: FUZZ_WASM_STACK,
            canonical_nans: true,
            ..RuntimeConfig::default()
        })?;
        let bases = bases::bases(&runtime).context("cannot build the base snapshots")?;
        Ok(Fuzzer { runtime, bases })
    }

    /// Runs case `index` of `seed`, catching panics.
    pub fn case(&self, seed: u64, index: u64) -> Case {
        let mut rng = case_rng(seed, index);
        let base = &self.bases[rng.random_range(0..self.bases.len())];
        let family = match rng.random_range(0..10) {
            0..=3 => Family::Bytes,
            4..=5 => Family::Body,
            _ => Family::Fields,
        };
        let mut mutations = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let bytes = mutated(&mut rng, base, family, &mut mutations);
            self.attempt(base, &bytes)
        }))
        .unwrap_or_else(|payload| {
            Outcome::Failed(format!("panicked: {}", panic_message(&*payload)))
        });
        Case {
            index,
            family,
            base: base.name,
            mutations,
            outcome,
        }
    }

    /// Decodes, restores and runs the bytes.
    fn attempt(&self, base: &Base, bytes: &[u8]) -> Outcome {
        let snapshot = match weft_snapshot::decode(bytes, &Default::default()) {
            Ok(snapshot) => snapshot,
            Err(e) => return Outcome::RejectedAtDecode(e.to_string()),
        };
        let module = match &snapshot.wasm {
            Some(_) => match self.runtime.load_snapshot_module(&snapshot) {
                Ok(module) => module,
                Err(e) => return Outcome::RejectedAtRestore(e.to_string()),
            },
            None => base.module.clone(),
        };
        let mut script =
            match Script::restore(&self.runtime, &module, &snapshot, None, Stdio::null()) {
                Ok(script) => script,
                Err(e) => return Outcome::RejectedAtRestore(e.to_string()),
            };
        if !module.info().config.checks_fuel() {
            // Its instrumentation was changed to one without fuel checks: it
            // could only run without a budget, maybe for ever.
            return Outcome::Ran("restored; not run (no fuel checks)".into());
        }
        let status = match script.run(Budget::Fuel(RUN_FUEL)) {
            Ok(Status::Trapped(trap)) => return Outcome::Trapped(trap.message.clone()),
            Ok(status) => status.clone(),
            Err(e) => return Outcome::Failed(format!("a restored script does not run: {e}")),
        };
        if status.is_runnable()
            && let Err(e) = self.recapture(&mut script)
        {
            return Outcome::Failed(format!(
                "the snapshot of a restored script ({status:?}) does not restore: {e:#}"
            ));
        }
        Outcome::Ran(format!("{status:?}"))
    }

    /// Captures a script weft restored and ran, and restores that snapshot.
    fn recapture(&self, script: &mut Script) -> Result<()> {
        let bytes = weft_snapshot::encode(&script.snapshot()?)?;
        let snapshot = weft_snapshot::decode(&bytes, &Default::default())?;
        Script::restore(
            &self.runtime,
            script.module(),
            &snapshot,
            None,
            Stdio::null(),
        )?;
        Ok(())
    }
}

/// The bytes of a case: the base mutated as its family says.
fn mutated(rng: &mut SmallRng, base: &Base, family: Family, log: &mut Vec<String>) -> Vec<u8> {
    let rounds = rng.random_range(1..=3);
    match family {
        Family::Bytes => {
            let mut bytes = base.encoded.clone();
            for _ in 0..rounds {
                if rng.random_bool(0.3) {
                    mutate::mutate_header(rng, &mut bytes, log);
                } else {
                    mutate::mutate_bytes(rng, &mut bytes, log);
                }
            }
            bytes
        }
        Family::Body => {
            let mut body = postcard::to_allocvec(&base.snapshot).unwrap_or_default();
            for _ in 0..rounds {
                mutate::mutate_bytes(rng, &mut body, log);
            }
            mutate::uncompressed(&body)
        }
        Family::Fields => {
            let mut snapshot = base.snapshot.clone();
            if rng.random_bool(0.1) {
                snapshot.wasm = Some(base.module.original().to_vec());
                log.push("carries its module".into());
            }
            let functions = base.module.info().referenceable_functions.len() as u32;
            for _ in 0..rounds {
                mutate::mutate_field(rng, &mut snapshot, functions, log);
            }
            // `encode` fails only on what cannot be serialized: nothing here.
            weft_snapshot::encode(&snapshot).unwrap_or_default()
        }
    }
}

/// Runs `cases` cases of `seed` on a thread with a stack large enough for
/// the fuzzer's runtime, and sums them up.
pub fn fuzz_snapshots(seed: u64, cases: u64) -> Result<Summary> {
    fuzz_snapshots_with(seed, 0..cases, &mut |_| {})
}

/// Like [`fuzz_snapshots`], for the cases `range`, calling `progress`
/// after each one.
pub fn fuzz_snapshots_with(
    seed: u64,
    range: std::ops::Range<u64>,
    progress: &mut (dyn FnMut(&Case) + Send),
) -> Result<Summary> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("fuzz-snapshot".into())
            .stack_size(weft_runtime::thread_stack_size(FUZZ_WASM_STACK))
            .spawn_scoped(scope, || {
                let fuzzer = Fuzzer::new()?;
                let mut summary = Summary {
                    seed,
                    ..Summary::default()
                };
                let started = Instant::now();
                for index in range {
                    let case = fuzzer.case(seed, index);
                    progress(&case);
                    summary.add(case);
                }
                summary.elapsed = started.elapsed();
                Ok(summary)
            })
            .context("cannot start the fuzzing thread")?
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

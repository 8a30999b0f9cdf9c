//! Executes the commands of a script on a [`Target`] and judges the results.

use super::Mode;
use super::instrumented::{Activity, InstrumentedCache, InstrumentedTarget};
use super::original::{OriginalCache, OriginalTarget};
use super::outcome::{Outcome, describe_expectation};
use super::script::{self, Action, Command, CommandKind};
use super::suite::SpecFile;
use super::values::Arg;
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::Engine;

/// Something that runs modules: the original engine, or the pass plus an
/// engine in one mode. Instances are numbered in instantiation order.
pub trait Target {
    /// Compiles and instantiates a module; the number of its instance.
    fn instantiate(&mut self, wasm: &Arc<Vec<u8>>) -> Result<usize, Outcome>;
    /// Makes the exports of an instance importable under `as_name`.
    fn register(&mut self, as_name: &str, instance: usize) -> Result<(), Outcome>;
    /// Calls an exported function.
    fn invoke(&mut self, instance: usize, name: &str, args: &[Arg]) -> Outcome;
    /// Reads an exported global.
    fn get(&mut self, instance: usize, global: &str) -> Outcome;
    /// Decides whether a module is valid: [`Outcome::Accepted`] or
    /// [`Outcome::Rejected`].
    fn validate(&mut self, wasm: &[u8]) -> Outcome;
    /// The instances the script can still name (current, named,
    /// registered); the others matter only if something references them.
    fn set_roots(&mut self, _roots: &[usize]) {}
}

/// The names a script gives to instances and module definitions.
#[derive(Default)]
struct Scope {
    instances: HashMap<String, usize>,
    definitions: HashMap<String, Arc<Vec<u8>>>,
    current: Option<usize>,
    registered: Vec<usize>,
}

impl Scope {
    fn roots(&self) -> Vec<usize> {
        let mut roots: Vec<usize> = self
            .instances
            .values()
            .copied()
            .chain(self.current)
            .collect();
        roots.extend_from_slice(&self.registered);
        roots.sort_unstable();
        roots.dedup();
        roots
    }

    fn resolve(&self, name: &Option<String>) -> Result<usize, Outcome> {
        match name {
            Some(n) => self
                .instances
                .get(n)
                .copied()
                .ok_or_else(|| Outcome::Error(format!("no module ${n}"))),
            None => self
                .current
                .ok_or_else(|| Outcome::Error("no module instantiated yet".into())),
        }
    }
}

/// Runs every command on `target`, one outcome per command; with `trace`,
/// prints each command to stderr (prefixed by `label`) before running it.
pub fn execute(target: &mut dyn Target, commands: &[Command], trace: Option<&str>) -> Vec<Outcome> {
    let mut scope = Scope::default();
    commands
        .iter()
        .map(|command| {
            if let Some(label) = trace {
                eprintln!("{label}:{} {}", command.line, command.kind.describe());
            }
            let outcome = execute_one(target, &mut scope, &command.kind);
            target.set_roots(&scope.roots());
            outcome
        })
        .collect()
}

fn execute_one(target: &mut dyn Target, scope: &mut Scope, kind: &CommandKind) -> Outcome {
    match kind {
        CommandKind::Module { name, wasm } => match wasm {
            Err(e) => Outcome::Rejected(format!("text: {e}")),
            Ok(wasm) => match target.instantiate(wasm) {
                Ok(instance) => {
                    scope.current = Some(instance);
                    if let Some(name) = name {
                        scope.instances.insert(name.clone(), instance);
                    }
                    Outcome::Done
                }
                Err(outcome) => outcome,
            },
        },
        CommandKind::Definition { name, wasm } => match wasm {
            Err(e) => Outcome::Rejected(format!("text: {e}")),
            Ok(wasm) => match target.validate(wasm) {
                Outcome::Accepted => {
                    if let Some(name) = name {
                        scope.definitions.insert(name.clone(), wasm.clone());
                    }
                    Outcome::Done
                }
                other => other,
            },
        },
        CommandKind::Instance {
            instance,
            definition,
        } => {
            let Some(wasm) = definition
                .as_ref()
                .and_then(|d| scope.definitions.get(d))
                .cloned()
            else {
                return Outcome::Error(format!("no module definition {definition:?}"));
            };
            match target.instantiate(&wasm) {
                Ok(number) => {
                    scope.current = Some(number);
                    if let Some(name) = instance {
                        scope.instances.insert(name.clone(), number);
                    }
                    Outcome::Done
                }
                Err(outcome) => outcome,
            }
        }
        CommandKind::Register { as_name, module } => match scope.resolve(module) {
            Ok(instance) => match target.register(as_name, instance) {
                Ok(()) => {
                    scope.registered.push(instance);
                    Outcome::Done
                }
                Err(outcome) => outcome,
            },
            Err(outcome) => outcome,
        },
        CommandKind::Action { action, .. } => match action {
            Action::Invoke { module, name, args } => match scope.resolve(module) {
                Ok(instance) => target.invoke(instance, name, args),
                Err(outcome) => outcome,
            },
            Action::Get { module, global } => match scope.resolve(module) {
                Ok(instance) => target.get(instance, global),
                Err(outcome) => outcome,
            },
        },
        CommandKind::AssertInvalid { wasm, .. } | CommandKind::AssertMalformed { wasm, .. } => {
            match wasm {
                Err(e) => Outcome::Rejected(format!("text: {e}")),
                Ok(wasm) => target.validate(wasm),
            }
        }
        CommandKind::AssertUnlinkable { wasm, .. }
        | CommandKind::AssertUninstantiable { wasm, .. } => match wasm {
            Err(e) => Outcome::Error(format!("cannot encode the module: {e}")),
            Ok(wasm) => match target.instantiate(wasm) {
                Ok(_) => Outcome::Done,
                Err(outcome) => outcome,
            },
        },
        CommandKind::Unsupported { what } => Outcome::Error(format!("cannot run {what}")),
    }
}

/// One assertion that failed in one mode.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `suite/file.wast`
    pub file: String,
    /// 1-based line of the directive.
    pub line: usize,
    /// The directive.
    pub directive: String,
    /// The mode it failed in.
    pub mode: Mode,
    /// What the script expects.
    pub expected: String,
    /// What the instrumented module did.
    pub got: String,
    /// What the original module did.
    pub original: String,
}

/// The results of one file in every mode.
#[derive(Debug, Default)]
pub struct FileReport {
    /// `suite/file.wast`
    pub path: String,
    /// Passed assertions, by mode (in the order of the modes run).
    pub passed: Vec<(Mode, usize)>,
    /// Every failed assertion.
    pub failures: Vec<Failure>,
    /// What the instrumented runs did.
    pub activity: Activity,
}

/// The engines of one feature set: one for the original modules, one for
/// the instrumented modules (which need multi-memory for their state memory).
#[derive(Clone)]
pub struct Engines {
    /// Validates and runs the original modules with exactly the suite's features.
    pub original: Engine,
    /// Runs instrumented modules.
    pub instrumented: Engine,
}

fn fail_everywhere(report: &mut FileReport, modes: &[Mode], why: String) {
    for mode in modes {
        report.passed.push((*mode, 0));
        report.failures.push(Failure {
            file: report.path.clone(),
            line: 0,
            directive: "(whole file)".into(),
            mode: *mode,
            expected: "the script runs".into(),
            got: why.clone(),
            original: String::new(),
        });
    }
}

/// The report of a file whose run panicked.
pub fn panicked(file: &SpecFile, modes: &[Mode], message: String) -> FileReport {
    let mut report = FileReport {
        path: file.path(),
        ..FileReport::default()
    };
    fail_everywhere(&mut report, modes, format!("panicked: {message}"));
    report
}

/// Runs one file in the given modes.
pub fn run_file(file: &SpecFile, engines: &Engines, modes: &[Mode], trace: bool) -> FileReport {
    let path = file.path();
    let mut report = FileReport {
        path: path.clone(),
        ..FileReport::default()
    };
    let commands = match script::parse(file.text) {
        Ok(commands) => commands,
        Err(e) => {
            fail_everywhere(&mut report, modes, format!("cannot parse: {e:#}"));
            return report;
        }
    };

    let mut original_cache = OriginalCache::default();
    let original = match OriginalTarget::new(&engines.original, file.features, &mut original_cache)
    {
        Ok(mut target) => execute(
            &mut target,
            &commands,
            trace.then(|| format!("{path} [original]")).as_deref(),
        ),
        Err(e) => {
            fail_everywhere(
                &mut report,
                modes,
                format!("cannot set up the original store: {e:#}"),
            );
            return report;
        }
    };

    let mut cache = InstrumentedCache::default();
    for mode in modes {
        let mut target = match InstrumentedTarget::new(
            *mode,
            file.features,
            &engines.instrumented,
            &mut cache,
        ) {
            Ok(target) => target,
            Err(e) => {
                report.passed.push((*mode, 0));
                report.failures.push(Failure {
                    file: path.clone(),
                    line: 0,
                    directive: "(whole file)".into(),
                    mode: *mode,
                    expected: "the script runs".into(),
                    got: format!("cannot set up the store: {e:#}"),
                    original: String::new(),
                });
                continue;
            }
        };
        let outcomes = execute(
            &mut target,
            &commands,
            trace.then(|| format!("{path} [{mode}]")).as_deref(),
        );
        let activity = target.activity();
        report.activity.resumes += activity.resumes;
        report.activity.round_trips += activity.round_trips;
        report.activity.gated += activity.gated;
        let mut passed = 0;
        for ((command, got), original) in commands.iter().zip(&outcomes).zip(&original) {
            let ok = got.satisfies(&command.kind)
                && original.satisfies(&command.kind)
                && got.same_as(original);
            if ok {
                passed += 1;
            } else {
                report.failures.push(Failure {
                    file: path.clone(),
                    line: command.line,
                    directive: command.kind.describe(),
                    mode: *mode,
                    expected: describe_expectation(&command.kind),
                    got: got.to_string(),
                    original: original.to_string(),
                });
            }
        }
        report.passed.push((*mode, passed));
    }
    report
}

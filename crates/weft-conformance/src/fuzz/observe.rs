//! What a run observes (call results, traps, import calls, final state) and
//! the comparison of two runs.

use super::host::HostCall;
use super::values::{FunctionIndices, Value};
use std::fmt::Write as _;
use wasmtime::{AsContextMut, Instance, Trap};

/// How one call (or the instantiation) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// It returned these values.
    Returned(Vec<Value>),
    /// It trapped with this code.
    Trapped(Trap),
    /// It failed without a wasm trap (a host error, or a control-protocol
    /// failure in the instrumented run).
    Failed(String),
}

impl Ending {
    fn exhausted_stack(&self) -> bool {
        matches!(self, Ending::Trapped(Trap::StackOverflow))
    }

    fn same(&self, other: &Ending) -> bool {
        match (self, other) {
            (Ending::Returned(a), Ending::Returned(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Ending::Trapped(a), Ending::Trapped(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Returned(values) => {
                write!(f, "returned [")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Ending::Trapped(t) => write!(f, "trapped: {t}"),
            Ending::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// One step of a run: the instantiation (with the start function), or a
/// call of an exported function.
#[derive(Debug, Clone)]
pub struct Step {
    /// `"<instantiate>"` or the export name.
    pub what: String,
    /// How it ended.
    pub ending: Ending,
    /// The import calls it made, in order.
    pub host_calls: Vec<HostCall>,
}

/// The exported state of an instance after the last call.
#[derive(Debug, Clone, Default)]
pub struct FinalState {
    /// Memory contents by export name.
    pub memories: Vec<(String, Vec<u8>)>,
    /// Global values by export name.
    pub globals: Vec<(String, Value)>,
    /// Table contents by export name.
    pub tables: Vec<(String, Vec<Value>)>,
}

impl FinalState {
    /// Reads the exported memories, globals and tables named in `exports`.
    pub fn read(
        mut store: impl AsContextMut,
        instance: &Instance,
        exports: &[(String, wasmparser::ExternalKind)],
        funcs: &FunctionIndices,
    ) -> FinalState {
        let mut state = FinalState::default();
        for (name, kind) in exports {
            match kind {
                wasmparser::ExternalKind::Memory => {
                    if let Some(m) = instance.get_memory(&mut store, name) {
                        state.memories.push((name.clone(), m.data(&store).to_vec()));
                    }
                }
                wasmparser::ExternalKind::Global => {
                    if let Some(g) = instance.get_global(&mut store, name) {
                        let v = g.get(&mut store);
                        state
                            .globals
                            .push((name.clone(), funcs.value(&mut store, &v)));
                    }
                }
                wasmparser::ExternalKind::Table => {
                    if let Some(t) = instance.get_table(&mut store, name) {
                        let size = t.size(&store);
                        let elements = (0..size)
                            .map(|i| {
                                t.get(&mut store, i)
                                    .map_or(Value::OpaqueRef, |r| funcs.reference(&mut store, &r))
                            })
                            .collect();
                        state.tables.push((name.clone(), elements));
                    }
                }
                _ => {}
            }
        }
        state
    }
}

/// Everything one run observed.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The instantiation, then every call, in order.
    pub steps: Vec<Step>,
    /// The exported state at the end (absent if instantiation failed).
    pub state: Option<FinalState>,
}

/// The verdict of comparing two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same observations.
    Same,
    /// A run exhausted the native stack before any difference showed up.
    StackExhausted,
    /// The runs differ.
    Differ {
        /// The kind of difference, shared by similar divergences.
        class: String,
        /// A description of the first difference.
        detail: String,
    },
}

fn describe_step(out: &mut String, run: &str, step: &Step) {
    let _ = writeln!(
        out,
        "  {run}: {} ({} import calls)",
        step.ending,
        step.host_calls.len()
    );
}

fn differ(class: impl Into<String>, detail: impl Into<String>) -> Verdict {
    Verdict::Differ {
        class: class.into(),
        detail: detail.into(),
    }
}

/// The kind of an ending, for classifying divergences.
fn kind(ending: &Ending) -> String {
    match ending {
        Ending::Returned(_) => "returned".into(),
        Ending::Trapped(t) => format!("trap `{t}`"),
        Ending::Failed(e) => {
            // Keep the message up to its first number, which is usually an
            // index or an offset that varies between modules.
            let cut = e
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(e.len())
                .min(80);
            format!("failure `{}`", e[..cut].trim_end())
        }
    }
}

/// Compares the original run with the instrumented one.
pub fn compare(original: &Observation, instrumented: &Observation) -> Verdict {
    for (i, (a, b)) in original.steps.iter().zip(&instrumented.steps).enumerate() {
        if let Ending::Failed(e) = &a.ending {
            return differ(
                "the original run failed",
                format!("step {i} ({}) of the original run failed: {e}", a.what),
            );
        }
        let first_call = a
            .host_calls
            .iter()
            .zip(&b.host_calls)
            .position(|(x, y)| x != y);
        let calls_differ = first_call.is_some() || a.host_calls.len() != b.host_calls.len();
        if a.ending.exhausted_stack() || b.ending.exhausted_stack() {
            // Before the overflow the import calls must agree.
            let common = a.host_calls.len().min(b.host_calls.len());
            if first_call.is_some_and(|k| k < common) {
                return differ(
                    "import calls differ",
                    format!(
                        "step {i} ({}): import call {} differs before a stack overflow",
                        a.what,
                        first_call.unwrap_or(0)
                    ),
                );
            }
            return Verdict::StackExhausted;
        }
        if !a.ending.same(&b.ending) || calls_differ {
            let mut msg = format!("step {i} ({}) differs", a.what);
            if calls_differ {
                let _ = write!(
                    msg,
                    " in import calls (first difference at call {})",
                    first_call.unwrap_or(a.host_calls.len().min(b.host_calls.len()))
                );
            }
            msg.push('\n');
            describe_step(&mut msg, "original", a);
            describe_step(&mut msg, "instrumented", b);
            let class = if a.ending.same(&b.ending) {
                "import calls differ".to_string()
            } else if matches!(
                (&a.ending, &b.ending),
                (Ending::Returned(_), Ending::Returned(_))
            ) {
                "results differ".to_string()
            } else {
                format!(
                    "original {}, instrumented {}",
                    kind(&a.ending),
                    kind(&b.ending)
                )
            };
            return differ(class, msg);
        }
    }
    if original.steps.len() != instrumented.steps.len() {
        return differ(
            "different numbers of steps",
            format!(
                "the original run made {} steps, the instrumented one {}",
                original.steps.len(),
                instrumented.steps.len()
            ),
        );
    }
    match (&original.state, &instrumented.state) {
        (Some(a), Some(b)) => {
            compare_states(a, b).map_or(Verdict::Same, |(class, detail)| differ(class, detail))
        }
        (None, None) => Verdict::Same,
        _ => differ(
            "only one run has a final state",
            "only one run has a final state",
        ),
    }
}

fn compare_states(a: &FinalState, b: &FinalState) -> Option<(&'static str, String)> {
    if a.memories.len() != b.memories.len()
        || a.globals.len() != b.globals.len()
        || a.tables.len() != b.tables.len()
    {
        return Some((
            "final state differs",
            "the runs export different numbers of memories, globals or tables".into(),
        ));
    }
    for ((name, x), (_, y)) in a.memories.iter().zip(&b.memories) {
        if x.len() != y.len() {
            return Some((
                "memory size differs",
                format!(
                    "memory `{name}`: {} bytes in the original, {} instrumented",
                    x.len(),
                    y.len()
                ),
            ));
        }
        if let Some(at) = x.iter().zip(y).position(|(p, q)| p != q) {
            let end = (at + 16).min(x.len());
            return Some((
                "memory contents differ",
                format!(
                    "memory `{name}` differs at offset {at:#x}: original {:02x?}, instrumented {:02x?}",
                    &x[at..end],
                    &y[at..end]
                ),
            ));
        }
    }
    for ((name, x), (_, y)) in a.globals.iter().zip(&b.globals) {
        if !x.same(y) {
            return Some((
                "global differs",
                format!("global `{name}`: original {x}, instrumented {y}"),
            ));
        }
    }
    for ((name, x), (_, y)) in a.tables.iter().zip(&b.tables) {
        if x.len() != y.len() {
            return Some((
                "table size differs",
                format!(
                    "table `{name}`: {} elements in the original, {} instrumented",
                    x.len(),
                    y.len()
                ),
            ));
        }
        if let Some(at) = x.iter().zip(y).position(|(p, q)| !p.same(q)) {
            return Some((
                "table contents differ",
                format!(
                    "table `{name}` element {at}: original {}, instrumented {}",
                    x[at], y[at]
                ),
            ));
        }
    }
    None
}

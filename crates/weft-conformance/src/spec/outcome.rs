//! What executing a directive produced, and how that is judged against the
//! script's expectation and against the original module.

use super::script::{CommandKind, Expect};
use super::values::Value;
use std::fmt;

/// The result of one directive on one engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A module was instantiated, defined or registered.
    Done,
    /// An action returned these values.
    Values(Vec<Value>),
    /// Execution or instantiation trapped.
    Trap {
        code: Option<wasmtime::Trap>,
        message: String,
    },
    /// The module was rejected (by the text parser, the validator, the pass,
    /// or the feature set of the suite).
    Rejected(String),
    /// A module expected to be rejected was accepted.
    Accepted,
    /// Instantiation failed to link.
    Unlinkable(String),
    /// Something went wrong that the script cannot expect: a missing export,
    /// a failed capture or restore, an unexpected unwind.
    Error(String),
}

impl Outcome {
    /// The outcome of a failed Wasmtime call or instantiation: a trap if
    /// the error is one.
    pub fn from_trap(err: &wasmtime::Error) -> Option<Outcome> {
        let code = err.downcast_ref::<wasmtime::Trap>().copied()?;
        Some(Outcome::Trap {
            code: Some(code),
            message: code.to_string(),
        })
    }

    /// Whether the outcome satisfies what the script expects of `kind`.
    pub fn satisfies(&self, kind: &CommandKind) -> bool {
        match (kind, self) {
            (
                CommandKind::Module { .. }
                | CommandKind::Instance { .. }
                | CommandKind::Register { .. },
                Outcome::Done,
            ) => true,
            (CommandKind::Definition { .. }, Outcome::Done) => true,
            (CommandKind::Action { expect, .. }, outcome) => match (expect, outcome) {
                (Expect::Success, Outcome::Values(_)) => true,
                (Expect::Values(want), Outcome::Values(got)) => {
                    want.len() == got.len() && want.iter().zip(got).all(|(w, g)| w.matches(g))
                }
                (Expect::Trap(message), Outcome::Trap { code, message: got }) => {
                    trap_matches(message, *code, got)
                }
                (Expect::Exhaustion(_), Outcome::Trap { code, .. }) => {
                    *code == Some(wasmtime::Trap::StackOverflow)
                }
                _ => false,
            },
            (
                CommandKind::AssertInvalid { .. } | CommandKind::AssertMalformed { .. },
                Outcome::Rejected(_),
            ) => true,
            (CommandKind::AssertUnlinkable { .. }, Outcome::Unlinkable(_)) => true,
            (
                CommandKind::AssertUninstantiable { message, .. },
                Outcome::Trap { code, message: got },
            ) => trap_matches(message, *code, got),
            _ => false,
        }
    }

    /// Whether the instrumented module behaved like the original: the same
    /// values bit for bit, the same trap, the same kind of rejection.
    pub fn same_as(&self, original: &Outcome) -> bool {
        match (self, original) {
            (
                Outcome::Trap {
                    code: a,
                    message: ma,
                },
                Outcome::Trap {
                    code: b,
                    message: mb,
                },
            ) => match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => ma == mb,
            },
            (Outcome::Rejected(_), Outcome::Rejected(_)) => true,
            (Outcome::Unlinkable(_), Outcome::Unlinkable(_)) => true,
            (Outcome::Error(_), _) | (_, Outcome::Error(_)) => false,
            (a, b) => a == b,
        }
    }
}

/// Whether a trap satisfies the message of `assert_trap`. Wasmtime's trap
/// descriptions contain the spec's messages ("undefined element: out of
/// bounds table access" answers both spellings of a table miss).
fn trap_matches(expected: &str, code: Option<wasmtime::Trap>, got: &str) -> bool {
    use wasmtime::Trap;
    if got.contains(expected) {
        return true;
    }
    match code {
        Some(Trap::UnreachableCodeReached) => expected.starts_with("unreachable"),
        Some(Trap::TableOutOfBounds) => {
            expected.starts_with("undefined element") || expected.contains("table")
        }
        Some(Trap::IndirectCallToNull) => expected.starts_with("uninitialized element"),
        Some(Trap::MemoryOutOfBounds) => expected.contains("out of bounds memory access"),
        _ => false,
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done => write!(f, "ok"),
            Outcome::Values(values) => {
                let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                write!(f, "returned [{}]", values.join(", "))
            }
            Outcome::Trap { message, .. } => write!(f, "trap: {message}"),
            Outcome::Rejected(why) => write!(f, "rejected: {}", first_line(why)),
            Outcome::Accepted => write!(f, "accepted"),
            Outcome::Unlinkable(why) => write!(f, "unlinkable: {}", first_line(why)),
            Outcome::Error(why) => write!(f, "error: {why}"),
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// What the script expects of a directive, for reports.
pub fn describe_expectation(kind: &CommandKind) -> String {
    match kind {
        CommandKind::Module { .. }
        | CommandKind::Definition { .. }
        | CommandKind::Instance { .. }
        | CommandKind::Register { .. } => "ok".into(),
        CommandKind::Action { expect, .. } => match expect {
            Expect::Success => "returns".into(),
            Expect::Values(values) => {
                let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                format!("returned [{}]", values.join(", "))
            }
            Expect::Trap(message) => format!("trap: {message}"),
            Expect::Exhaustion(message) => format!("trap: {message}"),
        },
        CommandKind::AssertInvalid { message, .. } => format!("rejected (invalid: {message})"),
        CommandKind::AssertMalformed { message, .. } => format!("rejected (malformed: {message})"),
        CommandKind::AssertUnlinkable { message, .. } => format!("unlinkable: {message}"),
        CommandKind::AssertUninstantiable { message, .. } => format!("trap: {message}"),
        CommandKind::Unsupported { what } => format!("(cannot run {what})"),
    }
}

//! A `.wast` script turned into owned commands: modules encoded to binary,
//! arguments and expected results in a form independent of the parser.

use super::values::{Arg, Expected, NanPattern, V128Pattern};
use anyhow::{Result, anyhow};
use std::sync::Arc;
use wast::core::{AbstractHeapType, HeapType, WastArgCore, WastRetCore};
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// A module's binary, or why the text could not be turned into one.
pub type ModuleBinary = Result<Arc<Vec<u8>>, String>;

/// One directive of a script.
#[derive(Debug)]
pub struct Command {
    /// 1-based line of the directive.
    pub line: usize,
    /// What the directive does.
    pub kind: CommandKind,
}

/// The directives the runner understands.
#[derive(Debug)]
pub enum CommandKind {
    /// `(module $name ...)`: instantiate, and make it the current module.
    Module {
        name: Option<String>,
        wasm: ModuleBinary,
    },
    /// `(module definition $name ...)`: remember a module without instantiating it.
    Definition {
        name: Option<String>,
        wasm: ModuleBinary,
    },
    /// `(module instance $instance $definition)`.
    Instance {
        instance: Option<String>,
        definition: Option<String>,
    },
    /// `(register "name" $module)`.
    Register {
        as_name: String,
        module: Option<String>,
    },
    /// `(invoke ...)`, `(get ...)` and the assertions about them.
    Action { action: Action, expect: Expect },
    /// `(assert_invalid ...)`.
    AssertInvalid { wasm: ModuleBinary, message: String },
    /// `(assert_malformed ...)`.
    AssertMalformed { wasm: ModuleBinary, message: String },
    /// `(assert_unlinkable ...)`.
    AssertUnlinkable { wasm: ModuleBinary, message: String },
    /// `(assert_trap (module ...) ...)`: instantiation traps.
    AssertUninstantiable { wasm: ModuleBinary, message: String },
    /// A directive outside core WebAssembly 2.0 scripts (threads, components).
    Unsupported { what: String },
}

impl CommandKind {
    /// A short description of the directive, for reports.
    pub fn describe(&self) -> String {
        match self {
            CommandKind::Module { name, .. } => format!("module{}", opt_name(name)),
            CommandKind::Definition { name, .. } => format!("module definition{}", opt_name(name)),
            CommandKind::Instance { instance, .. } => {
                format!("module instance{}", opt_name(instance))
            }
            CommandKind::Register { as_name, module } => {
                format!("register {as_name:?}{}", opt_name(module))
            }
            CommandKind::Action { action, expect } => {
                let directive = match expect {
                    Expect::Success => "",
                    Expect::Values(_) => "assert_return ",
                    Expect::Trap(_) => "assert_trap ",
                    Expect::Exhaustion(_) => "assert_exhaustion ",
                };
                format!("{directive}{}", action.describe())
            }
            CommandKind::AssertInvalid { message, .. } => format!("assert_invalid {message:?}"),
            CommandKind::AssertMalformed { message, .. } => format!("assert_malformed {message:?}"),
            CommandKind::AssertUnlinkable { message, .. } => {
                format!("assert_unlinkable {message:?}")
            }
            CommandKind::AssertUninstantiable { message, .. } => {
                format!("assert_trap (module) {message:?}")
            }
            CommandKind::Unsupported { what } => what.clone(),
        }
    }
}

fn opt_name(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!(" ${n}")).unwrap_or_default()
}

/// Something to execute in a module instance.
#[derive(Debug)]
pub enum Action {
    /// Call an export.
    Invoke {
        module: Option<String>,
        name: String,
        args: Vec<Arg>,
    },
    /// Read an exported global.
    Get {
        module: Option<String>,
        global: String,
    },
}

impl Action {
    fn describe(&self) -> String {
        match self {
            Action::Invoke { module, name, args } => {
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                format!("(invoke{} {name:?} {})", opt_name(module), args.join(" "))
            }
            Action::Get { module, global } => format!("(get{} {global:?})", opt_name(module)),
        }
    }
}

/// What an action must do.
#[derive(Debug)]
pub enum Expect {
    /// Return anything (a bare `invoke`).
    Success,
    /// Return these values.
    Values(Vec<Expected>),
    /// Trap with this message.
    Trap(String),
    /// Exhaust the call stack.
    Exhaustion(String),
}

/// Parses a script and encodes its modules.
pub fn parse(text: &str) -> Result<Vec<Command>> {
    let mut lexer = Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buffer =
        ParseBuffer::new_with_lexer(lexer).map_err(|e| anyhow!("{}", with_text(e, text)))?;
    let wast = parser::parse::<Wast<'_>>(&buffer).map_err(|e| anyhow!("{}", with_text(e, text)))?;
    let line = |span: wast::token::Span| span.linecol_in(text).0 + 1;
    let mut commands = Vec::with_capacity(wast.directives.len());
    for directive in wast.directives {
        let line = line(directive.span());
        let kind = convert(directive, text)?;
        commands.push(Command { line, kind });
    }
    Ok(commands)
}

fn with_text(mut e: wast::Error, text: &str) -> wast::Error {
    e.set_text(text);
    e
}

fn convert(directive: WastDirective<'_>, text: &str) -> Result<CommandKind> {
    Ok(match directive {
        WastDirective::Module(mut module) => {
            let name = module.name().map(|id| id.name().to_string());
            CommandKind::Module {
                name,
                wasm: encode_quote(&mut module, text),
            }
        }
        WastDirective::ModuleDefinition(mut module) => {
            let name = module.name().map(|id| id.name().to_string());
            CommandKind::Definition {
                name,
                wasm: encode_quote(&mut module, text),
            }
        }
        WastDirective::ModuleInstance {
            instance, module, ..
        } => CommandKind::Instance {
            instance: instance.map(|id| id.name().to_string()),
            definition: module.map(|id| id.name().to_string()),
        },
        WastDirective::Register { name, module, .. } => CommandKind::Register {
            as_name: name.to_string(),
            module: module.map(|id| id.name().to_string()),
        },
        WastDirective::Invoke(invoke) => CommandKind::Action {
            action: invoke_action(invoke)?,
            expect: Expect::Success,
        },
        WastDirective::AssertReturn { exec, results, .. } => {
            let expected = results
                .into_iter()
                .map(expected)
                .collect::<Result<Vec<_>>>()?;
            match exec {
                WastExecute::Wat(_) => unsupported("assert_return of a module"),
                exec => CommandKind::Action {
                    action: execute_action(exec)?,
                    expect: Expect::Values(expected),
                },
            }
        }
        WastDirective::AssertTrap { exec, message, .. } => match exec {
            WastExecute::Wat(mut wat) => CommandKind::AssertUninstantiable {
                wasm: encode_wat(&mut wat, text),
                message: message.to_string(),
            },
            exec => CommandKind::Action {
                action: execute_action(exec)?,
                expect: Expect::Trap(message.to_string()),
            },
        },
        WastDirective::AssertExhaustion { call, message, .. } => CommandKind::Action {
            action: invoke_action(call)?,
            expect: Expect::Exhaustion(message.to_string()),
        },
        WastDirective::AssertInvalid {
            mut module,
            message,
            ..
        } => CommandKind::AssertInvalid {
            wasm: encode_quote(&mut module, text),
            message: message.to_string(),
        },
        WastDirective::AssertMalformed {
            mut module,
            message,
            ..
        } => CommandKind::AssertMalformed {
            wasm: encode_quote(&mut module, text),
            message: message.to_string(),
        },
        WastDirective::AssertUnlinkable {
            mut module,
            message,
            ..
        } => CommandKind::AssertUnlinkable {
            wasm: encode_wat(&mut module, text),
            message: message.to_string(),
        },
        WastDirective::AssertInvalidCustom { .. } => unsupported("assert_invalid_custom"),
        WastDirective::AssertMalformedCustom { .. } => unsupported("assert_malformed_custom"),
        WastDirective::AssertException { .. } => unsupported("assert_exception"),
        WastDirective::AssertSuspension { .. } => unsupported("assert_suspension"),
        WastDirective::Thread(_) => unsupported("thread"),
        WastDirective::Wait { .. } => unsupported("wait"),
    })
}

fn unsupported(what: &str) -> CommandKind {
    CommandKind::Unsupported {
        what: format!("{what} (not a core WebAssembly 2.0 directive)"),
    }
}

fn encode_quote(module: &mut QuoteWat<'_>, text: &str) -> ModuleBinary {
    match module {
        QuoteWat::QuoteComponent(..) | QuoteWat::Wat(Wat::Component(_)) => {
            Err("components are not supported".into())
        }
        _ => module
            .encode()
            .map(Arc::new)
            .map_err(|e| with_text(e, text).to_string()),
    }
}

fn encode_wat(wat: &mut Wat<'_>, text: &str) -> ModuleBinary {
    match wat {
        Wat::Component(_) => Err("components are not supported".into()),
        Wat::Module(_) => wat
            .encode()
            .map(Arc::new)
            .map_err(|e| with_text(e, text).to_string()),
    }
}

fn execute_action(exec: WastExecute<'_>) -> Result<Action> {
    match exec {
        WastExecute::Invoke(invoke) => invoke_action(invoke),
        WastExecute::Get { module, global, .. } => Ok(Action::Get {
            module: module.map(|id| id.name().to_string()),
            global: global.to_string(),
        }),
        WastExecute::Wat(_) => Err(anyhow!("a module is not an action")),
    }
}

fn invoke_action(invoke: WastInvoke<'_>) -> Result<Action> {
    let args = invoke
        .args
        .into_iter()
        .map(arg)
        .collect::<Result<Vec<_>>>()?;
    Ok(Action::Invoke {
        module: invoke.module.map(|id| id.name().to_string()),
        name: invoke.name.to_string(),
        args,
    })
}

fn arg(a: WastArg<'_>) -> Result<Arg> {
    let WastArg::Core(core) = a else {
        return Err(anyhow!("component-model arguments are not supported"));
    };
    Ok(match core {
        WastArgCore::I32(x) => Arg::I32(x),
        WastArgCore::I64(x) => Arg::I64(x),
        WastArgCore::F32(x) => Arg::F32(x.bits),
        WastArgCore::F64(x) => Arg::F64(x.bits),
        WastArgCore::V128(x) => Arg::V128(u128::from_le_bytes(x.to_le_bytes())),
        WastArgCore::RefNull(heap) => match abstract_heap(&heap) {
            Some(AbstractHeapType::Func | AbstractHeapType::NoFunc) => Arg::NullFunc,
            Some(AbstractHeapType::Extern | AbstractHeapType::NoExtern) => Arg::NullExtern,
            _ => return Err(anyhow!("unsupported argument type `ref.null {heap:?}`")),
        },
        WastArgCore::RefExtern(n) => Arg::Extern(n),
        WastArgCore::RefHost(_) => return Err(anyhow!("`ref.host` arguments are not supported")),
    })
}

fn abstract_heap(heap: &HeapType<'_>) -> Option<AbstractHeapType> {
    match heap {
        HeapType::Abstract { shared: false, ty } => Some(*ty),
        _ => None,
    }
}

fn expected(r: WastRet<'_>) -> Result<Expected> {
    let WastRet::Core(core) = r else {
        return Err(anyhow!("component-model results are not supported"));
    };
    Ok(expected_core(core))
}

fn expected_core(core: WastRetCore<'_>) -> Expected {
    match core {
        WastRetCore::I32(x) => Expected::I32(x),
        WastRetCore::I64(x) => Expected::I64(x),
        WastRetCore::F32(p) => Expected::F32(nan_pattern(p, |f| f.bits)),
        WastRetCore::F64(p) => Expected::F64(nan_pattern(p, |f| f.bits)),
        WastRetCore::V128(p) => Expected::V128(v128_pattern(p)),
        WastRetCore::RefNull(heap) => match heap.as_ref().map(abstract_heap) {
            None => Expected::RefNull,
            Some(Some(AbstractHeapType::Func | AbstractHeapType::NoFunc)) => Expected::RefNullFunc,
            Some(Some(AbstractHeapType::Extern | AbstractHeapType::NoExtern)) => {
                Expected::RefNullExtern
            }
            Some(_) => Expected::Unsupported(format!("ref.null {heap:?}")),
        },
        WastRetCore::RefExtern(n) => Expected::RefExtern(n),
        WastRetCore::RefFunc(_) => Expected::RefFunc,
        WastRetCore::Either(options) => {
            Expected::Either(options.into_iter().map(expected_core).collect())
        }
        other => Expected::Unsupported(format!("{other:?}")),
    }
}

fn nan_pattern<F, B>(p: wast::core::NanPattern<F>, bits: impl Fn(F) -> B) -> NanPattern<B> {
    match p {
        wast::core::NanPattern::CanonicalNan => NanPattern::Canonical,
        wast::core::NanPattern::ArithmeticNan => NanPattern::Arithmetic,
        wast::core::NanPattern::Value(v) => NanPattern::Value(bits(v)),
    }
}

fn v128_pattern(p: wast::core::V128Pattern) -> V128Pattern {
    use wast::core::V128Pattern as P;
    match p {
        P::I8x16(l) => V128Pattern::I8x16(l),
        P::I16x8(l) => V128Pattern::I16x8(l),
        P::I32x4(l) => V128Pattern::I32x4(l),
        P::I64x2(l) => V128Pattern::I64x2(l),
        P::F32x4(l) => V128Pattern::F32x4(l.map(|p| nan_pattern(p, |f| f.bits))),
        P::F64x2(l) => V128Pattern::F64x2(l.map(|p| nan_pattern(p, |f| f.bits))),
    }
}

//! Every export of the pass's golden inputs, called on the original module
//! and on the instrumented one while it yields at every check and moves to a
//! fresh instance at every yield: the results and the final state agree.

use std::path::Path;
use wasmtime::{Caller, Engine, Instance, Linker, Module, Store, Val};
use weft_instrument::{Config, ModuleInfo};
use weft_runtime::{Controls, FunctionsTable, InstanceState, Step};

fn golden(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../weft-instrument/tests/golden")
        .join(name);
    wat::parse_file(path).expect("golden input parses")
}

fn args_for(func: &wasmtime::Func, store: &Store<Printed>, seed: i32) -> Vec<Val> {
    func.ty(store)
        .params()
        .map(|t| match t {
            wasmtime::ValType::I32 => Val::I32(seed),
            wasmtime::ValType::I64 => Val::I64(i64::from(seed)),
            other => other.default_value().expect("defaultable parameter"),
        })
        .collect()
}

type Outcome = Result<Vec<u128>, wasmtime::Trap>;

fn trap(e: wasmtime::Error) -> wasmtime::Trap {
    *e.downcast_ref::<wasmtime::Trap>()
        .unwrap_or_else(|| panic!("not a trap: {e:?}"))
}

/// What the module passed to `env.print`, in order: host state that a round
/// trip carries over.
type Printed = Vec<i32>;

fn instantiate(engine: &Engine, module: &Module, printed: Printed) -> (Store<Printed>, Instance) {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("env", "print", |mut caller: Caller<'_, Printed>, x: i32| {
            caller.data_mut().push(x)
        })
        .expect("defines print");
    let mut store = Store::new(engine, printed);
    let instance = linker
        .instantiate(&mut store, module)
        .expect("instantiates");
    (store, instance)
}

fn plain(engine: &Engine, wasm: &[u8], calls: &[(String, i32)]) -> (Vec<Outcome>, Printed) {
    let (mut store, instance) = instantiate(
        engine,
        &Module::new(engine, wasm).expect("compiles"),
        Vec::new(),
    );
    let outcomes = calls
        .iter()
        .map(|(name, seed)| {
            let f = instance.get_func(&mut store, name).expect("export");
            let args = args_for(&f, &store, *seed);
            let mut results = vec![Val::I32(0); f.ty(&store).results().len()];
            f.call(&mut store, &args, &mut results).map_err(trap)?;
            Ok(results.iter().map(bits).collect())
        })
        .collect();
    (outcomes, store.into_data())
}

fn bits(v: &Val) -> u128 {
    match v {
        Val::I32(x) => *x as u32 as u128,
        Val::I64(x) => *x as u64 as u128,
        Val::F32(x) => u128::from(*x),
        Val::F64(x) => u128::from(*x),
        Val::V128(x) => x.as_u128(),
        _ => 0,
    }
}

struct Running {
    store: Store<Printed>,
    instance: Instance,
    controls: Controls,
}

fn fresh(engine: &Engine, module: &Module, info: &ModuleInfo, printed: Printed) -> Running {
    let (mut store, instance) = instantiate(engine, module, printed);
    let controls = Controls::new(&mut store, &instance, info).expect("controls");
    Running {
        store,
        instance,
        controls,
    }
}

fn capture(r: &mut Running) -> InstanceState {
    let mut table = FunctionsTable::new(r.store.as_context_mut(), &r.controls).expect("functions");
    r.controls
        .capture(r.store.as_context_mut(), &mut table)
        .expect("capture")
}

use wasmtime::AsContextMut;

/// What a sliced run of the calls gives: their outcomes, the number of
/// yields, the fuel used, and the instance's state at the end.
struct Sliced {
    outcomes: Vec<Outcome>,
    yields: u64,
    fuel_used: i64,
    end: InstanceState,
    printed: Printed,
}

/// Runs the calls with `slice` units of fuel per call and per resume (0:
/// yield at every check); with `roundtrip`, every yield moves the whole
/// state into a fresh instance.
fn sliced(
    engine: &Engine,
    wasm: &[u8],
    config: Config,
    calls: &[(String, i32)],
    slice: i64,
    roundtrip: bool,
) -> Sliced {
    let out = weft_instrument::instrument(wasm, &config).expect("instruments");
    let module = Module::new(engine, &out.wasm).expect("instrumented module compiles");
    let mut r = fresh(engine, &module, &out.info, Vec::new());
    if out.info.has_start {
        let start = r
            .instance
            .get_func(&mut r.store, weft_instrument::abi::START_EXPORT)
            .expect("start");
        start.call(&mut r.store, &[], &mut []).expect("start runs");
    }
    let mut yields = 0;
    let mut fuel_used = 0;
    let mut outcomes = Vec::new();
    for (name, seed) in calls {
        let f = r.instance.get_func(&mut r.store, name).expect("export");
        let args = args_for(&f, &r.store, *seed);
        let mut results = vec![Val::I32(0); f.ty(&r.store).results().len()];
        r.controls.set_fuel(&mut r.store, slice).expect("fuel");
        let mut step = r.controls.call(&mut r.store, &f, &args, &mut results);
        loop {
            fuel_used += slice - r.controls.fuel(&mut r.store).expect("fuel mode");
            match step {
                Ok(Step::Unwound) => {}
                Ok(_) => {
                    outcomes.push(Ok(results.iter().map(bits).collect()));
                    break;
                }
                Err(e) => {
                    outcomes.push(Err(trap(e)));
                    r.controls.reset(&mut r.store).expect("reset");
                    break;
                }
            }
            yields += 1;
            if roundtrip {
                let state = capture(&mut r);
                r = fresh(
                    engine,
                    &module,
                    &out.info,
                    std::mem::take(r.store.data_mut()),
                );
                let mut table =
                    FunctionsTable::new(r.store.as_context_mut(), &r.controls).expect("functions");
                r.controls
                    .restore(r.store.as_context_mut(), &state, &mut table)
                    .expect("restore");
            }
            let f = r.instance.get_func(&mut r.store, name).expect("export");
            r.controls.set_fuel(&mut r.store, slice).expect("fuel");
            step = r.controls.resume(&mut r.store, &f, &mut results);
        }
    }
    let end = capture(&mut r);
    Sliced {
        outcomes,
        yields,
        fuel_used,
        end,
        printed: r.store.into_data(),
    }
}

fn exports(engine: &Engine, wasm: &[u8]) -> Vec<String> {
    let module = Module::new(engine, wasm).expect("compiles");
    module
        .exports()
        .filter(|e| e.ty().func().is_some())
        .map(|e| e.name().to_string())
        .collect()
}

fn check(name: &str) {
    let engine = Engine::default();
    let wasm = golden(name);
    let calls: Vec<(String, i32)> = exports(&engine, &wasm)
        .into_iter()
        .flat_map(|e| [(e.clone(), 1), (e.clone(), 2), (e, 5)])
        .collect();
    let (expected, printed) = plain(&engine, &wasm, &calls);
    let never = sliced(&engine, &wasm, Config::fuel(), &calls, i64::MAX, false);
    assert_eq!(never.outcomes, expected, "{name}: never preempted");
    assert_eq!(never.printed, printed, "{name}: printed, never preempted");
    assert_eq!(never.yields, 0, "{name}: yielded with unlimited fuel");
    let flag = sliced(&engine, &wasm, Config::flag(true), &calls, i64::MAX, false);
    assert_eq!(
        flag.outcomes, expected,
        "{name}: flag mode, never interrupted"
    );
    assert_eq!(
        flag.fuel_used, never.fuel_used,
        "{name}: fuel counted in flag mode"
    );
    let every = sliced(&engine, &wasm, Config::fuel(), &calls, 0, false);
    assert_eq!(every.outcomes, expected, "{name}: yield at every check");
    assert_eq!(
        every.printed, printed,
        "{name}: printed, yield at every check"
    );
    assert!(every.yields > 0, "{name}: never yielded");
    assert_eq!(
        every.fuel_used, never.fuel_used,
        "{name}: fuel used with a yield at every check"
    );
    let moved = sliced(&engine, &wasm, Config::fuel(), &calls, 0, true);
    assert_eq!(
        moved.outcomes, expected,
        "{name}: round trip at every yield"
    );
    assert_eq!(
        moved.printed, printed,
        "{name}: printed, round trip at every yield"
    );
    assert_eq!(moved.yields, every.yields);
    assert_eq!(
        moved.fuel_used, never.fuel_used,
        "{name}: fuel used with a round trip at every yield"
    );
    assert_eq!(every.end.memories, moved.end.memories);
    assert_eq!(every.end.globals, moved.end.globals);
}

#[test]
fn loops() {
    check("loops.wat");
}

#[test]
fn features() {
    // `plain` does not run the start function; the golden module's start
    // only touches a counter that no export returns, so results agree.
    check("features.wat");
}

#[test]
fn calls() {
    check("calls.wat");
}

#[test]
fn indirect() {
    check("indirect.wat");
}

//! Every export of the pass's golden inputs, called on the original module
//! and on the instrumented one while it yields at every check and moves to a
//! fresh instance at every yield: the results and the final state agree.

use std::path::Path;
use wasmtime::{Engine, Instance, Module, Store, Val};
use weft_instrument::{Config, ModuleInfo};
use weft_runtime::{Controls, FunctionsTable, InstanceState, Step};

fn golden(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weft-instrument/tests/golden").join(name);
    wat::parse_file(path).expect("golden input parses")
}

fn args_for(func: &wasmtime::Func, store: &Store<()>, seed: i32) -> Vec<Val> {
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
    *e.downcast_ref::<wasmtime::Trap>().unwrap_or_else(|| panic!("not a trap: {e:?}"))
}

fn plain(engine: &Engine, wasm: &[u8], calls: &[(String, i32)]) -> Vec<Outcome> {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &Module::new(engine, wasm).expect("compiles"), &[]).expect("instantiates");
    calls
        .iter()
        .map(|(name, seed)| {
            let f = instance.get_func(&mut store, name).expect("export");
            let args = args_for(&f, &store, *seed);
            let mut results = vec![Val::I32(0); f.ty(&store).results().len()];
            f.call(&mut store, &args, &mut results).map_err(trap)?;
            Ok(results.iter().map(bits).collect())
        })
        .collect()
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
    store: Store<()>,
    instance: Instance,
    controls: Controls,
}

fn fresh(engine: &Engine, module: &Module, info: &ModuleInfo) -> Running {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[]).expect("instantiates");
    let controls = Controls::new(&mut store, &instance, info).expect("controls");
    Running { store, instance, controls }
}

fn capture(r: &mut Running) -> InstanceState {
    let mut table = FunctionsTable::new(r.store.as_context_mut(), &r.controls).expect("functions");
    r.controls.capture(r.store.as_context_mut(), &mut table).expect("capture")
}

use wasmtime::AsContextMut;

/// Runs the calls yielding at every check; with `roundtrip`, every yield
/// moves the whole state into a fresh instance. Returns results and yields.
fn sliced(engine: &Engine, wasm: &[u8], config: Config, calls: &[(String, i32)], roundtrip: bool) -> (Vec<Outcome>, u64, InstanceState) {
    let out = weft_instrument::instrument(wasm, &config).expect("instruments");
    let module = Module::new(engine, &out.wasm).expect("instrumented module compiles");
    let mut r = fresh(engine, &module, &out.info);
    if out.info.has_start {
        let start = r.instance.get_func(&mut r.store, weft_instrument::abi::START_EXPORT).expect("start");
        start.call(&mut r.store, &[], &mut []).expect("start runs");
    }
    let mut yields = 0;
    let mut all = Vec::new();
    for (name, seed) in calls {
        let f = r.instance.get_func(&mut r.store, name).expect("export");
        let args = args_for(&f, &r.store, *seed);
        let mut results = vec![Val::I32(0); f.ty(&r.store).results().len()];
        r.controls.set_fuel(&mut r.store, 0).expect("fuel");
        let mut step = match r.controls.call(&mut r.store, &f, &args, &mut results) {
            Ok(step) => step,
            Err(e) => {
                all.push(Err(trap(e)));
                r.controls.reset(&mut r.store).expect("reset");
                continue;
            }
        };
        let mut trapped = None;
        while step == Step::Unwound {
            yields += 1;
            if roundtrip {
                let state = capture(&mut r);
                r = fresh(engine, &module, &out.info);
                let mut table = FunctionsTable::new(r.store.as_context_mut(), &r.controls).expect("functions");
                r.controls.restore(r.store.as_context_mut(), &state, &mut table).expect("restore");
            }
            let f = r.instance.get_func(&mut r.store, name).expect("export");
            r.controls.set_fuel(&mut r.store, 0).expect("fuel");
            match r.controls.resume(&mut r.store, &f, &mut results) {
                Ok(s) => step = s,
                Err(e) => {
                    trapped = Some(trap(e));
                    r.controls.reset(&mut r.store).expect("reset");
                    break;
                }
            }
        }
        all.push(match trapped {
            Some(t) => Err(t),
            None => Ok(results.iter().map(bits).collect()),
        });
    }
    let end = capture(&mut r);
    (all, yields, end)
}

fn exports(engine: &Engine, wasm: &[u8]) -> Vec<String> {
    let module = Module::new(engine, wasm).expect("compiles");
    module.exports().filter(|e| e.ty().func().is_some()).map(|e| e.name().to_string()).collect()
}

fn check(name: &str) {
    let engine = Engine::default();
    let wasm = golden(name);
    let calls: Vec<(String, i32)> =
        exports(&engine, &wasm).into_iter().flat_map(|e| [(e.clone(), 1), (e.clone(), 2), (e, 5)]).collect();
    let expected = plain(&engine, &wasm, &calls);
    for config in [Config::fuel(), Config::flag(true)] {
        let (never, _, _) = sliced(&engine, &wasm, Config { ..config }, &calls, false);
        assert_eq!(never.len(), expected.len());
    }
    let (every, yields, state_a) = sliced(&engine, &wasm, Config::fuel(), &calls, false);
    assert_eq!(every, expected, "{name}: yield at every check");
    assert!(yields > 0, "{name}: never yielded");
    let (moved, moved_yields, state_b) = sliced(&engine, &wasm, Config::fuel(), &calls, true);
    assert_eq!(moved, expected, "{name}: round trip at every yield");
    assert_eq!(moved_yields, yields);
    assert_eq!(state_a.memories, state_b.memories);
    assert_eq!(state_a.globals, state_b.globals);
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

//! The reference run: the original module on unmodified Wasmtime.

use super::host::{Host, define_imports};
use super::observe::{Ending, FinalState, Observation, Step};
use super::values::FunctionIndices;
use super::{CallPlan, INSTANTIATE, Shape, ending_of_error};
use anyhow::Result;
use wasmtime::{Engine, Instance, Module, Store, Val};

/// Runs the original module: instantiates it (running its start function),
/// then calls every exported function in export order.
pub fn run(engine: &Engine, wasm: &[u8], shape: &Shape, plan: &CallPlan) -> Result<Observation> {
    let module = Module::new(engine, wasm)?;
    let mut store = Store::new(engine, Host::original(plan.seed));
    let imports = define_imports(&mut store, &module)?;
    let mut observation = Observation::default();
    let instance = match Instance::new(&mut store, &module, &imports) {
        Ok(instance) => instance,
        Err(e) => {
            let host_calls = std::mem::take(&mut store.data_mut().log);
            observation.steps.push(Step {
                what: INSTANTIATE.into(),
                ending: ending_of_error(e),
                host_calls,
            });
            return Ok(observation);
        }
    };
    let host_calls = std::mem::take(&mut store.data_mut().log);
    observation.steps.push(Step {
        what: INSTANTIATE.into(),
        ending: Ending::Returned(Vec::new()),
        host_calls,
    });
    let funcs = FunctionIndices::new(&mut store, &instance, &shape.func_exports);
    let fuel = instance.get_global(&mut store, &plan.fuel_export);
    for (name, _) in &shape.func_exports {
        let Some(func) = instance.get_func(&mut store, name) else {
            continue;
        };
        if let Some(fuel) = fuel {
            fuel.set(&mut store, Val::I32(plan.fuel_budget as i32))?;
        }
        let ty = func.ty(&store);
        let args = plan.args(name, &ty);
        let mut results: Vec<Val> = ty
            .results()
            .map(|t| super::values::value_of_type(&t, 0))
            .collect();
        let ending = match func.call(&mut store, &args, &mut results) {
            Ok(()) => {
                Ending::Returned(results.iter().map(|v| funcs.value(&mut store, v)).collect())
            }
            Err(e) => ending_of_error(e),
        };
        let host_calls = std::mem::take(&mut store.data_mut().log);
        observation.steps.push(Step {
            what: name.clone(),
            ending,
            host_calls,
        });
    }
    observation.state = Some(FinalState::read(
        &mut store,
        &instance,
        &shape.state_exports,
        &funcs,
    ));
    Ok(observation)
}

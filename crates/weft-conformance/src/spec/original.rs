//! The reference: original modules on unmodified Wasmtime.

use super::host::{self, Data, Spectest};
use super::outcome::Outcome;
use super::runner::Target;
use super::values::Arg;
use std::collections::HashMap;
use std::sync::Arc;
use wasmparser::{Validator, WasmFeatures};
use wasmtime::{Engine, Instance, Linker, Module, Store, Val};

/// Compiled original modules of one file, by binary.
#[derive(Default)]
pub struct OriginalCache {
    modules: HashMap<Arc<Vec<u8>>, Result<Module, String>>,
}

impl OriginalCache {
    fn get(
        &mut self,
        engine: &Engine,
        features: WasmFeatures,
        wasm: &Arc<Vec<u8>>,
    ) -> Result<Module, String> {
        self.modules
            .entry(wasm.clone())
            .or_insert_with(|| {
                check_features(features, wasm)?;
                Module::from_binary(engine, wasm).map_err(|e| format!("{e:#}"))
            })
            .clone()
    }
}

/// Validates `wasm` with exactly `features`, parser included. Wasmtime
/// parses with every feature enabled (so that, for instance, memory limits
/// are read as 64-bit LEB128 numbers even without memory64), so this is
/// what holds the original modules to the suite's version of the format.
pub fn check_features(features: WasmFeatures, wasm: &[u8]) -> Result<(), String> {
    Validator::new_with_features(features)
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|e| format!("{e}"))
}

/// One store running original modules.
pub struct OriginalTarget<'c> {
    engine: Engine,
    features: WasmFeatures,
    cache: &'c mut OriginalCache,
    store: Store<Data>,
    linker: Linker<Data>,
    instances: Vec<Instance>,
}

impl<'c> OriginalTarget<'c> {
    /// A fresh store with `spectest` defined, for modules of a suite with
    /// `features`.
    pub fn new(
        engine: &Engine,
        features: WasmFeatures,
        cache: &'c mut OriginalCache,
    ) -> anyhow::Result<Self> {
        let mut store = Store::new(engine, ());
        let mut linker = Linker::new(engine);
        linker.allow_shadowing(true);
        Spectest::define(&mut store, &mut linker)?;
        Ok(OriginalTarget {
            engine: engine.clone(),
            features,
            cache,
            store,
            linker,
            instances: Vec::new(),
        })
    }

    fn instance(&self, slot: usize) -> Result<Instance, Outcome> {
        self.instances
            .get(slot)
            .copied()
            .ok_or_else(|| Outcome::Error(format!("no instance {slot}")))
    }
}

impl Target for OriginalTarget<'_> {
    fn instantiate(&mut self, wasm: &Arc<Vec<u8>>) -> Result<usize, Outcome> {
        let module = self
            .cache
            .get(&self.engine, self.features, wasm)
            .map_err(Outcome::Rejected)?;
        match self.linker.instantiate(&mut self.store, &module) {
            Ok(instance) => {
                self.instances.push(instance);
                Ok(self.instances.len() - 1)
            }
            Err(e) => {
                Err(Outcome::from_trap(&e).unwrap_or_else(|| Outcome::Unlinkable(format!("{e:#}"))))
            }
        }
    }

    fn register(&mut self, as_name: &str, slot: usize) -> Result<(), Outcome> {
        let instance = self.instance(slot)?;
        self.linker
            .instance(&mut self.store, as_name, instance)
            .map_err(|e| Outcome::Error(format!("{e:#}")))?;
        Ok(())
    }

    fn invoke(&mut self, slot: usize, name: &str, args: &[Arg]) -> Outcome {
        let instance = match self.instance(slot) {
            Ok(i) => i,
            Err(o) => return o,
        };
        let Some(func) = instance.get_func(&mut self.store, name) else {
            return Outcome::Error(format!("no function export {name:?}"));
        };
        let args = match args
            .iter()
            .map(|a| host::to_val(&mut self.store, a))
            .collect::<anyhow::Result<Vec<Val>>>()
        {
            Ok(args) => args,
            Err(e) => return Outcome::Error(format!("{e:#}")),
        };
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty
            .results()
            .map(|t| t.default_value().unwrap_or(Val::I32(0)))
            .collect();
        match func.call(&mut self.store, &args, &mut results) {
            Ok(()) => match results
                .iter()
                .map(|v| host::to_value(&mut self.store, v))
                .collect()
            {
                Ok(values) => Outcome::Values(values),
                Err(e) => Outcome::Error(format!("{e:#}")),
            },
            Err(e) => Outcome::from_trap(&e).unwrap_or_else(|| Outcome::Error(format!("{e:#}"))),
        }
    }

    fn get(&mut self, slot: usize, global: &str) -> Outcome {
        let instance = match self.instance(slot) {
            Ok(i) => i,
            Err(o) => return o,
        };
        let Some(g) = instance.get_global(&mut self.store, global) else {
            return Outcome::Error(format!("no global export {global:?}"));
        };
        let v = g.get(&mut self.store);
        match host::to_value(&mut self.store, &v) {
            Ok(v) => Outcome::Values(vec![v]),
            Err(e) => Outcome::Error(format!("{e:#}")),
        }
    }

    fn validate(&mut self, wasm: &[u8]) -> Outcome {
        match Module::validate(&self.engine, wasm) {
            Ok(()) => match check_features(self.features, wasm) {
                Ok(()) => Outcome::Accepted,
                Err(e) => Outcome::Rejected(e),
            },
            Err(e) => Outcome::Rejected(format!("{e:#}")),
        }
    }
}

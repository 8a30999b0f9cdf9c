//! The instrumented run: the module after the pass, driven in fuel slices or
//! with the interrupt flag, unwound and rewound at every opportunity, and
//! moved to a fresh instance through a captured state now and then.

use super::host::{Host, Interruptions, define_imports};
use super::observe::{Ending, FinalState, Observation, Step};
use super::poker::{Poker, Registration};
use super::values::FunctionIndices;
use super::{CallPlan, INSTANTIATE, Shape, ending_of_error};
use anyhow::{Context, Result, anyhow};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wasmtime::{AsContextMut, Engine, Instance, Module, Store, Val};
use weft_instrument::{ModuleInfo, abi};
use weft_runtime::{Controls, FunctionsTable, Step as Progress};

/// How fuel slices are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlicePolicy {
    /// Always this many units.
    Fixed(i64),
    /// Uniformly in `1..=max`.
    Uniform(i64),
    /// Log-uniformly in `1..=max`: mostly short slices, some long ones.
    LogUniform(i64),
    /// Mostly unlimited, sometimes a slice of `1..=max`.
    Sparse(i64),
    /// Unlimited: fuel never runs out.
    Unlimited,
}

/// How the instrumented run is driven.
#[derive(Debug, Clone)]
pub struct DrivePlan {
    /// The configuration of the pass.
    pub config: weft_instrument::Config,
    /// Fuel slices (with fuel checks).
    pub slices: SlicePolicy,
    /// Probability of moving to a fresh instance at a yield or between calls.
    pub round_trip_probability: f64,
    /// With the interrupt flag: probability of setting it before a call.
    pub flag_at_call_probability: f64,
    /// Probability that an import call suspends.
    pub suspend_probability: f64,
    /// With the interrupt flag: probability that an import sets it.
    pub flag_in_import_probability: f64,
    /// Round trips allowed in the run.
    pub max_round_trips: u32,
    /// Suspensions allowed in the run.
    pub max_suspensions: u32,
    /// Resumes after which fuel slices become unlimited, to bound the run time.
    pub resume_budget: u64,
    /// Seed of the driver's own choices.
    pub seed: u64,
}

impl DrivePlan {
    /// Draws a plan from `seed`.
    pub fn draw(seed: u64) -> DrivePlan {
        let mut rng = SmallRng::seed_from_u64(seed);
        let config = match rng.random_range(0..4) {
            0 | 1 => weft_instrument::Config::fuel(),
            2 => weft_instrument::Config::flag(true),
            _ => weft_instrument::Config::flag(false),
        };
        let config = config.with_copies(match rng.random_range(0..4) {
            0 => weft_instrument::Copies::None,
            1 => weft_instrument::Copies::Loops,
            _ => weft_instrument::Copies::All,
        });
        let slices = match rng.random_range(0..10) {
            0 => SlicePolicy::Fixed(rng.random_range(1..=10)),
            1 | 2 => SlicePolicy::Uniform(1000),
            3..=5 => SlicePolicy::LogUniform(1000),
            6 | 7 => SlicePolicy::Sparse(rng.random_range(1..=1000)),
            8 => SlicePolicy::LogUniform(100_000),
            _ => SlicePolicy::Unlimited,
        };
        let pick =
            |rng: &mut SmallRng, options: &[f64]| options[rng.random_range(0..options.len())];
        DrivePlan {
            config,
            slices,
            round_trip_probability: pick(&mut rng, &[0.0, 0.02, 0.1, 0.3, 1.0]),
            flag_at_call_probability: pick(&mut rng, &[0.0, 0.5, 1.0]),
            suspend_probability: pick(&mut rng, &[0.0, 0.2, 0.5, 1.0]),
            flag_in_import_probability: pick(&mut rng, &[0.0, 0.3, 1.0]),
            max_round_trips: 16,
            max_suspensions: 256,
            resume_budget: 20_000,
            seed: rng.random(),
        }
    }
}

/// What the driver did, for statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriveStats {
    /// Calls continued after an unwind.
    pub resumes: u64,
    /// Moves to a fresh instance.
    pub round_trips: u64,
    /// Suspensions asked by imports.
    pub suspensions: u64,
    /// Import calls answered.
    pub import_calls: u64,
}

/// Resumes of one call after which the driver declares that it makes no
/// progress.
const MAX_RESUMES_PER_CALL: u64 = 200_000;

/// One live instance of the instrumented module.
struct Live {
    /// Dropped first, so that the poker thread lets go of the flag before
    /// the store goes away.
    _poked: Option<Registration>,
    store: Store<Host>,
    instance: Instance,
    controls: Controls,
}

struct Driver<'a> {
    engine: &'a Engine,
    module: &'a Module,
    info: &'a ModuleInfo,
    plan: &'a DrivePlan,
    func_exports: &'a [(String, u32)],
    poker: Option<&'a Poker>,
    rng: SmallRng,
    stats: DriveStats,
}

/// Runs the instrumented module the way [`super::original::run`] runs the
/// original one.
pub fn run(
    engine: &Engine,
    module: &Module,
    info: &ModuleInfo,
    shape: &Shape,
    calls: &CallPlan,
    plan: &DrivePlan,
    poker: Option<&Poker>,
) -> Result<(Observation, DriveStats)> {
    let mut driver = Driver {
        engine,
        module,
        info,
        plan,
        func_exports: &shape.func_exports,
        poker: if plan.config.checks_fuel() {
            None
        } else {
            poker
        },
        rng: SmallRng::seed_from_u64(plan.seed),
        stats: DriveStats::default(),
    };
    let interruptions = Interruptions::new(
        driver.rng.random(),
        plan.suspend_probability,
        if plan.config.checks_fuel() {
            0.0
        } else {
            plan.flag_in_import_probability
        },
        plan.max_suspensions,
    );
    let host = Host::instrumented(calls.seed, interruptions);
    let mut observation = Observation::default();

    // Instantiation, then the deferred start function.
    let mut live = match driver.instantiate(host) {
        Ok(Ok(live)) => live,
        Ok(Err((ending, host))) => {
            observation.steps.push(Step {
                what: INSTANTIATE.into(),
                ending,
                host_calls: host.log,
            });
            return Ok((observation, driver.stats));
        }
        Err(e) => {
            let ending = Ending::Failed(format!("{e:#}"));
            observation.steps.push(Step {
                what: INSTANTIATE.into(),
                ending,
                host_calls: Vec::new(),
            });
            return Ok((observation, driver.stats));
        }
    };
    if info.has_start {
        let direct = shape.start.is_some_and(|f| f < shape.imported_funcs);
        let (next, ending) = driver.step(live, abi::START_EXPORT, &[], direct);
        live = next;
        let host_calls = std::mem::take(&mut live.store.data_mut().log);
        let failed = !matches!(ending, Ending::Returned(_));
        observation.steps.push(Step {
            what: INSTANTIATE.into(),
            ending,
            host_calls,
        });
        if failed {
            return Ok((observation, driver.finish(&live)));
        }
    } else {
        let host_calls = std::mem::take(&mut live.store.data_mut().log);
        observation.steps.push(Step {
            what: INSTANTIATE.into(),
            ending: Ending::Returned(Vec::new()),
            host_calls,
        });
    }

    for (name, index) in &shape.func_exports {
        if driver.stats.round_trips < u64::from(plan.max_round_trips)
            && driver.chance(plan.round_trip_probability)
        {
            match driver.round_trip(&mut live) {
                Ok(()) => {}
                Err(e) => {
                    let ending = Ending::Failed(format!("round trip between calls: {e:#}"));
                    observation.steps.push(Step {
                        what: name.clone(),
                        ending,
                        host_calls: Vec::new(),
                    });
                    return Ok((observation, driver.stats));
                }
            }
        }
        let Some(func) = live.instance.get_func(&mut live.store, name) else {
            continue;
        };
        if let Some(fuel) = live
            .instance
            .get_global(&mut live.store, &calls.fuel_export)
        {
            fuel.set(&mut live.store, Val::I32(calls.fuel_budget as i32))?;
        }
        let ty = func.ty(&live.store);
        let args = calls.args(name, &ty);
        let direct = *index < shape.imported_funcs;
        let (next, ending) = driver.step(live, name, &args, direct);
        live = next;
        let host_calls = std::mem::take(&mut live.store.data_mut().log);
        let failed = matches!(ending, Ending::Failed(_));
        observation.steps.push(Step {
            what: name.clone(),
            ending,
            host_calls,
        });
        if failed {
            return Ok((observation, driver.finish(&live)));
        }
    }
    let funcs = FunctionIndices::new(&mut live.store, &live.instance, &shape.func_exports);
    observation.state = Some(FinalState::read(
        &mut live.store,
        &live.instance,
        &shape.state_exports,
        &funcs,
    ));
    Ok((observation, driver.finish(&live)))
}

impl Driver<'_> {
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    fn finish(&mut self, live: &Live) -> DriveStats {
        let host = live.store.data();
        if let Some(i) = &host.interruptions {
            self.stats.suspensions = u64::from(i.suspensions);
        }
        self.stats.import_calls = host.calls();
        self.stats
    }

    /// Instantiates the instrumented module with `host` as the store data.
    /// The inner error is an instantiation trap, with the host given back.
    fn instantiate(&self, host: Host) -> Result<Result<Live, (Ending, Host)>> {
        let mut store = Store::new(self.engine, host);
        let imports = define_imports(&mut store, self.module)?;
        let instance = match Instance::new(&mut store, self.module, &imports) {
            Ok(instance) => instance,
            Err(e) => return Ok(Err((ending_of_error(e), store.into_data()))),
        };
        let controls = Controls::new(&mut store, &instance, self.info)?;
        let state_global = instance
            .get_global(&mut store, abi::STATE_GLOBAL)
            .ok_or_else(|| anyhow!("no `{}` export", abi::STATE_GLOBAL))?;
        let state_memory = instance
            .get_memory(&mut store, abi::STATE_MEMORY)
            .ok_or_else(|| anyhow!("no `{}` export", abi::STATE_MEMORY))?;
        store.data_mut().attach(state_global, state_memory);
        let poked = self
            .poker
            .map(|poker| poker.register(controls.flag_address(&store)));
        Ok(Ok(Live {
            _poked: poked,
            store,
            instance,
            controls,
        }))
    }

    /// Captures the state of `live`, and replaces it with a fresh instance
    /// into which the state was restored.
    fn round_trip(&mut self, live: &mut Live) -> Result<()> {
        let mut encoder = FunctionsTable::new(live.store.as_context_mut(), &live.controls)?;
        let state = live
            .controls
            .capture(live.store.as_context_mut(), &mut encoder)
            .map_err(anyhow::Error::from)
            .context("capture")?;
        let host = std::mem::replace(live.store.data_mut(), Host::original(0));
        let mut fresh = match self.instantiate(host)? {
            Ok(fresh) => fresh,
            Err((ending, _)) => {
                return Err(anyhow!("a fresh instance failed to instantiate: {ending}"));
            }
        };
        let mut decoder = FunctionsTable::new(fresh.store.as_context_mut(), &fresh.controls)?;
        fresh
            .controls
            .restore(fresh.store.as_context_mut(), &state, &mut decoder)
            .map_err(anyhow::Error::from)
            .context("restore")?;
        self.stats.round_trips += 1;
        *live = fresh;
        Ok(())
    }

    fn slice(&mut self) -> i64 {
        if self.stats.resumes >= self.plan.resume_budget {
            return i64::MAX;
        }
        match self.plan.slices {
            SlicePolicy::Fixed(n) => n,
            SlicePolicy::Uniform(max) => self.rng.random_range(1..=max),
            SlicePolicy::LogUniform(max) => {
                let bits = 64 - max.leading_zeros();
                let top = self.rng.random_range(0..bits);
                (self.rng.random_range(0..=(1i64 << top)) + 1).min(max)
            }
            SlicePolicy::Sparse(max) => {
                if self.rng.random_bool(0.1) {
                    self.rng.random_range(1..=max)
                } else {
                    i64::MAX
                }
            }
            SlicePolicy::Unlimited => i64::MAX,
        }
    }

    /// Gives the next slice: fuel, or nothing with the interrupt flag.
    fn give_slice(&mut self, live: &mut Live) -> Result<()> {
        if self.plan.config.checks_fuel() {
            let slice = self.slice();
            live.controls.set_fuel(&mut live.store, slice)?;
        }
        Ok(())
    }

    /// Runs one call of export `name` to its end, through any number of
    /// unwinds, rewinds and round trips. Always gives back a live instance
    /// (the one the call ended in).
    fn step(&mut self, mut live: Live, name: &str, args: &[Val], direct: bool) -> (Live, Ending) {
        live.store.data_mut().direct_call = direct;
        let ending = self
            .drive(&mut live, name, args)
            .unwrap_or_else(|e| Ending::Failed(format!("{e:#}")));
        live.store.data_mut().direct_call = false;
        if let Some(v) = live.store.data_mut().violation.take() {
            return (live, Ending::Failed(format!("import protocol: {v}")));
        }
        if !matches!(ending, Ending::Returned(_)) {
            live.store.data_mut().abandon_pending();
            if let Err(e) = live.controls.reset(&mut live.store) {
                return (live, Ending::Failed(format!("reset after a trap: {e:#}")));
            }
        }
        (live, ending)
    }

    fn drive(&mut self, live: &mut Live, name: &str, args: &[Val]) -> Result<Ending> {
        let mut func = live
            .instance
            .get_func(&mut live.store, name)
            .ok_or_else(|| anyhow!("no export `{name}`"))?;
        let ty = func.ty(&live.store);
        let mut results: Vec<Val> = ty
            .results()
            .map(|t| super::values::value_of_type(&t, 0))
            .collect();
        self.give_slice(live)?;
        if !self.plan.config.checks_fuel() && self.chance(self.plan.flag_at_call_probability) {
            live.controls.set_flag(&mut live.store, true);
        }
        let mut progress = match live
            .controls
            .call(&mut live.store, &func, args, &mut results)
        {
            Ok(progress) => progress,
            Err(e) => return Ok(ending_of_error(e)),
        };
        let mut resumes = 0u64;
        while progress == Progress::Unwound {
            resumes += 1;
            self.stats.resumes += 1;
            if resumes > MAX_RESUMES_PER_CALL {
                return Err(anyhow!("no progress after {MAX_RESUMES_PER_CALL} resumes"));
            }
            if self.stats.round_trips < u64::from(self.plan.max_round_trips)
                && self.chance(self.plan.round_trip_probability)
            {
                self.round_trip(live)
                    .map_err(|e| anyhow!("round trip at a yield: {e:#}"))?;
                func = live
                    .instance
                    .get_func(&mut live.store, name)
                    .ok_or_else(|| anyhow!("no export `{name}`"))?;
            }
            self.give_slice(live)?;
            live.controls.set_flag(&mut live.store, false);
            progress = match live.controls.resume(&mut live.store, &func, &mut results) {
                Ok(progress) => progress,
                Err(e) => return Ok(ending_of_error(e)),
            };
        }
        let sp = live.controls.sp(&mut live.store);
        if sp != abi::STACK_BASE as i32 {
            return Err(anyhow!(
                "the call finished with the frame stack at {sp}, not at its base {}",
                abi::STACK_BASE
            ));
        }
        if live.store.data().has_pending() {
            return Err(anyhow!(
                "the call finished while an import call still awaited its rewind"
            ));
        }
        let funcs = FunctionIndices::new(&mut live.store, &live.instance, self.func_exports);
        Ok(Ending::Returned(
            results
                .iter()
                .map(|v| funcs.value(&mut live.store, v))
                .collect(),
        ))
    }
}

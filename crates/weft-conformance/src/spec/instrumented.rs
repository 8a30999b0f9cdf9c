//! Instrumented modules on Wasmtime, driven through the weft protocol in
//! one of the [`Mode`]s.
//!
//! All instances of a store import one control state (module
//! [`abi::SHARED_STATE_MODULE`]) so that an unwind crosses instance
//! boundaries. A store is a [`World`]: the store, its linker, its
//! `spectest` module and the history of instantiations ([`Slot`]s). The
//! round trip takes a [`Snapshot`] of every instance of a world, builds a
//! fresh world by replaying the history (the same modules, in the same
//! order, linked the same way), restores every instance and resumes there.
//!
//! Instances the script can no longer reach (not the current module, not
//! named, not registered, and with no function referenced from a reachable
//! table, global or saved frame) are not carried over to the fresh world:
//! nothing can observe them, and a script accumulates many of them.
//! Reachability is decided when a call starts, when no frame is saved, so
//! every instance the call can enter is kept until it returns.
//!
//! Memories are captured by [`MemoryImage`] (only the pages in use, each
//! memory once even when several instances share it); everything else of an
//! instance (globals, tables, dropped segments, frames, reference stacks,
//! the control state) by [`Controls::capture`].

use super::Mode;
use super::host::{self, Data, Functions, RefCodec, Spectest, TableSlot};
use super::memory_image::MemoryImage;
use super::original::check_features;
use super::outcome::Outcome;
use super::runner::Target;
use super::values::Arg;
use anyhow::{Context, Result, anyhow, bail};
use std::collections::HashMap;
use std::sync::Arc;
use wasmparser::{Validator, WasmFeatures};
use wasmtime::{
    AsContextMut, Engine, Extern, ExternType, Func, Instance, Linker, Memory, Module, Ref, Store,
    Val,
};
use weft_instrument::{Config, ModuleInfo, abi};
use weft_runtime::{Controls, FunctionsTable, InstanceState, RefValue, Step};

/// More resumes than any spec test needs; reaching it means no progress.
const MAX_RESUMES: u64 = 20_000_000;

/// A module instrumented and compiled.
pub struct InstrumentedModule {
    module: Module,
    info: ModuleInfo,
}

/// A module instrumented and compiled, or why that failed.
type Instrumented = Result<Arc<InstrumentedModule>, String>;

/// Instrumented modules of one file, by binary and configuration.
#[derive(Default)]
pub struct InstrumentedCache {
    modules: HashMap<(Arc<Vec<u8>>, Config), Instrumented>,
}

impl InstrumentedCache {
    fn get(
        &mut self,
        engine: &Engine,
        wasm: &Arc<Vec<u8>>,
        config: Config,
    ) -> Result<Arc<InstrumentedModule>, String> {
        self.modules
            .entry((wasm.clone(), config))
            .or_insert_with(|| {
                let out = weft_instrument::instrument(wasm, &config)
                    .map_err(|e| format!("weft-instrument: {e}"))?;
                let module = Module::from_binary(engine, &out.wasm)
                    .map_err(|e| format!("Wasmtime rejected the instrumented module: {e:#}"))?;
                Ok(Arc::new(InstrumentedModule {
                    module,
                    info: out.info,
                }))
            })
            .clone()
    }
}

/// Counters of what the instrumented runs did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Activity {
    /// Calls that unwound and were resumed.
    pub resumes: u64,
    /// Stores rebuilt from captured state.
    pub round_trips: u64,
    /// Modules rejected only because they need a feature outside the
    /// suite's feature set (the pass itself supports it).
    pub gated: u64,
}

/// The size a table or memory import had when a module was instantiated.
#[derive(Debug, Clone)]
struct ImportSize {
    module: String,
    name: String,
    size: u64,
}

/// One instantiation of the history of a world.
struct Slot {
    module: Arc<InstrumentedModule>,
    imports: Vec<ImportSize>,
    state: SlotState,
}

#[allow(clippy::large_enum_variant)] // a few per script; most are `Live`
enum SlotState {
    /// The instance exists (its deferred start function may have trapped).
    /// Its controls leave memories out: they are captured as [`MemoryImage`]s.
    Live {
        instance: Instance,
        controls: Controls,
        functions: FunctionsTable,
        memories: Vec<Memory>,
    },
    /// Instantiation trapped; the functions it left in imported tables.
    Failed { orphans: Vec<(TableSlot, Func)> },
    /// The instance was unreachable and not carried over to this world.
    Collected,
}

/// Where a captured memory lives, to find it again in a fresh world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemoryHome {
    Spectest,
    Instance { slot: usize, index: usize },
}

/// The complete state of a world between an unwind and its rewind.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// By slot: the state of every instance carried over.
    instances: Vec<Option<InstanceState>>,
    /// Every distinct memory of those instances and of `spectest`.
    memories: Vec<(MemoryHome, MemoryImage)>,
    /// The `spectest` table.
    spectest_table: Vec<RefValue>,
}

/// Things to replay, in order, to rebuild a world.
#[derive(Debug, Clone)]
enum Event {
    Instantiate(usize),
    Register { as_name: String, slot: usize },
}

/// A store with everything the spec modules link against.
struct World {
    store: Store<Data>,
    linker: Linker<Data>,
    spectest: Spectest,
    slots: Vec<Slot>,
}

fn codec<'a>(slots: &'a [Slot], spectest: &'a Spectest) -> RefCodec<'a> {
    let instances = slots
        .iter()
        .map(|slot| match &slot.state {
            SlotState::Live { functions, .. } => Functions::Instance(functions),
            SlotState::Failed { orphans } => Functions::Orphans(orphans),
            SlotState::Collected => Functions::Collected,
        })
        .collect();
    RefCodec {
        instances,
        host: &spectest.funcs,
    }
}

impl World {
    fn new(engine: &Engine) -> Result<World> {
        let mut store = Store::new(engine, ());
        let mut linker = Linker::new(engine);
        linker.allow_shadowing(true);
        let spectest = Spectest::define(&mut store, &mut linker)?;
        host::define_shared_state(&mut store, &mut linker)?;
        Ok(World {
            store,
            linker,
            spectest,
            slots: Vec::new(),
        })
    }

    /// The current sizes of the table and memory imports of `module`.
    fn import_sizes(&mut self, module: &Module) -> Vec<ImportSize> {
        let mut sizes = Vec::new();
        for import in module.imports() {
            if import.module() == abi::SHARED_STATE_MODULE {
                continue;
            }
            let size = match self
                .linker
                .get(&mut self.store, import.module(), import.name())
                .ok()
            {
                Some(Extern::Table(t)) => t.size(&self.store),
                Some(Extern::Memory(m)) => m.size(&self.store),
                _ => continue,
            };
            sizes.push(ImportSize {
                module: import.module().to_string(),
                name: import.name().to_string(),
                size,
            });
        }
        sizes
    }

    /// Grows imported tables and memories back to the sizes they had when
    /// the module was first instantiated, so that its segments land, or
    /// trap, exactly as they did.
    fn grow_imports(&mut self, sizes: &[ImportSize]) -> Result<()> {
        for import in sizes {
            match self
                .linker
                .get(&mut self.store, &import.module, &import.name)
                .ok()
            {
                Some(Extern::Table(t)) => {
                    let have = t.size(&self.store);
                    if have < import.size {
                        let null = if t.ty(&self.store).element().heap_type().is_func() {
                            Ref::Func(None)
                        } else {
                            Ref::Extern(None)
                        };
                        t.grow(&mut self.store, import.size - have, null)?;
                    }
                }
                Some(Extern::Memory(m)) => {
                    let have = m.size(&self.store);
                    if have < import.size {
                        m.grow(&mut self.store, import.size - have)?;
                    }
                }
                _ => bail!(
                    "import {}::{} is no longer a table or memory",
                    import.module,
                    import.name
                ),
            }
        }
        Ok(())
    }

    /// Functions in the funcref tables `module` imports that no known
    /// instance or host function owns: those of a failed instantiation.
    fn find_orphans(&mut self, module: &Module) -> Vec<(TableSlot, Func)> {
        let mut found: Vec<(TableSlot, Func)> = Vec::new();
        let tables: Vec<(String, String)> = module
            .imports()
            .filter(|i| {
                i.module() != abi::SHARED_STATE_MODULE && matches!(i.ty(), ExternType::Table(_))
            })
            .map(|i| (i.module().to_string(), i.name().to_string()))
            .collect();
        for (module_name, name) in tables {
            let Some(Extern::Table(table)) =
                self.linker.get(&mut self.store, &module_name, &name).ok()
            else {
                continue;
            };
            let size = table.size(&self.store);
            for index in 0..size {
                let Some(Ref::Func(Some(f))) = table.get(&mut self.store, index) else {
                    continue;
                };
                let mut ctx = self.store.as_context_mut();
                let codec = codec(&self.slots, &self.spectest);
                let raw = f.to_raw(&mut ctx);
                if codec.knows(&mut ctx, &f) || found.iter().any(|(_, o)| o.to_raw(&mut ctx) == raw)
                {
                    continue;
                }
                found.push((
                    TableSlot {
                        module: module_name.clone(),
                        name: name.clone(),
                        index,
                    },
                    f,
                ));
            }
        }
        found
    }

    fn live(&self, slot: usize) -> Result<(Instance, &Controls), Outcome> {
        match self.slots.get(slot).map(|s| &s.state) {
            Some(SlotState::Live {
                instance, controls, ..
            }) => Ok((*instance, controls)),
            _ => Err(Outcome::Error(format!(
                "instantiation {slot} has no instance"
            ))),
        }
    }

    /// Puts the control state back to normal with no saved frames.
    fn reset(&mut self) -> Result<()> {
        for slot in &self.slots {
            if let SlotState::Live { controls, .. } = &slot.state {
                controls.reset(&mut self.store)?;
            }
        }
        Ok(())
    }

    /// Instantiates `module` as the next slot of this world; on a trap the
    /// slot records the failure, on a link error nothing is recorded.
    fn instantiate(&mut self, module: &Arc<InstrumentedModule>) -> Result<usize, Outcome> {
        let imports = self.import_sizes(&module.module);
        let state = match self.linker.instantiate(&mut self.store, &module.module) {
            Ok(instance) => live_state(&mut self.store, instance, &module.info)
                .map_err(|e| Outcome::Error(format!("{e:#}")))?,
            Err(e) => match Outcome::from_trap(&e) {
                Some(trap) => {
                    let orphans = self.find_orphans(&module.module);
                    self.slots.push(Slot {
                        module: module.clone(),
                        imports,
                        state: SlotState::Failed { orphans },
                    });
                    return Err(trap);
                }
                None => return Err(Outcome::Unlinkable(format!("{e:#}"))),
            },
        };
        self.slots.push(Slot {
            module: module.clone(),
            imports,
            state,
        });
        Ok(self.slots.len() - 1)
    }

    /// Instantiates `old`'s module again, expecting the same result; or,
    /// when the instance is not carried over, only records it as collected.
    fn replay(&mut self, old: &Slot, carry: bool) -> Result<()> {
        if !carry || matches!(old.state, SlotState::Collected) {
            self.slots.push(Slot {
                module: old.module.clone(),
                imports: old.imports.clone(),
                state: SlotState::Collected,
            });
            return Ok(());
        }
        self.grow_imports(&old.imports)?;
        let result = self.linker.instantiate(&mut self.store, &old.module.module);
        let state = match (result, &old.state) {
            (Ok(instance), SlotState::Live { .. }) => {
                live_state(&mut self.store, instance, &old.module.info)?
            }
            (Err(e), SlotState::Failed { orphans }) if Outcome::from_trap(&e).is_some() => {
                let mut found = Vec::with_capacity(orphans.len());
                for (at, _) in orphans {
                    let f = match self.linker.get(&mut self.store, &at.module, &at.name).ok() {
                        Some(Extern::Table(t)) => match t.get(&mut self.store, at.index) {
                            Some(Ref::Func(Some(f))) => f,
                            _ => bail!(
                                "the replayed instantiation left no function at {}::{}[{}]",
                                at.module,
                                at.name,
                                at.index
                            ),
                        },
                        _ => bail!("import {}::{} is no longer a table", at.module, at.name),
                    };
                    found.push((at.clone(), f));
                }
                SlotState::Failed { orphans: found }
            }
            (Ok(_), _) => bail!("a failed instantiation succeeded when replayed"),
            (Err(e), _) => return Err(anyhow::Error::from(e).context("replaying an instantiation")),
        };
        self.slots.push(Slot {
            module: old.module.clone(),
            imports: old.imports.clone(),
            state,
        });
        Ok(())
    }

    /// The instantiations reachable from `roots`: through the `spectest`
    /// table and the function references in the tables, globals and
    /// reference stacks of reachable instances.
    fn reachable(&mut self, roots: &[usize]) -> Result<Vec<bool>> {
        let World {
            store,
            slots,
            spectest,
            ..
        } = self;
        let mut codec = codec(slots, spectest);
        let mut keep = vec![false; slots.len()];
        let mut work: Vec<usize> = roots.to_vec();
        let table = spectest.capture_table(&mut store.as_context_mut(), &mut codec)?;
        work.extend(table.iter().filter_map(host::instance_of));
        while let Some(slot) = work.pop() {
            if slot >= keep.len() || keep[slot] {
                continue;
            }
            keep[slot] = true;
            if let SlotState::Live { controls, .. } = &slots[slot].state {
                let state = controls.capture(store.as_context_mut(), &mut codec)?;
                let globals = state.globals.iter().filter_map(|(_, v)| match v {
                    weft_runtime::StateValue::Ref(r) => Some(r),
                    _ => None,
                });
                let refs = state
                    .tables
                    .iter()
                    .flatten()
                    .chain(globals)
                    .chain(&state.funcref_stack);
                work.extend(refs.filter_map(host::instance_of));
            }
        }
        Ok(keep)
    }

    /// Captures every live instance that `carry` selects (all when `None`).
    fn snapshot(&mut self, carry: Option<&[bool]>) -> Result<Snapshot> {
        let World {
            store,
            slots,
            spectest,
            ..
        } = self;
        let mut codec = codec(slots, spectest);
        let mut seen = Vec::new();
        let mut memories = Vec::new();
        let mut add = |store: &mut Store<Data>, home: MemoryHome, memory: &Memory| {
            let identity = memory.data_ptr(&*store) as usize;
            if !seen.contains(&identity) {
                seen.push(identity);
                memories.push((home, MemoryImage::capture(&mut *store, memory)));
            }
        };
        add(store, MemoryHome::Spectest, &spectest.memory);
        let mut instances = Vec::with_capacity(slots.len());
        for (slot, entry) in slots.iter().enumerate() {
            let carried = carry.is_none_or(|c| c.get(slot).copied().unwrap_or(true));
            instances.push(match &entry.state {
                SlotState::Live {
                    controls, memories, ..
                } if carried => {
                    for (index, memory) in memories.iter().enumerate() {
                        add(store, MemoryHome::Instance { slot, index }, memory);
                    }
                    Some(
                        controls
                            .capture(store.as_context_mut(), &mut codec)
                            .map_err(anyhow::Error::from)
                            .with_context(|| format!("capturing instance {slot}"))?,
                    )
                }
                _ => None,
            });
        }
        let spectest_table = spectest.capture_table(&mut store.as_context_mut(), &mut codec)?;
        Ok(Snapshot {
            instances,
            memories,
            spectest_table,
        })
    }

    /// Restores a snapshot into this world, freshly replayed from the same
    /// history.
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let World {
            store,
            slots,
            spectest,
            ..
        } = self;
        let mut codec = codec(slots, spectest);
        spectest.restore_table(
            &mut store.as_context_mut(),
            &snapshot.spectest_table,
            &mut codec,
        )?;
        for (home, image) in &snapshot.memories {
            let memory = match home {
                MemoryHome::Spectest => spectest.memory,
                MemoryHome::Instance { slot, index } => match slots.get(*slot).map(|s| &s.state) {
                    Some(SlotState::Live { memories, .. }) => *memories
                        .get(*index)
                        .ok_or_else(|| anyhow!("instance {slot} has no memory {index}"))?,
                    _ => bail!("instance {slot} was not carried over"),
                },
            };
            image.restore(&mut *store, &memory)?;
        }
        for (slot, (entry, state)) in slots.iter().zip(&snapshot.instances).enumerate() {
            match (&entry.state, state) {
                (SlotState::Live { controls, .. }, Some(state)) => controls
                    .restore(store.as_context_mut(), state, &mut codec)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("restoring instance {slot}"))?,
                (SlotState::Live { .. }, None) | (_, Some(_)) => {
                    bail!("instance {slot} does not match the snapshot")
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn live_state(store: &mut Store<Data>, instance: Instance, info: &ModuleInfo) -> Result<SlotState> {
    let memories = (0..info.memories)
        .map(|m| {
            let name = abi::memory_export(m);
            instance
                .get_memory(&mut *store, &name)
                .ok_or_else(|| anyhow!("instrumented module has no export `{name}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    let without_memories = ModuleInfo {
        memories: 0,
        ..info.clone()
    };
    let controls = Controls::new(store, &instance, &without_memories)?;
    let functions = FunctionsTable::new(store.as_context_mut(), &controls)?;
    Ok(SlotState::Live {
        instance,
        controls,
        functions,
        memories,
    })
}

/// Detects resumes that make no progress. Execution is deterministic, so
/// if a resume (with the same fuel) unwinds in exactly the complete state it
/// was resumed from, resuming again can never finish. The saved frames are
/// compared at every unwind; only when they repeat is the complete state of
/// the world captured and compared.
#[derive(Default)]
struct Progress {
    frames: Option<Vec<u8>>,
    snapshot: Option<Snapshot>,
}

impl Progress {
    fn stuck(&mut self, world: &mut World, slot: usize, carry: Option<&[bool]>) -> Result<bool> {
        let (instance, controls) = world.live(slot).map_err(|o| anyhow!("{o}"))?;
        let controls = controls.clone();
        let sp = usize::try_from(controls.sp(&mut world.store))
            .context("negative frame stack pointer")?;
        let memory = instance
            .get_memory(&mut world.store, abi::STATE_MEMORY)
            .ok_or_else(|| anyhow!("no state memory export"))?;
        let frames = memory
            .data(&world.store)
            .get(abi::STACK_BASE as usize..sp)
            .ok_or_else(|| anyhow!("frame stack pointer {sp} outside the state memory"))?
            .to_vec();
        if self.frames.as_ref() != Some(&frames) {
            self.frames = Some(frames);
            self.snapshot = None;
            return Ok(false);
        }
        let snapshot = world.snapshot(carry)?;
        let stuck = self.snapshot.as_ref() == Some(&snapshot);
        self.snapshot = Some(snapshot);
        Ok(stuck)
    }
}

/// Instrumented modules of one file, run in one [`Mode`].
pub struct InstrumentedTarget<'c> {
    mode: Mode,
    config: Config,
    features: WasmFeatures,
    engine: Engine,
    cache: &'c mut InstrumentedCache,
    world: World,
    events: Vec<Event>,
    activity: Activity,
    /// The instances the script can still name: current, named, registered.
    roots: Vec<usize>,
    /// During a call in [`Mode::RoundTrip`]: which slots are carried over
    /// to fresh worlds (`None`: all).
    carry: Option<Vec<bool>>,
}

impl<'c> InstrumentedTarget<'c> {
    /// A fresh world for `mode`; `features` are the features of the suite.
    pub fn new(
        mode: Mode,
        features: WasmFeatures,
        engine: &Engine,
        cache: &'c mut InstrumentedCache,
    ) -> Result<Self> {
        Ok(InstrumentedTarget {
            mode,
            config: mode.config(),
            features,
            engine: engine.clone(),
            cache,
            world: World::new(engine)?,
            events: Vec::new(),
            activity: Activity::default(),
            roots: Vec::new(),
            carry: None,
        })
    }

    /// What happened so far.
    pub fn activity(&self) -> Activity {
        self.activity
    }

    /// Gives the next slice of execution its budget.
    fn prepare_slice(&mut self, controls: &Controls) -> Result<()> {
        match self.mode {
            Mode::Plain => controls.set_fuel(&mut self.world.store, i64::MAX)?,
            Mode::Yield | Mode::RoundTrip => controls.set_fuel(&mut self.world.store, 0)?,
            Mode::Flag => {}
        }
        Ok(())
    }

    /// The export `name` of `slot`, and the controls to drive it with.
    fn export(&mut self, slot: usize, name: &str) -> Result<(Func, Controls), Outcome> {
        let (instance, controls) = self.world.live(slot)?;
        let controls = controls.clone();
        let func = instance
            .get_func(&mut self.world.store, name)
            .ok_or_else(|| Outcome::Error(format!("no function export {name:?}")))?;
        Ok((func, controls))
    }

    /// Calls an export to completion: resumes every unwind, and in
    /// [`Mode::RoundTrip`] moves to a fresh store at every unwind first.
    fn call(&mut self, slot: usize, name: &str, args: &[Val]) -> Result<Vec<Val>, Outcome> {
        self.carry = None;
        if self.mode == Mode::RoundTrip {
            self.carry = self
                .carried_over(slot)
                .map_err(|e| Outcome::Error(format!("reachability: {e:#}")))?;
        }
        let (mut func, mut controls) = self.export(slot, name)?;
        let ty = func.ty(&self.world.store);
        let mut results: Vec<Val> = ty
            .results()
            .map(|t| t.default_value().unwrap_or(Val::I32(0)))
            .collect();
        self.prepare_slice(&controls)
            .map_err(|e| Outcome::Error(format!("{e:#}")))?;
        let mut step = controls.call(&mut self.world.store, &func, args, &mut results);
        let mut resumes = 0u64;
        let mut progress = Progress::default();
        while let Ok(Step::Unwound) = step {
            if matches!(self.mode, Mode::Plain | Mode::Flag) {
                let _ = self.world.reset();
                return Err(Outcome::Error(
                    "the call unwound although it was never preempted".into(),
                ));
            }
            match progress.stuck(&mut self.world, slot, self.carry.as_deref()) {
                Ok(false) => {}
                Ok(true) => {
                    let _ = self.world.reset();
                    return Err(Outcome::Error(
                        "no progress: a resume unwound again in exactly the state it started from"
                            .into(),
                    ));
                }
                Err(e) => {
                    let _ = self.world.reset();
                    return Err(Outcome::Error(format!("checking progress: {e:#}")));
                }
            }
            match self.mode {
                Mode::Plain | Mode::Flag | Mode::Yield => {}
                Mode::RoundTrip => {
                    if let Err(e) = self.round_trip() {
                        let _ = self.world.reset();
                        return Err(Outcome::Error(format!("round trip failed: {e:#}")));
                    }
                    (func, controls) = self.export(slot, name)?;
                }
            }
            resumes += 1;
            if resumes > MAX_RESUMES {
                let _ = self.world.reset();
                return Err(Outcome::Error(format!(
                    "no result after {MAX_RESUMES} resumes"
                )));
            }
            self.prepare_slice(&controls)
                .map_err(|e| Outcome::Error(format!("{e:#}")))?;
            step = controls.resume(&mut self.world.store, &func, &mut results);
        }
        self.activity.resumes += resumes;
        match step {
            Ok(_) => Ok(results),
            Err(e) => {
                let outcome =
                    Outcome::from_trap(&e).unwrap_or_else(|| Outcome::Error(format!("{e:#}")));
                if let Err(e) = self.world.reset() {
                    return Err(Outcome::Error(format!("resetting after a trap: {e:#}")));
                }
                Err(outcome)
            }
        }
    }

    /// Which slots a round trip during a call to `slot` carries over:
    /// `None` when every slot is a root.
    fn carried_over(&mut self, slot: usize) -> Result<Option<Vec<bool>>> {
        let mut roots = self.roots.clone();
        roots.push(slot);
        let all_roots = self
            .world
            .slots
            .iter()
            .enumerate()
            .all(|(i, s)| matches!(s.state, SlotState::Collected) || roots.contains(&i));
        if all_roots {
            return Ok(None);
        }
        Ok(Some(self.world.reachable(&roots)?))
    }

    /// Captures every instance, rebuilds the world in a fresh store and
    /// restores every instance there.
    fn round_trip(&mut self) -> Result<()> {
        let carry = self.carry.as_deref();
        let snapshot = self.world.snapshot(carry).context("capture")?;
        let mut fresh = World::new(&self.engine)?;
        for event in &self.events {
            match event {
                Event::Instantiate(slot) => {
                    let old = self
                        .world
                        .slots
                        .get(*slot)
                        .ok_or_else(|| anyhow!("no slot {slot}"))?;
                    fresh.replay(
                        old,
                        carry.is_none_or(|c| c.get(*slot).copied().unwrap_or(true)),
                    )?;
                }
                Event::Register { as_name, slot } => {
                    let (instance, _) = fresh.live(*slot).map_err(|o| anyhow!("registered {o}"))?;
                    fresh.linker.instance(&mut fresh.store, as_name, instance)?;
                }
            }
        }
        fresh.restore(&snapshot).context("restore")?;
        self.world = fresh;
        self.activity.round_trips += 1;
        Ok(())
    }

    fn values(&mut self, vals: &[Val]) -> Outcome {
        match vals
            .iter()
            .map(|v| host::to_value(&mut self.world.store, v))
            .collect()
        {
            Ok(values) => Outcome::Values(values),
            Err(e) => Outcome::Error(format!("{e:#}")),
        }
    }
}

impl Target for InstrumentedTarget<'_> {
    fn instantiate(&mut self, wasm: &Arc<Vec<u8>>) -> Result<usize, Outcome> {
        let module = self
            .cache
            .get(&self.engine, wasm, self.config)
            .map_err(Outcome::Rejected)?;
        check_features(self.features, wasm)
            .map_err(|e| Outcome::Rejected(format!("outside the suite's features: {e}")))?;
        let result = self.world.instantiate(&module);
        let slot = match result {
            Ok(slot) => slot,
            Err(outcome) => {
                if matches!(outcome, Outcome::Trap { .. }) {
                    self.events
                        .push(Event::Instantiate(self.world.slots.len() - 1));
                }
                return Err(outcome);
            }
        };
        self.events.push(Event::Instantiate(slot));
        if module.info.has_start {
            self.call(slot, abi::START_EXPORT, &[])?;
        }
        Ok(slot)
    }

    fn set_roots(&mut self, roots: &[usize]) {
        self.roots.clear();
        self.roots.extend_from_slice(roots);
    }

    fn register(&mut self, as_name: &str, slot: usize) -> Result<(), Outcome> {
        let (instance, _) = self.world.live(slot)?;
        self.world
            .linker
            .instance(&mut self.world.store, as_name, instance)
            .map_err(|e| Outcome::Error(format!("{e:#}")))?;
        self.events.push(Event::Register {
            as_name: as_name.to_string(),
            slot,
        });
        Ok(())
    }

    fn invoke(&mut self, slot: usize, name: &str, args: &[Arg]) -> Outcome {
        let args = match args
            .iter()
            .map(|a| host::to_val(&mut self.world.store, a))
            .collect::<Result<Vec<Val>>>()
        {
            Ok(args) => args,
            Err(e) => return Outcome::Error(format!("{e:#}")),
        };
        match self.call(slot, name, &args) {
            Ok(results) => self.values(&results),
            Err(outcome) => outcome,
        }
    }

    fn get(&mut self, slot: usize, global: &str) -> Outcome {
        let instance = match self.world.live(slot) {
            Ok((instance, _)) => instance,
            Err(o) => return o,
        };
        let Some(g) = instance.get_global(&mut self.world.store, global) else {
            return Outcome::Error(format!("no global export {global:?}"));
        };
        let v = g.get(&mut self.world.store);
        self.values(&[v])
    }

    fn validate(&mut self, wasm: &[u8]) -> Outcome {
        let wasm = Arc::new(wasm.to_vec());
        if let Err(why) = self.cache.get(&self.engine, &wasm, self.config) {
            return Outcome::Rejected(why);
        }
        // The pass and Wasmtime accepted it. A module that is invalid under
        // every feature set must never get here; one that needs a proposal
        // outside this suite is rejected by the suite's feature set, as for
        // the original modules.
        if Validator::new_with_features(WasmFeatures::all())
            .validate_all(&wasm)
            .is_err()
        {
            return Outcome::Accepted;
        }
        match check_features(self.features, &wasm) {
            Ok(()) => Outcome::Accepted,
            Err(e) => {
                self.activity.gated += 1;
                Outcome::Rejected(format!("outside the suite's features: {e}"))
            }
        }
    }
}
